"""Shared by the attention lowering tests: one IntAttention core on Input q, k, v, lowered."""

from __future__ import annotations

from spikeport.converters.passes import PassManager
from spikeport.converters.passes.lower_attention import LowerAttention
from spikeport.ir import Graph, Input
from spikeport.ir.int_attention import IntAttention


def lowered(att: IntAttention, n: int, lowering: str) -> Graph:
    """Graph q, k, v (n tokens) -> `att`, after the lowering pass named `lowering`."""
    g = Graph("att")
    for p in "qkv":
        g.add(Input(p, shape=(n, att.dim)))
    g.add(att, {"q": "q", "k": "k", "v": "v"})
    return PassManager([LowerAttention(lowering)]).run(g)
