"""Dense synapse, bit-exact with Lava's ``PyDenseModelBitAcc`` / ``PyDelayDenseModelBitAcc``.

Weights (``lava/utils/weightutils.py`` L204-295, applied on the first step,
``lava/proc/dense/models.py`` L79-89): the sign mode is excitatory (all >= 0), inhibitory
(all <= 0) or mixed; weights are clipped to [-256, 255] (mixed), [0, 255] or [-255, 0], then
``k = 8 - num_weight_bits + mixed`` LSBs are dropped with an arithmetic shift
(``(w >> k) << k``: floor for mixed, toward zero for inhibitory, which is negated around it).

Per step (L91-106): send the buffer computed at the previous step (one-step delay), then
``acc = W @ s`` (binary mode: ``s != 0``; graded when num_message_bits > 0) and
``buffer = acc << weight_exp`` (``>> -weight_exp``: floor). With delays (L290-352) the
contribution of a synapse of delay d leaves d steps later (the per-delay sums are shifted
separately, then added into a ring buffer).
"""

from __future__ import annotations

import numpy as np

from spikeport.hw_models.sim.kernels import events
from spikeport.hw_models.sim.kernels.arith import (
    FLOAT32_EXACT,
    abs_max,
    exact_matmul,
    shift_floor,
)
from spikeport.hw_models.sim.kernels.loops import delayed_scatter
from spikeport.hw_models.sim.kernels.node_kernel import NodeKernel

CHUNK_ELEMENTS = 1 << 20
"""Delay-free input rows are evaluated together in chunks of about this many outputs."""


def sign_mode(weight: np.ndarray) -> str:
    """Lava's ``determine_sign_mode``: excitatory, inhibitory or mixed."""
    if np.all(weight >= 0):
        return "excitatory"
    if np.all(weight <= 0):
        return "inhibitory"
    return "mixed"


def effective_weights(
    weight: np.ndarray, num_weight_bits: int = 8, mode: str | None = None
) -> np.ndarray:
    """The integer weights Lava's bit-accurate Dense actually uses (clip, then LSB truncation)."""
    w = np.asarray(weight).astype(np.int64)
    mode = mode or sign_mode(w)
    mixed = int(mode == "mixed")
    if mode == "inhibitory":
        w = -w
    w = np.clip(w, -256 * mixed, 255)
    k = 8 - int(num_weight_bits) + mixed
    # Lava shifts by k even when it is negative (non-mixed weights with num_weight_bits 9);
    # numpy defines a shift by a negative count as a shift out of range: the weights become 0.
    w = (w >> k) << k if k >= 0 else np.zeros_like(w)
    return -w if mode == "inhibitory" else w


