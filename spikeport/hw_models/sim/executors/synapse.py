"""Executors of the synapses (``Dense``, ``Conv``): Lava's one-step synaptic latency under
Lava's timing, none layer-synchronously.

Counts per step: ``synaptic_events`` = ``weight_reads`` = non-zero input messages x their
non-zero fan-out; ``dense_macs`` = the multiply-accumulates of a dense evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from spikeport.hw_models.sim.base import Counts, Executor, Inputs, only, register_executor
from spikeport.hw_models.sim.kernels import ConvSynapse, DenseSynapse, events
from spikeport.hw_models.sim.kernels.arith import abs_max


def synaptic_events(x: np.ndarray, fanout: np.ndarray) -> np.ndarray:
    """Per step of `x` [T, B, ..., *in]: non-zero messages times the non-zero fan-out of
    their input position, `fanout` [*in] (int64 [T]), counted by a compiled pass over `x`
    (no temporary of its size)."""
    rows = np.ascontiguousarray(x).reshape(-1, fanout.size)
    return per_step(events.count_into(rows, fanout.ravel(), np.empty(len(rows), np.int64)), x)


def per_step(row_events: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per-row counts of the rows of `x` [T, ...] summed per step (int64 [T])."""
    return row_events.reshape(len(x), -1).sum(axis=1)


class SynapseExecutor(Executor):
    """Base of the synapses: `fanout` (non-zero synapses leaving each input position) and
    `macs` (multiply-accumulates per sample and step) give the counts."""

    fanout: np.ndarray
    macs: int

    def count(self, x: np.ndarray, counts: Counts) -> None:
        """Fill `counts` for the input sequence `x` [T, B, ...]."""
        self.record(synaptic_events(x, self.fanout), x, counts)

    def record(self, per_step_events: np.ndarray, x: np.ndarray, counts: Counts) -> None:
        """Fill `counts` from the synaptic events of each step of input `x` [T, B, ...]."""
        counts["synaptic_events"][:] = per_step_events
        counts["weight_reads"][:] = per_step_events
        counts["dense_macs"][:] = self.macs * x.shape[1]

    def count_step(self, x: np.ndarray, counts: dict[str, int]) -> None:
        """Add one step's counts for input `x` [B, ...]."""
        events = int(synaptic_events(x[None], self.fanout)[0])
        counts["synaptic_events"] += events
        counts["weight_reads"] += events
        counts["dense_macs"] += self.macs * x.shape[0]


@register_executor("Dense")
class DenseExecutor(SynapseExecutor):
    def __init__(self, node: Any, in_shapes: Mapping[str, tuple[int, ...]], out_shape: tuple):
        super().__init__(node, in_shapes, out_shape)
        self.kernel = DenseSynapse.from_node(node)
        self.fanout = self.kernel.nonzero_fanout
        n_out, n_in = self.kernel.weight.shape
        self.macs = math.prod(next(iter(self.in_shapes.values()))[:-1]) * n_in * n_out

    def reset(self, batch: int) -> None:
        self.kernel.reset((0,))  # step() sizes the pipeline on its first input; run_all needs none

    def release(self) -> None:
        self.kernel.reset((0,))

    def step(self, inputs: Inputs, counts: dict[str, int]) -> np.ndarray:
        x = only(inputs)
        self.count_step(x, counts)
        return self.kernel.step(x)

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        x = only(inputs)  # [T, B, ..., n_in]
        self.count(x, counts)
        return self.kernel.run_sequence(x), {}

    def run_synchronous(self, inputs, counts, probe_vars=(), reset=None, start=0):  # type: ignore[no-untyped-def]
        """Output step t = a_out of input step t ([T, B, ..., n_out]): delay-free synapses in
        row chunks straight into an int32 array when |a_out| < 2**31 (else int64); with
        synaptic delays, the Lava-timed run of the input and one more step, less its first."""
        x = only(inputs)
        k = self.kernel
        if k.max_delay:
            padded = {p: np.concatenate([a, np.zeros_like(a[:1])]) for p, a in inputs.items()}
            tmp = {key: np.zeros(len(c) + 1, dtype=np.int64) for key, c in counts.items()}
            out, states = self.run_all(padded, tmp, probe_vars, reset)
            for key in counts:
                counts[key][:] = tmp[key][:-1]
            return out[1:], {v: a[1:] for v, a in states.items()}
        x_max = abs_max(x) if k.graded else 1
        bound = (x_max * k.row_bound) << max(k.weight_exp, 0)  # a floor shift only shrinks
        dtype = np.int32 if bound < 1 << 31 else np.int64
        row_events = np.empty(x.size // k.n_in, dtype=np.int64)
        out = k.compute_into(x, np.empty((*x.shape[:-1], k.n_out), dtype=dtype), row_events)
        self.record(per_step(row_events, x), x, counts)
        return out, {}


@register_executor("Conv")
class ConvExecutor(SynapseExecutor):
    def __init__(self, node: Any, in_shapes: Mapping[str, tuple[int, ...]], out_shape: tuple):
        super().__init__(node, in_shapes, out_shape)
        self.kernel = ConvSynapse.from_node(node)
        in_shape = next(iter(self.in_shapes.values()))
        self.fanout = self.kernel.fanout(in_shape)
        c_out, c_in_g, kh, kw = node.weight.shape
        self.macs = math.prod(self.out_shape) * c_in_g * kh * kw

    def reset(self, batch: int) -> None:
        self.kernel.reset(batch)

    def release(self) -> None:
        self.kernel.reset()

    def step(self, inputs: Inputs, counts: dict[str, int]) -> np.ndarray:
        x = only(inputs)
        self.count_step(x, counts)
        return self.kernel.step(x)

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        x = only(inputs)  # [T, B, C, H, W]
        steps, batch = x.shape[:2]
        out = np.zeros((steps, batch, *self.out_shape), dtype=np.int32)
        if steps > 1:  # the last step's result is never sent
            self.kernel.compute_into(x[:-1], out[1:])
        self.count(x, counts)
        return out, {}

    def run_synchronous(self, inputs, counts, probe_vars=(), reset=None, start=0):  # type: ignore[no-untyped-def]
        """Output step t = a_out of input step t, [T, B, ...]."""
        x = only(inputs)
        out = np.empty((*x.shape[:2], *self.out_shape), dtype=np.int32)
        row_events = np.empty(math.prod(x.shape[:2]), dtype=np.int64)
        self.kernel.compute_into(x, out, row_events)
        self.record(per_step(row_events, x), x, counts)
        return out, {}
