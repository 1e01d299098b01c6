"""The current domain: synapse outputs that reach their neurons through ``Add``,
``MaxPool2d``, ``TokenMean`` and layout nodes (SDT's membrane shortcut, its stage-3 stem and
readout; QKFormer's pool-before-LIF embeddings). docs/semantics.md, "Current groups".

A *current group* is a connected set of synapses (Conv2d / Linear), the carriers between them
and their neurons (the *readers*). Everything in a group shares one state scale ``S`` (u/v
integers per float unit, as in :mod:`.synapse`): the integers of every synapse are
``W_int = W S / (64 2^e)`` and the carriers add, max and sum them exactly. Per value the pass
tracks its *gain* g (float value = g x the integer current x 64 / S + its float bias; a token
mean divides g by N, its integer node sums) and its float bias beta; so a reader whose input
passed a token mean sees its threshold and bias multiplied by N. Biases move out of the
synapses into each reader, summed along its paths: they commute with a max-pool because they
are constant per channel, and with every carrier because carriers are linear.

S is chosen so that the first reader's integer threshold is exact (the others are rounded and
reported), every Conv's weights fit 8 bits + sign (larger scales that clip the largest
weights are tried, least squared weight error wins, as for single layers), and the worst-case
current of every reader fits its register (CubaLIF: ``|a| << 6`` inside 24 bits). Dense
synapses pick their own ``weight_exp``. Groups are found before the walk (readers' spikes
are then known to downstream rules) and quantised after it (every synapse input's bound is
known then).

A neuron type reads currents through a :class:`CurrentReader` registered for its float node
type with :func:`current_reader`: ``spec`` (float threshold, largest integer threshold,
largest current) and ``build`` (its integer node from a :class:`Drive`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikeport.converters.passes.graph_edit import kind, source
from spikeport.converters.passes.layout import LAYOUT, apply_layout
from spikeport.converters.passes.quantize import fixed_point as fp
from spikeport.converters.passes.quantize.quantizer import Quantize, spiking_neuron
from spikeport.converters.passes.quantize.synapse import rounding_shift
from spikeport.errors import UnsupportedError
from spikeport.ir import Conv, Dense, Graph
from spikeport.ir.int_nodes import ACT_SHIFT
from spikeport.registry import registrar

SYNAPSES = ("Conv2d", "Linear")
CARRIERS = ("Add", "MaxPool2d", "TokenMean", *LAYOUT)
"""Nodes a current passes through unchanged in kind (linear, or a max over a window)."""
ACT = 1 << ACT_SHIFT
"""u = a << 6: u/v units per activation unit."""


@dataclass(frozen=True)
class ReaderSpec:
    """What a neuron needs from its group: its firing threshold in float input units
    (> 0), the largest integer threshold it can hold, the largest |a| it takes."""

    threshold: float
    vth_max: int
    current_max: int


@dataclass(frozen=True)
class Drive:
    """A reader's input in integers: ``scale`` = integers of the activation a per float unit
    of the reader's input (token-mean gains divided out), ``bias`` = the float bias its
    input carries (reader input units, broadcastable to its shape: the biases of every
    synapse summed along every path, x N through a token sum), ``bound`` = worst-case |a|."""

    scale: float
    bias: np.ndarray
    bound: int


class CurrentReader:
    """How a neuron type reads a current group (registered with :func:`current_reader`)."""

    def spec(self, q: Quantize, graph: Graph, name: str) -> ReaderSpec:
        raise NotImplementedError(type(self).__name__)

    def output(self, q: Quantize, graph: Graph, name: str) -> tuple[int, float]:
        """(largest output integer, float units per output integer): binary spikes."""
        return 1, 1.0

    def build(self, q: Quantize, graph: Graph, name: str, drive: Drive) -> dict[str, Any]:
        """Replace the float node `name` by its integer node; return report entries."""
        raise NotImplementedError(type(self).__name__)


READERS: dict[str, CurrentReader] = {}
"""Float node type name -> how it reads currents."""

_register_reader = registrar(READERS, "current reader for node type")


def current_reader(*kinds: str):  # type: ignore[no-untyped-def]
    """Class decorator: register an instance of the decorated :class:`CurrentReader`."""

    def deco(cls: type[CurrentReader]) -> type[CurrentReader]:
        _register_reader(*kinds)(cls())
        return cls

    return deco


@current_reader("LIF")
class LIFReader(CurrentReader):
    """Float LIF -> CubaLIF (du 4095: u = a << 6; dv = 4096 / tau; vth = theta x scale;
    bias = 64 x scale x beta as a 13-bit mantissa << bias_exp)."""

    def spec(self, q: Quantize, graph: Graph, name: str) -> ReaderSpec:
        lif = graph.node(name)
        q.lif_params(name, lif)
        if not lif.v_threshold > 0:
            raise UnsupportedError(f"{name}: threshold {lif.v_threshold} must be > 0 on Loihi")
        return ReaderSpec(float(lif.v_threshold), fp.VTH_MAX, fp.U_MAX // ACT)

    def build(self, q: Quantize, graph: Graph, name: str, drive: Drive) -> dict[str, Any]:
        lif = graph.node(name)
        dv, dv_err = q.lif_params(name, lif)
        vth_f = float(lif.v_threshold) * drive.scale
        vth = int(round(vth_f))
        bias_v = np.rint(ACT * drive.scale * drive.bias)
        bias_mant, bias_exp, bias_sat = fp.bias(bias_v)
        bias_mant = bias_mant.reshape(drive.bias.shape)
        spiking_neuron(q, graph, name, dv, vth, bias_mant, bias_exp)
        u_worst = float(ACT * drive.bound)
        return {
            "vth": vth,
            "vth_rounding": abs(vth - vth_f) / vth_f,
            "dv": dv,
            "dv_rounding": dv_err,
            "state_scale": ACT * drive.scale,
            "bias_rel_error": fp.relative_error(bias_mant * 2.0**bias_exp, bias_v),
            "bias_exp": bias_exp,
            "bias_saturated": bias_sat,
            "u_worst_case": u_worst,
            "wrap_risk": u_worst > fp.U_MAX,
            "v_saturation_possible": 2 * u_worst + float(np.abs(bias_v).max(initial=0)) > fp.U_MAX,
        }


# -- finding groups ---------------------------------------------------------------------------
@dataclass
class Group:
    """One current group; lists in topological order."""

    synapses: list[str] = field(default_factory=list)
    carriers: list[str] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)

    @property
    def members(self) -> list[str]:
        return self.synapses + self.carriers + self.readers


def find_group(graph: Graph, start: str) -> Group:
    """The current group of synapse `start`; refuses (naming the node) a current that meets
    spikes in an Add, feeds anything but carriers and registered readers, or is an output."""
    currents: set[str] = set()
    readers: set[str] = set()
    todo = [start]
    while todo:
        n = todo.pop()
        if n in currents:
            continue
        currents.add(n)
        k = kind(graph, n)
        if n in graph.outputs:
            raise UnsupportedError(f"{n}: {k} output is a synaptic current; a neuron must read it")
        if k in CARRIERS:
            for src in graph.inputs_of(n).values():
                ks = kind(graph, src)
                if ks not in SYNAPSES and ks not in CARRIERS:
                    raise UnsupportedError(
                        f"{n}: {k} of a synaptic current and the {ks} output {src} "
                        "(currents and spikes cannot be mixed)"
                    )
                todo.append(src)
        for dst, _ in graph.consumers(n):
            kd = kind(graph, dst)
            if kd in CARRIERS:
                todo.append(dst)
            elif kd in READERS:
                readers.add(dst)
            else:
                raise UnsupportedError(
                    f"{dst}: {kd} fed by the synaptic current {n}; a current reaches neurons "
                    f"({', '.join(sorted(READERS))}) only through {', '.join(CARRIERS)}"
                )
    order = graph.topological_order()
    group = Group()
    for n in order:
        if n in currents:
            (group.synapses if kind(graph, n) in SYNAPSES else group.carriers).append(n)
        elif n in readers:
            group.readers.append(n)
    return group


def claim(q: Quantize, graph: Graph, name: str) -> None:
    """Synapse `name` starts a current group: claim its members (the walk skips them), set
    its readers' output bounds and units (:meth:`CurrentReader.output`) and quantise the
    group after the walk."""
    group = find_group(graph, name)
    q.claimed.update(group.members)
    for r in group.readers:
        q.bound[r], q.unit[r] = READERS[kind(graph, r)].output(q, graph, r)
    q.deferred.append(lambda: quantize_group(q, graph, group))


# -- quantising a group -----------------------------------------------------------------------
@dataclass
class _Synapse:
    name: str
    conv: bool
    w: np.ndarray  # float weights in integer-input units (float64)
    b: np.ndarray  # float bias per output channel
    xb: int  # largest |input integer|
    unit: float  # float units per input integer


@dataclass
class _Choice:
    s: float
    err: float
    ints: dict[str, tuple[int, np.ndarray]]  # synapse -> (weight_exp, mantissas)
    bounds: dict[str, int]  # node -> worst-case |a|


def _synapses(q: Quantize, graph: Graph, group: Group) -> list[_Synapse]:
    out = []
    for n in group.synapses:
        rec = graph.node(n)
        src = source(graph, n)
        xb, unit = q.bound[src], q.unit[src]
        w = np.asarray(rec.weight, dtype=np.float64) * unit
        b = np.zeros(w.shape[0]) if rec.bias is None else np.asarray(rec.bias, np.float64)
        out.append(_Synapse(n, kind(graph, n) == "Conv2d", w, b, xb, unit))
    return out


def _dense_exp(w: np.ndarray, s: float) -> int:
    """The smallest weight_exp (-8..7) whose mantissas fit 8 bits + sign at scale s."""
    wmax = float(np.abs(w).max(initial=0.0)) or 1e-30
    for e in range(-8, 8):
        if wmax * s / (ACT * 2.0**e) <= fp.W_MAX:
            return e
    return 7


def _bounds(graph: Graph, group: Group, q: Quantize, per_synapse: dict[str, float]) -> dict:
    """Worst-case |a| of every group value from each synapse's own bound (carriers: Add sums,
    TokenMean x N, max-pool and layout keep it)."""
    bound: dict[str, float] = dict(per_synapse)
    for n in group.carriers:
        ins = [bound[s] for s in graph.inputs_of(n).values()]
        k = kind(graph, n)
        if k == "Add":
            bound[n] = sum(ins)
        elif k == "TokenMean":
            axis = graph.node(n).axis % len(q.shapes[source(graph, n)])
            bound[n] = ins[0] * q.shapes[source(graph, n)][axis]
        else:
            bound[n] = ins[0]
    return bound


def _gains(graph: Graph, group: Group, q: Quantize) -> dict[str, float]:
    """Float value / (integer x 64 / S) of every group value: 1 / N per token mean."""
    gain = dict.fromkeys(group.synapses, 1.0)
    for n in group.carriers:
        ins = [gain[s] for s in graph.inputs_of(n).values()]
        if len(set(ins)) > 1:
            raise UnsupportedError(f"{n}: Add of currents with different token-mean gains {ins}")
        g = ins[0]
        if kind(graph, n) == "TokenMean":
            src = source(graph, n)
            g /= q.shapes[src][graph.node(n).axis % len(q.shapes[src])]
        gain[n] = g
    return gain


def _candidate(syns: list[_Synapse], s: float, graph: Graph, group: Group, q: Quantize) -> _Choice:
    ints, err, own = {}, 0.0, {}
    for sy in syns:
        e = 0 if sy.conv else _dense_exp(sy.w, s)
        step = ACT * 2.0**e
        w_int = fp.mantissa(sy.w * s / step, sy.conv)
        ints[sy.name] = (e, w_int)
        err += float(np.sum((w_int * step / s - sy.w) ** 2))
        row = float(np.abs(w_int).reshape(w_int.shape[0], -1).sum(1).max(initial=0))
        own[sy.name] = 2.0**e * row * sy.xb
    return _Choice(s, err, ints, _bounds(graph, group, q, own))


def _choose_scale(
    syns: list[_Synapse],
    specs: dict[str, Any],
    gains: dict,
    graph: Graph,
    group: Group,
    q: Quantize,
) -> _Choice:
    """The group's scale S: first reader's threshold exact, currents inside every reader's
    limit, least squared weight error among the scales that clip at most the largest Conv
    weights (up to 2x), as :func:`.synapse.weights` does for one layer."""
    first = group.readers[0]
    g0, th0 = gains[source(graph, first)], specs[first].threshold
    # hard limits on S: integer thresholds and worst-case currents (float weights, per unit S)
    hard = math.inf
    unit_bound = _bounds(
        graph,
        group,
        q,
        {
            sy.name: float(np.abs(sy.w).reshape(len(sy.w), -1).sum(1).max()) / ACT * sy.xb
            for sy in syns
        },
    )
    for r in group.readers:
        sp, g = specs[r], gains[source(graph, r)]
        hard = min(hard, ACT * g * sp.vth_max / sp.threshold)
        per_s = unit_bound[source(graph, r)]
        if per_s > 0:
            hard = min(hard, sp.current_max / per_s)
    soft = min(
        (ACT * fp.W_MAX / (float(np.abs(sy.w).max()) or 1e-30) for sy in syns if sy.conv),
        default=hard,
    )
    vth_lo = math.floor(th0 * min(hard, soft) / (ACT * g0))
    if vth_lo < 1:
        raise UnsupportedError(
            f"{first}: the current group of {', '.join(group.synapses)} cannot keep every "
            "worst-case current inside 24 bits with an integer threshold >= 1"
        )
    vth_hi = math.floor(th0 * min(hard, 2 * soft) / (ACT * g0))
    tried = sorted({min(vth_hi, math.floor(vth_lo * (1 + j / 16))) for j in range(17)})
    if not q.config.clip_search:
        tried = tried[:1]
    best = None
    for vth in tried:
        cand = _candidate(syns, ACT * g0 * vth / th0, graph, group, q)
        if not _fits(cand, specs, graph, group):
            continue
        if best is None or cand.err < best.err:
            best = cand
    vth = tried[0]
    while best is None and vth > 1:  # rounding pushed the worst case over: smaller scales
        vth -= max(1, vth // 64)
        cand = _candidate(syns, ACT * g0 * vth / th0, graph, group, q)
        best = cand if _fits(cand, specs, graph, group) else None
    if best is None:
        raise UnsupportedError(f"{first}: no scale keeps the current group inside its registers")
    return best


def _fits(c: _Choice, specs: dict, graph: Graph, group: Group) -> bool:
    return all(c.bounds[source(graph, r)] <= specs[r].current_max for r in group.readers)


def _carried_bias(graph: Graph, group: Group, q: Quantize, own: dict[str, np.ndarray]) -> dict:
    """Float bias of every group value (broadcastable to its shape), from each synapse's."""
    bias = dict(own)
    for n in group.carriers:
        ins = graph.inputs_of(n)
        k = kind(graph, n)
        if k == "Add":
            bias[n] = _compact(bias[ins["a"]] + bias[ins["b"]])
            continue
        src = ins["in"]
        full = np.broadcast_to(bias[src], q.shapes[src])
        if k == "MaxPool2d":
            if not np.all(full == full[:, :1, :1]):
                raise UnsupportedError(f"{n}: the bias reaching this max-pool varies over H, W")
            bias[n] = full[:, :1, :1]
        elif k == "TokenMean":
            bias[n] = _compact(full.mean(axis=graph.node(n).axis % full.ndim))
        else:
            bias[n] = _compact(apply_layout(graph.node(n), np.array(full)))
    return bias


