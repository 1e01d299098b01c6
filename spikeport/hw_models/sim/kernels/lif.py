"""Loihi CUBA LIF neuron, bit-exact with Lava's ``PyLifModelBitAcc`` / ``PyLifResetModelBitAcc``.

Per step t (1-based, Lava's ``time_step``), for every neuron (``lava/proc/lif/models.py``
L110-122, L138-186, L194-216, L268-278, L430-449):

* LIFReset only: if ``t % reset_interval == reset_offset % reset_interval``: u = v = 0.
* ``u = wrap24_once(int32(decay(u, du + 1) + (a_in << 6)))``; decay truncates toward zero.
* ``v = clip(int32(decay(v, dv) + u + (bias_mant << bias_exp)), -(2**23-1), 2**23-1)``.
* spike where ``v > vth << 6`` (strict); there ``v = 0``; u is kept.

State: u, v int32 (v is 24-bit; u is int32-wrapped, then folded toward zero once, so it stays
in int32 and within 24 bits for in-range inputs: ``kernels.loops.lif_loop``). Arithmetic is int64
(the decay products reach 2**43). Input: integer activation a_in. Output: 0/1 spikes.
"""

from __future__ import annotations

import math

import numpy as np

from spikeport.hw_models.sim.kernels.arith import decay_toward_zero, shift_floor, wrap_signed
from spikeport.hw_models.sim.kernels.loops import lif_loop
from spikeport.hw_models.sim.kernels.node_kernel import NodeKernel
from spikeport.ir.int_nodes import ACT_SHIFT, DECAY_BITS, DS_OFFSET, STATE_LIMIT, VTH_SHIFT


def wrap_current(u: np.ndarray) -> np.ndarray:
    """Lava's 24-bit current wrap: one fold of 2**24, +2**23 itself is kept, -2**23 -> +2**23.

    Lava folds once (``np.where`` twice, L160-171), so it is a true modulo only while
    |u| <= 3 * 2**23; that always holds for in-range inputs.
    """
    two = np.int64(2 * STATE_LIMIT)
    w = np.where(u > STATE_LIMIT, u - two, u)
    return np.where(w <= -STATE_LIMIT, u + two, w)


class CubaLifNeuron(NodeKernel):
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
        self.u = np.zeros((0, *self.shape), dtype=np.int32)
        self.v = np.zeros((0, *self.shape), dtype=np.int32)
        self.t = 0

    def set_bias(self, bias_mant: int | np.ndarray) -> None:
        """Replace bias_mant (broadcastable to `shape`, or [batch, *shape] per sample).

        Lava re-reads the bias every step, so netx feeds images through an input layer's
        bias_mant; this is the equivalent.
        """
        mant = np.asarray(bias_mant, dtype=np.int64)
        exp = np.asarray(self.bias_exp, dtype=np.int64)
        bias = np.where(exp >= 0, mant << np.maximum(exp, 0), mant >> np.maximum(-exp, 0))
        bias = wrap_signed(bias, 32).astype(np.int32)  # Lava computes it in int32
        if bias.ndim <= len(self.shape):
            bias = np.broadcast_to(bias, self.shape)
        self.bias = bias
        rows = bias.shape[0] if bias.ndim > len(self.shape) else 1  # [batch, *shape] or shape
        self.bias_rows = np.ascontiguousarray(bias).reshape(rows, math.prod(self.shape))
        """The bias as lif_loop reads it: int32 [1 or batch, neurons], contiguous."""

    def reset(self, batch: int) -> None:
        """Zero the state for `batch` samples and restart time at 0 (first step is t = 1)."""
        self.u = np.zeros((batch, *self.shape), dtype=np.int32)
        self.v = np.zeros((batch, *self.shape), dtype=np.int32)
        self.t = 0

    def step(self, a_in: np.ndarray) -> np.ndarray:
        """Advance one step with activation `a_in` [batch, *shape]; return spikes (int64 0/1)."""
        self.t += 1
        if self.reset_interval is not None and self.t % self.reset_interval == self.reset_phase:
            self.u[...] = 0
            self.v[...] = 0
        a = np.asarray(a_in, dtype=np.int64)
        u0, v0 = self.u.astype(np.int64), self.v.astype(np.int64)  # int64 arithmetic
        u = wrap_signed(decay_toward_zero(u0, self.du + DS_OFFSET) + shift_floor(a, ACT_SHIFT), 32)
        u = wrap_current(u)
        v = wrap_signed(decay_toward_zero(v0, self.dv) + u + self.bias, 32)
        v = np.clip(v, -(STATE_LIMIT - 1), STATE_LIMIT - 1)
        spikes = v > self.vth_scaled
        v[spikes] = 0
        self.u, self.v = u.astype(np.int32), v.astype(np.int32)
        return spikes.astype(np.int64)

    def run_sequence(
        self,
        a_in: np.ndarray,
        *,
        state_reset: tuple[int, int] | None = None,
        record: tuple[str, ...] = (),
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Step through `a_in` [T, batch, *shape] from the current state; same bits as
        :meth:`step` T times, in one compiled loop (:func:`kernels.loops.lif_loop`). Returns
        spikes [T, batch, *shape] (int8 0/1) and the `record`ed "u"/"v" (int64) after each
        step. `state_reset` = (interval, phase): u, v zeroed after step index t when
        t % interval == phase (``lava.proc.io.reset.Reset``)."""
        a_in = np.asarray(a_in)
        if a_in.dtype == np.bool_:
            a_in = a_in.view(np.int8)
        elif a_in.dtype not in (np.int8, np.int32, np.int64):
            a_in = a_in.astype(np.int64)
        steps, batch = a_in.shape[0], self.u.shape[0]
        n = math.prod(self.shape)
        a = a_in.reshape(steps, batch, n)
        u = np.ascontiguousarray(self.u.reshape(batch, n))
        v = np.ascontiguousarray(self.v.reshape(batch, n))
        interval, phase = state_reset if state_reset is not None else (0, 0)
        ku, kv = (1 << DECAY_BITS) - self.du - DS_OFFSET, (1 << DECAY_BITS) - self.dv
        pow2 = 0 < kv <= 1 << DECAY_BITS and kv & (kv - 1) == 0
        v_shift = DECAY_BITS + 1 - kv.bit_length() if ku == 0 and pow2 else -1  # kv = 2**(12-s)
        params = np.array(
            [
                ku,
                kv,
                self.vth_scaled,
                self.t,
                self.reset_interval or 0,
                self.reset_phase or 0,
                interval,
                phase,
                v_shift,
            ],
            dtype=np.int64,
        )
        spikes = np.zeros((steps, batch, n), dtype=np.int8)
        none = np.zeros((0, 0, 0), dtype=np.int64)
        rec = {name: np.zeros((steps, batch, n), dtype=np.int64) for name in record}
        lif_loop(
            a,
            u,
            v,
            self.bias_rows,
            params,
            spikes,
            rec.get("u", none),
            rec.get("v", none),
        )
        self.t += steps
        full = (steps, batch, *self.shape)
        self.u, self.v = u.reshape(batch, *self.shape), v.reshape(batch, *self.shape)
        return spikes.reshape(full), {name: r.reshape(full) for name, r in rec.items()}
