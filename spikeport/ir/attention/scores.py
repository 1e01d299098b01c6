"""`ScoreAttention`: the variants that weight V by integer Q-K scores (ssa, axnor, lrf_ssa).

Lowering (pass ``lower-axnor``), per head with q, k, v split to (heads, N, head_dim) by
Reshape + Transpose: the variant's score primitive(s) (:meth:`ScoreAttention.scores`: SSA's
``AndPopcount``, score_shift 0), then ``SpikeAccumulate`` (scores x V spikes, << count_shift
>> score_shift: the merged scale), heads merged back to (N, D), and, when the core has one,
``LocalTerm`` + ``Add``. The last node keeps the attention's name and feeds the attention LIF.

State per step (``K^T V`` first): a d x d matrix of counts of cb(N) bits per head; (``Q K^T``
first) an N x N matrix of cb(d) bits. Analytical count (papers' convention, per call):
``dxd``: K^T V ``T h N d^2`` x pair(k, v) AC, then Q (K^T V) ``T h N d^2`` x fr_q AC;
``nxn``: Q K^T ``T h N^2 d`` x pair(q, k) AC, then (Q K^T) V ``T h N^2 d`` x fr_v AC.
"""

from __future__ import annotations

from typing import Any

from spikeport.ir.attention.splice import cut, finish, split_heads
from spikeport.ir.attention.variant import AttentionVariant, CoreCall, bits_for
from spikeport.ir.attention_nodes import AndPopcount, SpikeAccumulate, count_bits
from spikeport.ir.graph import Graph
from spikeport.ir.layout_nodes import Reshape, Transpose
from spikeport.ir.node import Node


class ScoreAttention(AttentionVariant):
    """Base of the score-weighted variants: SSA's AND score unless :meth:`scores` says else."""

    fused = True
    lowering_pass = "lower-axnor"

    def scores(self, graph: Graph, rec: Any, q: str, k: str) -> tuple[str, int]:
        """Add the score primitive(s) on split heads q, k; returns (scores node, score_shift)."""
        name, d = rec.name, rec.head_dim
        graph.add(AndPopcount(f"{name}.and", head_dim=d, out_bits=count_bits(d)), {"q": q, "k": k})
        return f"{name}.and", 0

    def lower(self, graph: Graph, name: str) -> None:
        rec = graph.node(name)
        h, d = rec.heads, rec.head_dim
        c = cut(graph, name)
        q, k, v = (split_heads(graph, c.inputs[p], f"{name}.{p}", c.tokens, h, d) for p in "qkv")
        scores, score_shift = self.scores(graph, rec, q, k)
        acc = f"{name}.accumulate"
        graph.add(
            SpikeAccumulate(
                acc,
                score_bits=count_bits((1 << score_shift) * d),
                count_shift=rec.count_shift,
                score_shift=score_shift,
            ),
            {"scores": scores, "v": v},
        )
        graph.add(Transpose(f"{name}.merge", perm=(1, 0, 2)), acc)

        def last(n: str) -> Node:
            return Reshape(n, shape=(c.tokens, h * d))

        finish(graph, c, rec, last, {"in": f"{name}.merge"})

    def state_bits(
        self, heads: int, tokens: int, head_dim: int, order: str, state_bits: int, compartments: int
    ) -> int:
        if order == "dxd":
            return heads * head_dim * head_dim * bits_for(tokens)
        return heads * tokens * tokens * bits_for(head_dim)

    def product_ops(self, call: CoreCall, ops: dict[str, float]) -> None:
        """The (Q K^T) V spike products in the call's association order."""
        c = call
        if c.order == "dxd":
            base = c.t * c.b * c.h * c.n * c.d * c.d
            ops["acs"] += base * (c.pair(c.fk, c.fv, c.exact_kv) + c.fq)
        else:
            base = c.t * c.b * c.h * c.n * c.n * c.d
            ops["acs"] += base * (c.pair(c.fq, c.fk, c.exact_qk) + c.fv)

    def paper_ops(self, call: CoreCall, ops: dict[str, float], notes: set[str]) -> None:
        self.product_ops(call, ops)
        notes.add(f"{self.name} {call.order}")
