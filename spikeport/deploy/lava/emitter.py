"""Emit a Lava process graph from a lowered (integer) IR graph.

Each IR node becomes the Lava process whose ``fixed_pt`` model computes what the simulator
computes for it (``docs/lava_backend.md`` lists the mapping):

* Dense -> ``lava.proc.dense.Dense`` (``DelayDense`` with delays); a Dense applied to the last
  axis of a multi-axis input becomes one Dense with the block-diagonal weight
  ``kron(I_lead, W)`` on the flattened input (same sums, same sign mode and truncation).
* Conv -> ``lava.proc.conv.Conv`` with the kernel flipped and transposed to Lava's
  (C_out, X, Y, C_in) and transpose ports between spikeport's (C, H, W) and Lava's (X, Y, C).
* CubaLIF -> ``LIF`` / ``LIFReset``; Delta, SigmaDelta, Sigma -> ``lava.proc.sdn``.
* Flatten, Reshape, Transpose -> virtual reshape / transpose ports (no process).
* Input -> ``lava.proc.io.source.RingBuffer`` holding the sample's data.
* Delay, Add, MaxPool2d, TokenMean and the attention cores -> custom processes in
  ``spikeport.deploy.lava.processes``; SDSA's inner neuron is Lava's own ``LIFReset``.

Latency: Lava's synapses (Dense, Conv) send one step late, exactly as the simulator's
executors do, and every emitted custom process sends in the same step it receives, as the
simulator's stateless executors do; so the emitted graph needs no extra retiming and
computes the simulator's integers at every node and step (see ``docs/lava_backend.md``).

Call :func:`spikeport.deploy.lava.compat.ensure_lava` before importing this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikeport.errors import SpikeportError, UnsupportedError

PortFn = Callable[[], Any]
"""Returns a (possibly virtual) Lava OutPort carrying a node's output in spikeport layout."""


@dataclass
class Emitted:
    """The Lava processes of one emitted graph.

    procs: IR node name -> the Lava process that implements it (absent for layout nodes).
    outs: IR node name -> function returning that node's output port (spikeport layout).
    shapes: IR node name -> per-sample output shape.
    sources: Input node name -> its RingBuffer source.
    """

    procs: dict[str, Any] = field(default_factory=dict)
    outs: dict[str, PortFn] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)


EmitFn = Callable[..., tuple]
"""fn(node, {port: source port fn}, {port: input shape}, out_shape, ctx) -> (process, out port
fn); ctx holds graph-level facts ("timing": the retime record or None)."""

_EMITTERS: dict[str, EmitFn] = {}


def register_emitter(node_type: str) -> Callable[[EmitFn], EmitFn]:
    """Decorator: emit IR nodes of class name `node_type` with this function."""

    def deco(fn: EmitFn) -> EmitFn:
        _EMITTERS[node_type] = fn
        return fn

    return deco


def supported_node_types() -> tuple[str, ...]:
    return ("Input", *sorted(_EMITTERS))


def emit(
    graph: Any,
    data: Mapping[str, np.ndarray],
    steps: int,
    *,
    bias: Mapping[str, np.ndarray] | None = None,
) -> Emitted:
    """Build the Lava processes of `graph` for one sample.

    data: {Input node: [T, *shape] integers} (zeros after T, up to `steps`).
    bias: {CubaLIF node: bias_mant} replacing that neuron's bias (netx's image input).
    """
    from spikeport import ir

    try:
        shapes = ir.infer_shapes(graph)
    except ir.GraphError as exc:
        raise SpikeportError(f"graph {graph.name}: {exc}") from None
    missing = [
        f"{n} ({type(graph.node(n)).__name__})"
        for n in graph.topological_order()
        if type(graph.node(n)).__name__ != "Input" and type(graph.node(n)).__name__ not in _EMITTERS
    ]
    if missing:
        raise UnsupportedError(f"no Lava process for node(s): {', '.join(missing)}")
    bias = dict(bias or {})
    from spikeport.ir.timing import Timing

    ctx = {"timing": Timing.from_meta(graph.meta)}
    out = Emitted()
    for name in graph.topological_order():
        node = graph.node(name)
        kind = type(node).__name__
        shape = tuple(shapes[name])
        out.shapes[name] = shape
        if kind == "Input":
            proc = _source(name, shape, data, steps)
            out.sources[name] = proc
            out.procs[name] = proc
            out.outs[name] = _port(proc.s_out)
            continue
        wiring = graph.inputs_of(name)
        ins = {port: out.outs[src] for port, src in wiring.items()}
        in_shapes = {port: tuple(shapes[src]) for port, src in wiring.items()}
        if name in bias:
            if kind != "CubaLIF":
                raise SpikeportError(f"bias override {name!r}: not a CubaLIF node of the graph")
            node = node.replace(bias_mant=np.broadcast_to(np.asarray(bias.pop(name)), shape))
        proc, port_fn = _EMITTERS[kind](node, ins, in_shapes, shape, ctx)
        if proc is not None:
            out.procs[name] = proc
        out.outs[name] = port_fn
    if bias:
        raise SpikeportError(f"bias override for unknown node(s) {sorted(bias)}")
    return out


