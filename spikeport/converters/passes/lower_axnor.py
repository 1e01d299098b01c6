"""``lower-axnor``: IntAttention (ssa, lrf_ssa, axnor) -> bit-packed score primitives.

Per head (q, k, v split to (heads, N, head_dim) by Reshape + Transpose):

* ssa / lrf_ssa: ``AndPopcount`` -> scores c_and (count_bits(d) bits), score_shift 0;
* axnor with one a_int for all heads: ``XnorPopcount`` (a_int, a_shift = p) -> scores
  ``(2^p - a_int) c_and + a_int c_xnor`` (p + count_bits(d) bits), score_shift p;
* axnor with per-head a_int: ``AndPopcount`` and ``XnorPopcount`` (a_int 1, a_shift 0:
  the plain XNOR count) -> ``ScoreCombine`` (per-head a_int), score_shift p;

then ``SpikeAccumulate`` (scores x V spikes, << count_shift >> score_shift: the merged
scale), heads merged back to (N, D), and, when the core has one, ``LocalTerm`` + ``Add``.
The last node keeps the attention's name and feeds the attention LIF (CubaLIF) unchanged.
Equals ``hw_models.sim.int_attention.ssa_int`` / ``axnor_int`` (+ ``local_int``) bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from spikeport.converters.passes.attention_splice import Cut, close, cut, split_heads
from spikeport.converters.passes.graph_edit import kind
from spikeport.converters.passes.manager import Pass
from spikeport.ir import Add, AndPopcount, Graph, Node, Reshape, Transpose, XnorPopcount
from spikeport.ir.attention_nodes import LocalTerm, ScoreCombine, SpikeAccumulate, count_bits
from spikeport.ir.int_attention import IntAttention

VARIANTS = ("ssa", "lrf_ssa", "axnor")


def add_local(graph: Graph, rec: IntAttention, v: str) -> str:
    """The LRF local term of `rec` (an IntAttention) on V; returns its node name."""
    name = f"{rec.name}.local"
    graph.add(
        LocalTerm(
            name,
            grid=tuple(rec.grid),
            dilation=tuple(rec.local_dilation),
            weight=rec.local_weight,
            shift=rec.local_shift,
        ),
        v,
    )
    return name


def finish(
    graph: Graph,
    c: Cut,
    rec: IntAttention,
    make_last: Callable[[str], Node],
    wiring: dict[str, str],
) -> None:
    """Add the subgraph's last node (``make_last(name)``, inputs `wiring`) under the
    attention's name, or under ``<name>.global`` followed by the local term and an Add."""
    if rec.local_weight is None:
        close(graph, c, make_last(c.name), wiring)
        return
    graph.add(make_last(f"{c.name}.global"), wiring)
    local = add_local(graph, rec, c.inputs["v"])
    close(graph, c, Add(c.name), {"a": f"{c.name}.global", "b": local})


class LowerAxnor(Pass):
    name = "lower-axnor"
    description = "ssa/lrf_ssa/axnor IntAttention -> AND/XNOR popcount, V accumulation"

    def match(self, graph: Graph, name: str) -> bool:
        return kind(graph, name) == "IntAttention" and graph.node(name).variant in VARIANTS

    def transform(self, graph: Graph, name: str) -> None:
        rec = graph.node(name)
        h, d = rec.heads, rec.head_dim
        c = cut(graph, name)
        q, k, v = (split_heads(graph, c.inputs[p], f"{name}.{p}", c.tokens, h, d) for p in "qkv")
        scores, score_shift = self._scores(graph, rec, q, k)
        score_bits = count_bits((1 << score_shift) * d)
        acc = f"{name}.accumulate"
        graph.add(
            SpikeAccumulate(
                acc, score_bits=score_bits, count_shift=rec.count_shift, score_shift=score_shift
            ),
            {"scores": scores, "v": v},
        )
        graph.add(Transpose(f"{name}.merge", perm=(1, 0, 2)), acc)

        def last(n: str) -> Node:
            return Reshape(n, shape=(c.tokens, h * d))

        finish(graph, c, rec, last, {"in": f"{name}.merge"})

    @staticmethod
    def _scores(graph: Graph, rec: IntAttention, q: str, k: str) -> tuple[str, int]:
        """Add the score primitive(s); returns (scores node, score_shift)."""
        name, d = rec.name, rec.head_dim
        qk = {"q": q, "k": k}
        if rec.variant != "axnor":
            graph.add(AndPopcount(f"{name}.and", head_dim=d, out_bits=count_bits(d)), qk)
            return f"{name}.and", 0
        a_int, p = np.asarray(rec.a_int), rec.a_shift
        if np.all(a_int == a_int[0]):
            graph.add(
                XnorPopcount(
                    f"{name}.xnor",
                    head_dim=d,
                    a_int=int(a_int[0]),
                    a_shift=p,
                    out_bits=count_bits((1 << p) * d),
                ),
                qk,
            )
            return f"{name}.xnor", p
        graph.add(AndPopcount(f"{name}.and", head_dim=d, out_bits=count_bits(d)), qk)
        graph.add(
            XnorPopcount(f"{name}.xnor", head_dim=d, a_int=1, a_shift=0, out_bits=count_bits(d)),
            qk,
        )
        graph.add(
            ScoreCombine(f"{name}.combine", heads=rec.heads, head_dim=d, a_int=a_int, a_shift=p),
            {"c_and": f"{name}.and", "c_xnor": f"{name}.xnor"},
        )
        return f"{name}.combine", p