class DenseSynapse(NodeKernel):
    """Batched Lava Dense on the last axis: input [batch, ..., n_in] -> output [batch, ..., n_out].

    weight: int [n_out, n_in] as given to Lava (before clipping/truncation); weight_exp: -8..7;
    num_weight_bits: 1..9; num_message_bits: 0 = binary spikes; delay: optional int
    [n_out, n_in] in 0..63 (Lava ``DelayDense``).
    """

    def __init__(
        self,
        weight: np.ndarray,
        *,
        weight_exp: int = 0,
        num_weight_bits: int = 8,
        num_message_bits: int = 0,
        delay: np.ndarray | None = None,
        mode: str | None = None,
    ) -> None:
        self.weight = effective_weights(weight, num_weight_bits, mode)
        self.n_out, self.n_in = self.weight.shape
        self.weight_exp = int(weight_exp)
        self.graded = int(num_message_bits) > 0
        if delay is None:
            delay = np.zeros_like(self.weight)
        self.delay = np.asarray(delay).astype(np.int64)
        if self.delay.size and (self.delay.min() < 0 or self.delay.max() > 63):
            raise ValueError("Dense delays must lie in 0..63 (Lava DelayDense)")
        self.max_delay = int(self.delay.max()) if self.delay.size else 0
        self._stacked: tuple[list[int], np.ndarray, int, np.ndarray] | None = None
        # a negative weight_exp floors each per-step, per-delay sum; when every weight is a
        # multiple of 2**-weight_exp that shift is an exact division, hence linear
        self._linear_shift = self.weight_exp >= 0 or not np.any(
            self.weight % (1 << -self.weight_exp)
        )
        csc = np.nonzero(self.weight.T)  # (input j, output i) of every non-zero synapse
        self._syn_in, self._syn_out = csc[0], csc[1]
        self._syn_w = self.weight.T[csc]
        self._syn_d = self.delay.T[csc]
        self._syn_start = np.searchsorted(self._syn_in, np.arange(self.n_in + 1))
        self.nonzero_fanout = np.count_nonzero(self.weight, axis=0)
        """Non-zero outgoing synapses of each input, [n_in] (for synaptic-event counts)."""
        w = np.abs(self.weight)
        self.row_bound = int(w.sum(axis=1).max()) if w.size else 0
        """max over outputs of sum |w|: |W @ s| <= max|s| * this (delays aside)."""
        self._rows16: np.ndarray | None = None
        self._rows32: np.ndarray | None = None
        self._fanout32: np.ndarray | None = None
        self.buffer = np.zeros((0, self.max_delay + 1, self.n_out), dtype=np.int64)

    def reset(self, batch_shape: tuple[int, ...]) -> None:
        """Empty the pipeline for inputs of leading shape `batch_shape` (batch, ...)."""
        self.buffer = np.zeros((*batch_shape, self.max_delay + 1, self.n_out), dtype=np.int64)

    def compute(self, s: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Shifted accumulations per delay for input `s` [..., n_in] (no pipeline)."""
        x = np.asarray(s)
        x = (x != 0).astype(np.int8) if not self.graded else x.astype(np.int64)
        delays, stacked, bound, stacked_float = self._stacked_weights()
        flat = x.reshape(-1, self.n_in)
        acc = exact_matmul(flat, stacked, bound, stacked_float)
        acc = acc.reshape(*x.shape[:-1], len(delays), self.n_out)
        return [(d, shift_floor(acc[..., i, :], self.weight_exp)) for i, d in enumerate(delays)]

    def _stacked_weights(self) -> tuple[list[int], np.ndarray, int, np.ndarray]:
        """The delay values present and one [n_in, n_delays * n_out] matrix (built once), so
        that a single product yields every per-delay sum."""
        if self._stacked is None:
            delays = [d for d in range(self.max_delay + 1) if d == 0 or np.any(self.delay == d)]
            w = np.concatenate([np.where(self.delay == d, self.weight, 0).T for d in delays], 1)
            w = np.ascontiguousarray(w)
            bound = int(np.abs(w).sum(axis=0).max()) if w.size else 0
            self._stacked = (delays, w, bound, w.astype(np.float64))
        return self._stacked

    def run_sequence(self, s: np.ndarray) -> np.ndarray:
        """All timesteps at once: input [T, ..., n_in] -> a_out [T, ..., n_out], latency included.

        Identical to calling :meth:`step` T times from an empty pipeline. Without delays
        :meth:`compute_into` (chunked products); with delays and a linear shift, an
        event-driven scatter of each non-zero input over its synapses (compiled, exact
        int64: |sums| < 2**63 because messages are at most 24-bit and weights 9-bit);
        otherwise one product per delay.
        """
        x = np.asarray(s)
        x = (x != 0).astype(np.int8) if not self.graded else x.astype(np.int64)
        steps, lead = x.shape[0], x.shape[1:-1]
        out = np.zeros((*x.shape[:-1], self.n_out), dtype=np.int64)
        if steps < 2:
            return out
        if self.max_delay == 0:
            self.compute_into(x[:-1], out[1:])  # the last step's result is never sent
            return out
        flat = x[:-1].reshape(steps - 1, -1, self.n_in)
        if not self._linear_shift:
            for d, part in self.compute(flat):
                if 1 + d < steps:
                    out[1 + d :] += part[: steps - 1 - d].reshape(-1, *lead, self.n_out)
            return out
        acc = np.zeros((steps + self.max_delay, flat.shape[1], self.n_out), dtype=np.int64)
        delayed_scatter(flat, self._syn_start, self._syn_out, self._syn_w, self._syn_d, acc)
        return shift_floor(acc[:steps], self.weight_exp).reshape(*x.shape[:-1], self.n_out)

    def compute_into(
        self, s: np.ndarray, out: np.ndarray, synaptic: np.ndarray | None = None
    ) -> np.ndarray:
        """Delay-free synapses: a_out of every input row of `s` [..., n_in], no latency,
        written into `out` [..., n_out] (int32 or int64: the caller checks that its type holds
        every sum; every element is written). Returns `out`.

        Sparse inputs (at most :data:`events.DENSE_EVENT_RATE` non-zero) take the
        event-driven gather-add (:func:`events.dense_events`, int16 weight rows); denser
        ones the float BLAS product in chunks of about :data:`CHUNK_ELEMENTS` outputs, all-zero
        rows skipped. `synaptic`, when given (int64, one per input row), receives each row's
        synaptic events (non-zero inputs x their non-zero fan-out)."""
        if self.max_delay:
            raise ValueError("compute_into: this Dense has synaptic delays")
        if not out.flags.c_contiguous:
            raise ValueError("compute_into: `out` must be C-contiguous (written through a view)")
        rows = np.ascontiguousarray(s).reshape(-1, self.n_in)
        flat = out.reshape(-1, self.n_out)
        if events.use_events(np.count_nonzero(rows), rows.size, events.dense_rate(self.graded)):
            if self._rows16 is None:  # effective weights are 9-bit: int16 holds them
                self._rows16 = np.ascontiguousarray(self.weight.T, dtype=np.int16)
            nonzero, ev = events.row_counts(len(rows), synaptic)
            events.dense_events(
                rows,
                events.words(rows),
                self._rows16,
                self.nonzero_fanout,
                not self.graded,
                flat,
                nonzero,
                ev,
            )
            events.shift_in_place(flat, self.weight_exp)
            return out
        x_max = abs_max(rows) if self.graded else 1
        if x_max * self.row_bound < FLOAT32_EXACT:
            self._float32_product(rows, flat, synaptic)
            return out
        if synaptic is not None:
            events.count_into(rows, self.nonzero_fanout, synaptic)
        chunk = max(1, CHUNK_ELEMENTS // max(1, self.n_out))
        for i in range(0, len(rows), chunk):
            part = rows[i : i + chunk]
            live = np.flatnonzero(part.any(axis=1))  # all-zero inputs give all-zero outputs
            if len(live) == len(part):
                flat[i : i + chunk] = self.compute(part)[0][1]
                continue
            flat[i : i + chunk] = 0
            if len(live):
                flat[i + live] = self.compute(part[live])[0][1]
        return out

    def _float32_product(
        self, rows: np.ndarray, flat: np.ndarray, synaptic: np.ndarray | None
    ) -> None:
        """``flat = (W @ rows) << weight_exp`` by float32 BLAS, in chunks of about
        :data:`CHUNK_ELEMENTS` outputs; the caller checked that every partial sum is below
        2**24 (exact in float32, in any order), so each float result is an exact integer and
        its cast into `flat` (int32 or int64) does not round. `synaptic` (int64 per row),
        when given, receives ``(rows != 0) @ nonzero_fanout``, by the same float32 product
        while the fan-outs sum below 2**24 (else by :func:`events.count_into`)."""
        if self._rows32 is None:
            self._rows32 = np.ascontiguousarray(self.weight.T, dtype=np.float32)
            self._fanout32 = self.nonzero_fanout.astype(np.float32)
        count = synaptic is not None and int(self.nonzero_fanout.sum()) < FLOAT32_EXACT
        if synaptic is not None and not count:
            events.count_into(rows, self.nonzero_fanout, synaptic)
        chunk = max(1, CHUNK_ELEMENTS // max(1, self.n_out))
        buf = np.empty((min(chunk, len(rows)), self.n_out), dtype=np.float32)
        for i in range(0, len(rows), chunk):
            part = rows[i : i + chunk]
            active = (part != 0).astype(np.float32)
            x = part.astype(np.float32) if self.graded else active
            flat[i : i + chunk] = np.matmul(x, self._rows32, out=buf[: len(part)])
            if count:
                synaptic[i : i + chunk] = active @ self._fanout32  # type: ignore[index]
        events.shift_in_place(flat, self.weight_exp)

    def step(self, s: np.ndarray) -> np.ndarray:
        """Send what was computed last step (plus due delayed parts), then accumulate `s`."""
        if self.buffer.shape[:-2] != np.shape(s)[:-1]:
            self.reset(np.shape(s)[:-1])
        a_out = self.buffer[..., 0, :].copy()
        self.buffer = np.roll(self.buffer, -1, axis=-2)
        self.buffer[..., -1, :] = 0
        for d, part in self.compute(s):
            self.buffer[..., d, :] += part
        return a_out
