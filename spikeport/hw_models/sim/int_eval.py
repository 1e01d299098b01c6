"""Reference evaluation of an IR graph, layer-synchronous over a batch: float and integer.

Every value is a tensor [T, B, *shape] (T = 1 after a TimeMean). Each node is applied to
all T steps of its input at once, as PyTorch runs a multi-step model; neurons loop over T.

* :func:`run_float` (torch, float32) evaluates float-level graphs with the same torch
  operations, in the same order, as spikeport's PyTorch models, so the traced graph
  reproduces the model's spikes and logits bit for bit.
* :func:`run_int` (numpy int64) evaluates quantised graphs with Lava's fixed-point
  arithmetic, reusing the bit-accurate kernels of ``spikeport.hw_models.kernels``
  (Dense, Conv, CubaLIF) and ``spikeport.hw_models.int_attention``.

Timing: layer-synchronous means Lava's one-step Dense/Conv delay is ignored. In a
feed-forward graph that delay only shifts every layer's spike train later in time (by its
depth); with the input held for T steps and the readout summed over T it changes which
steps are summed, not the per-step arithmetic. The bit-accurate simulator models the delay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import spikeport.ir.int_attention  # noqa: F401  (registers IntAttention for graphs we read)
from spikeport.errors import SpikeportError
from spikeport.hw_models import int_attention as ia
from spikeport.hw_models import lowered_attention
from spikeport.hw_models.kernels.conv import ConvSynapse
from spikeport.hw_models.kernels.dense import DenseSynapse
from spikeport.hw_models.kernels.lif import CubaLifNeuron
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


# ------------------------------------------------------------------------------ float ---
def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(0, 1)


def _unflat(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])


def lif_float(x: torch.Tensor, tau: float, v_th: float, v_reset: float | None, decay_input: bool):
    """SpikingJelly LIF over axis 0 (MultiStepLIF's exact float operations)."""
    v: torch.Tensor | float = 0.0 if v_reset is None else v_reset
    out = []
    for xt in x:
        if decay_input:
            h = v + (xt - (v - (v_reset or 0.0))) / tau
        else:
            h = v - (v - (v_reset or 0.0)) / tau + xt
        s = ((h - v_th) >= 0).to(h.dtype)
        v = s * v_reset + (1.0 - s) * h if v_reset is not None else h - s * v_th
        out.append(s)
    return torch.stack(out)


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    t, b, n, d = x.shape
    return x.reshape(t, b, n, heads, d // heads).permute(0, 1, 3, 2, 4)


def _unheads(y: torch.Tensor) -> torch.Tensor:
    t, b, h, n, d = y.shape
    return y.transpose(2, 3).reshape(t, b, n, h * d)


def _ssa_product(q, k, v):
    n, d = q.shape[-2], q.shape[-1]
    if d <= n:
        return q @ (k.transpose(-2, -1) @ v)
    return (q @ k.transpose(-2, -1)) @ v


def _local_float(rec, v: torch.Tensor) -> torch.Tensor:
    t, b, h, n, d = v.shape
    hh, ww = rec.grid
    img = v.permute(0, 1, 2, 4, 3).reshape(t * b, h * d, hh, ww)
    w = torch.from_numpy(np.array(rec.local_weight))
    out = 0
    for i, r in enumerate(rec.local_dilation):
        out = out + F.conv2d(img, w[i], padding=r, dilation=r, groups=h * d)
    return out.reshape(t, b, h, d, n).permute(0, 1, 2, 4, 3)


def _dyn_kernel(rec, heads: int, n_tokens: int) -> torch.Tensor:
    dim, kc = rec.dyn_gamma.shape
    shape = (heads, dim // heads)
    power = torch.from_numpy(np.array(rec.dyn_a)).reshape(*shape, kc, kc)
    responses = torch.from_numpy(np.array(rec.dyn_gamma)).reshape(*shape, kc).unsqueeze(-1)
    while responses.shape[-1] < n_tokens:
        responses = torch.cat([responses, power @ responses], dim=-1)
        power = power @ power
    responses = responses[..., :n_tokens]
    readout = torch.from_numpy(np.array(rec.dyn_c)).reshape(*shape, kc)
    return (readout.unsqueeze(-1) * responses).sum(-2)


def attention_float(rec, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The float Attention node on [T, B, N, D] tensors (formulas in ir/float_attention.py)."""
    h = rec.heads
    q, k, v = _heads(q, h), _heads(k, h), _heads(v, h)
    n, d = q.shape[-2], q.shape[-1]
    if rec.variant in ("ssa", "lrf_ssa"):
        out = _ssa_product(q, k, v) * rec.scale
        if rec.local_weight is not None:
            out = out + _local_float(rec, v)
    elif rec.variant == "axnor":
        a = torch.from_numpy(np.array(rec.a))
        a = a.view(1, 1, -1, 1, 1) if a.dim() == 1 else a
        if d <= n:
            kv = k.transpose(-2, -1) @ v
            v_sum = v.sum(-2, keepdim=True)
            kcount_v = k.sum(-1, keepdim=True).transpose(-2, -1) @ v
            q_count = q.sum(-1, keepdim=True)
            out = (1 + a) * (q @ kv) - a * q_count * v_sum - a * kcount_v + (a * d) * v_sum
        else:
            q_count = q.sum(-1, keepdim=True)
            k_count = k.sum(-1, keepdim=True).transpose(-2, -1)
            scores = (1 + a) * (q @ k.transpose(-2, -1)) - a * (q_count + k_count) + a * d
            out = scores @ v
        out = out * rec.scale
    elif rec.variant == "lrf_dyn":
        u = v if rec.input_mode == "v" else k * v
        u = u.transpose(-2, -1)
        kern = _dyn_kernel(rec, h, n)
        spectrum = torch.fft.rfft(u, n=2 * n) * torch.fft.rfft(kern, n=2 * n)
        y = torch.fft.irfft(spectrum, n=2 * n)[..., :n].transpose(-2, -1)
        out = y * rec.scale
        if rec.input_mode == "kv_gate_q":
            out = q * out
        if rec.local_weight is not None:
            out = out + _local_float(rec, v)
    elif rec.variant == "sdsa":
        kv = (k * v).sum(dim=-2, keepdim=True)
        out = q * lif_float(kv, 2.0, rec.sdsa_threshold, 0.0, True)
    else:  # pragma: no cover - validated by the node
        raise SpikeportError(f"{rec.name}: unknown attention variant {rec.variant}")
    return _unheads(out)


def _param(a: np.ndarray | None, like: torch.Tensor) -> torch.Tensor | None:
    """A node tensor as a torch tensor of the activations' dtype (float32 stays exact)."""
    return None if a is None else torch.from_numpy(np.array(a)).to(like.dtype)


def _float_node(rec, ins: Mapping[str, torch.Tensor]) -> torch.Tensor:
    kind = type(rec).__name__
    x = ins.get("in")
    if kind == "Conv2d":
        w, b = _param(rec.weight, x), _param(rec.bias, x)
        y = F.conv2d(_flat(x), w, b, rec.stride, rec.padding, rec.dilation, rec.groups)
        return _unflat(y, x)
    if kind == "Linear":
        w, b = _param(rec.weight, x), _param(rec.bias, x)
        return F.linear(x, w, b)
    if kind == "BatchNorm":
        xf = _flat(x).movedim(rec.axis % (x.dim() - 2) + 1, 1)
        t = {f: _param(getattr(rec, f), x) for f in ("mean", "var", "weight", "bias")}
        y = F.batch_norm(xf, t["mean"], t["var"], t["weight"], t["bias"], False, 0.0, rec.eps)
        return _unflat(y.movedim(1, rec.axis % (x.dim() - 2) + 1), x)
    if kind == "LIF":
        return lif_float(x, rec.tau, rec.v_threshold, rec.v_reset, rec.decay_input)
    if kind == "Add":
        return ins["a"] + ins["b"]
    if kind == "MaxPool2d":
        y = F.max_pool2d(_flat(x), rec.kernel_size, rec.stride, rec.padding)
        return _unflat(y, x)
    if kind == "TokenMean":
        return x.mean(rec.axis % (x.dim() - 2) + 2)
    if kind == "TimeMean":
        return x.mean(0, keepdim=True)
    if kind in ("Reshape", "Flatten", "Transpose"):
        return _layout(rec, x)
    if kind == "Attention":
        return attention_float(rec, ins["q"], ins["k"], ins["v"])
    raise SpikeportError(f"{rec.name}: {kind} nodes have no float reference evaluation")


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


@torch.no_grad()
def run_float(
    graph: Graph, x: torch.Tensor, *, T: int | None = None, observe: Observer | None = None
) -> torch.Tensor:
    """Evaluate a float graph on input `x` ([B, ...], repeated over T; or [T, B, ...] for
    time-major graphs). Returns the output node's value with a T axis of 1 squeezed away
    (logits [B, classes] for a Spikformer). `observe(name, value)` sees every node's value."""
    T = int(T or graph.meta["T"])
    values: dict[str, torch.Tensor] = {}
    for name in graph.topological_order():
        rec = graph.node(name)
        if type(rec).__name__ == "Input":
            out = _time_input(graph, x.to(torch.float32), T)
        else:
            out = _float_node(rec, {p: values[s] for p, s in graph.inputs_of(name).items()})
        values[name] = out
        if observe is not None:
            observe(name, out)
    y = values[graph.outputs[0]]
    return y[0] if y.shape[0] == 1 else y


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
