"""Float (pre-lowering) nodes, as the torch.fx front end produces them.

Values are real numbers (float32/float64 tensors); spikes are 0/1. Shapes are per sample
and timestep: images (C, H, W), tokens (N, D). Synapses act like their PyTorch modules.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from spikeport.ir.checks import check_conv_fields, conv_output_shape
from spikeport.ir.node import Node, Shape, conv_out, node, pair, set_field, single_input


@node
class Conv2d(Node):
    """Float 2-D cross-correlation (torch.nn.Conv2d), input and output (C, H, W).

    weight: [C_out, C_in/groups, kH, kW]; bias: [C_out] or None.
    stride, padding, dilation: (H, W) pairs (zero padding); groups: channel groups.
    """

    weight: np.ndarray = None  # type: ignore[assignment]
    bias: np.ndarray | None = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    float_tensors = ("weight", "bias")

    def _check_fields(self) -> None:
        check_conv_fields(self)
        if self.bias is not None and self.bias.shape != (self.weight.shape[0],):
            raise self.fail(f"bias shape {self.bias.shape} != ({self.weight.shape[0]},)")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return conv_output_shape(self, inputs)


@node
class Linear(Node):
    """Float affine map on the last axis (torch.nn.Linear): y = x @ weight.T + bias.

    weight: [out, in]; bias: [out] or None.
    """

    weight: np.ndarray = None  # type: ignore[assignment]
    bias: np.ndarray | None = None

    float_tensors = ("weight", "bias")

    def _check_fields(self) -> None:
        if self.weight is None or self.weight.ndim != 2:
            raise self.fail("weight must be 2-D [out, in]")
        if self.bias is not None and self.bias.shape != (self.weight.shape[0],):
            raise self.fail(f"bias shape {self.bias.shape} != ({self.weight.shape[0]},)")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        x = single_input(self, inputs)
        if not x or x[-1] != self.weight.shape[1]:
            raise self.fail(f"input shape {x} does not end in in-features {self.weight.shape[1]}")
        return (*x[:-1], self.weight.shape[0])


@node
class BatchNorm(Node):
    """Eval-mode batch norm over per-sample axis `axis`:
    y = (x - mean) / sqrt(var + eps) * weight + bias, statistics [C] (C = size of `axis`).

    weight/bias None mean 1/0 (affine=False).
    """

    mean: np.ndarray = None  # type: ignore[assignment]
    var: np.ndarray = None  # type: ignore[assignment]
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    eps: float = 1e-5
    axis: int = 0

    float_tensors = ("mean", "var", "weight", "bias")

    def _check_fields(self) -> None:
        if self.mean is None or self.var is None or self.mean.ndim != 1:
            raise self.fail("mean and var must be 1-D [C]")
        for f in ("var", "weight", "bias"):
            v = getattr(self, f)
            if v is not None and v.shape != self.mean.shape:
                raise self.fail(f"{f} shape {v.shape} != mean shape {self.mean.shape}")
        if np.any(self.var < 0) or not self.eps > 0:
            raise self.fail("var must be >= 0 and eps > 0")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        x = single_input(self, inputs)
        if not -len(x) <= self.axis < len(x) or x[self.axis] != self.mean.shape[0]:
            raise self.fail(f"axis {self.axis} of input {x} does not have {self.mean.shape[0]}")
        return x


@node
class LIF(Node):
    """Float LIF neuron with SpikingJelly LIFNode semantics (multi-step, per element).

    decay_input: H = V + (X - (V - v_reset)) / tau, else H = V - (V - v_reset) / tau + X
    (v_reset None: leak towards 0). Spike S = H >= v_threshold. Reset: V = v_reset
    where S (hard), or V = H - v_threshold * S when v_reset is None (soft).
    tau: membrane time constant in timesteps (> 1); thresholds in input units.
    """

    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    decay_input: bool = True

    def _check_fields(self) -> None:
        if not self.tau > 1.0:
            raise self.fail(f"tau must be > 1, got {self.tau}")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return single_input(self, inputs)


@node
class Mul(Node):
    """Elementwise product a * b, b broadcast to a's shape (numpy rules, per sample): QKFormer's
    token mask times K. On 0/1 spikes it is an AND (quantised as ``SpikeAnd``)."""

    ports = ("a", "b")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        a, b = tuple(inputs["a"]), tuple(inputs["b"])
        if broadcast_to(a, b) != a:
            raise self.fail(f"b {b} does not broadcast to a {a}")
        return a


def broadcast_to(a: Shape, b: Shape) -> Shape | None:
    """The shape b broadcasts with a to (numpy rules), or None when they do not broadcast."""
    try:
        return tuple(np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        return None


@node
class Add(Node):
    """Elementwise sum a + b (residual); spikes add to graded integers (0, 1, 2)."""

    ports = ("a", "b")
    level = "any"

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        a, b = tuple(inputs["a"]), tuple(inputs["b"])
        if a != b:
            raise self.fail(f"operand shapes differ: a {a}, b {b}")
        return a


POOLED = ("spikes", "current")
"""What a MaxPool2d pools: binary spikes (a logical OR) or signed synaptic currents (a max of
integers, a current group, docs/semantics.md)."""


@node
class MaxPool2d(Node):
    """Max pooling over (H, W) of a (C, H, W) input; on binary spikes it is a logical OR.

    kernel_size, stride (default = kernel_size), padding: (H, W) pairs; padding adds -inf.
    kind: "spikes" (0/1 in and out) or "current" (signed synaptic currents before their
    neuron: SDT's and QKFormer's pool-before-LIF); set by quantisation, it changes what the
    pooling costs (OR words vs integer compares), not what it computes.
    """

    kernel_size: tuple[int, int] = (2, 2)
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] = (0, 0)
    kind: str = "spikes"

    level = "any"
    added_fields = ("kind",)

    def _check_fields(self) -> None:
        if self.kind not in POOLED:
            raise self.fail(f"kind must be {' or '.join(POOLED)}, got {self.kind!r}")
        set_field(self, "kernel_size", pair(self, "kernel_size", self.kernel_size))
        stride = self.kernel_size if self.stride is None else self.stride
        set_field(self, "stride", pair(self, "stride", stride))
        set_field(self, "padding", pair(self, "padding", self.padding))
        if 2 * max(self.padding) > min(self.kernel_size):
            raise self.fail("padding must be at most half the kernel size")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        x = single_input(self, inputs)
        if len(x) != 3:
            raise self.fail(f"input shape {x} is not (C, H, W)")
        h = conv_out(x[1], self.kernel_size[0], self.stride[0], self.padding[0], 1)
        w = conv_out(x[2], self.kernel_size[1], self.stride[1], self.padding[1], 1)
        if h < 1 or w < 1:
            raise self.fail(f"input {x} too small for kernel {self.kernel_size}")
        return (x[0], h, w)


@node
class TokenMean(Node):
    """Mean over the token axis `axis` (readout): (N, D) -> (D,) with axis 0."""

    axis: int = 0

    level = "any"

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        x = single_input(self, inputs)
        if not -len(x) <= self.axis < len(x):
            raise self.fail(f"axis {self.axis} out of range for input {x}")
        a = self.axis % len(x)
        return x[:a] + x[a + 1 :]


@node
class TimeMean(Node):
    """Mean over timesteps of the input (readout); shape unchanged, one value per sample."""

    level = "any"

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return single_input(self, inputs)
