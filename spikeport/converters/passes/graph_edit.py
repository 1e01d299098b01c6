"""Small graph-editing steps shared by the passes."""

from __future__ import annotations

from spikeport.ir import Graph


def single_consumer(graph: Graph, name: str) -> str | None:
    """The only consumer of `name` (one edge, one port), unless `name` is a graph output."""
    cons = graph.consumers(name)
    if len(cons) != 1 or name in graph.outputs:
        return None
    return cons[0][0]


def source(graph: Graph, name: str, port: str = "in") -> str:
    return graph.inputs_of(name)[port]


def bypass(graph: Graph, name: str) -> None:
    """Remove single-input node `name`, feeding its input straight to its consumers."""
    src = source(graph, name)
    cons = graph.consumers(name)
    outputs = graph.explicit_outputs
    graph.remove(name)
    for dst, port in cons:
        graph.connect(src, dst, port)
    if outputs is not None and name in outputs:
        graph.set_outputs([src if o == name else o for o in outputs])


def kind(graph: Graph, name: str) -> str:
    return type(graph.node(name)).__name__
