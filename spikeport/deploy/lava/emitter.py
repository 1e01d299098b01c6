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
* Delay, Add, MaxPool2d, TokenMean, the attention cores and the integer-spike nodes
  (GradedSpike, IntLinearAttention) -> custom processes in ``spikeport.deploy.lava.processes``;
  SDSA's inner neuron is Lava's own ``LIFReset``.

Latency: Lava's synapses (Dense, Conv) send one step late, exactly as the simulator's
executors do, and every emitted custom process sends in the same step it receives, as the
simulator's stateless executors do; so the emitted graph needs no extra retiming and
computes the simulator's integers at every node and step (see ``docs/lava_backend.md``).

Lava is imported lazily; :func:`emit` calls ``compat.ensure_lava`` first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikeport.errors import SpikeportError, UnsupportedError
from spikeport.registry import registrar

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


@dataclass(frozen=True)
class Emission:
    """What an emitter gets: the node, {port: source port fn}, {port: input shape}, its
    per-sample output shape and graph-level facts (ctx "timing": the retime record or None)."""

    node: Any
    ins: Mapping[str, PortFn]
    in_shapes: Mapping[str, tuple[int, ...]]
    shape: tuple[int, ...]
    ctx: Mapping[str, Any]


EmitFn = Callable[[Emission], tuple]
"""fn(emission) -> (process or None, out port fn)."""

_EMITTERS: dict[str, EmitFn] = {}

register_emitter = registrar(_EMITTERS, "Lava emitter for node type")
"""Decorator: ``@register_emitter("NodeType", ...)`` emits IR nodes of these types."""


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
    from spikeport.deploy.lava.compat import ensure_lava

    ensure_lava(netx=False)
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
        proc, port_fn = _EMITTERS[kind](Emission(node, ins, in_shapes, shape, ctx))
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


def _wired(proc: Any, ins: Mapping[str, PortFn], ports: tuple[str, ...] = ("in",)) -> tuple:
    """Connect each IR input port of `ports` to `proc`'s port of that name (``in`` ->
    ``a_in``); return (proc, its ``s_out``) as an emitter does."""
    for p in ports:
        _connect(ins[p], getattr(proc, "a_in" if p == "in" else p))
    return proc, _port(proc.s_out)


# -- layout: virtual ports ------------------------------------------------------------------
@register_emitter("Flatten", "Reshape")
def _emit_reshape(e: Emission) -> tuple:
    src = e.ins["in"]
    if tuple(e.in_shapes["in"]) == e.shape:
        return None, src
    return None, lambda: src().reshape(e.shape)


@register_emitter("Transpose")
def _emit_transpose(e: Emission) -> tuple:
    src, perm = e.ins["in"], list(e.node.perm)
    if perm == sorted(perm):
        return None, src
    return None, lambda: src().transpose(perm)


# -- synapses ---------------------------------------------------------------------------------
@register_emitter("Dense")
def _emit_dense(e: Emission) -> tuple:
    from lava.proc.dense.process import DelayDense, Dense

    x_shape = tuple(e.in_shapes["in"])
    lead = math.prod(x_shape[:-1])
    weight = np.asarray(e.node.weight, dtype=np.int64)
    delay = None if e.node.delay is None else np.asarray(e.node.delay, dtype=np.int64)
    if lead > 1:  # one Dense on the flattened input: block-diagonal weight (and delays)
        eye = np.eye(lead, dtype=np.int64)
        weight = np.kron(eye, weight)
        if delay is not None:
            delay = np.kron(eye, delay)
    kwargs = {
        "weights": weight,
        "weight_exp": e.node.weight_exp,
        "num_weight_bits": e.node.num_weight_bits,
        "num_message_bits": e.node.num_message_bits,
    }
    if delay is not None and delay.any():
        proc = DelayDense(delays=delay, max_delay=int(delay.max()), **kwargs)
    else:
        proc = Dense(**kwargs)
    src = e.ins["in"]
    if len(x_shape) == 1:
        _connect(src, proc.s_in)
    else:
        src().reshape((math.prod(x_shape),)).connect(proc.s_in)
    if len(e.shape) == 1:
        return proc, _port(proc.a_out)
    return proc, lambda: proc.a_out.reshape(e.shape)


def lava_conv_weight(weight: np.ndarray) -> np.ndarray:
    """spikeport [C_out, C_in/g, kH, kW] cross-correlation -> Lava [C_out, X, Y, C_in/g] flipped."""
    return np.ascontiguousarray(np.asarray(weight)[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))


