"""Reference implementations of spikeport's custom ONNX operators (domain ``ai.spikeport``).

Each class is an ``onnx.reference.op_run.OpRun`` for ``onnx.reference.ReferenceEvaluator``
(pass :data:`CUSTOM_OPS` as ``new_ops``). They are written from the Lava fixed-point
semantics (``docs/semantics.md``), independently of ``spikeport.hw_models.sim.kernels``, so
running an exported model is a second implementation checked against the simulator.
All tensors are int64; a leading batch axis is carried through.

Operators (inputs -> outputs; attributes in brackets):

* ``LIFStep(a, u, v, bias_mant, t) -> (s, u', v')`` [du, dv, vth, bias_exp, reset_interval,
  reset_offset]: one step of Lava's bit-accurate CUBA LIF. t is the 1-based timestep (int64
  scalar, only read when reset_interval > 0).
* ``DeltaStep(x, act, residue, error) -> (s, act', residue', error')`` [vth, spike_exp,
  state_exp, cum_error]: Lava ``Delta``.
* ``SigmaDeltaStep(a, sigma, act, residue, error, bias) -> (s, sigma', act', residue', error')``
  [vth, spike_exp, state_exp, cum_error, relu]: Lava ``SigmaDelta``.
* ``AndPopcount(q, k) -> c``: c[..., n, m] = popcount(q[..., n, :] & k[..., m, :]).
* ``XnorPopcount(q, k) -> c`` [a_int, a_shift]:
  c = (2^a_shift - a_int) * popcount(q & k) + a_int * popcount(~(q ^ k)).
* ``DendriticScan(u, a, gamma, c) -> y``: LRF-Dyn dendrites inside one timestep, causal over
  tokens: per channel X_n = trunc(A X_{n-1} / 2^12) + gamma u_n, y_n = trunc(c . X_n / 2^12)
  (trunc toward zero; u [..., N, D]; a [D, k, k], gamma, c [D, k]: 12-fractional-bit ints).
"""

from __future__ import annotations

import numpy as np
from onnx.reference.op_run import OpRun

from spikeport.ir.int_nodes import ACT_SHIFT, DECAY_BITS, DS_OFFSET, STATE_LIMIT, VTH_SHIFT

DOMAIN = "ai.spikeport"
"""Custom operator domain of every spikeport-specific ONNX node."""

_LIM = STATE_LIMIT  # 24-bit u, v registers


def _i64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def _wrap(x: np.ndarray, bits: int) -> np.ndarray:
    m = 1 << bits
    return (x + (m >> 1)) % m - (m >> 1)


def _decay(x: np.ndarray, keep: int) -> np.ndarray:
    """x * keep / 4096 truncated toward zero (Loihi's 12-bit decay)."""
    p = x * np.int64(keep)
    return np.where(p < 0, -((-p) >> 12), p >> 12)


class LIFStep(OpRun):
    """One step of Lava's ``PyLifModelBitAcc`` (``LIFReset`` when reset_interval > 0)."""

    op_domain = DOMAIN

    def _run(  # type: ignore[override]
        self,
        a,
        u,
        v,
        bias_mant,
        t,
        du=None,
        dv=None,
        vth=None,
        bias_exp=None,
        reset_interval=None,
        reset_offset=None,
    ):
        a, u, v = _i64(a), _i64(u), _i64(v)
        if reset_interval and int(t) % reset_interval == reset_offset % reset_interval:
            u, v = np.zeros_like(u), np.zeros_like(v)
        mant = _i64(bias_mant)
        bias = mant << bias_exp if bias_exp >= 0 else mant >> -bias_exp
        bias = _wrap(bias, 32)
        u = _wrap(_decay(u, (1 << DECAY_BITS) - (du + DS_OFFSET)) + (a << ACT_SHIFT), 32)
        # Lava's single fold of the 24-bit current (+2**23 is kept, -2**23 becomes +2**23)
        folded = np.where(u > _LIM, u - 2 * _LIM, u)
        u = np.where(folded <= -_LIM, u + 2 * _LIM, folded)
        v = _wrap(_decay(v, (1 << DECAY_BITS) - dv) + u + bias, 32)
        v = np.clip(v, -(_LIM - 1), _LIM - 1)
        s = v > (vth << VTH_SHIFT)
        v = np.where(s, 0, v)
        return s.astype(np.int64), u, v


