"""Write the netx-expressible part of a lowered IR graph as a lava-dl netx `.net` HDF5 file.

netx (lava-dl 0.6.0) holds a chain: an `input` layer (optionally with a neuron), then
`conv` / `dense` layers, each a synapse plus a neuron, with `flatten` between conv and dense
(``docs/lava_backend.md``; file layout: lava-dl 0.6.0 ``lava/lib/dl/netx/hdf5.py``). The
exported file makes ``lava.lib.dl.netx.hdf5.Network(path, **export.network_kwargs)`` build
processes that compute exactly what the simulator computes for the graph:

* CubaLIF -> neuron type CUBA with iDecay = du + 1, vDecay = dv, vThMant = vth; its bias
  goes in the layer's `bias` (netx always uses bias_exp 6, so a biased neuron needs 6).
* SigmaDelta (ReLU) -> SDNN; Sigma -> SDNN with sigma_output; Delta -> SDNN input layer.
  netx uses state_exp 6 and one spike_exp for the whole network (returned as a kwarg).
* Dense -> `weight` = the effective integer weights Lava uses (mantissa truncated as Lava
  truncates, times 2**weight_exp); netx's weight-bit optimisation must give them back, which
  is checked. Row-constant delays -> `delay` (axonal, per output neuron).
* Conv -> `weight` as is (cross-correlation, (C_out, C_in/g, kH, kW)); Lava ignores its exponent.
* Each neuron's `messageBits` states the width of the messages the next synapse receives.

Anything else (attention primitives, residual adds, pooling, branches, LIFReset phases netx
cannot produce, ...) is refused with an UnsupportedError naming those nodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from spikeport import hdf5
from spikeport.errors import SpikeportError, UnsupportedError

NETX_STATE_EXP = 6
NETX_BIAS_EXP = 6
NETX_MAX_DELAY = 62
SYNAPSES = ("Conv", "Dense")
NEURONS = ("CubaLIF", "SigmaDelta", "Sigma", "Delta")


@dataclass(frozen=True)
class NetxExport:
    """What was written: the file, its layers and the `netx.hdf5.Network` keyword arguments
    that reproduce the graph (input_message_bits, spike_exp, reset_interval/offset)."""

    path: Path
    layers: tuple[tuple[str, tuple[str, ...]], ...]
    """(netx layer type, IR node names) per layer, in file order."""
    network_kwargs: dict[str, Any] = field(default_factory=dict)


def netx_layers(graph: Any) -> list[tuple[str, list[str]]]:
    """Split `graph` into netx layers, or raise UnsupportedError naming the nodes netx
    cannot hold. Returns (type, node names) per layer: input, flatten, conv, dense."""
    order = graph.topological_order()
    bad = [
        f"{n} ({type(graph.node(n)).__name__})"
        for n in order
        if type(graph.node(n)).__name__ not in ("Input", "Flatten", "Reshape", *SYNAPSES, *NEURONS)
    ]
    branching = [n for n in order if len(graph.successors(n)) > 1 or len(graph.inputs_of(n)) > 1]
    bad += [f"{n} (branch: netx layers form a single chain)" for n in branching]
    if bad:
        raise UnsupportedError(f"netx cannot hold node(s): {', '.join(bad)}")
    if len(graph.input_names) != 1:
        raise UnsupportedError(f"netx needs exactly one input, graph has {graph.input_names}")
    layers: list[tuple[str, list[str]]] = [("input", [order[0]])]
    i = 1
    if i < len(order) and type(graph.node(order[i])).__name__ in NEURONS:
        layers[0][1].append(order[i])
        i += 1
    while i < len(order):
        name = order[i]
        kind = type(graph.node(name)).__name__
        if kind in ("Flatten", "Reshape"):
            if len(graph.node(name).output_shape({"in": _in_shape(graph, name)})) != 1:
                raise UnsupportedError(f"netx cannot hold {name} ({kind}): only a full flatten")
            layers.append(("flatten", [name]))
            i += 1
            continue
        if kind not in SYNAPSES:
            raise UnsupportedError(
                f"netx cannot hold {name} ({kind}) here: layers are a synapse and its neuron"
            )
        if i + 1 >= len(order) or type(graph.node(order[i + 1])).__name__ not in NEURONS:
            raise UnsupportedError(f"netx cannot hold {name} ({kind}) without a neuron after it")
        layers.append((kind.lower(), [name, order[i + 1]]))
        i += 2
    return layers


def _in_shape(graph: Any, name: str) -> tuple[int, ...]:
    from spikeport import ir

    return tuple(ir.infer_shapes(graph)[graph.inputs_of(name)["in"]])


def export_netx(graph: Any, path: str | Path) -> NetxExport:
    """Write `graph` as a netx `.net` file (see module docstring); refuse what netx cannot hold."""
    from spikeport import ir

    layers = netx_layers(graph)
    try:
        shapes = ir.infer_shapes(graph)
    except ir.GraphError as exc:
        raise SpikeportError(f"graph {graph.name}: {exc}") from None
    kwargs: dict[str, Any] = {}
    _check_neurons(graph, layers, kwargs)
    path = Path(path)
    f = hdf5.create(path)
    try:
        with f:
            root = f.create_group("layer")
            for index, (kind, names) in enumerate(layers):
                group = root.create_group(str(index))
                group.create_dataset("type", data=np.array([kind.encode()], dtype="S10"))
                _write_layer(graph, shapes, kind, names, layers, index, group, kwargs)
    except SpikeportError:
        path.unlink(missing_ok=True)  # no half-written file
        raise
    return NetxExport(path, tuple((k, tuple(n)) for k, n in layers), kwargs)


def _check_neurons(graph: Any, layers: list, kwargs: dict[str, Any]) -> None:
    neurons = [names[-1] for kind, names in layers if kind in ("conv", "dense")]
    if len(layers[0][1]) > 1:
        neurons.insert(0, layers[0][1][1])
    sdn = [
        graph.node(n) for n in neurons if type(graph.node(n)).__name__ in ("Delta", "SigmaDelta")
    ]
    spike_exps = {n.spike_exp for n in sdn}
    if len(spike_exps) > 1:
        raise UnsupportedError(f"netx uses one spike_exp per network, graph has {spike_exps}")
    if spike_exps:
        kwargs["spike_exp"] = spike_exps.pop()
    for n in sdn:
        if n.state_exp != NETX_STATE_EXP or n.cum_error:
            raise UnsupportedError(
                f"netx cannot hold {n.name}: needs state_exp {NETX_STATE_EXP} and no cum_error"
            )
        if type(n).__name__ == "SigmaDelta" and n.act_mode != "relu":
            raise UnsupportedError(f"netx cannot hold {n.name}: SDNN activation is always ReLU")
    lifs = [graph.node(n) for n in neurons if type(graph.node(n)).__name__ == "CubaLIF"]
    intervals = {n.reset_interval for n in lifs}
    if intervals - {None}:
        if len(intervals) > 1:
            raise UnsupportedError(
                f"netx resets every LIF with one interval, graph has {intervals}"
            )
        first = lifs[0].reset_offset - 1 - neurons.index(lifs[0].name)
        for n in lifs:
            if n.reset_offset != first + 1 + neurons.index(n.name):
                raise UnsupportedError(
                    f"netx cannot hold {n.name}: reset_offset {n.reset_offset}, netx would use "
                    f"{first + 1 + neurons.index(n.name)}"
                )
        kwargs["reset_interval"] = intervals.pop()
        kwargs["reset_offset"] = first
    for n in lifs:
        if np.any(np.asarray(n.bias_mant) != 0) and n.bias_exp != NETX_BIAS_EXP:
            raise UnsupportedError(
                f"netx cannot hold {n.name}: netx uses bias_exp {NETX_BIAS_EXP}, "
                f"node has {n.bias_exp}"
            )


def _write_layer(
    graph: Any,
    shapes: dict,
    kind: str,
    names: list[str],
    layers: list,
    index: int,
    group: h5py.Group,
    kwargs: dict[str, Any],
) -> None:
    if kind == "input":
        group.create_dataset("shape", data=np.asarray(shapes[names[0]], dtype=np.int64))
        if len(names) > 1:
            neuron = graph.node(names[1])
            if np.any(np.asarray(getattr(neuron, "bias_mant", 0)) != 0):
                raise UnsupportedError(
                    f"netx cannot hold {neuron.name}: an input layer's bias is never applied "
                    "(set the neuron's bias_mant in Lava instead)"
                )
            _write_neuron(graph, neuron, group, _next_bits(graph, layers, index))
        else:
            first = _first_synapse(graph, layers)
            kwargs["input_message_bits"] = first.num_message_bits if first is not None else 0
        return
    if kind == "flatten":
        flat = math.prod(shapes[names[0]])
        group.create_dataset("shape", data=np.asarray([flat, 1, 1], dtype=np.int64))
        return
    syn, neuron = graph.node(names[0]), graph.node(names[1])
    out_shape = shapes[names[1]]
    group.create_dataset("shape", data=np.asarray(out_shape, dtype=np.int64))
    if kind == "conv":
        c_out, c_in_g = syn.weight.shape[:2]
        group.create_dataset("weight", data=np.asarray(syn.weight, dtype=np.float32))
        group.create_dataset("inChannels", data=c_in_g * syn.groups)
        group.create_dataset("outChannels", data=c_out)
        group.create_dataset("groups", data=syn.groups)
        group.create_dataset("kernelSize", data=np.asarray(syn.weight.shape[2:], dtype=np.int64))
        for key in ("stride", "padding", "dilation"):
            group.create_dataset(key, data=np.asarray(getattr(syn, key), dtype=np.int64))
    else:
        weight = netx_dense_weight(syn)
        group.create_dataset("weight", data=weight.astype(np.float32))
        group.create_dataset("inFeatures", data=weight.shape[1])
        group.create_dataset("outFeatures", data=weight.shape[0])
        if syn.delay is not None and np.any(syn.delay):
            delay = np.asarray(syn.delay)
            if np.any(delay != delay[:, :1]):
                raise UnsupportedError(
                    f"netx cannot hold {syn.name}: netx delays are per output neuron (axonal)"
                )
            group.create_dataset("delay", data=delay[:, 0].astype(np.float32))
    bias = _bias(neuron, out_shape)
    if bias is not None:
        group.create_dataset("bias", data=bias.astype(np.float32))
    _write_neuron(graph, neuron, group, _next_bits(graph, layers, index))


def netx_dense_weight(dense: Any) -> np.ndarray:
    """The integer weights to store for `dense` so netx's weight-bit optimisation hands Lava
    weights with the same effect (refused when there are none)."""
    from spikeport.converters.netx_import import optimize_weight_bits
    from spikeport.hw_models.sim.kernels import DenseSynapse

    effective = DenseSynapse(dense.weight, num_weight_bits=dense.num_weight_bits).weight
    scaled = np.asarray(effective, dtype=np.float64) * 2.0**dense.weight_exp
    if not np.array_equal(scaled, np.round(scaled)) or np.abs(scaled).max(initial=0) > 256:
        raise UnsupportedError(
            f"netx cannot hold {dense.name}: "
            f"its weights x 2^{dense.weight_exp} are not 9-bit integers"
        )
    stored = np.round(scaled).astype(np.int64)
    mant, bits, exp = optimize_weight_bits(stored, dense.name)
    again = np.asarray(DenseSynapse(mant, num_weight_bits=bits).weight, np.float64) * 2.0**exp
    if not np.array_equal(again, scaled):
        raise UnsupportedError(
            f"netx cannot hold {dense.name}: netx's weight optimisation changes its weights"
        )
    return stored


def _bias(neuron: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    kind = type(neuron).__name__
    values = neuron.bias_mant if kind == "CubaLIF" else getattr(neuron, "bias", None)
    if values is None:
        return None
    full = np.broadcast_to(np.asarray(values), shape)
    if not np.any(full):
        return None
    if len(shape) == 1:
        return np.asarray(full)
    per_channel = full.reshape(shape[0], -1)
    if np.all(per_channel == per_channel[:, :1]):
        return per_channel[:, 0].copy()
    return np.transpose(full)  # neuron-wise: netx reads it in Lava's (X, Y, C) order


def _write_neuron(graph: Any, neuron: Any, group: h5py.Group, next_bits: int | None) -> None:
    g = group.create_group("neuron")
    kind = type(neuron).__name__
    string = h5py.string_dtype()
    if kind == "CubaLIF":
        g.create_dataset("type", data="CUBA", dtype=string)
        g.create_dataset("iDecay", data=neuron.du + 1)
        g.create_dataset("vDecay", data=neuron.dv)
        g.create_dataset("vThMant", data=neuron.vth)
        g.create_dataset("refDelay", data=1)
        g.create_dataset("gradedSpike", data=False)
        default = 0
    else:
        g.create_dataset("type", data="SDNN", dtype=string)
        g.create_dataset("activation", data="relu", dtype=string)
        g.create_dataset("vThMant", data=getattr(neuron, "vth", 0))
        if kind == "Sigma":
            g.create_dataset("sigma_output", data=True)
        default = 16
    if next_bits is not None and next_bits != default:
        g.create_dataset("messageBits", data=next_bits)


def _next_bits(graph: Any, layers: list, index: int) -> int | None:
    for kind, names in layers[index + 1 :]:
        if kind in ("conv", "dense"):
            return int(graph.node(names[0]).num_message_bits)
    return None


def _first_synapse(graph: Any, layers: list) -> Any:
    for kind, names in layers:
        if kind in ("conv", "dense"):
            return graph.node(names[0])
    return None