@register_emitter("Conv")
def _emit_conv(e: Emission) -> tuple:
    from lava.proc.conv.process import Conv

    c, h, w = e.in_shapes["in"]
    proc = Conv(
        weight=lava_conv_weight(e.node.weight).astype(np.int64),
        input_shape=(w, h, c),
        stride=e.node.stride[::-1],
        padding=e.node.padding[::-1],
        dilation=e.node.dilation[::-1],
        groups=e.node.groups,
        num_message_bits=e.node.num_message_bits,
    )
    e.ins["in"]().transpose([2, 1, 0]).connect(proc.s_in)
    return proc, lambda: proc.a_out.transpose([2, 1, 0])


# -- neurons ----------------------------------------------------------------------------------
@register_emitter("CubaLIF")
def _emit_lif(e: Emission) -> tuple:
    from lava.proc.lif.process import LIF, LIFReset

    kwargs = {
        "shape": tuple(e.node.shape),
        "du": e.node.du,
        "dv": e.node.dv,
        "vth": e.node.vth,
        "bias_mant": np.broadcast_to(np.asarray(e.node.bias_mant), e.node.shape).astype(np.int64),
        "bias_exp": e.node.bias_exp,
    }
    if e.node.reset_interval is not None:
        proc = LIFReset(
            reset_interval=e.node.reset_interval, reset_offset=e.node.reset_offset, **kwargs
        )
    else:
        proc = LIF(**kwargs)
    return _wired(proc, e.ins, ("in",) if "in" in e.ins else ())


@register_emitter("Delta", "SigmaDelta", "Sigma")
def _emit_sdn(e: Emission) -> tuple:
    """Sigma (shape only) < Delta (+ threshold, error, exponents) < SigmaDelta (+ bias, mode)."""
    from lava.proc.sdn import process as sdn

    kind = type(e.node).__name__
    kwargs: dict[str, Any] = {"shape": tuple(e.node.shape)}
    if kind != "Sigma":
        for f in ("vth", "cum_error", "spike_exp", "state_exp"):
            kwargs[f] = getattr(e.node, f)
    if kind == "SigmaDelta":
        kwargs["bias"] = np.broadcast_to(np.asarray(e.node.bias), e.node.shape).astype(np.int64)
        relu = e.node.act_mode == "relu"
        kwargs["act_mode"] = sdn.ActivationMode.RELU if relu else sdn.ActivationMode.UNIT
    return _wired(getattr(sdn, kind)(**kwargs), e.ins)


# -- custom processes -------------------------------------------------------------------------
@register_emitter("Delay")
def _emit_delay(e: Emission) -> tuple:
    if e.node.steps == 0:
        return None, e.ins["in"]
    from spikeport.deploy.lava.processes.delay import Delay

    proc = Delay(shape=e.shape, steps=e.node.steps)
    return _wired(proc, e.ins)


@register_emitter("Add")
def _emit_add(e: Emission) -> tuple:
    from spikeport.deploy.lava.processes.elementwise import Add

    proc = Add(shape=e.shape)
    return _wired(proc, e.ins, ("a", "b"))


@register_emitter("MaxPool2d")
def _emit_maxpool(e: Emission) -> tuple:
    from spikeport.deploy.lava.processes.elementwise import MaxPool

    proc = MaxPool(
        in_shape=tuple(e.in_shapes["in"]),
        out_shape=e.shape,
        kernel=tuple(e.node.kernel_size),
        stride=tuple(e.node.stride or e.node.kernel_size),
        padding=tuple(e.node.padding),
    )
    return _wired(proc, e.ins)


@register_emitter("TokenMean")
def _emit_token_mean(e: Emission) -> tuple:
    from spikeport.deploy.lava.processes.elementwise import AxisSum

    proc = AxisSum(in_shape=tuple(e.in_shapes["in"]), axis=e.node.axis)
    return _wired(proc, e.ins)


@register_emitter("IntAttention")
def _emit_attention(e: Emission) -> tuple:
    """One attention core as the hierarchical ``SpikingAttention`` process."""
    from spikeport.deploy.lava.processes.blocks import SpikingAttention
    from spikeport.ir import attention

    params = e.node.params() | {f: getattr(e.node, f) for f in e.node.int_tensors}
    timing = e.ctx.get("timing")
    params["reset"] = None
    stateful = attention.variant(e.node.variant).stateful
    if stateful and timing is not None and e.node.name in timing.node_latency:
        # restart the inner neuron at each data window (Lava's time starts at 1)
        params["reset"] = (timing.T, (timing.node_latency[e.node.name] + 1) % timing.T)
    proc = SpikingAttention(shape=e.shape, params=params)
    return _wired(proc, e.ins, ("q", "k", "v"))


