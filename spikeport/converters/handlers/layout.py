"""Layout handlers: reshape/view/flatten/transpose/permute/unsqueeze/repeat/contiguous, means.

Ops that only move the time and batch axes ([T, B, ...] <-> [T*B, ...]) create no IR
node; ops on the per-sample axes become Reshape / Transpose. ``x.unsqueeze(0).repeat(T, 1,
...)`` on the image is direct encoding (the Input repeats every step); ``mean`` over
tokens is TokenMean, over time (axis 0 of [T, B, ...]) TimeMean.
"""

from __future__ import annotations

import math

import torch

from spikeport.converters.registry import Call, TensorValue, TraceContext, handles
from spikeport.ir import Reshape, TimeMean, TokenMean, Transpose


def _lead_size(ctx: TraceContext, lead: tuple[str, ...]) -> int:
    sizes = {"T": ctx.T, "B": ctx.batch, "TB": ctx.T * ctx.batch, "1": 1}
    return math.prod(sizes[a] for a in lead)


def _source(call: Call) -> TensorValue:
    x = call.args[0] if call.args else None
    if not isinstance(x, TensorValue):
        raise call.fail("expects a tensor as first argument")
    return x


@handles("Tensor.reshape", "Tensor.view", "Tensor.flatten", torch.flatten, torch.reshape)
def reshape(ctx: TraceContext, call: Call) -> TensorValue:
    x = _source(call)
    out_shape = tuple(call.out.shape)
    lead = ctx.lead_of(out_shape, x)
    if _lead_size(ctx, lead) != _lead_size(ctx, x.lead):
        raise call.fail(f"reshape {x.shape} -> {out_shape} mixes batch/time with sample axes")
    per_sample = out_shape[len(lead) :]
    if per_sample == x.sample_shape:
        return TensorValue(x.name, lead, out_shape)
    if not per_sample:
        raise call.fail(f"reshape {x.shape} -> {out_shape} leaves no per-sample axis")
    rec = Reshape(ctx.unique(call.path), shape=per_sample)
    ctx.add(rec, x.name)
    return TensorValue(rec.name, lead, out_shape)


def _permute(ctx: TraceContext, call: Call, x: TensorValue, perm: list[int]) -> TensorValue:
    n_lead = len(x.lead)
    if perm[:n_lead] != list(range(n_lead)):
        raise call.fail(f"permutation {perm} of {x.shape} moves the batch/time axes")
    sample_perm = tuple(p - n_lead for p in perm[n_lead:])
    out_shape = tuple(call.out.shape)
    if sample_perm == tuple(range(len(sample_perm))):
        return TensorValue(x.name, x.lead, out_shape)
    rec = Transpose(ctx.unique(call.path), perm=sample_perm)
    ctx.add(rec, x.name)
    return TensorValue(rec.name, x.lead, out_shape)


@handles("Tensor.transpose", torch.transpose)
def transpose(ctx: TraceContext, call: Call) -> TensorValue:
    x = _source(call)
    nd = len(x.shape)
    d0, d1 = (int(d) % nd for d in call.args[1:3])
    perm = list(range(nd))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return _permute(ctx, call, x, perm)


@handles("Tensor.permute", torch.permute)
def permute(ctx: TraceContext, call: Call) -> TensorValue:
    x = _source(call)
    dims = call.args[1:]
    if len(dims) == 1 and isinstance(dims[0], tuple | list):
        dims = dims[0]
    nd = len(x.shape)
    return _permute(ctx, call, x, [int(d) % nd for d in dims])


@handles("Tensor.contiguous", "Tensor.clone")
def same(ctx: TraceContext, call: Call) -> TensorValue:
    return _source(call)


@handles("Tensor.unsqueeze", torch.unsqueeze)
def unsqueeze(ctx: TraceContext, call: Call) -> TensorValue:
    x = _source(call)
    dim = int(call.args[1] if len(call.args) > 1 else call.kwargs["dim"])
    if dim == 0 and x.lead == ("B",):
        return TensorValue(x.name, ("1", "B"), tuple(call.out.shape))
    return reshape(ctx, call)


@handles("Tensor.repeat")
def repeat(ctx: TraceContext, call: Call) -> TensorValue:
    x = _source(call)
    reps = call.args[1:]
    if len(reps) == 1 and isinstance(reps[0], tuple | list):
        reps = tuple(reps[0])
    if x.lead != ("1", "B") or int(reps[0]) != ctx.T or any(int(r) != 1 for r in reps[1:]):
        raise call.fail(
            "only direct encoding x.unsqueeze(0).repeat(T, 1, ...) of the input is supported"
        )
    ctx.meta["encoding"] = "direct"
    return TensorValue(x.name, ("T", "B"), tuple(call.out.shape))


@handles("Tensor.mean", torch.mean)
def mean(ctx: TraceContext, call: Call) -> TensorValue:
    x = _source(call)
    dim = call.args[1] if len(call.args) > 1 else call.kwargs.get("dim")
    if call.kwargs.get("keepdim") or (len(call.args) > 2 and call.args[2]):
        raise call.fail("keepdim=True is not supported")
    if isinstance(dim, tuple | list):
        if len(dim) != 1:
            raise call.fail("mean over several axes is not supported")
        dim = dim[0]
    if dim is None:
        raise call.fail("mean over all axes is not supported")
    nd = len(x.shape)
    dim = int(dim) % nd
    out_shape = tuple(call.out.shape)
    if x.lead == ("T", "B") and dim == 0:
        rec = TimeMean(ctx.unique(call.path))
        ctx.add(rec, x.name)
        return TensorValue(rec.name, ("B",), out_shape)
    if dim < len(x.lead):
        raise call.fail(f"mean over axis {dim} of {x.shape} (a batch axis) is not supported")
    rec = TokenMean(ctx.unique(call.path), axis=dim - len(x.lead))
    ctx.add(rec, x.name)
    return TensorValue(rec.name, x.lead, out_shape)