def _delta_step(act_new, act, residue, error, vth_scaled, state_exp, cum_error):
    delta = act_new - act + residue
    if cum_error:
        error = error + delta
        s = np.where(np.abs(error) >= vth_scaled, delta, 0)
        error = np.where(s != 0, 0, error)
    else:
        s = np.where(np.abs(delta) >= vth_scaled, delta, 0)
    return s >> state_exp, act_new, delta - s, error


class DeltaStep(OpRun):
    """Lava ``PyDeltaModelFixed``: send thresholded changes of x << (spike_exp + state_exp)."""

    op_domain = DOMAIN

    def _run(  # type: ignore[override]
        self, x, act, residue, error, vth=None, spike_exp=None, state_exp=None, cum_error=None
    ):
        scale = spike_exp + state_exp
        return _delta_step(
            _i64(x) << scale,
            _i64(act),
            _i64(residue),
            _i64(error),
            vth << scale,
            state_exp,
            cum_error,
        )


class SigmaDeltaStep(OpRun):
    """Lava ``PySigmaDeltaModelFixed``: sigma += a; act = relu(sigma + bias); delta step."""

    op_domain = DOMAIN

    def _run(  # type: ignore[override]
        self,
        a,
        sigma,
        act,
        residue,
        error,
        bias,
        vth=None,
        spike_exp=None,
        state_exp=None,
        cum_error=None,
        relu=None,
    ):
        scale = spike_exp + state_exp
        sigma = _i64(sigma) + _i64(a)
        new = sigma + (_i64(bias) << scale)
        if relu:
            new = np.maximum(new, 0)
        s, act, residue, error = _delta_step(
            new, _i64(act), _i64(residue), _i64(error), vth << scale, state_exp, cum_error
        )
        return s, sigma, act, residue, error


def _counts(q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(popcount(q & k), popcount(~q & ~k)) for every (n, m) pair, by explicit bit tests."""
    qb, kb = _i64(q) != 0, _i64(k) != 0
    both = (qb[..., :, None, :] & kb[..., None, :, :]).sum(-1)
    neither = (~qb[..., :, None, :] & ~kb[..., None, :, :]).sum(-1)
    return both.astype(np.int64), neither.astype(np.int64)


class AndPopcount(OpRun):
    """SSA score popcount(q & k) of binary q [..., N, d] and k [..., M, d] -> [..., N, M]."""

    op_domain = DOMAIN

    def _run(self, q, k):  # type: ignore[override]
        return (_counts(q, k)[0],)


class XnorPopcount(OpRun):
    """a-XNOR score (2^m - a_int) * popcount(q & k) + a_int * popcount(~(q ^ k))."""

    op_domain = DOMAIN

    def _run(self, q, k, a_int=None, a_shift=None):  # type: ignore[override]
        both, neither = _counts(q, k)
        return (((1 << a_shift) - a_int) * both + a_int * (both + neither),)


def _trunc12(p: np.ndarray) -> np.ndarray:
    return np.where(p < 0, -((-p) >> 12), p >> 12)


class DendriticScan(OpRun):
    """LRF-Dyn's token-serial dendritic recurrence (state restarts at token 0 every step)."""

    op_domain = DOMAIN

    def _run(self, u, a, gamma, c):  # type: ignore[override]
        u, a, gamma, c = _i64(u), _i64(a), _i64(gamma), _i64(c)
        n_tok, k = u.shape[-2], gamma.shape[-1]
        x = np.zeros((*u.shape[:-2], u.shape[-1], k), dtype=np.int64)  # [..., D, k]
        y = np.zeros(u.shape, dtype=np.int64)
        for n in range(n_tok):
            p = (a * x[..., :, None, :]).sum(-1)  # p[..., d, i] = sum_j a[d, i, j] x[..., d, j]
            x = _trunc12(p) + gamma * u[..., n, :, None]
            y[..., n, :] = _trunc12((x * c).sum(-1))
        return (y,)


CUSTOM_OPS: tuple[type[OpRun], ...] = (
    LIFStep,
    DeltaStep,
    SigmaDeltaStep,
    AndPopcount,
    XnorPopcount,
    DendriticScan,
)
"""Pass as ``ReferenceEvaluator(model, new_ops=CUSTOM_OPS)``."""