def _port(port: Any) -> PortFn:
    return lambda: port


def _source(name: str, shape: tuple[int, ...], data: Mapping[str, np.ndarray], steps: int) -> Any:
    from lava.proc.io.source import RingBuffer

    if name not in data:
        raise SpikeportError(f"no data for input node {name!r}")
    x = np.asarray(data[name])
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise SpikeportError(f"input {name!r}: data shape {x.shape}, expected [T, *{shape}]")
    buf = np.zeros((steps, *shape), dtype=np.int64)
    n = min(steps, len(x))
    buf[:n] = x[:n]
    if np.abs(buf).max(initial=0) >= 1 << 31:
        raise SpikeportError(f"input {name!r}: values do not fit Lava's int32 messages")
    return RingBuffer(data=np.moveaxis(buf, 0, -1).astype(np.int32))


def _connect(src: PortFn, dst_port: Any) -> None:
    src().connect(dst_port)


# -- layout: virtual ports ------------------------------------------------------------------
@register_emitter("Flatten")
@register_emitter("Reshape")
def _emit_reshape(
    node: Any, ins: Mapping[str, PortFn], in_shapes: Mapping, shape: tuple, ctx: Mapping
) -> tuple:
    src = ins["in"]
    if tuple(in_shapes["in"]) == shape:
        return None, src
    return None, lambda: src().reshape(shape)


@register_emitter("Transpose")
def _emit_transpose(
    node: Any, ins: Mapping[str, PortFn], in_shapes: Mapping, shape: tuple, ctx: Mapping
) -> tuple:
    src, perm = ins["in"], list(node.perm)
    if perm == sorted(perm):
        return None, src
    return None, lambda: src().transpose(perm)


# -- synapses ---------------------------------------------------------------------------------
@register_emitter("Dense")
def _emit_dense(
    node: Any, ins: Mapping[str, PortFn], in_shapes: Mapping, shape: tuple, ctx: Mapping
) -> tuple:
    from lava.proc.dense.process import DelayDense, Dense

    x_shape = tuple(in_shapes["in"])
    lead = math.prod(x_shape[:-1])
    weight = np.asarray(node.weight, dtype=np.int64)
    delay = None if node.delay is None else np.asarray(node.delay, dtype=np.int64)
    if lead > 1:  # one Dense on the flattened input: block-diagonal weight (and delays)
        eye = np.eye(lead, dtype=np.int64)
        weight = np.kron(eye, weight)
        if delay is not None:
            delay = np.kron(eye, delay)
    kwargs = {
        "weights": weight,
        "weight_exp": node.weight_exp,
        "num_weight_bits": node.num_weight_bits,
        "num_message_bits": node.num_message_bits,
    }
    if delay is not None and delay.any():
        proc = DelayDense(delays=delay, max_delay=int(delay.max()), **kwargs)
    else:
        proc = Dense(**kwargs)
    src = ins["in"]
    if len(x_shape) == 1:
        _connect(src, proc.s_in)
    else:
        src().reshape((math.prod(x_shape),)).connect(proc.s_in)
    if len(shape) == 1:
        return proc, _port(proc.a_out)
    return proc, lambda: proc.a_out.reshape(shape)


def lava_conv_weight(weight: np.ndarray) -> np.ndarray:
    """spikeport [C_out, C_in/g, kH, kW] cross-correlation -> Lava [C_out, X, Y, C_in/g] flipped."""
    return np.ascontiguousarray(np.asarray(weight)[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))


