"""Nodes quantisation keeps: the input (float -> graded integers ``round(x * input_scale)``),
residual Adds, MaxPool2d and layout nodes (their integer bound and unit carried through), the
product of two spike tensors (an AND: ``SpikeAnd``); and the float nodes that must have been
absorbed by a synapse rule (refused here)."""

from __future__ import annotations

import math

from spikeport.converters.passes.graph_edit import kind, source
from spikeport.converters.passes.quantize.quantizer import Quantize, rule
from spikeport.errors import UnsupportedError
from spikeport.ir import Graph
from spikeport.ir.attention_nodes import SpikeAnd


@rule("Input")
def graph_input(q: Quantize, graph: Graph, name: str) -> None:
    rec = graph.node(name)
    if rec.kind != "float":
        q.spikes(name)
        return
    cfg = q.config
    graph.replace(rec.replace(kind="graded"))
    graph.meta["input_scale"] = cfg.input_scale
    q.bound[name] = int(math.ceil(cfg.input_max * cfg.input_scale))
    q.unit[name] = 1.0 / cfg.input_scale


@rule("Add")
def residual(q: Quantize, graph: Graph, name: str) -> None:
    ins = graph.inputs_of(name)
    q.bound[name] = q.bound[ins["a"]] + q.bound[ins["b"]]
    q.unit[name] = 1.0


@rule("Mul")
def spike_product(q: Quantize, graph: Graph, name: str) -> None:
    ins = graph.inputs_of(name)
    graded = [s for s in ins.values() if q.bound[s] != 1 or q.unit[s] != 1.0]
    if graded:
        raise UnsupportedError(
            f"{name}: product of {', '.join(graded)}, which are not spikes (only the product "
            "of two spike tensors, an AND, has a fixed-point mapping)"
        )
    graph.replace(SpikeAnd(name))
    q.spikes(name)


@rule("MaxPool2d", "Reshape", "Flatten", "Transpose")
def carried(q: Quantize, graph: Graph, name: str) -> None:
    src = source(graph, name)
    q.bound[name], q.unit[name] = q.bound[src], q.unit[src]


@rule("LIF")
def lone_lif(q: Quantize, graph: Graph, name: str) -> None:
    raise UnsupportedError(
        f"{name}: LIF fed by {kind(graph, source(graph, name))}; quantisation "
        "needs a synapse or attention in front of every LIF"
    )


@rule("BatchNorm")
def lone_batchnorm(q: Quantize, graph: Graph, name: str) -> None:
    raise UnsupportedError(f"{name}: BatchNorm that could not be folded into a synapse")
