"""Loihi CUBA LIF neuron, bit-exact with Lava's ``PyLifModelBitAcc`` / ``PyLifResetModelBitAcc``.

Per step t (1-based, Lava's ``time_step``), for every neuron (``lava/proc/lif/models.py``
L110-122, L138-186, L194-216, L268-278, L430-449):

* LIFReset only: if ``t % reset_interval == reset_offset % reset_interval``: u = v = 0.
* ``u = wrap24_once(int32(decay(u, du + 1) + (a_in << 6)))``; decay truncates toward zero.
* ``v = clip(int32(decay(v, dv) + u + (bias_mant << bias_exp)), -(2**23-1), 2**23-1)``.
* spike where ``v > vth << 6`` (strict); there ``v = 0``; u is kept.

State: u, v int64 holding 24-bit values. Input: integer activation a_in. Output: 0/1 spikes.
"""

from __future__ import annotations

import math

import numpy as np

from spikeport.hw_models.kernels.arith import decay_toward_zero, shift_floor, wrap_signed

UV_LIMIT = 1 << 23
"""u and v are 24-bit: u wraps past +-2**23, v saturates at +-(2**23 - 1)."""
ACT_SHIFT = 6
VTH_SHIFT = 6
DS_OFFSET = 1
FLOAT_CHUNK_ELEMENTS = 1 << 21
"""The float64 LIF loop handles about this many (step x neuron) elements per batch chunk."""
"""Lava adds 1 to du (``ds_offset``): the effective current decay is (du + 1) / 4096."""


def wrap_current(u: np.ndarray) -> np.ndarray:
    """Lava's 24-bit current wrap: one fold of 2**24, +2**23 itself is kept, -2**23 -> +2**23.

    Lava folds once (``np.where`` twice, L160-171), so it is a true modulo only while
    |u| <= 3 * 2**23; that always holds for in-range inputs.
    """
    two = np.int64(2 * UV_LIMIT)
    w = np.where(u > UV_LIMIT, u - two, u)
    return np.where(w <= -UV_LIMIT, u + two, w)


