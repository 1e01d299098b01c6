"""Integer reference evaluation of a quantised IR graph, layer-synchronous over a batch.

Every value is an array [T, B, *shape]. Each node is applied to all T steps of its input at
once; neurons loop over T. :func:`run_int` (numpy int64) evaluates quantised graphs with
Lava's fixed-point arithmetic, reusing the bit-accurate kernels of
``spikeport.hw_models.sim.kernels`` (Dense, Conv, CubaLIF) and
``spikeport.hw_models.sim.int_attention``.

Timing: layer-synchronous means Lava's one-step Dense/Conv delay is ignored. In a
feed-forward graph that delay only shifts every layer's spike train later in time (by its
depth); with the input held for T steps and the readout summed over T it changes which
steps are summed, not the per-step arithmetic. The bit-accurate simulator models the delay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import spikeport.ir.int_attention  # noqa: F401  (registers IntAttention for graphs we read)
from spikeport.errors import SpikeportError
from spikeport.hw_models.sim import int_attention as ia
from spikeport.hw_models.sim import lowered_attention
from spikeport.hw_models.sim.kernels.conv import ConvSynapse
from spikeport.hw_models.sim.kernels.dense import DenseSynapse
from spikeport.hw_models.sim.kernels.lif import CubaLifNeuron
from spikeport.ir import Graph

Observer = Callable[[str, Any], None]


def _time_input(graph: Graph, x: Any, T: int) -> Any:
    if graph.meta.get("time_major"):
        return x
    return (
        x.unsqueeze(0).repeat(T, *([1] * x.dim()))
        if isinstance(x, torch.Tensor)
        else (np.repeat(x[None], T, axis=0))
    )


def _layout(rec, x):
    kind = type(rec).__name__
    nd = x.ndim - 2
    if kind == "Reshape":
        return x.reshape(x.shape[0], x.shape[1], *rec.shape)
    if kind == "Flatten":
        a, b = rec.start_dim % nd + 2, rec.end_dim % nd + 2
        return x.reshape(*x.shape[:a], -1, *x.shape[b + 1 :])
    perm = (0, 1, *(p + 2 for p in rec.perm))
    return x.permute(*perm) if isinstance(x, torch.Tensor) else x.transpose(perm)


# ---------------------------------------------------------------------------- integer ---
def _maxpool_int(rec, x: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(x.reshape(-1, *x.shape[2:]).astype(np.float64))
    y = F.max_pool2d(t, rec.kernel_size, rec.stride, rec.padding).numpy().astype(np.int64)
    return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])


def _int_attention(rec, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    m = rec.count_shift
    if rec.variant == "sdsa":
        return ia.sdsa_int(q, k, v, count_shift=m, vth=rec.inner_vth, dv=rec.inner_dv)
    if rec.variant in ("ssa", "lrf_ssa"):
        out = ia.ssa_int(q, k, v, rec.heads, m)
    elif rec.variant == "axnor":
        out = ia.axnor_int(q, k, v, rec.heads, rec.a_int, rec.a_shift, m)
    else:
        out = ia.lrf_dyn_int(
            q,
            k,
            v,
            dyn_a=rec.dyn_a,
            dyn_gamma=rec.dyn_gamma,
            dyn_c=rec.dyn_c,
            input_mode=rec.input_mode,
            count_shift=m,
        )
    if rec.local_weight is not None:
        out = out + ia.local_int(v, rec.local_weight, rec.grid, rec.local_dilation, rec.local_shift)
    return out


def run_int(
    graph: Graph,
    x: np.ndarray | torch.Tensor,
    *,
    T: int | None = None,
    observe: Observer | None = None,
    stats: dict[str, dict[str, int]] | None = None,
) -> np.ndarray:
    """Evaluate a quantised graph on float input `x` (scaled by ``meta['input_scale']`` and
    rounded to integers). Returns the readout: the final-step v of the node named in
    ``meta['readout']`` (int64 [B, classes]), else the output node's value.
    `stats[name]` collects max |u|, max |v| (24-bit registers) and max |a| per neuron node."""
    T = int(T or graph.meta["T"])
    if isinstance(x, torch.Tensor):
        x = x.numpy()
    scale = float(graph.meta.get("input_scale", 1.0))
    readout = graph.meta.get("readout")
    values: dict[str, np.ndarray] = {}
    final_v: dict[str, np.ndarray] = {}
    for name in graph.topological_order():
        rec = graph.node(name)
        kind = type(rec).__name__
        ins = {p: values[s] for p, s in graph.inputs_of(name).items()}
        xi = ins.get("in")
        if kind == "Input":
            out = _time_input(graph, np.rint(np.asarray(x, dtype=np.float64) * scale), T)
            out = out.astype(np.int64)
        elif kind == "Dense":
            syn = DenseSynapse(
                rec.weight,
                weight_exp=rec.weight_exp,
                num_weight_bits=rec.num_weight_bits,
                num_message_bits=rec.num_message_bits,
            )
            out = syn.compute(xi)[0][1]
        elif kind == "Conv":
            syn = ConvSynapse(
                rec.weight,
                stride=rec.stride,
                padding=rec.padding,
                dilation=rec.dilation,
                groups=rec.groups,
                num_message_bits=rec.num_message_bits,
            )
            y = syn.compute(xi.reshape(-1, *xi.shape[2:]))
            out = y.reshape(xi.shape[0], xi.shape[1], *y.shape[1:])
        elif kind == "CubaLIF":
            neuron = CubaLifNeuron(
                rec.shape,
                du=rec.du,
                dv=rec.dv,
                vth=rec.vth,
                bias_mant=rec.bias_mant,
                bias_exp=rec.bias_exp,
                reset_interval=rec.reset_interval,
                reset_offset=rec.reset_offset,
            )
            neuron.reset(xi.shape[1])
            out = np.empty_like(xi)
            st = {"max_u": 0, "max_v": 0, "max_a": int(np.abs(xi).max(initial=0))}
            for t in range(xi.shape[0]):
                out[t] = neuron.step(xi[t])
                st["max_u"] = max(st["max_u"], int(np.abs(neuron.u).max(initial=0)))
                st["max_v"] = max(st["max_v"], int(np.abs(neuron.v).max(initial=0)))
            final_v[name] = neuron.v.copy()
            if stats is not None:
                old = stats.setdefault(name, {"max_u": 0, "max_v": 0, "max_a": 0})
                for key, val in st.items():
                    old[key] = max(old[key], val)
        elif kind == "IntAttention":
            out = _int_attention(rec, ins["q"], ins["k"], ins["v"])
        elif kind in lowered_attention.EVALUATORS:
            out = lowered_attention.EVALUATORS[kind](rec, ins)
        elif kind == "Add":
            out = ins["a"] + ins["b"]
        elif kind == "MaxPool2d":
            out = _maxpool_int(rec, xi)
        elif kind in ("Reshape", "Flatten", "Transpose"):
            out = _layout(rec, xi)
        else:
            raise SpikeportError(f"{name}: {kind} nodes have no integer reference evaluation")
        values[name] = out
        if observe is not None:
            observe(name, out)
    if readout is not None:
        return final_v[readout]
    return values[graph.outputs[0]]