@register_emitter("Conv")
def _emit_conv(
    node: Any, ins: Mapping[str, PortFn], in_shapes: Mapping, shape: tuple, ctx: Mapping
) -> tuple:
    from lava.proc.conv.process import Conv

    c, h, w = in_shapes["in"]
    proc = Conv(
        weight=lava_conv_weight(node.weight).astype(np.int64),
        input_shape=(w, h, c),
        stride=node.stride[::-1],
        padding=node.padding[::-1],
        dilation=node.dilation[::-1],
        groups=node.groups,
        num_message_bits=node.num_message_bits,
    )
    ins["in"]().transpose([2, 1, 0]).connect(proc.s_in)
    return proc, lambda: proc.a_out.transpose([2, 1, 0])


# -- neurons ----------------------------------------------------------------------------------
@register_emitter("CubaLIF")
def _emit_lif(
    node: Any, ins: Mapping[str, PortFn], in_shapes: Mapping, shape: tuple, ctx: Mapping
) -> tuple:
    from lava.proc.lif.process import LIF, LIFReset

    kwargs = {
        "shape": tuple(node.shape),
        "du": node.du,
        "dv": node.dv,
        "vth": node.vth,
        "bias_mant": np.broadcast_to(np.asarray(node.bias_mant), node.shape).astype(np.int64),
        "bias_exp": node.bias_exp,
    }
    if node.reset_interval is not None:
        proc = LIFReset(
            reset_interval=node.reset_interval, reset_offset=node.reset_offset, **kwargs
        )
    else:
        proc = LIF(**kwargs)
    if "in" in ins:
        _connect(ins["in"], proc.a_in)
    return proc, _port(proc.s_out)


@register_emitter("Delta")
def _emit_delta(
    node: Any, ins: Mapping[str, PortFn], in_shapes: Mapping, shape: tuple, ctx: Mapping
) -> tuple:
    from lava.proc.sdn.process import Delta

    proc = Delta(
        shape=tuple(node.shape),
        vth=node.vth,
        cum_error=node.cum_error,
        spike_exp=node.spike_exp,
        state_exp=node.state_exp,
    )
    _connect(ins["in"], proc.a_in)
    return proc, _port(proc.s_out)


@register_emitter("SigmaDelta")
def _emit_sigma_delta(
    node: Any, ins: Mapping[str, PortFn], in_shapes: Mapping, shape: tuple, ctx: Mapping
) -> tuple:
    from lava.proc.sdn.process import ActivationMode, SigmaDelta

    mode = ActivationMode.RELU if node.act_mode == "relu" else ActivationMode.UNIT
    proc = SigmaDelta(
        shape=tuple(node.shape),
        vth=node.vth,
        bias=np.broadcast_to(np.asarray(node.bias), node.shape).astype(np.int64),
        act_mode=mode,
        cum_error=node.cum_error,
        spike_exp=node.spike_exp,
        state_exp=node.state_exp,
    )
    _connect(ins["in"], proc.a_in)
    return proc, _port(proc.s_out)


@register_emitter("Sigma")
def _emit_sigma(
    node: Any, ins: Mapping[str, PortFn], in_shapes: Mapping, shape: tuple, ctx: Mapping
) -> tuple:
    from lava.proc.sdn.process import Sigma

    proc = Sigma(shape=tuple(node.shape))
    _connect(ins["in"], proc.a_in)
    return proc, _port(proc.s_out)


# -- custom processes -------------------------------------------------------------------------
@register_emitter("Delay")
def _emit_delay(
    node: Any, ins: Mapping[str, PortFn], in_shapes: Mapping, shape: tuple, ctx: Mapping
) -> tuple:
    if node.steps == 0:
        return None, ins["in"]
    from spikeport.deploy.lava.processes.delay import Delay

    proc = Delay(shape=shape, steps=node.steps)
    _connect(ins["in"], proc.a_in)
    return proc, _port(proc.s_out)


@register_emitter("Add")
def _emit_add(
    node: Any, ins: Mapping[str, PortFn], in_shapes: Mapping, shape: tuple, ctx: Mapping
) -> tuple:
    from spikeport.deploy.lava.processes.elementwise import Add

    proc = Add(shape=shape)
    _connect(ins["a"], proc.a)
    _connect(ins["b"], proc.b)
    return proc, _port(proc.s_out)


