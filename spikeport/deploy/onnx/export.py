"""Export a lowered (integer) IR graph as an ONNX model, one timestep or T unrolled.

Default (``steps=None``): the model computes one Lava timestep of the whole graph, with every
piece of state as a graph input and its next value as a graph output. ``steps=T``: one model
with the step subgraph repeated T times (tensor names suffixed ``@t<k>``), inputs and outputs
[B, T, *shape], the state starting from zeros inside the graph and the timestep a constant
per step. Tensors are int64 with a leading batch axis ``B``. Each node becomes ONNX ops by
the emitter registered for its type (:mod:`.emitter`; the emitters live in :mod:`.synapse`,
:mod:`.neuron`, :mod:`.structure`, :mod:`.attention`).

The 1-based timestep is the scalar input ``spikeport.t`` (read by LIFStep with reset_interval;
a constant per step when unrolled). Model metadata ``spikeport.states`` lists every (state
input, state output, per-sample shape) (empty when unrolled; ``spikeport.steps`` is T then).
Anything without an emitter (float-level nodes, TimeMean, delayed Dense, an IntAttention
variant with no fused form) is refused with one UnsupportedError naming every offending node.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from spikeport.deploy.onnx import attention, neuron, structure, synapse
from spikeport.deploy.onnx.attention import FUSED
from spikeport.deploy.onnx.builder import OPSET, TIME_INPUT, Builder
from spikeport.deploy.onnx.emitter import EMITTERS
from spikeport.errors import SpikeportError, UnsupportedError

EMITTER_MODULES = (synapse, neuron, structure, attention)
"""The modules whose emitters ``EMITTERS`` holds (importing them registers them)."""


def unsupported_nodes(graph: Any) -> list[str]:
    """'name (Type)' of every node the ONNX export cannot express."""
    bad = []
    for rec in graph:
        kind = type(rec).__name__
        if kind != "Input" and kind not in EMITTERS:
            bad.append(f"{rec.name} ({kind})")
        elif kind == "Dense" and rec.delay is not None and np.any(rec.delay):
            bad.append(f"{rec.name} (Dense with synaptic delays)")
        elif kind == "IntAttention" and rec.variant not in FUSED:
            bad.append(f"{rec.name} (IntAttention {rec.variant}: lower it)")
    return bad


def export_onnx(graph: Any, path: str | Path | None = None, steps: int | None = None) -> Any:
    """The ONNX model (``onnx.ModelProto``) of lowered `graph`; saved to `path` when given.

    steps None: one timestep, state as graph inputs/outputs, timestep input ``spikeport.t``.
    steps T: the T-step unrolled model: inputs [B, T, *shape], outputs [B, T, *shape] (step k
    at index k - 1), state from zeros. Raises UnsupportedError naming every node that has no
    ONNX form."""
    import onnx

    from spikeport import ir

    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise SpikeportError(f"steps must be a positive number of timesteps, got {steps!r}")
    bad = unsupported_nodes(graph)
    if bad:
        raise UnsupportedError(
            f"graph {graph.name}: no ONNX export for {', '.join(bad)} "
            "(ONNX export takes lowered integer graphs)"
        )
    try:
        shapes = {k: tuple(v) for k, v in ir.infer_shapes(graph).items()}
    except ir.GraphError as exc:
        raise SpikeportError(f"graph {graph.name}: {exc}") from None
    for name in graph.outputs:
        if type(graph.node(name)).__name__ == "Input":
            raise UnsupportedError(f"{name} (Input): an Input node cannot be a graph output")
    b = Builder(unrolled=steps is not None)
    outputs = list(graph.outputs)
    if steps is None:
        b.inputs.append(b.h.make_tensor_value_info(TIME_INPUT, b.tp.INT64, []))
        for name in graph.input_names:
            b.inputs.append(b.tensor_info(name, shapes[name]))
        _emit_step(b, graph, shapes, {n: n for n in graph.input_names}, "")
        b.outputs[:0] = [b.tensor_info(n, shapes[n]) for n in outputs]
        doc = "One timestep of a Loihi fixed-point graph; state as inputs/outputs."
    else:
        _unroll(b, graph, shapes, steps)
        doc = (
            f"{steps} unrolled timesteps of a Loihi fixed-point graph; inputs and outputs "
            "[B, T, ...]; state starts at zero."
        )
    g = b.h.make_graph(b.nodes, graph.name, b.inputs, b.outputs, b.inits)
    model = b.h.make_model(
        g,
        opset_imports=[b.h.make_opsetid("", OPSET), b.h.make_opsetid("ai.spikeport", 1)],
        producer_name="spikeport",
        doc_string=doc,
    )
    meta = {
        "spikeport.states": json.dumps([[i, o, list(s)] for i, o, s in b.states]),
        "spikeport.inputs": json.dumps(graph.input_names),
        "spikeport.outputs": json.dumps(outputs),
    }
    if steps is None:
        meta["spikeport.time_input"] = TIME_INPUT
    else:
        meta["spikeport.steps"] = str(steps)
        meta["spikeport.layout"] = "B,T"
    b.h.set_model_props(model, meta)
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, str(path))
    return model


def _emit_step(
    b: Builder, graph: Any, shapes: dict, frames: dict[str, str], suffix: str
) -> dict[str, str]:
    """Emit one timestep of every non-Input node; frames maps each Input to its tensor.
    Returns {IR node: tensor}; each node's value is also named ``<node><suffix>``."""
    value = dict(frames)
    for rec in graph:
        name, kind = rec.name, type(rec).__name__
        if kind == "Input":
            continue
        ins = {p: value[s] for p, s in graph.inputs_of(name).items()}
        out = EMITTERS[kind](b, rec, ins, ins.get("in"), shapes, graph)
        value[name] = f"{name}{suffix}"
        b.identity(out, value[name])
    return value


def _unroll(b: Builder, graph: Any, shapes: dict, steps: int) -> None:
    """Graph inputs [B, T, *shape] -> T step subgraphs -> graph outputs [B, T, *shape]."""
    for name in graph.input_names:
        b.inputs.append(b.tensor_info(name, (steps, *shapes[name])))
    first = graph.input_names[0]
    b.batch = b.op(
        "Slice",
        [
            b.op("Shape", [first], "batch"),
            b.const("batch.start", np.array([0], np.int64)),
            b.const("batch.end", np.array([1], np.int64)),
        ],
        "batch",
    )
    per_step: dict[str, list[str]] = {n: [] for n in graph.outputs}
    axis = b.const("time.axis", np.array([1], np.int64))
    for t in range(1, steps + 1):
        b.time = b.const(TIME_INPUT, np.array(t, np.int64))
        index = b.const("time.index", np.array(t - 1, np.int64))
        frames = {n: b.op("Gather", [n, index], f"{n}@t{t}", axis=1) for n in graph.input_names}
        value = _emit_step(b, graph, shapes, frames, f"@t{t}")
        for n in per_step:
            per_step[n].append(b.op("Unsqueeze", [value[n], axis], f"{n}@t{t}"))
    for n, frames_out in per_step.items():
        b.nodes.append(b.h.make_node("Concat", frames_out, [n], name=b.fresh(n), axis=1))
        b.outputs.append(b.tensor_info(n, (steps, *shapes[n])))
