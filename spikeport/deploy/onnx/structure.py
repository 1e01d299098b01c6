"""Nodes that move or combine values: Flatten/Reshape -> ``Reshape``; Transpose ->
``Transpose``; Add -> ``Add``; MaxPool2d -> ``MaxPool`` in float64; Delay -> a ring of
``steps`` frames (state ``:ring``, ``Slice``/``Squeeze``/``Concat``); TokenMean ->
``ReduceSum`` over tokens (the integer graph's readout sum, as the simulator)."""

from __future__ import annotations

import numpy as np

from spikeport.deploy.onnx.emitter import emits


@emits("Flatten", "Reshape")
def reshape(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    target = b.const(f"{rec.name}.shape", np.array([0, *shapes[rec.name]], np.int64))
    return b.op("Reshape", [x, target], rec.name)


@emits("Transpose")
def transpose(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    return b.op("Transpose", [x], rec.name, perm=[0, *(p + 1 for p in rec.perm)])


@emits("Add")
def add(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    return b.op("Add", [ins["a"], ins["b"]], rec.name)


@emits("MaxPool2d")
def maxpool(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    xf = b.op("Cast", [x], rec.name, to=b.tp.DOUBLE)
    ph, pw = rec.padding
    y = b.op(
        "MaxPool",
        [xf],
        rec.name,
        kernel_shape=list(rec.kernel_size),
        strides=list(rec.stride),
        pads=[ph, pw, ph, pw],
    )
    return b.op("Cast", [y], rec.name, to=b.tp.INT64)


@emits("Delay")
def delay(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    if rec.steps == 0:
        return x
    shape = shapes[rec.name]
    r_in, r_out = b.state(rec.name, "ring", (rec.steps, *shape))
    zero = b.const(f"{rec.name}.zero", np.array([0], np.int64))
    one = b.const(f"{rec.name}.one", np.array([1], np.int64))
    end = b.const(f"{rec.name}.end", np.array([rec.steps], np.int64))
    axis = b.const(f"{rec.name}.axis", np.array([1], np.int64))
    out = b.op("Squeeze", [b.op("Slice", [r_in, zero, one, axis], rec.name), axis], rec.name)
    rest = b.op("Slice", [r_in, one, end, axis], rec.name)
    new = b.op("Concat", [rest, b.op("Unsqueeze", [x, axis], rec.name)], rec.name, axis=1)
    b.identity(new, r_out)
    return out


@emits("TokenMean")
def token_mean(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    """The simulator's integer TokenMean: the sum over the token axis (no division)."""
    nd = len(shapes[graph.inputs_of(rec.name)["in"]])
    axis = b.const(f"{rec.name}.axis", np.array([rec.axis % nd + 1], np.int64))
    return b.op("ReduceSum", [x, axis], rec.name, keepdims=0)
