"""Spiking-attention leaf processes (int64, no latency). Channels are head-major: channel
c of D = heads * head_dim belongs to head c // head_dim. Spikes are 0/1.

* ``SpikeScores``: per head, 2^p times the a-XNOR similarity
  ``(2^p - a_int) * #(q AND k) + a_int * #(q XNOR k)`` (a_int = 0, p = 0: SSA's Q K^T).
* ``ScoreAccumulate``: per head ``floor((S V) * 2^count_shift / 2^score_shift)``.
* ``LocalTerm``: LRF's sum over dilations r of a depth-wise 3x3 cross-correlation (dilation
  r, zero padding r) of each channel's spikes on the (H, W) token grid, << shift (floor >>).
* ``Dendrites``: LRF-Dyn per channel, causal over tokens n: ``X_n = trunc(A X_{n-1} / 2^12)
  + gamma u_n``, ``y_n = trunc(c . X_n / 2^12)``, output ``floor(y_n 2^m / 2^12)``, gated
  by q for input mode kv_gate_q; u_n = k_n v_n, or v_n for input mode "v".
"""

import numpy as np
from lava.magma.core.model.py.model import PyLoihiProcessModel

from spikeport.deploy.lava.processes.base import PortedProcess, fixed_pt, spikes
from spikeport.ir.dendritic_node import FRAC_BITS as FRAC


def _shift(x: np.ndarray, s: int) -> np.ndarray:
    return x << s if s >= 0 else x >> -s


def axnor_combine(c_and: np.ndarray, c_xnor: np.ndarray, a_int: np.ndarray, a_shift: int):
    """The integer a-XNOR combine ``(2^p - a_int[h]) c_and + a_int[h] c_xnor`` on (h, N, M)."""
    a = np.asarray(a_int, dtype=np.int64).reshape(-1, 1, 1)
    return ((1 << a_shift) - a) * c_and + a * c_xnor


