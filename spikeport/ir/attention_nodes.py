"""Integer attention primitives produced by the attention lowering passes.

Score primitives: inputs are bit-level spike tensors q: (..., N, head_dim), k: (..., M,
head_dim), binary 0/1; outputs are (..., N, M) unsigned integer scores. How they are packed
into machine words is the backend's business; the node states only the arithmetic and widths.

The other primitives complete the lowered attention (see docs/lowering.md):
`ScoreCombine` (per-head integer a-XNOR combine), `SpikeAccumulate` (scores times V spikes,
merged scale), `LocalTerm` (dilated depth-wise 3x3 local term of LRF-SSA/LRF-Dyn),
`SpikeAnd` (elementwise AND, SDSA) and `TokenSum` (column sum over tokens, SDSA).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from spikeport.ir.float_nodes import broadcast_to
from spikeport.ir.int_nodes import WEIGHT_STORAGE
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


def count_bits(n: int) -> int:
    """Unsigned bits of a count 0..n: ceil(log2(n + 1)) (a popcount of n bits)."""
    return max(1, int(n).bit_length())


@node
class ScoreCombine(Node):
    """Per-head integer a-XNOR combine: ``(2^a_shift - a_int[h]) * c_and + a_int[h] * c_xnor``.

    c_and, c_xnor: (heads, N, M) popcounts of `head_dim` bits (uint, count_bits(head_dim)
    wide). a_int: int [heads], 0..2^a_shift. Output: uint scores, 2^a_shift times the float
    similarity, at most 2^a_shift * head_dim (a_shift + count_bits(head_dim) bits).
    """

    heads: int = 1
    head_dim: int = 1
    a_int: np.ndarray = None  # type: ignore[assignment]
    a_shift: int = 0

    ports = ("c_and", "c_xnor")
    level = "int"
    int_tensors = ("a_int",)

    @property
    def out_bits(self) -> int:
        return count_bits((1 << self.a_shift) * self.head_dim)

    def _check_fields(self) -> None:
        if not isinstance(self.a_shift, int) or not 0 <= self.a_shift <= 16:
            raise self.fail(f"a_shift must be an int in 0..16, got {self.a_shift!r}")
        if self.a_int is None or self.a_int.shape != (self.heads,):
            raise self.fail(f"a_int must have shape ({self.heads},)")
        if np.any(self.a_int < 0) or np.any(self.a_int > 1 << self.a_shift):
            raise self.fail("a_int must lie in 0..2^a_shift")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        a, x = tuple(inputs["c_and"]), tuple(inputs["c_xnor"])
        if a != x or len(a) != 3 or a[0] != self.heads:
            raise self.fail(f"c_and {a} and c_xnor {x} must both be ({self.heads}, N, M)")
        return a


@node
class SpikeAccumulate(Node):
    """Scores times V spikes per head, with the merged attention scale as shifts:
    ``out[h, n, j] = floor((sum_m scores[h, n, m] * v[h, m, j]) * 2^count_shift / 2^score_shift)``.

    scores: (heads, N, M) uint, `score_bits` wide; v: (heads, M, head_dim) 0/1 spikes.
    The sum needs score_bits + count_bits(M) bits; the output (the attention LIF's
    activation, in 2^-count_shift counts) `out_bits` = that + count_shift - score_shift.
    """

    score_bits: int = 1
    count_shift: int = 0
    score_shift: int = 0

    ports = ("scores", "v")
    level = "int"

    def _check_fields(self) -> None:
        for f in ("score_bits", "count_shift", "score_shift"):
            v = getattr(self, f)
            if not isinstance(v, int) or not 0 <= v <= 32:
                raise self.fail(f"{f} must be an int in 0..32, got {v!r}")

    def sum_bits(self, tokens: int) -> int:
        """Accumulator width for `tokens` (M) value rows."""
        return self.score_bits + count_bits(tokens)

    def out_bits(self, tokens: int) -> int:
        return self.sum_bits(tokens) + self.count_shift - self.score_shift

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        s, v = tuple(inputs["scores"]), tuple(inputs["v"])
        if len(s) != 3 or len(v) != 3 or s[0] != v[0] or s[2] != v[1]:
            raise self.fail(f"scores {s} and v {v} must be (h, N, M) and (h, M, d)")
        return (s[0], s[1], v[2])


@node
class LocalTerm(Node):
    """LRF local term on V spikes (N, D) over the token grid (H, W), N = H * W:
    ``sum_r dwconv3x3(v, weight[r], dilation r, zero padding r)``, then ``<< shift``
    (``>> -shift``, floor). weight: int [R, D, 1, 3, 3], 8 bits + sign. The sum of
    9 R weights of 9 bits needs 9 + count_bits(9 R) signed bits before the shift.
    """

    grid: tuple[int, int] = (1, 1)
    dilation: tuple[int, ...] = (3, 5)
    weight: np.ndarray = None  # type: ignore[assignment]
    shift: int = 0

    level = "int"
    int_tensors = ("weight",)
    int_dtypes = {"weight": WEIGHT_STORAGE}

    def _check_fields(self) -> None:
        if self.weight is None or self.weight.ndim != 5 or self.weight.shape[2:] != (1, 3, 3):
            raise self.fail("weight must be int [R, D, 1, 3, 3]")
        if len(self.dilation) != self.weight.shape[0]:
            raise self.fail(f"{len(self.dilation)} dilations for {self.weight.shape[0]} kernels")

    def formats(self) -> dict[str, IntFormat]:
        return {"weight": IntFormat(9, True)}

    @property
    def sum_bits(self) -> int:
        """Signed width of the tap sum before the shift: 9 + count_bits(9 R)."""
        return 9 + count_bits(9 * self.weight.shape[0])

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        x = tuple(inputs["in"])
        hh, ww = self.grid
        if len(x) != 2 or x[0] != hh * ww or x[1] != self.weight.shape[1]:
            raise self.fail(f"input {x} is not ({hh * ww}, {self.weight.shape[1]})")
        return x


@node
class SpikeAnd(Node):
    """Elementwise AND of 0/1 spikes a and b, b broadcast to a's shape (numpy rules): b (N, D)
    or (D,) for a (N, D) (SDSA), b (h, 1, N) for a (h, d, N) (QKFormer's token mask)."""

    ports = ("a", "b")
    level = "int"

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        a, b = tuple(inputs["a"]), tuple(inputs["b"])
        if broadcast_to(a, b) != a:
            raise self.fail(f"b {b} does not broadcast to a {a}")
        return a


@node
class TokenSum(Node):
    """Column sum over the token axis: (N, D) 0/1 spikes -> (D,) counts ``<< shift``;
    count_bits(N) + shift unsigned bits."""

    shift: int = 0

    level = "int"

    def _check_fields(self) -> None:
        if not isinstance(self.shift, int) or not 0 <= self.shift <= 16:
            raise self.fail(f"shift must be an int in 0..16, got {self.shift!r}")

    def out_bits(self, tokens: int) -> int:
        """Unsigned output width for `tokens` (N) rows: count_bits(N) + shift."""
        return count_bits(tokens) + self.shift

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        x = tuple(inputs["in"])
        if len(x) != 2:
            raise self.fail(f"input {x} is not (N, D)")
        return x[1:]
