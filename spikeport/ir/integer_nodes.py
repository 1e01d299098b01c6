"""Integer-valued spikes (SDT-V3's I-LIF) and the attention on them, float and integer.

Float (traced) nodes:

* ``IntegerSpike``: ``round(clamp(x, 0, D)) / norm`` (PyTorch's round: half to even); no
  state (the official I-LIF at T = 1).
* ``LinearAttention``: per head ``(Q K^T) V * scale`` on integer spikes (``MS_Attention_linear``);
  q, k (N, heads * d), v (N, heads * d_v): V may be wider than Q and K.

Integer (lowered) nodes, spikeport's own processes (no Lava counterpart):

* ``GradedSpike``: ``s = clamp(rint((a + bias) / vth), 0, D)``, ``rint`` rounding the exact
  rational to the nearest integer, ties to even (as PyTorch's ``round``); s is a graded
  message of ``bits(D)`` bits. With ``virtual_steps = V > 1`` (V >= D) the same s is sent as
  V binary spikes ``b_j = [j < s]`` (the I-LIF's "virtual timesteps"): the input is summed
  over each window of V steps, the bias added once per window.
* ``IntLinearAttention``: per head ``((q k^T) v) << shift``, exact in integers; with
  ``virtual_steps = V > 1`` each input is first summed over its window of V steps and the
  product is sent on the window's first step (zeros on the others).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from spikeport.ir.int_nodes import STATE, _broadcastable, _check_neuron_shape, _same_shape
from spikeport.ir.intformat import IntFormat
from spikeport.ir.node import Node, Shape, node, single_input

MAX_SPIKE = 255
"""Largest integer spike D a GradedSpike may emit (an 8-bit message)."""


def spike_bits(max_value: int) -> int:
    """Message bits of an unsigned integer spike 0..max_value."""
    return max(1, int(max_value).bit_length())


def _check_max_value(n: Node, max_value: int) -> None:
    if not isinstance(max_value, int) or not 1 <= max_value <= MAX_SPIKE:
        raise n.fail(f"max_value must be an int in 1..{MAX_SPIKE}, got {max_value!r}")


def _check_virtual_steps(n: Node, steps: int, least: int) -> None:
    if not isinstance(steps, int) or not (steps == 1 or steps >= least):
        raise n.fail(f"virtual_steps must be 1 (graded) or an int >= {least}, got {steps!r}")


@node
class IntegerSpike(Node):
    """Float I-LIF at T = 1 (``IntegerLIF``): ``round(clamp(x, 0, max_value)) / norm``.

    max_value: largest integer spike D (1..255); norm: the divisor (> 0; D or 1 in SDT-V3).
    """

    max_value: int = 4
    norm: float = 4.0

    def _check_fields(self) -> None:
        _check_max_value(self, self.max_value)
        if not self.norm > 0:
            raise self.fail(f"norm must be > 0, got {self.norm}")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return single_input(self, inputs)


def _qkv_shapes(n: Node, inputs: Mapping[str, Shape], heads: int) -> Shape:
    q, k, v = (tuple(inputs[p]) for p in ("q", "k", "v"))
    if len(q) != 2 or q != k or len(v) != 2 or v[0] != q[0]:
        raise n.fail(f"q {q}, k {k} must be one (N, C) shape and v {v} must be (N, C_v)")
    if q[1] % heads or v[1] % heads:
        raise n.fail(f"channels of q {q[1]} and v {v[1]} must divide into {heads} heads")
    return v


def _check_heads(n: Node, heads: int) -> None:
    if not isinstance(heads, int) or heads < 1:
        raise n.fail(f"heads must be a positive int, got {heads!r}")


@node
class LinearAttention(Node):
    """Float ``MS_Attention_linear`` core: per head ``(q_h k_h^T) v_h * scale``.

    q, k: (N, heads * d); v: (N, heads * d_v); output (N, heads * d_v), channel ``h d_v + j``
    of head h. scale: real factor (SDT-V3: 2 / sqrt(d)).
    """

    heads: int = 1
    scale: float = 1.0

    ports = ("q", "k", "v")

    def _check_fields(self) -> None:
        _check_heads(self, self.heads)

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return _qkv_shapes(self, inputs, self.heads)


@node
class GradedSpike(Node):
    """Integer I-LIF: ``s = clamp(rint((a + bias) / vth), 0, max_value)`` per element.

    a: the integer input current of the step (int24); bias: int tensor broadcastable to
    `shape` (int24) or None; vth: integers of input per unit of s (1..2^23 - 1); rint: the
    nearest integer of the exact rational, ties to even. Output: graded messages 0..D
    (``spike_bits(D)`` bits). virtual_steps V > 1 (V >= D): the input summed over each window
    of V steps (bias once) gives s, sent as binary spikes ``[j < s]`` on window step j.
    No state across windows.
    """

    shape: Shape = ()
    vth: int = 1
    bias: np.ndarray | None = None
    max_value: int = 4
    virtual_steps: int = 1

    level = "int"
    int_tensors = ("bias",)

    def _check_fields(self) -> None:
        _check_neuron_shape(self, self.shape)
        _check_max_value(self, self.max_value)
        _check_virtual_steps(self, self.virtual_steps, self.max_value)
        if self.bias is not None:
            _broadcastable(self, "bias", self.bias, self.shape)

    def formats(self) -> dict[str, IntFormat]:
        return {"bias": STATE}

    def check(self) -> None:
        if not isinstance(self.vth, int) or not 1 <= self.vth <= STATE.max:
            raise self.fail(f"vth {self.vth!r} outside 1..{STATE.max}")

    @property
    def message_bits(self) -> int:
        """Bits of each output message: binary when expanded, else bits of D."""
        return 1 if self.virtual_steps > 1 else spike_bits(self.max_value)

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return _same_shape(self, inputs, self.shape)


@node
class IntLinearAttention(Node):
    """Integer ``MS_Attention_linear`` core: per head ``((q_h k_h^T) v_h) << shift``, exact.

    q, k: (N, heads * d), v: (N, heads * d_v) graded spikes 0..max_value; output (N, heads *
    d_v) integers, at most ``N d max_value^3 2^shift`` (fits `out_bits`, unsigned). shift:
    0..23, the fraction bits the reading GradedSpike's threshold carries. virtual_steps V > 1:
    inputs summed over each window of V steps, product sent on the window's first step.
    """

    heads: int = 1
    shift: int = 0
    max_value: int = 4
    out_bits: int = 24
    virtual_steps: int = 1

    ports = ("q", "k", "v")
    level = "int"

    def _check_fields(self) -> None:
        _check_heads(self, self.heads)
        _check_max_value(self, self.max_value)
        _check_virtual_steps(self, self.virtual_steps, self.max_value)
        if not isinstance(self.shift, int) or not 0 <= self.shift < STATE.bits:
            raise self.fail(f"shift must be an int in 0..{STATE.bits - 1}, got {self.shift!r}")
        if not isinstance(self.out_bits, int) or not 1 <= self.out_bits <= 32:
            raise self.fail(f"out_bits must be an int in 1..32, got {self.out_bits!r}")

    def largest(self, tokens: int, head_dim: int) -> int:
        """The largest output: every q, k, v at max_value."""
        return (tokens * head_dim * self.max_value**3) << self.shift

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        out = _qkv_shapes(self, inputs, self.heads)
        n, c = tuple(inputs["q"])
        if not IntFormat(self.out_bits, False).contains(self.largest(n, c // self.heads)):
            raise self.fail(
                f"out_bits {self.out_bits} cannot hold {self.largest(n, c // self.heads)}"
            )
        return out
