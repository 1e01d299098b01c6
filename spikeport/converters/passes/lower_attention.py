"""The attention lowering passes: ``IntAttention`` -> the primitives its variant's ``lower``
builds (``spikeport.ir.attention``; docs/lowering.md).

Each pass is named in ``spikeport.ir.attention.LOWERING_PASSES`` and lowers the variants that
name it (``lower-axnor``: ssa, lrf_ssa, axnor; ``lower-sdsa``; ``lower-lrf-dyn``; new variants:
``lower-attention``). The last node of each lowered subgraph keeps the attention's name.
"""

from __future__ import annotations

from spikeport.converters.passes.graph_edit import kind
from spikeport.converters.passes.manager import Pass
from spikeport.ir import Graph
from spikeport.ir.attention import LOWERING_PASSES, variant, variants


class LowerAttention(Pass):
    """Lower the IntAttention nodes whose variant names this pass; `fused_too`: also the
    variants the backends can run unlowered (``convert --lower-attention``)."""

    def __init__(self, name: str, fused_too: bool = True) -> None:
        if name not in LOWERING_PASSES:
            raise ValueError(f"unknown lowering pass {name!r}; passes: {list(LOWERING_PASSES)}")
        self.name = name  # type: ignore[misc]
        self.description = LOWERING_PASSES[name]  # type: ignore[misc]
        self.fused_too = fused_too

    def match(self, graph: Graph, name: str) -> bool:
        if kind(graph, name) != "IntAttention":
            return False
        spec = variant(graph.node(name).variant)
        return spec.lowering_pass == self.name and (self.fused_too or not spec.fused)

    def transform(self, graph: Graph, name: str) -> None:
        variant(graph.node(name).variant).lower(graph, name)


def lowering_passes(lower: bool) -> list[Pass]:
    """The lowering passes in pipeline order: with `lower` every pass a registered variant
    names; without, only those that variants the backends cannot run unlowered need."""
    wanted = {v.lowering_pass for v in variants() if lower or not v.fused}
    return [LowerAttention(p, fused_too=lower) for p in LOWERING_PASSES if p in wanted]
