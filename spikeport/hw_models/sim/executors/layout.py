"""Executors of the layout nodes (``Reshape``, ``Flatten``, ``Transpose``) and ``Delay``:
they move values, compute nothing and count nothing."""

from __future__ import annotations

import numpy as np

from spikeport.hw_models.sim.base import Executor, Inputs, only, register_executor


@register_executor("Flatten", "Reshape")
class ReshapeExecutor(Executor):
    def step(self, inputs: Inputs, counts: dict[str, int]) -> np.ndarray:
        x = only(inputs)
        return x.reshape(x.shape[0], *self.out_shape)

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        x = only(inputs)
        return x.reshape(x.shape[0], x.shape[1], *self.out_shape), {}


@register_executor("Transpose")
class TransposeExecutor(Executor):
    def step(self, inputs: Inputs, counts: dict[str, int]) -> np.ndarray:
        return np.transpose(only(inputs), (0, *(p + 1 for p in self.node.perm)))

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        return np.transpose(only(inputs), (0, 1, *(p + 2 for p in self.node.perm))), {}


@register_executor("Delay")
class DelayExecutor(Executor):
    """Sends its input `steps` steps later (zeros before); layer-synchronously, at once."""

    ring: np.ndarray | None = None

    def reset(self, batch: int) -> None:
        self.ring = None  # sized by the first step: run_all never needs it
        self.t = 0

    def release(self) -> None:
        self.ring = None

    def step(self, inputs: Inputs, counts: dict[str, int]) -> np.ndarray:
        x = only(inputs)
        if self.ring is None:
            self.ring = np.zeros((self.node.steps + 1, *x.shape), dtype=np.int64)
        slots = self.ring.shape[0]
        self.ring[self.t % slots] = x
        out = self.ring[(self.t - self.node.steps) % slots].copy()
        if self.t < self.node.steps:
            out[...] = 0
        self.t += 1
        return out

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        x = only(inputs)
        out = np.zeros_like(x)
        d = self.node.steps
        if d < len(x):
            out[d:] = x[: len(x) - d]
        return out, {}

    def run_synchronous(self, inputs, counts, probe_vars=(), reset=None, start=0):  # type: ignore[no-untyped-def]
        return only(inputs), {}  # its output window is its input window, later
