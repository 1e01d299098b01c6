"""Field and input-shape checks shared by node definitions; each raises ``node.fail(...)``.

* :func:`check_choice`: a field holds one of a fixed set of names.
* :func:`check_conv_fields` / :func:`conv_output_shape`: the 2-D convolution fields
  (weight [C_out, C_in/groups, kH, kW], (H, W) stride / padding / dilation, groups) and the
  (C, H, W) output of float ``Conv2d`` and integer ``Conv``.
* :class:`QKVCore`: the attention-core nodes' q, k, v ports of one shape (N, heads * head_dim).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from spikeport.ir.node import Node, Shape, conv_out, pair, set_field, single_input


def check_choice(node_: Node, field: str, options: tuple[str, ...]) -> None:
    value = getattr(node_, field)
    if value not in options:
        raise node_.fail(f"{field} {value!r} not one of {options}")


def check_conv_fields(node_: Any, weight_kind: str = "4-D") -> None:
    """4-D weight (`weight_kind` names it in the error), stride / padding / dilation made
    (H, W) int pairs, positive groups dividing C_out."""
    if node_.weight is None or node_.weight.ndim != 4:
        raise node_.fail(f"weight must be {weight_kind} [C_out, C_in/groups, kH, kW]")
    for f in ("stride", "padding", "dilation"):
        set_field(node_, f, pair(node_, f, getattr(node_, f)))
    if not isinstance(node_.groups, int) or node_.groups < 1:
        raise node_.fail(f"groups must be a positive int, got {node_.groups!r}")
    if node_.weight.shape[0] % node_.groups:
        raise node_.fail(f"C_out {node_.weight.shape[0]} not divisible by groups {node_.groups}")


def conv_output_shape(node_: Any, inputs: Mapping[str, Shape]) -> Shape:
    """(C_out, H', W') of a convolution node on its one (C_in, H, W) input."""
    x = single_input(node_, inputs)
    c_out, c_in_g, kh, kw = node_.weight.shape
    if len(x) != 3 or x[0] != c_in_g * node_.groups:
        raise node_.fail(f"input shape {x} is not (C={c_in_g * node_.groups}, H, W)")
    h = conv_out(x[1], kh, node_.stride[0], node_.padding[0], node_.dilation[0])
    w = conv_out(x[2], kw, node_.stride[1], node_.padding[1], node_.dilation[1])
    if h < 1 or w < 1:
        raise node_.fail(f"input {x} too small for kernel {(kh, kw)}")
    return (c_out, h, w)


class QKVCore:
    """Mixin (listed before ``Node``) of nodes with ``heads`` and ``head_dim`` fields and
    q, k, v inputs of one shape (N, D), D = heads * head_dim channels, head-major."""

    ports: ClassVar[tuple[str, ...]] = ("q", "k", "v")

    @property
    def dim(self) -> int:
        return self.heads * self.head_dim  # type: ignore[attr-defined]

    def qkv_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        """The common (N, D) input shape; raise when q, k, v differ or D is not `dim`."""
        shapes = {p: tuple(inputs[p]) for p in self.ports}
        fail = self.fail  # type: ignore[attr-defined]
        if len(set(shapes.values())) != 1:
            raise fail(f"q, k, v shapes differ: {shapes}")
        x = shapes["q"]
        if len(x) != 2 or x[1] != self.dim:
            raise fail(f"input shape {x} is not (N, {self.dim})")
        return x
