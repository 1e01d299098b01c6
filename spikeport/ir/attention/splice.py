"""Graph surgery shared by the variants' lowerings: cut out an ``IntAttention`` node,
split/merge heads with layout nodes, add the LRF local term, and hand the node's name to
the lowered subgraph's last node (so consumers, reports and probes keep addressing it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spikeport.ir.attention_nodes import LocalTerm
from spikeport.ir.float_nodes import Add
from spikeport.ir.graph import Graph
from spikeport.ir.layout_nodes import Reshape, Transpose
from spikeport.ir.node import Node
from spikeport.ir.shapes import infer_shapes


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
    c = Cut(name, graph.inputs_of(name), graph.consumers(name), graph.explicit_outputs, tokens)
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


def add_local(graph: Graph, rec: Any, v: str) -> str:
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
    rec: Any,
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
