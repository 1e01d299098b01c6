"""Arithmetic handlers: residual additions (SEW sums of spikes) and identity modules."""

from __future__ import annotations

import operator

import torch
from torch import nn

from spikeport.converters.registry import Call, TensorValue, TraceContext, handles
from spikeport.ir import Add


@handles(operator.add, torch.add, "Tensor.add", operator.iadd)
def add(ctx: TraceContext, call: Call) -> TensorValue:
    args = [a for a in call.args if a is not None]
    if len(args) != 2 or not all(isinstance(a, TensorValue) for a in args) or call.kwargs:
        raise call.fail("only the sum of two tensors is supported")
    a, b = args
    if a.shape != b.shape or a.lead != b.lead:
        raise call.fail(f"operands {a.shape} and {b.shape} differ (broadcasting not supported)")
    rec = Add(ctx.unique(call.path))
    ctx.add(rec, {"a": a.name, "b": b.name})
    return TensorValue(rec.name, a.lead, a.shape)


@handles(nn.Identity, nn.Dropout)
def identity(ctx: TraceContext, call: Call) -> TensorValue:
    (x,) = call.tensor_args()
    return x
