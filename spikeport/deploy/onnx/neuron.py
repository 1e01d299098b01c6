"""Neurons as spikeport's custom step operators (domain ``ai.spikeport``), their state as
``<name>:<var>`` tensors: CubaLIF -> ``LIFStep`` (``:u``, ``:v``); Delta -> ``DeltaStep``;
SigmaDelta -> ``SigmaDeltaStep`` (``:act``, ``:residue``, ``:error`` [, ``:sigma``]);
Sigma -> ``Add`` (``:sigma``)."""

from __future__ import annotations

import numpy as np

from spikeport.deploy.onnx.emitter import emits


@emits("CubaLIF")
def lif(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    shape = shapes[rec.name]
    u_in, u_out = b.state(rec.name, "u", shape)
    v_in, v_out = b.state(rec.name, "v", shape)
    a = (
        x
        if x is not None
        else b.op("Mul", [u_in, b.const(f"{rec.name}.zero", np.array(0, np.int64))], rec.name)
    )
    mant = np.broadcast_to(np.asarray(rec.bias_mant, np.int64), shape).copy()
    s, u, v = b.op(
        "LIFStep",
        [a, u_in, v_in, b.const(f"{rec.name}.bias_mant", mant), b.time],
        rec.name,
        n_out=3,
        du=rec.du,
        dv=rec.dv,
        vth=rec.vth,
        bias_exp=rec.bias_exp,
        reset_interval=rec.reset_interval or 0,
        reset_offset=rec.reset_offset,
    )
    b.identity(u, u_out)
    b.identity(v, v_out)
    return s


@emits("Delta", "SigmaDelta")
def sigma_delta(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    """Delta: x -> DeltaStep; SigmaDelta adds the ``:sigma`` state before and the bias after."""
    shape = shapes[rec.name]
    full = type(rec).__name__ == "SigmaDelta"
    sigma = [b.state(rec.name, "sigma", shape)] if full else []
    states = sigma + [b.state(rec.name, var, shape) for var in ("act", "residue", "error")]
    inputs = [x, *(i for i, _ in states)]
    attrs = {"vth": rec.vth, "spike_exp": rec.spike_exp, "state_exp": rec.state_exp}
    attrs["cum_error"] = int(rec.cum_error)
    if full:
        bias = np.broadcast_to(np.asarray(rec.bias, np.int64), shape).copy()
        inputs.append(b.const(f"{rec.name}.bias", bias))
        attrs["relu"] = int(rec.act_mode == "relu")
    op = "SigmaDeltaStep" if full else "DeltaStep"
    s, *new = b.op(op, inputs, rec.name, n_out=len(states) + 1, **attrs)
    for (_, o), t in zip(states, new, strict=True):
        b.identity(t, o)
    return s


@emits("Sigma")
def sigma(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    sig_in, sig_out = b.state(rec.name, "sigma", shapes[rec.name])
    total = b.op("Add", [sig_in, x], rec.name)
    b.identity(total, sig_out)
    return total
