"""Graph surgery shared by the attention lowering passes: cut out an ``IntAttention`` node,
split/merge heads with layout nodes, and hand the node's name to the lowered subgraph's
last node (so consumers, reports and probes keep addressing it)."""

from __future__ import annotations

from dataclasses import dataclass

from spikeport.converters.passes.graph_edit import consumers
from spikeport.ir import Graph, Node, Reshape, Transpose, infer_shapes


@dataclass(frozen=True)
class Cut:
    """What an attention node was wired to before it was removed."""

    name: str
    inputs: dict[str, str]
    consumers: list[tuple[str, str]]
    outputs: tuple[str, ...] | None
    tokens: int


def cut(graph: Graph, name: str) -> Cut:
    """Remove node `name` (an attention core with (N, D) inputs), remembering its wiring."""
    tokens = infer_shapes(graph)[graph.inputs_of(name)["q"]][0]
    c = Cut(name, graph.inputs_of(name), consumers(graph, name), graph.explicit_outputs, tokens)
    graph.remove(name)
    return c


def close(graph: Graph, c: Cut, last: Node, inputs: dict[str, str]) -> None:
    """Add `last` (named like the removed node) and reconnect the old consumers."""
    graph.add(last, inputs)
    for dst, port in c.consumers:
        graph.connect(last.name, dst, port)
    if c.outputs is not None:
        graph.set_outputs(list(c.outputs))


def split_heads(graph: Graph, src: str, name: str, tokens: int, heads: int, hd: int) -> str:
    """(N, heads * hd) -> (heads, N, hd) via Reshape + Transpose; returns the last name."""
    graph.add(Reshape(f"{name}.split", shape=(tokens, heads, hd)), src)
    graph.add(Transpose(f"{name}.heads", perm=(1, 0, 2)), f"{name}.split")
    return f"{name}.heads"
