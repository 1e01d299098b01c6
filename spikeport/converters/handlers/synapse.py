"""Synapse handlers: nn.Conv2d, nn.Linear, and 1x1 nn.Conv1d (as a Linear on channels)."""

from __future__ import annotations

from torch import nn

from spikeport.converters.registry import Call, TensorValue, TraceContext, handles
from spikeport.ir import Conv2d, Linear, Transpose


def _array(t):
    """A NumPy view of parameter `t` (the IR node copies it: one copy of the weights)."""
    return None if t is None else t.detach().cpu().numpy()


def _input(call: Call) -> TensorValue:
    x = call.tensor_args()
    if len(x) != 1 or len(call.args) != 1:
        raise call.fail("expects exactly one tensor input")
    return x[0]


@handles(nn.Conv2d)
def conv2d(ctx: TraceContext, call: Call) -> TensorValue:
    mod: nn.Conv2d = call.module
    x = _input(call)
    if len(x.sample_shape) != 3 or x.lead not in (("TB",), ("B",)):
        raise call.fail(f"input {x.shape} is not [T*B, C, H, W]")
    if isinstance(mod.padding, str) or mod.padding_mode != "zeros":
        raise call.fail("only explicit zero padding is supported")
    rec = Conv2d(
        ctx.unique(call.path),
        weight=_array(mod.weight),
        bias=_array(mod.bias),
        stride=tuple(mod.stride),
        padding=tuple(mod.padding),
        dilation=tuple(mod.dilation),
        groups=mod.groups,
    )
    ctx.add(rec, x.name)
    return TensorValue(rec.name, x.lead, tuple(call.out.shape))


@handles(nn.Linear)
def linear(ctx: TraceContext, call: Call) -> TensorValue:
    mod: nn.Linear = call.module
    x = _input(call)
    rec = Linear(ctx.unique(call.path), weight=_array(mod.weight), bias=_array(mod.bias))
    ctx.add(rec, x.name)
    return TensorValue(rec.name, x.lead, tuple(call.out.shape))


@handles(nn.Conv1d)
def conv1d_pointwise(ctx: TraceContext, call: Call) -> TensorValue:
    """1x1 Conv1d on [T*B, C, N] = Linear over C (float results may differ in the last ulp)."""
    mod: nn.Conv1d = call.module
    x = _input(call)
    if mod.kernel_size != (1,) or mod.stride != (1,) or mod.groups != 1 or mod.padding != (0,):
        raise call.fail("only kernel 1, stride 1, groups 1 Conv1d is supported")
    if len(x.sample_shape) != 2:
        raise call.fail(f"input {x.shape} is not [T*B, C, N]")
    t_in = ctx.add(Transpose(ctx.unique(f"{call.path}.in_t"), perm=(1, 0)), x.name)
    lin = Linear(ctx.unique(call.path), weight=_array(mod.weight)[:, :, 0], bias=_array(mod.bias))
    ctx.add(lin, t_in)
    t_out = ctx.add(Transpose(ctx.unique(f"{call.path}.out_t"), perm=(1, 0)), lin.name)
    return TensorValue(t_out, x.lead, tuple(call.out.shape))