@register_emitter("GradedSpike", "IntLinearAttention")
def _emit_integer(e: Emission) -> tuple:
    """The I-LIF and its attention product; their virtual-timestep form is refused (it runs
    layer-synchronously only)."""
    from spikeport.deploy.lava.processes import integer

    if e.node.virtual_steps > 1:
        raise UnsupportedError(
            f"{e.node.name}: virtual timesteps (virtual_steps {e.node.virtual_steps}) run "
            "layer-synchronously only; emit the graded form"
        )
    if type(e.node).__name__ == "GradedSpike":
        bias = 0 if e.node.bias is None else e.node.bias
        proc = integer.GradedSpike(
            shape=e.shape,
            vth=e.node.vth,
            bias=np.broadcast_to(np.asarray(bias, dtype=np.int64), e.shape),
            max_value=e.node.max_value,
        )
        return _wired(proc, e.ins)
    proc = integer.LinearAttention(
        q_shape=tuple(e.in_shapes["q"]),
        v_shape=tuple(e.in_shapes["v"]),
        heads=e.node.heads,
        shift=e.node.shift,
    )
    return _wired(proc, e.ins, ("q", "k", "v"))


# -- lowered attention primitives (``spikeport convert --lower-attention``) -------------------
@register_emitter("AndPopcount", "XnorPopcount")
def _emit_popcount(e: Emission) -> tuple:
    from spikeport.deploy.lava.processes.attention import SpikeScores

    q_shape, k_shape = tuple(e.in_shapes["q"]), tuple(e.in_shapes["k"])
    if len(q_shape) != 3:
        raise UnsupportedError(f"{e.node.name}: Lava scores need (heads, N, head_dim) inputs")
    xnor = type(e.node).__name__ == "XnorPopcount"
    proc = SpikeScores(
        q_shape=q_shape,
        k_shape=k_shape,
        heads=q_shape[0],
        a_int=np.full(q_shape[0], e.node.a_int if xnor else 0, dtype=np.int64),
        a_shift=e.node.a_shift if xnor else 0,
    )
    return _wired(proc, e.ins, ("q", "k"))


@register_emitter("ScoreCombine")
def _emit_score_combine(e: Emission) -> tuple:
    from spikeport.deploy.lava.processes.attention import ScoreCombine

    proc = ScoreCombine(shape=e.shape, a_int=e.node.a_int, a_shift=e.node.a_shift)
    return _wired(proc, e.ins, ("c_and", "c_xnor"))


@register_emitter("SpikeAccumulate")
def _emit_spike_accumulate(e: Emission) -> tuple:
    from spikeport.deploy.lava.processes.attention import ScoreAccumulate

    proc = ScoreAccumulate(
        scores_shape=tuple(e.in_shapes["scores"]),
        v_shape=tuple(e.in_shapes["v"]),
        count_shift=e.node.count_shift,
        score_shift=e.node.score_shift,
    )
    return _wired(proc, e.ins, ("scores", "v"))


@register_emitter("LocalTerm")
def _emit_local_term(e: Emission) -> tuple:
    from spikeport.deploy.lava.processes.attention import LocalTerm

    proc = LocalTerm(
        shape=e.shape,
        grid=tuple(e.node.grid),
        weight=e.node.weight,
        dilations=tuple(e.node.dilation),
        shift=e.node.shift,
    )
    return _wired(proc, e.ins)


@register_emitter("SpikeAnd")
def _emit_spike_and(e: Emission) -> tuple:
    from spikeport.deploy.lava.processes.elementwise import GateTokens

    proc = GateTokens(shape=tuple(e.in_shapes["a"]), b_shape=tuple(e.in_shapes["b"]))
    return _wired(proc, e.ins, ("a", "b"))


@register_emitter("TokenSum")
def _emit_token_sum(e: Emission) -> tuple:
    from spikeport.deploy.lava.processes.elementwise import AxisSum

    in_shape = tuple(e.in_shapes["in"])
    proc = AxisSum(in_shape=in_shape, axis=len(in_shape) - 2, shift=e.node.shift)
    return _wired(proc, e.ins)


@register_emitter("DendriticAttention")
def _emit_dendritic(e: Emission) -> tuple:
    from spikeport.deploy.lava.processes.attention import Dendrites

    proc = Dendrites(
        shape=e.shape,
        dyn_a=e.node.transition(),
        dyn_gamma=e.node.gamma,
        dyn_c=e.node.readout,
        input_mode=e.node.input_mode,
        count_shift=e.node.count_shift,
    )
    return _wired(proc, e.ins, ("q", "k", "v"))
