"""Executors of the neurons (``CubaLIF``, ``Delta``, ``SigmaDelta``, ``Sigma``): no latency
(a neuron fed by an Input or another neuron sees the value of the same step, as in Lava).

Counts per step: ``neuron_updates`` (every neuron, every step), ``state_reads`` (neurons x
state words: 2 for CubaLIF u, v; 2 for Delta; 3 for SigmaDelta; 1 for Sigma), ``spikes``
(non-zero output messages).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from spikeport.hw_models.sim.base import Executor, Inputs, only, register_executor
from spikeport.hw_models.sim.kernels import (
    CubaLifNeuron,
    DeltaEncoder,
    SigmaDecoder,
    SigmaDeltaNeuron,
)


@register_executor("CubaLIF")
class LifExecutor(Executor):
    state_vars = ("u", "v")
    peak_vars = ("u", "v")
    accepts_bias = True

    def __init__(self, node: Any, in_shapes: Mapping[str, tuple[int, ...]], out_shape: tuple):
        super().__init__(node, in_shapes, out_shape)
        self.kernel = CubaLifNeuron.from_node(node)
        self.n = math.prod(node.shape)
        self.overridden = False  # whether set_bias replaced the node's bias

    def reset(self, batch: int) -> None:
        self.kernel.reset(batch)
        self._node_bias()  # drop a previous run's bias override

    def release(self) -> None:
        self.kernel.reset(0)
        self._node_bias()

    def set_bias(self, bias: np.ndarray) -> None:
        self.kernel.set_bias(bias)
        self.overridden = True

    def _node_bias(self) -> None:
        """Back to the node's own bias (recomputed only after an override)."""
        if self.overridden:
            self.kernel.set_bias(self.node.bias_mant)
            self.overridden = False

    def step(self, inputs: Inputs, counts: dict[str, int]) -> np.ndarray:
        a = only(inputs) if inputs else 0
        s = self.kernel.step(np.broadcast_to(a, self.kernel.u.shape))
        b = s.shape[0]
        counts["neuron_updates"] += self.n * b
        counts["state_reads"] += 2 * self.n * b
        counts["spikes"] += int(np.count_nonzero(s))
        return s

    def probe(self, var: str) -> np.ndarray:
        if var in ("u", "v"):  # int32 state, probed as int64 like every probe
            return getattr(self.kernel, var).astype(np.int64)
        return super().probe(var)

    def zero_state(self) -> None:
        self.kernel.u[...] = 0
        self.kernel.v[...] = 0

    def skip_to(self, step: int) -> None:
        self.kernel.t = int(step)  # LIFReset phases follow Lava's clock

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        u = self.kernel.u
        a = only(inputs) if inputs else np.zeros((len(counts["spikes"]), *u.shape), np.int64)
        a = np.broadcast_to(a, (a.shape[0], *u.shape))
        spikes, rec = self.kernel.run_sequence(a, state_reset=reset, record=tuple(probe_vars))
        b = u.shape[0]
        counts["neuron_updates"][:] = self.n * b
        counts["state_reads"][:] = 2 * self.n * b
        counts["spikes"][:] = [np.count_nonzero(s) for s in spikes]  # 0/1: the sum
        return spikes, rec


class SdnExecutor(Executor):
    """Base of the sigma-delta family: a kernel with ``step``, stepped through time."""

    kernel_class: Any
    n_state = 3

    def __init__(self, node: Any, in_shapes: Mapping[str, tuple[int, ...]], out_shape: tuple):
        super().__init__(node, in_shapes, out_shape)
        self.kernel = self.kernel_class.from_node(node)

    def reset(self, batch: int) -> None:
        self.kernel.reset(batch)

    def release(self) -> None:
        self.kernel.reset(0)

    def step(self, inputs: Inputs, counts: dict[str, int]) -> np.ndarray:
        x = only(inputs)
        s = self.kernel.step(x)
        n = math.prod(self.node.shape) * x.shape[0]
        counts["neuron_updates"] += n
        counts["state_reads"] += self.n_state * n
        counts["spikes"] += int(np.count_nonzero(s))
        return s

    def probe(self, var: str) -> np.ndarray:
        if var in self.state_vars:
            return getattr(self.kernel, var).copy()
        return super().probe(var)


@register_executor("Delta")
class DeltaExecutor(SdnExecutor):
    kernel_class = DeltaEncoder
    state_vars = ("act", "residue", "error")
    n_state = 2


@register_executor("SigmaDelta")
class SigmaDeltaExecutor(SdnExecutor):
    kernel_class = SigmaDeltaNeuron
    state_vars = ("sigma", "act", "residue", "error")


@register_executor("Sigma")
class SigmaExecutor(SdnExecutor):
    kernel_class = SigmaDecoder
    state_vars = ("sigma",)
    n_state = 1
