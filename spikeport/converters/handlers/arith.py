"""Arithmetic handlers: residual additions (SEW sums of spikes, or membrane streams of
currents), products of spike tensors (QKFormer's token mask), sums over one axis (a Linear of
ones) and identity modules."""

from __future__ import annotations

import operator

import numpy as np
import torch
from torch import nn

from spikeport.converters.registry import Call, TensorValue, TraceContext, handles
from spikeport.ir import Add, Linear, Reshape, Transpose
from spikeport.ir.float_nodes import Mul


def _two_tensors(call: Call, what: str) -> tuple[TensorValue, TensorValue]:
    args = [a for a in call.args if a is not None]
    if len(args) != 2 or not all(isinstance(a, TensorValue) for a in args) or call.kwargs:
        raise call.fail(f"only the {what} of two tensors is supported")
    a, b = args
    if a.lead != b.lead or len(a.shape) != len(b.shape):
        raise call.fail(f"operands {a.shape} and {b.shape} differ in their batch/time axes")
    return a, b


@handles(operator.add, torch.add, "Tensor.add", operator.iadd)
def add(ctx: TraceContext, call: Call) -> TensorValue:
    a, b = _two_tensors(call, "sum")
    if a.shape != b.shape:
        raise call.fail(f"operands {a.shape} and {b.shape} differ (broadcasting not supported)")
    rec = Add(ctx.unique(call.path))
    ctx.add(rec, {"a": a.name, "b": b.name})
    return TensorValue(rec.name, a.lead, a.shape)


@handles(operator.mul, torch.mul, "Tensor.mul")
def mul(ctx: TraceContext, call: Call) -> TensorValue:
    """Product of two tensors, one broadcast to the other's shape (a Mul node; quantisation
    accepts it on spikes only, as an AND)."""
    a, b = _two_tensors(call, "product")
    out = tuple(call.out.shape)
    if b.shape == out:
        a, b = b, a
    if a.shape != out:
        raise call.fail(f"neither operand {a.shape}, {b.shape} has the product's shape {out}")
    rec = Mul(ctx.unique(call.path))
    ctx.add(rec, {"a": a.name, "b": b.name})
    return TensorValue(rec.name, a.lead, out)


@handles("Tensor.sum", torch.sum)
def axis_sum(ctx: TraceContext, call: Call) -> TensorValue:
    """Sum over one per-sample axis (QKFormer's channel sum of a head): a Linear with a row of
    ones on that axis, moved last and back by Transpose/Reshape nodes."""
    x = call.args[0] if call.args else None
    if not isinstance(x, TensorValue):
        raise call.fail("expects a tensor as first argument")
    dim = call.args[1] if len(call.args) > 1 else call.kwargs.get("dim")
    keepdim = bool(call.args[2] if len(call.args) > 2 else call.kwargs.get("keepdim", False))
    if isinstance(dim, tuple | list) and len(dim) == 1:
        dim = dim[0]
    if not isinstance(dim, int) or set(call.kwargs) - {"dim", "keepdim"}:
        raise call.fail("only a sum over one axis (dim=int, keepdim) is supported")
    axis = dim % len(x.shape) - len(x.lead)
    if axis < 0:
        raise call.fail(f"sum over axis {dim} of {x.shape} (a batch/time axis) is not supported")
    shape = x.sample_shape
    last = len(shape) - 1
    perm = tuple(i for i in range(len(shape)) if i != axis) + (axis,)
    node = x.name
    if axis != last:
        node = ctx.add(Transpose(ctx.unique(f"{call.path}.axis_last"), perm=perm), node)
    ones = np.ones((1, shape[axis]), dtype=np.dtype(str(call.out.dtype).removeprefix("torch.")))
    node = ctx.add(Linear(ctx.unique(call.path), weight=ones), node)
    out = tuple(call.out.shape)
    if keepdim and axis != last:
        back = tuple(int(i) for i in np.argsort(perm))
        node = ctx.add(Transpose(ctx.unique(f"{call.path}.axis_back"), perm=back), node)
    elif not keepdim:
        node = ctx.add(
            Reshape(ctx.unique(f"{call.path}.drop_axis"), shape=out[len(x.lead) :]), node
        )
    return TensorValue(node, x.lead, out)


@handles(nn.Identity, nn.Dropout)
def identity(ctx: TraceContext, call: Call) -> TensorValue:
    (x,) = call.tensor_args()
    return x
