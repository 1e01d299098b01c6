"""`validate(graph)`: structure, shapes and integer ranges; errors name the node at fault."""

from __future__ import annotations

import numpy as np

from spikeport.ir.errors import GraphError
from spikeport.ir.graph import Graph
from spikeport.ir.node import Node, Shape
from spikeport.ir.shapes import infer_shapes


def validate(graph: Graph) -> dict[str, Shape]:
    """Check `graph` and return its inferred shapes.

    Raises GraphError for: a dangling edge or a node without a record, a record whose
    name differs from its graph key, an unknown or doubly fed input port, an unconnected
    port, a cycle, a shape mismatch, an output that is not a node, a graph without Input,
    or an integer field outside its bit range.
    """
    g = graph.nx
    for name, rec in g.nodes(data="node"):
        if rec is None:
            preds = list(g.predecessors(name)) + list(g.successors(name))
            where = f" (edge with {preds[0]})" if preds else ""
            raise GraphError(f"{name}: dangling edge{where}: no node record with this name")
        if not isinstance(rec, Node):
            raise GraphError(f"{name}: record {rec!r} is not an IR node")
        if rec.name != name:
            raise GraphError(f"{name}: record is named {rec.name!r}")
    for src, dst, ports in g.edges(data="ports"):
        rec = g.nodes[dst]["node"]
        if not ports:
            raise GraphError(f"{dst}: edge from {src} has no input port")
        for p in ports:
            if p not in rec.ports:
                raise rec.fail(f"edge from {src} targets unknown input port {p!r}")
    for name in g.nodes:
        seen: dict[str, str] = {}
        for src, _, ports in g.in_edges(name, data="ports"):
            for p in ports:
                if p in seen:
                    raise g.nodes[name]["node"].fail(f"port {p!r} fed by both {seen[p]} and {src}")
                seen[p] = src
    if not graph.input_names:
        raise GraphError(f"graph {graph.name}: has no Input node")
    for out in graph.outputs:
        if out not in g:
            raise GraphError(f"graph {graph.name}: output {out!r} is not a node")
    shapes = infer_shapes(graph)  # also detects cycles and unconnected ports
    for name in shapes:
        check_ranges(graph.node(name))
    return shapes


def check_ranges(rec: Node) -> None:
    """Integer fields within their formats, then the node's own range checks."""
    for field, fmt in rec.formats().items():
        value = getattr(rec, field)
        if value is not None and not fmt.contains(value):
            lo, hi = _extent(value)
            raise rec.fail(f"{field} range {lo}..{hi} outside {fmt} ({fmt.min}..{fmt.max})")
    rec.check()


def _extent(value: object) -> tuple[object, object]:
    arr = np.asarray(value)
    return (arr.min(), arr.max()) if arr.size else (None, None)
