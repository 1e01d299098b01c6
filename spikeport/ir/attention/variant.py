"""`AttentionVariant`: everything spikeport knows about one attention formula, and the registry.

The float ``Attention`` and integer ``IntAttention`` nodes carry a ``variant`` name; every
pass and backend that behaves differently per variant looks the name up here
(:func:`variant`) instead of comparing strings. A variant record states:

* IR facts: the fields it owns and their checks (float and integer node), whether its output
  is spikes (``spiking_output``: no attention LIF follows, the scale cannot be folded) and
  whether it keeps state across timesteps (``stateful``: restarted at each data window);
* quantisation: the largest activation in counts (``count_bound``) and its integer fields
  from its float ones (``int_params``, or ``spiking_params`` for spiking variants);
* meaning in primitives: ``lower`` rewrites an ``IntAttention`` into the primitive nodes of
  ``ir.attention_nodes`` (and CubaLIF, DendriticAttention, layout nodes), named by
  ``lowering_pass``; ``fused`` says whether the backends also run the ``IntAttention`` node
  itself (the five original variants), else the conversion always lowers it;
* costs: attention state held per step (``state_bits``) and the papers' analytical operation
  count of one core call (``paper_ops``).

A method a variant must provide raises :class:`NotImplementedError` naming the variant and
the method; the registry refuses a second variant of the same name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from spikeport.ir.errors import GraphError

Node = Any
"""An ``Attention`` or ``IntAttention`` node (duck-typed: ir.attention imports no node class)."""


@dataclass(frozen=True)
class CoreCall:
    """One call of an attention core, as the analytical count sees it (cost side fills it).

    t, b, h, n, d: the [T, B, h, N, d] shape of q, k, v; fq, fk, fv: their firing rates;
    exact_kv, exact_qk: exact coincidence rates of the K^T V (d x d) and Q K^T (N x N)
    products; exact_kv_elem: rate of k AND v elementwise; order: "dxd" or "nxn" (resolved);
    word_bits: width of the packed words; pair(fa, fb, exact): the rate of a spike x spike
    product under the convention; core: the torch module (its attributes, e.g. compartments);
    compartments: dendrites assumed when the core does not say.
    """

    t: int
    b: int
    h: int
    n: int
    d: int
    fq: float
    fk: float
    fv: float
    exact_kv: float
    exact_qk: float
    exact_kv_elem: float
    order: str
    word_bits: int
    pair: Callable[[float, float, float], float]
    core: Any
    compartments: int

    @property
    def words(self) -> int:
        """Packed words per head-dim vector: ceil(d / word_bits)."""
        return math.ceil(self.d / self.word_bits)


def relative_error(approx: np.ndarray, exact: np.ndarray) -> float:
    """||approx - exact|| / ||exact|| (0 when exact is all zeros): a quantisation error."""
    den = float(np.linalg.norm(exact))
    return float(np.linalg.norm(approx - exact)) / den if den else 0.0


def bits_for(count: int) -> int:
    """Unsigned bits of a count 0..count: max(1, ceil(log2(count + 1)))."""
    return max(1, math.ceil(math.log2(count + 1)))


class AttentionVariant:
    """Base record of an attention variant; one subclass (one instance) per variant."""

    name: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    """One line: what the float core computes (docs, ``--help``)."""
    spiking_output: ClassVar[bool] = False
    stateful: ClassVar[bool] = False
    fused: ClassVar[bool] = False
    lowering_pass: ClassVar[str] = "lower-attention"
    owned_fields: ClassVar[tuple[str, ...]] = ()
    """Float ``Attention`` fields only this variant may set."""
    owned_phrase: ClassVar[str] = ""
    """The error when another variant sets them, e.g. "a is only used by axnor"."""

    # -- IR checks ----------------------------------------------------------------------------
    def check_float(self, node: Node) -> None:
        """Checks of the float node's variant fields (raise ``node.fail``)."""

    def check_int(self, node: Node) -> None:
        """Structural checks of the integer node's variant fields."""

    def check_int_values(self, node: Node) -> None:
        """Value-range checks of the integer node (``validate`` calls them)."""

    # -- quantisation ---------------------------------------------------------------------------
    def count_bound(self, node: Node, tokens: int) -> float:
        """Largest |activation| in counts over `tokens` tokens, local term excluded."""
        return float(tokens * node.head_dim)

    def int_params(self, node: Node, a_shift: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """(IntAttention fields, report entries) from the float node's variant fields;
        `a_shift`: the configured coefficient bits."""
        return {}, {}

    def spiking_params(
        self, node: Node, tokens: int, steps: int, count_shift: Callable[[float], int]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Spiking-output variants: (IntAttention fields, report entries); `count_shift(bound)`
        is the largest fraction shift keeping 64 * 2^m * bound inside the 24-bit register."""
        raise self.missing("spiking_params")

    # -- meaning in primitives --------------------------------------------------------------------
    def lower(self, graph: Any, name: str) -> None:
        """Replace IntAttention `name` of `graph` by primitive nodes; the last keeps the name."""
        raise self.missing("lower")

    # -- costs ------------------------------------------------------------------------------------
    def state_bits(
        self, heads: int, tokens: int, head_dim: int, order: str, state_bits: int, compartments: int
    ) -> int:
        """Bits of attention state held per inference step (all heads)."""
        raise self.missing("state_bits")

    def paper_ops(self, call: CoreCall, ops: dict[str, float], notes: set[str]) -> None:
        """Add the analytical operation counts of one core call to `ops` (keys as
        ``LayerOps``: acs, macs, and_words, xnor_words, popcount_words, int_adds, int_mults)."""
        raise self.missing("paper_ops")

    def missing(self, method: str) -> NotImplementedError:
        return NotImplementedError(f"attention variant {self.name!r} does not define {method}")

    def __repr__(self) -> str:
        return f"<attention variant {self.name!r}>"


# -- shared field checks --------------------------------------------------------------------------
def check_a_int(node: Node) -> None:
    """Integer a-XNOR coefficients: a_int [heads] in 0..2^a_shift."""
    if node.a_int is None or node.a_int.shape != (node.heads,):
        raise node.fail(f"{node.variant} needs a_int of shape ({node.heads},)")
    if np.any(node.a_int < 0) or np.any(node.a_int > (1 << node.a_shift)):
        raise node.fail("a_int must lie in 0..2^a_shift")


# -- the registry ---------------------------------------------------------------------------------
LOWERING_PASSES: dict[str, str] = {
    "lower-axnor": "ssa/lrf_ssa/axnor IntAttention -> AND/XNOR popcount, V accumulation",
    "lower-sdsa": "sdsa IntAttention -> AND, token column sum, LIF, AND",
    "lower-lrf-dyn": "lrf_dyn IntAttention -> stateful integer dendritic neuron (k x d state)",
    "lower-attention": "IntAttention of the other variants -> their primitives",
}
"""Lowering pass name -> description, in the order the pipeline runs them."""

_VARIANTS: dict[str, AttentionVariant] = {}


def register(spec: AttentionVariant) -> AttentionVariant:
    """Add `spec` to the registry; a second variant of the same name is refused."""
    if not spec.name:
        raise TypeError(f"{type(spec).__name__}: an attention variant needs a name")
    if spec.name in _VARIANTS:
        raise TypeError(f"attention variant {spec.name!r} is already registered")
    if spec.lowering_pass not in LOWERING_PASSES:
        raise TypeError(f"attention variant {spec.name!r}: unknown pass {spec.lowering_pass!r}")
    _VARIANTS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove variant `name` (tests that register a toy variant clean up with this)."""
    del _VARIANTS[name]


def names() -> tuple[str, ...]:
    """Every registered variant name, in registration order (the one list)."""
    return tuple(_VARIANTS)


def variants() -> Iterator[AttentionVariant]:
    return iter(tuple(_VARIANTS.values()))


def variant(name: str) -> AttentionVariant:
    """The variant called `name`; GraphError listing the known ones otherwise."""
    spec = _VARIANTS.get(name)
    if spec is None:
        raise GraphError(f"attention variant {name!r} is not registered (known: {names()})")
    return spec