@register_emitter("MaxPool2d")
def _emit_maxpool(
    node: Any, ins: Mapping[str, PortFn], in_shapes: Mapping, shape: tuple, ctx: Mapping
) -> tuple:
    from spikeport.deploy.lava.processes.elementwise import MaxPool

    proc = MaxPool(
        in_shape=tuple(in_shapes["in"]),
        out_shape=shape,
        kernel=tuple(node.kernel_size),
        stride=tuple(node.stride or node.kernel_size),
        padding=tuple(node.padding),
    )
    _connect(ins["in"], proc.a_in)
    return proc, _port(proc.s_out)


@register_emitter("TokenMean")
def _emit_token_mean(
    node: Any, ins: Mapping[str, PortFn], in_shapes: Mapping, shape: tuple, ctx: Mapping
) -> tuple:
    from spikeport.deploy.lava.processes.elementwise import AxisSum

    proc = AxisSum(in_shape=tuple(in_shapes["in"]), axis=node.axis)
    _connect(ins["in"], proc.a_in)
    return proc, _port(proc.s_out)


@register_emitter("IntAttention")
def _emit_attention(
    node: Any, ins: Mapping[str, PortFn], in_shapes: Mapping, shape: tuple, ctx: Mapping
) -> tuple:
    """One attention core as a small group of processes (see docs/lava_backend.md)."""
    from spikeport.deploy.lava.processes import attention as att
    from spikeport.deploy.lava.processes.elementwise import Add, AxisSum, GateTokens

    q_shape, k_shape, v_shape = (tuple(in_shapes[p]) for p in ("q", "k", "v"))
    if node.variant == "sdsa":
        from lava.proc.lif.process import LIF, LIFReset

        kv = GateTokens(shape=k_shape, b_shape=v_shape)
        _connect(ins["k"], kv.a)
        _connect(ins["v"], kv.b)
        col = AxisSum(in_shape=k_shape, axis=0, shift=node.count_shift)
        kv.s_out.connect(col.a_in)
        kwargs = {"shape": (k_shape[1],), "du": 4095, "dv": node.inner_dv, "vth": node.inner_vth}
        timing = ctx.get("timing")
        if timing is not None and node.name in timing.node_latency:  # restart per data window
            phase = (timing.node_latency[node.name] + 1) % timing.T  # Lava time starts at 1
            neuron = LIFReset(reset_interval=timing.T, reset_offset=phase, **kwargs)
        else:
            neuron = LIF(**kwargs)
        col.s_out.connect(neuron.a_in)
        gate = GateTokens(shape=q_shape, b_shape=(k_shape[1],))
        _connect(ins["q"], gate.a)
        neuron.s_out.connect(gate.b)
        return gate, _port(gate.s_out)
    if node.variant == "lrf_dyn":
        core = att.Dendrites(
            shape=q_shape,
            dyn_a=node.dyn_a,
            dyn_gamma=node.dyn_gamma,
            dyn_c=node.dyn_c,
            input_mode=node.input_mode,
            count_shift=node.count_shift,
        )
        for p in ("q", "k", "v"):
            _connect(ins[p], getattr(core, p))
    else:
        axnor = node.variant == "axnor"
        a_int = node.a_int if axnor else np.zeros(node.heads, dtype=np.int64)
        a_shift = node.a_shift if axnor else 0
        scores = att.SpikeScores(
            q_shape=q_shape, k_shape=k_shape, heads=node.heads, a_int=a_int, a_shift=a_shift
        )
        _connect(ins["q"], scores.q)
        _connect(ins["k"], scores.k)
        core = att.ScoreAccumulate(
            scores_shape=(node.heads, q_shape[0], k_shape[0]),
            v_shape=v_shape,
            count_shift=node.count_shift,
            score_shift=a_shift,
        )
        scores.s_out.connect(core.scores)
        _connect(ins["v"], core.v)
    if node.local_weight is None:
        return core, _port(core.s_out)
    local = att.LocalTerm(
        shape=v_shape,
        grid=tuple(node.grid),
        weight=node.local_weight,
        dilations=tuple(node.local_dilation),
        shift=node.local_shift,
    )
    _connect(ins["v"], local.a_in)
    total = Add(shape=shape)
    core.s_out.connect(total.a)
    local.s_out.connect(total.b)
    return total, _port(total.s_out)
