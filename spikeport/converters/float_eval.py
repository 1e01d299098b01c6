"""Float reference evaluation of a float-level IR graph, layer-synchronous over a batch.

Every value is a tensor [T, B, *shape] (T = 1 after a TimeMean). Each node is applied to
all T steps of its input at once, as PyTorch runs a multi-step model; neurons loop over T.
:func:`run_float` (torch, float32) evaluates float-level graphs with the same torch
operations, in the same order, as spikeport's PyTorch models, so the traced graph
reproduces the model's spikes and logits bit for bit. (The integer counterpart is
``spikeport.hw_models.sim.int_eval.run_int``.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from spikeport import budget
from spikeport.errors import SpikeportError
from spikeport.ir import Graph, infer_shapes
from spikeport.models.attention import core_class
from spikeport.models.sdt_v3 import linear_attention

Observer = Callable[[str, Any], None]


def _time_input(graph: Graph, x: Any, T: int) -> Any:
    if graph.meta.get("time_major"):
        return x
    return (
        x.unsqueeze(0).repeat(T, *([1] * x.dim()))
        if isinstance(x, torch.Tensor)
        else (np.repeat(x[None], T, axis=0))
    )


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


def attention_float(rec, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The float Attention node on [T, B, N, D] tensors: its variant's torch core evaluates it
    (``AttentionCore.reference``, the operations of the core's own forward)."""
    h = rec.heads
    out = core_class(rec.variant).reference(rec, _heads(q, h), _heads(k, h), _heads(v, h))
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
    if kind == "Mul":
        return ins["a"] * ins["b"]
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
    if kind == "IntegerSpike":
        return torch.round(torch.clamp(x, 0, rec.max_value)) / rec.norm
    if kind == "LinearAttention":
        q, k, v = (_heads(ins[p], rec.heads) for p in "qkv")
        return _unheads(linear_attention(q, k, v, rec.scale))
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
    batch = x.shape[1] if graph.meta.get("time_major") else x.shape[0]
    shapes = infer_shapes(graph).values()  # every node's value is kept: all of them count
    budget.require_run(f"float graph {graph.name}", shapes, T, batch, 4, holds_all=True)
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
