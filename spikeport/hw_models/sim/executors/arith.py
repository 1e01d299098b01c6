"""Executors of the weightless, stateless integer nodes: ``Add``, ``MaxPool2d`` and
``TokenMean``. Each computes its output from the same step's inputs (no latency).

Counts per step: MaxPool2d of spikes ``bitwise_words`` = outputs x words(kH kW) (an OR over
the window's spikes), of currents (``kind="current"``) ``dense_macs`` = outputs x (kH kW - 1)
integer compares; Add, TokenMean ``dense_macs`` = one add per input element.
"""

from __future__ import annotations

import math

import numpy as np

from spikeport.hw_models.sim.base import Inputs, StepwiseExecutor, only, per_step, register_executor
from spikeport.hw_models.sim.kernels import popcount
from spikeport.hw_models.sim.kernels.arith import abs_max


def sum_dtype(bound: int) -> type[np.signedinteger]:
    """The narrowest of int8/16/32/64 holding every integer of magnitude <= `bound`."""
    for dtype in (np.int8, np.int16, np.int32):
        if bound <= np.iinfo(dtype).max:
            return dtype
    return np.int64


@register_executor("Add")
class AddExecutor(StepwiseExecutor):
    """a + b on graded integers (residual of spikes: 0, 1, 2, ...).

    The sum is stored in the narrowest signed type that holds max|a| + max|b| (int8 for a
    residual stream of a few spikes): the same integers at 1/8 of int64's memory."""

    def compute(self, inputs: Inputs) -> np.ndarray:
        a, b = inputs["a"], inputs["b"]
        return np.add(a, b, dtype=sum_dtype(abs_max(a) + abs_max(b)))

    def step_counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, np.ndarray]:
        return {"dense_macs": per_step(math.prod(out.shape[1:]), len(out))}


@register_executor("MaxPool2d")
class MaxPoolExecutor(StepwiseExecutor):
    """Max over each (kH, kW) window of (C, H, W); padding never wins (PyTorch's -inf).

    On binary spikes this is the OR of the window; on signed currents the window's max."""

    def compute(self, inputs: Inputs) -> np.ndarray:
        x = only(inputs)
        lead, (c, h, w) = x.shape[:-3], x.shape[-3:]
        kh, kw = self.node.kernel_size
        sh, sw = self.node.stride
        ph, pw = self.node.padding
        flat = x.reshape(-1, c, h, w)
        if ph or pw:
            low = np.iinfo(flat.dtype).min if flat.dtype.kind in "iu" else -np.inf
            flat = np.pad(flat, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=low)
        ho, wo = self.out_shape[1:]
        out = None
        for i in range(kh):  # k*k strided views: no window copies
            for j in range(kw):
                tap = flat[:, :, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]
                out = tap.copy() if out is None else np.maximum(out, tap, out=out)
        assert out is not None
        return out.reshape(*lead, c, ho, wo)

    def step_counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, np.ndarray]:
        kh, kw = self.node.kernel_size
        if self.node.kind == "current":
            return {"dense_macs": per_step(math.prod(out.shape[1:]) * (kh * kw - 1), len(out))}
        words = math.prod(out.shape[1:]) * popcount.words(kh * kw)
        return {"bitwise_words": per_step(words, len(out))}


@register_executor("TokenMean")
class TokenMeanExecutor(StepwiseExecutor):
    """Integer readout accumulation: the *sum* over the token axis (the 1/N is a scale the
    readout absorbs; an integer graph has no division)."""

    def compute(self, inputs: Inputs) -> np.ndarray:
        x = only(inputs)
        nd = len(self.in_shapes["in"])
        return x.sum(axis=2 + self.node.axis % nd)

    def step_counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, np.ndarray]:
        return {"dense_macs": per_step(math.prod(only(inputs).shape[1:]), len(out))}
