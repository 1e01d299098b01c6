"""``lower-sdsa``: IntAttention (sdsa) -> SpikeAnd, TokenSum, CubaLIF, SpikeAnd.

SDSA = Q AND SN(sum_n K AND V): ``k AND v`` (N, D) -> column sum over the N tokens << m
(count_bits(N) + m bits) -> the talking-heads LIF (CubaLIF: du 4095, dv = inner_dv,
vth = inner_vth, shape (D,)) -> ``q AND s`` (s broadcast over tokens). The last node keeps
the attention's name. Equals ``hw_models.sim.int_attention.sdsa_int`` bit for bit.
"""

from __future__ import annotations

from spikeport.converters.passes.attention_splice import close, cut
from spikeport.converters.passes.graph_edit import kind
from spikeport.converters.passes.manager import Pass
from spikeport.ir import CubaLIF, Graph
from spikeport.ir.attention_nodes import SpikeAnd, TokenSum


class LowerSdsa(Pass):
    name = "lower-sdsa"
    description = "sdsa IntAttention -> AND, token column sum, LIF, AND"

    def match(self, graph: Graph, name: str) -> bool:
        return kind(graph, name) == "IntAttention" and graph.node(name).variant == "sdsa"

    def transform(self, graph: Graph, name: str) -> None:
        rec = graph.node(name)
        c = cut(graph, name)
        graph.add(SpikeAnd(f"{name}.kv"), {"a": c.inputs["k"], "b": c.inputs["v"]})
        graph.add(TokenSum(f"{name}.kv_sum", shift=rec.count_shift), f"{name}.kv")
        lif = CubaLIF(
            f"{name}.talking_lif",
            shape=(rec.dim,),
            du=4095,
            dv=rec.inner_dv,
            vth=rec.inner_vth,
        )
        graph.add(lif, f"{name}.kv_sum")
        close(graph, c, SpikeAnd(name), {"a": c.inputs["q"], "b": lif.name})
