"""Integer attention primitives produced by the attention lowering passes (placeholders).

Inputs are bit-level spike tensors q: (..., N, head_dim), k: (..., M, head_dim), binary
0/1; outputs are (..., N, M) unsigned integer scores. How they are packed into machine
words is the backend's business; the node states only the arithmetic and widths.
"""

from __future__ import annotations

from collections.abc import Mapping

from spikeport.ir.intformat import IntFormat
from spikeport.ir.node import Node, Shape, node


def _scores_shape(n: Node, inputs: Mapping[str, Shape], head_dim: int) -> Shape:
    q, k = tuple(inputs["q"]), tuple(inputs["k"])
    if len(q) < 2 or len(k) < 2 or q[-1] != head_dim or k[-1] != head_dim or q[:-2] != k[:-2]:
        raise n.fail(f"q {q} and k {k} must be (..., N, {head_dim}) and (..., M, {head_dim})")
    return (*q[:-1], k[-2])


def _check_widths(n: Node, head_dim: int, out_bits: int) -> None:
    if not isinstance(head_dim, int) or head_dim < 1:
        raise n.fail(f"head_dim must be a positive int, got {head_dim!r}")
    if not isinstance(out_bits, int) or not 1 <= out_bits <= 32:
        raise n.fail(f"out_bits must be an int in 1..32, got {out_bits!r}")


@node
class XnorPopcount(Node):
    """a-XNOR score: sim = (2^m - a_int) * popcount(q & k) + a_int * popcount(~(q ^ k)).

    That is 2^m times the float similarity with a = a_int / 2^m (m = a_shift).
    a_int: 0..2^m; out_bits: unsigned score width (>= bits of 2^m * head_dim).
    """

    head_dim: int = 1
    a_int: int = 0
    a_shift: int = 0
    out_bits: int = 16

    ports = ("q", "k")
    level = "int"

    def _check_fields(self) -> None:
        _check_widths(self, self.head_dim, self.out_bits)
        if not isinstance(self.a_shift, int) or not 0 <= self.a_shift <= 16:
            raise self.fail(f"a_shift must be an int in 0..16, got {self.a_shift!r}")
        if not isinstance(self.a_int, int) or not 0 <= self.a_int <= 1 << self.a_shift:
            raise self.fail(f"a_int must be an int in 0..2^a_shift, got {self.a_int!r}")

    def check(self) -> None:
        largest = (1 << self.a_shift) * self.head_dim
        if not IntFormat(self.out_bits, False).contains(largest):
            raise self.fail(f"out_bits {self.out_bits} cannot hold the largest score {largest}")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return _scores_shape(self, inputs, self.head_dim)


@node
class AndPopcount(Node):
    """Spikformer SSA score (the a = 0 case): sim = popcount(q & k); uint, `out_bits` wide."""

    head_dim: int = 1
    out_bits: int = 16

    ports = ("q", "k")
    level = "int"

    def _check_fields(self) -> None:
        _check_widths(self, self.head_dim, self.out_bits)

    def check(self) -> None:
        if not IntFormat(self.out_bits, False).contains(self.head_dim):
            raise self.fail(f"out_bits {self.out_bits} cannot hold head_dim {self.head_dim}")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return _scores_shape(self, inputs, self.head_dim)
