"""Shape inference: every node's per-sample output shape, in topological order."""

from __future__ import annotations

from spikeport.ir.errors import GraphError
from spikeport.ir.graph import Graph
from spikeport.ir.node import Shape


def infer_shapes(graph: Graph) -> dict[str, Shape]:
    """{node name: output shape}; raises GraphError naming the first node that does not fit."""
    shapes: dict[str, Shape] = {}
    for name in graph.topological_order():
        rec = graph.node(name)
        wiring = graph.inputs_of(name)
        missing = [p for p in rec.ports if p not in wiring]
        if missing:
            raise rec.fail(f"input port {missing[0]!r} is not connected")
        try:
            shapes[name] = tuple(rec.output_shape({p: shapes[s] for p, s in wiring.items()}))
        except GraphError:
            raise
        except Exception as exc:  # a node's shape rule tripped on malformed fields
            raise rec.fail(f"shape inference failed: {exc}") from None
    return shapes