def _heads(x: np.ndarray, heads: int) -> np.ndarray:
    """(N, D) -> (heads, N, head_dim)."""
    n, d = x.shape
    return x.reshape(n, heads, d // heads).transpose(1, 0, 2)


class SpikeScores(PortedProcess):
    INPUTS = ("q", "k")

    def __init__(
        self,
        *,
        q_shape: tuple[int, int],
        k_shape: tuple[int, int],
        heads: int,
        a_int: np.ndarray,
        a_shift: int,
        **kwargs,
    ) -> None:
        super().__init__(heads=heads, a_int=np.asarray(a_int), a_shift=a_shift, **kwargs)
        self._ports((heads, q_shape[-2], k_shape[-2]), q_shape, k_shape)


@fixed_pt(SpikeScores)
class PySpikeScoresModelFixed(PyLoihiProcessModel):
    def run_spk(self) -> None:
        p = self.proc_params
        heads = p["heads"]
        q, k = spikes(self.q), spikes(self.k)
        if q.ndim == 2:  # (N, D) head-major channels; 3-D inputs are already (h, N, d)
            q, k = _heads(q, heads), _heads(k, heads)
        both = np.einsum("hni,hmi->hnm", q, k)  # bits set in both
        neither = np.einsum("hni,hmi->hnm", 1 - q, 1 - k)  # bits clear in both
        self.s_out.send(axnor_combine(both, both + neither, p["a_int"], p["a_shift"]))


class ScoreAccumulate(PortedProcess):
    INPUTS = ("scores", "v")

    def __init__(
        self,
        *,
        scores_shape: tuple[int, int, int],
        v_shape: tuple[int, int],
        count_shift: int,
        score_shift: int,
        **kwargs,
    ) -> None:
        super().__init__(count_shift=count_shift, score_shift=score_shift, **kwargs)
        if len(v_shape) == 3:
            out = (scores_shape[0], scores_shape[1], v_shape[2])
        else:
            out = (scores_shape[1], v_shape[1])
        self._ports(out, scores_shape, v_shape)


@fixed_pt(ScoreAccumulate)
class PyScoreAccumulateModelFixed(PyLoihiProcessModel):
    def run_spk(self) -> None:
        s = self.scores.recv().astype(np.int64)
        heads = s.shape[0]
        v = spikes(self.v)
        split = v.ndim == 2  # (M, D) head-major channels; 3-D v is already (h, M, d)
        if split:
            v = _heads(v, heads)
        total = np.einsum("hnm,hmj->hnj", s, v)  # integer sums, int64
        out = _shift(total << self.proc_params["count_shift"], -self.proc_params["score_shift"])
        self.s_out.send(out.transpose(1, 0, 2).reshape(self.s_out.shape) if split else out)


class ScoreCombine(PortedProcess):
    """Per head ``(2^p - a_int[h]) * c_and + a_int[h] * c_xnor`` on (h, N, M) counts."""

    INPUTS = ("c_and", "c_xnor")

    def __init__(self, *, shape: tuple[int, int, int], a_int: np.ndarray, a_shift: int, **kwargs):
        super().__init__(a_int=np.asarray(a_int), a_shift=a_shift, **kwargs)
        self._ports(shape)


@fixed_pt(ScoreCombine)
class PyScoreCombineModelFixed(PyLoihiProcessModel):
    def run_spk(self) -> None:
        c_and = self.c_and.recv().astype(np.int64)
        c_xnor = self.c_xnor.recv().astype(np.int64)
        p = self.proc_params
        self.s_out.send(axnor_combine(c_and, c_xnor, p["a_int"], p["a_shift"]))


class LocalTerm(PortedProcess):
    INPUTS = ("a_in",)

    def __init__(
        self,
        *,
        shape: tuple[int, int],
        grid: tuple[int, int],
        weight: np.ndarray,
        dilations: tuple[int, ...],
        shift: int,
        **kwargs,
    ) -> None:
        super().__init__(
            grid=tuple(grid),
            weight=np.asarray(weight),
            dilations=tuple(dilations),
            shift=shift,
            **kwargs,
        )
        self._ports(shape)


@fixed_pt(LocalTerm)
class PyLocalTermModelFixed(PyLoihiProcessModel):
    def run_spk(self) -> None:
        p = self.proc_params
        x = spikes(self.a_in)  # (N, D)
        n, d = x.shape
        hh, ww = p["grid"]
        img = x.T.reshape(d, hh, ww)
        total = np.zeros((d, hh, ww), dtype=np.int64)
        w = np.asarray(p["weight"], dtype=np.int64)  # [R, D, 1, 3, 3]
        for r_i, r in enumerate(p["dilations"]):
            padded = np.pad(img, ((0, 0), (r, r), (r, r)))
            for i in range(3):
                for j in range(3):
                    tap = padded[:, i * r : i * r + hh, j * r : j * r + ww]
                    total += w[r_i, :, 0, i, j].reshape(d, 1, 1) * tap
        self.s_out.send(_shift(total.reshape(d, n).T, p["shift"]))


class Dendrites(PortedProcess):
    INPUTS = ("q", "k", "v")

    def __init__(
        self,
        *,
        shape: tuple[int, int],
        dyn_a: np.ndarray,
        dyn_gamma: np.ndarray,
        dyn_c: np.ndarray,
        input_mode: str,
        count_shift: int,
        **kwargs,
    ) -> None:
        super().__init__(
            dyn_a=np.asarray(dyn_a),
            dyn_gamma=np.asarray(dyn_gamma),
            dyn_c=np.asarray(dyn_c),
            input_mode=input_mode,
            count_shift=count_shift,
            **kwargs,
        )
        self._ports(shape)


def _toward_zero(x: np.ndarray, bits: int) -> np.ndarray:
    return np.where(x < 0, -((-x) >> bits), x >> bits)


@fixed_pt(Dendrites)
class PyDendritesModelFixed(PyLoihiProcessModel):
    def run_spk(self) -> None:
        p = self.proc_params
        q, k, v = spikes(self.q), spikes(self.k), spikes(self.v)
        u = v if p["input_mode"] == "v" else k * v
        a = np.asarray(p["dyn_a"], dtype=np.int64)  # [D, k, k]
        gamma = np.asarray(p["dyn_gamma"], dtype=np.int64)  # [D, k]
        c = np.asarray(p["dyn_c"], dtype=np.int64)  # [D, k]
        n, d = u.shape
        state = np.zeros(gamma.shape, dtype=np.int64)  # restarts at token 0 every step
        y = np.empty((n, d), dtype=np.int64)
        for i in range(n):
            state = _toward_zero((a * state[:, None, :]).sum(axis=2), FRAC) + gamma * u[i, :, None]
            y[i] = _toward_zero((c * state).sum(axis=1), FRAC)
        out = _shift(y, p["count_shift"] - FRAC)
        self.s_out.send(q * out if p["input_mode"] == "kv_gate_q" else out)
