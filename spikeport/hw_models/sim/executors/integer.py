"""Executors of the integer-spike nodes (SDT-V3): ``GradedSpike`` (the I-LIF) and
``IntLinearAttention`` (exact ``(Q K^T) V``). Both are stateless and send in the step they
receive (no latency), like the other custom nodes.

Virtual timesteps (``virtual_steps`` V > 1): a node sums its input over each window of V
steps before it computes, so its output for a window depends on the whole window. The
simulator runs that form layer-synchronously only (``schedule="layer"``, ``run_int``): each
layer's V virtual steps complete before the next layer's; under Lava's pipelined timing it is
refused.

Counts per step (batch-summed): GradedSpike ``neuron_updates`` = ``state_reads`` = neurons,
``spikes`` = non-zero output messages (graded: one per non-zero s; expanded: s binary
spikes); IntLinearAttention ``dense_macs`` = 2 h N d d_v (``K^T V`` then ``Q (K^T V)``),
``synaptic_events`` = the non-zero products: per head and token, non-zero k x non-zero v
entries (``K^T V``) plus non-zero q x d_v (``Q (K^T V)``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from spikeport.errors import UnsupportedError
from spikeport.hw_models.sim.base import Inputs, StepwiseExecutor, only, per_step, register_executor
from spikeport.hw_models.sim.kernels import integer as kint


class _WindowedExecutor(StepwiseExecutor):
    """A stateless node; with virtual steps, only layer-synchronous runs are allowed."""

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        if self.node.virtual_steps > 1:
            raise UnsupportedError(
                f"{self.node.name}: virtual timesteps run layer-synchronously only "
                "(Simulator(schedule='layer') / run_int)"
            )
        return super().run_all(inputs, counts, probe_vars, reset)

    def run_synchronous(self, inputs, counts, probe_vars=(), reset=None, start=0):  # type: ignore[no-untyped-def]
        return StepwiseExecutor.run_all(self, inputs, counts, probe_vars, reset)


@register_executor("GradedSpike")
class GradedSpikeExecutor(_WindowedExecutor):
    def compute(self, inputs: Inputs) -> np.ndarray:
        rec = self.node
        a = only(inputs)
        steps = rec.virtual_steps
        if steps > 1:
            a = kint.window_sums(a, steps)
        s = kint.graded_spikes(a, rec.vth, rec.bias, rec.max_value)
        return kint.expand(s, steps) if steps > 1 else s

    def step_counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, np.ndarray]:
        n = math.prod(out.shape[1:])
        return {
            "neuron_updates": per_step(n, len(out)),
            "state_reads": per_step(n, len(out)),
            "spikes": np.count_nonzero(out.reshape(len(out), -1), axis=1).astype(np.int64),
        }


def _per_head_nonzero(x: np.ndarray, heads: int) -> np.ndarray:
    """[T, B, N, heads * d] -> non-zero entries per (T, B, N, head)."""
    t, b, n, c = x.shape
    return np.count_nonzero(x.reshape(t, b, n, heads, c // heads), axis=-1)


@register_executor("IntLinearAttention")
class IntLinearAttentionExecutor(_WindowedExecutor):
    def compute(self, inputs: Inputs) -> np.ndarray:
        rec = self.node
        q, k, v = (inputs[p] for p in ("q", "k", "v"))
        steps = rec.virtual_steps
        if steps > 1:
            q, k, v = (kint.window_sums(x, steps) for x in (q, k, v))
        out = kint.linear_attention_int(q, k, v, rec.heads, rec.shift)
        return kint.first_steps(out, steps) if steps > 1 else out

    def step_counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, np.ndarray]:
        rec: Any = self.node
        q, k, v = (inputs[p] for p in ("q", "k", "v"))
        batch, n, cq = q.shape[1:]
        dv = v.shape[-1] // rec.heads
        kv = (_per_head_nonzero(k, rec.heads) * _per_head_nonzero(v, rec.heads)).sum(axis=(1, 2, 3))
        qv = np.count_nonzero(q.reshape(len(q), -1), axis=1) * dv
        return {
            "dense_macs": per_step(2 * batch * n * cq * dv, len(out)),
            "synaptic_events": (kv + qv).astype(np.int64),
        }