def _compact(b: np.ndarray) -> np.ndarray:
    """`b` with every axis along which it is constant reduced to size 1."""
    b = np.asarray(b, dtype=np.float64)
    for axis in range(b.ndim):
        first = np.take(b, [0], axis=axis)
        if np.all(b == first):
            b = first
    return b


def quantize_group(q: Quantize, graph: Graph, group: Group) -> None:
    """Replace a group's synapses by Conv / Dense at the shared scale, mark its max-pools as
    pooling currents and build its readers (report rows for each)."""
    if not group.readers:
        raise UnsupportedError(f"{group.synapses[0]}: synaptic current read by no neuron")
    syns = _synapses(q, graph, group)
    gains = _gains(graph, group, q)
    specs = {r: READERS[kind(graph, r)].spec(q, graph, r) for r in group.readers}
    choice = _choose_scale(syns, specs, gains, graph, group, q)
    s = choice.s
    own_bias = {}
    label = f"current group of {group.readers[0]}"
    for sy in syns:
        e, w_int = choice.ints[sy.name]
        rec = graph.node(sy.name)
        step = ACT * 2.0**e
        w_back = w_int * step / s
        shift = rounding_shift(q, sy.name, sy.w, w_back, sy.unit)
        beta = sy.b - shift + fp.floor_offset(e) / s
        bits = fp.message_bits(sy.xb)
        if sy.conv:
            geometry = {f: getattr(rec, f) for f in ("stride", "padding", "dilation", "groups")}
            graph.replace(Conv(sy.name, weight=w_int, num_message_bits=bits, **geometry))
            own_bias[sy.name] = beta.reshape(-1, 1, 1)
        else:
            graph.replace(Dense(sy.name, weight=w_int, weight_exp=e, num_message_bits=bits))
            own_bias[sy.name] = beta
        q.rows.append(
            {
                "layer": sy.name,
                "kind": "Conv (current)" if sy.conv else "Dense (current)",
                "group": label,
                **fp.weight_stats(sy.w, w_int, e),
                "state_scale": s,
                "input_bound": sy.xb,
                "num_message_bits": bits,
                **fp.weight_errors(w_back, sy.w),
                "bias_correction_max": float(np.abs(shift).max(initial=0.0)),
                "current_worst_case": choice.bounds[sy.name],
            }
        )
    for n in group.carriers:
        rec = graph.node(n)
        if kind(graph, n) == "MaxPool2d":
            graph.replace(rec.replace(kind="current"))
    bias = _carried_bias(graph, group, q, own_bias)
    for r in group.readers:
        src = source(graph, r)
        g = gains[src]
        drive = Drive(scale=s / (ACT * g), bias=bias[src], bound=int(choice.bounds[src]))
        row = READERS[kind(graph, r)].build(q, graph, r, drive)
        q.rows.append(
            {"layer": r, "neuron": r, "kind": f"{kind(graph, r)} (current reader)"}
            | {"group": label, "token_mean_gain": g}
            | row
        )