class CubaLifNeuron:
    """Batched bit-accurate LIF. Parameters are exactly Lava's ``LIF`` constructor integers.

    du: 0..4095 (or -1: netx's "no current decay"); dv: 0..4096; vth: 17-bit mantissa;
    bias_mant: int, broadcastable to `shape`; bias_exp: 0..7 (or negative: right shift);
    reset_interval/reset_offset: ``LIFReset`` behaviour when reset_interval is set.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        *,
        du: int,
        dv: int,
        vth: int,
        bias_mant: int | np.ndarray = 0,
        bias_exp: int | np.ndarray = 0,
        reset_interval: int | None = None,
        reset_offset: int = 0,
    ) -> None:
        self.shape = tuple(shape)
        self.du = int(du)
        self.dv = int(dv)
        self.vth = int(vth)
        self.bias_exp = bias_exp
        self.set_bias(bias_mant)
        self.vth_scaled = self.vth << VTH_SHIFT
        self.reset_interval = reset_interval
        self.reset_phase = None if reset_interval is None else reset_offset % reset_interval
        self.u = np.zeros((0, *self.shape), dtype=np.int64)
        self.v = np.zeros((0, *self.shape), dtype=np.int64)
        self.t = 0

    def set_bias(self, bias_mant: int | np.ndarray) -> None:
        """Replace bias_mant (broadcastable to `shape`, or [batch, *shape] per sample).

        Lava re-reads the bias every step, so netx feeds images through an input layer's
        bias_mant; this is the equivalent.
        """
        mant = np.asarray(bias_mant, dtype=np.int64)
        exp = np.asarray(self.bias_exp, dtype=np.int64)
        bias = np.where(exp >= 0, mant << np.maximum(exp, 0), mant >> np.maximum(-exp, 0))
        bias = wrap_signed(bias, 32)  # Lava computes it in int32
        if bias.ndim <= len(self.shape):
            bias = np.broadcast_to(bias, self.shape)
        self.bias = bias

    def reset(self, batch: int) -> None:
        """Zero the state for `batch` samples and restart time at 0 (first step is t = 1)."""
        self.u = np.zeros((batch, *self.shape), dtype=np.int64)
        self.v = np.zeros((batch, *self.shape), dtype=np.int64)
        self.t = 0

    def step(self, a_in: np.ndarray) -> np.ndarray:
        """Advance one step with activation `a_in` [batch, *shape]; return spikes (int64 0/1)."""
        self.t += 1
        if self.reset_interval is not None and self.t % self.reset_interval == self.reset_phase:
            self.u[...] = 0
            self.v[...] = 0
        a = np.asarray(a_in, dtype=np.int64)
        u = wrap_signed(
            decay_toward_zero(self.u, self.du + DS_OFFSET) + shift_floor(a, ACT_SHIFT), 32
        )
        self.u = wrap_current(u)
        v = wrap_signed(decay_toward_zero(self.v, self.dv) + self.u + self.bias, 32)
        v = np.clip(v, -(UV_LIMIT - 1), UV_LIMIT - 1)
        spikes = v > self.vth_scaled
        v[spikes] = 0
        self.v = v
        return spikes.astype(np.int64)

    def run_sequence(
        self,
        a_in: np.ndarray,
        *,
        state_reset: tuple[int, int] | None = None,
        record: tuple[str, ...] = (),
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Step through `a_in` [T, batch, *shape] from the current state; same bits as
        :meth:`step` T times. Returns spikes [T, batch, *shape] and the `record`ed "u"/"v"
        after each step. `state_reset` = (interval, phase): u, v zeroed after step index t
        when t % interval == phase (``lava.proc.io.reset.Reset``).

        The int32 wraps Lava applies are skipped when the inputs and bias make them
        impossible (|decay(u)| <= 3 * 2**23 and |a << 6| + 2**25 < 2**31, |v| terms likewise).
        """
        a_in = np.asarray(a_in)
        big = 1 << 31
        lo, hi = (int(a_in.min()), int(a_in.max())) if a_in.size else (0, 0)
        a_max = max(hi, -lo) << ACT_SHIFT
        b_max = int(np.abs(self.bias).max(initial=0))
        wrap_u = a_max + (1 << 25) >= big
        wrap_v = b_max + (1 << 24) + (1 << 25) >= big
        if not (wrap_u or wrap_v):
            return self._run_float(a_in, a_max, b_max, state_reset, record)
        a64 = np.left_shift(a_in.astype(np.int64), ACT_SHIFT)
        steps = a64.shape[0]
        spikes = np.zeros(a64.shape, dtype=np.int64)
        rec = {name: np.zeros(a64.shape, dtype=np.int64) for name in record}
        ku, kv = np.int64(4096 - self.du - DS_OFFSET), np.int64(4096 - self.dv)
        u, v, bias, vth = self.u, self.v, self.bias, self.vth_scaled
        lim, two = np.int64(UV_LIMIT), np.int64(2 * UV_LIMIT)
        for t in range(steps):
            self.t += 1
            if self.reset_interval is not None and self.t % self.reset_interval == self.reset_phase:
                u = np.zeros_like(u)
                v = np.zeros_like(v)
            p = u * ku
            u = (p + ((p >> 63) & 4095)) >> 12  # truncation toward zero
            u += a64[t]
            if wrap_u:
                u = wrap_signed(u, 32)
            w = np.where(u > lim, u - two, u)
            u = np.where(w <= -lim, u + two, w)
            q = v * kv
            v = (q + ((q >> 63) & 4095)) >> 12
            v += u
            v += bias
            if wrap_v:
                v = wrap_signed(v, 32)
            np.clip(v, -(lim - 1), lim - 1, out=v)
            s = v > vth
            v[s] = 0
            spikes[t] = s
            if state_reset is not None and t % state_reset[0] == state_reset[1]:
                u = np.zeros_like(u)
                v = np.zeros_like(v)
            if "u" in rec:
                rec["u"][t] = u
            if "v" in rec:
                rec["v"][t] = v
        self.u, self.v = u, v
        return spikes, rec

    def _run_float(
        self,
        a_in: np.ndarray,
        a_max: int,
        b_max: int,
        state_reset: tuple[int, int] | None,
        record: tuple[str, ...],
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """:meth:`run_sequence` without int32 wraps, in float64 (exact: every value is an
        integer below 2**37, and ``trunc(x * k / 4096)`` of such integers is exact because
        the product is exact and 4096 is a power of two). u and v live in one [2, ...] array
        so each step is six numpy calls. The 24-bit wrap of u and the clip of v run only
        when reachable: with the input bound A = max|a << 6|, |u| <= max(|u0|, A * 4096 /
        (du + 1)) and |v| <= max(|v0|, (U + max|bias|) * 4096 / dv) (decay only shrinks
        magnitudes, resets and spikes set 0)."""
        steps = a_in.shape[0]
        lim = UV_LIMIT
        ku, kv = 4096 - self.du - DS_OFFSET, 4096 - self.dv
        u0 = int(np.abs(self.u).max(initial=0))
        v0 = int(np.abs(self.v).max(initial=0))
        u_bound = max(u0, a_max * 4096 // max(1, 4096 - ku) + 1) if ku < 4096 else None
        need_wrap = u_bound is None or u_bound >= lim
        u_lim = lim if need_wrap else u_bound
        v_bound = max(v0, (u_lim + b_max) * 4096 // self.dv + 1) if self.dv > 0 else None
        need_clip = v_bound is None or v_bound >= lim - 1
        batch = self.u.shape[0]
        per_sample = max(1, steps * math.prod(self.shape))
        chunk = max(1, min(batch, FLOAT_CHUNK_ELEMENTS // per_sample))
        spk = np.zeros(a_in.shape, dtype=bool)
        rec = {name: np.zeros(a_in.shape, dtype=np.int64) for name in record}
        new_u, new_v = np.empty_like(self.u), np.empty_like(self.v)
        t0 = self.t
        for b0 in range(0, batch, chunk):  # batch chunks bound the float64 copies
            sl = slice(b0, b0 + chunk)
            bias = self.bias[sl] if self.bias.ndim == self.u.ndim else self.bias
            self.t = t0
            new_u[sl], new_v[sl] = self._float_chunk(
                a_in[:, sl],
                self.u[sl],
                self.v[sl],
                bias if b_max else None,
                (ku, kv, need_wrap, need_clip),
                spk[:, sl],
                {name: r[:, sl] for name, r in rec.items()},
                state_reset,
            )
        self.u, self.v = new_u, new_v
        return spk.view(np.int8), rec

    def _float_chunk(
        self,
        a_in: np.ndarray,
        u0: np.ndarray,
        v0: np.ndarray,
        bias_int: np.ndarray | None,
        params: tuple[int, int, bool, bool],
        spk: np.ndarray,
        rec: dict[str, np.ndarray],
        state_reset: tuple[int, int] | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The float64 time loop of :meth:`_run_float` for one batch chunk; fills `spk` and
        `rec` in place and returns the final (u, v) as int64."""
        ku, kv, need_wrap, need_clip = params
        uv = np.stack([u0, v0]).astype(np.float64)
        u, v = uv[0], uv[1]
        decay = np.array([ku / 4096.0, kv / 4096.0]).reshape(2, *([1] * u0.ndim))
        a = a_in.astype(np.float64)
        a *= float(1 << ACT_SHIFT)  # a << 6, exact
        bias = None if bias_int is None else bias_int.astype(np.float64)
        vth = float(self.vth_scaled)
        flim, two = float(UV_LIMIT), float(2 * UV_LIMIT)
        for t in range(len(a)):
            self.t += 1
            if self.reset_interval is not None and self.t % self.reset_interval == self.reset_phase:
                uv[...] = 0.0
            np.multiply(uv, decay, out=uv)
            np.trunc(uv, out=uv)
            u += a[t]
            if need_wrap:
                w = np.where(u > flim, u - two, u)
                u[...] = np.where(w <= -flim, u + two, w)
            v += u
            if bias is not None:
                v += bias
            if need_clip:
                np.clip(v, -(flim - 1), flim - 1, out=v)
            s = np.greater(v, vth, out=spk[t])
            np.putmask(v, s, 0.0)
            if state_reset is not None and t % state_reset[0] == state_reset[1]:
                uv[...] = 0.0
            if "u" in rec:
                rec["u"][t] = u
            if "v" in rec:
                rec["v"][t] = v
        return u.astype(np.int64), v.astype(np.int64)
