"""Pooling handlers: nn.MaxPool2d (on spikes it is a logical OR)."""

from __future__ import annotations

from torch import nn

from spikeport.converters.registry import Call, TensorValue, TraceContext, handles
from spikeport.ir import MaxPool2d


@handles(nn.MaxPool2d)
def max_pool2d(ctx: TraceContext, call: Call) -> TensorValue:
    mod: nn.MaxPool2d = call.module
    (x,) = call.tensor_args()
    if x.lead not in (("TB",), ("B",)) or len(x.sample_shape) != 3:
        raise call.fail(f"input {x.shape} is not [T*B, C, H, W]")
    if mod.dilation not in (1, (1, 1)) or mod.ceil_mode or mod.return_indices:
        raise call.fail("dilation, ceil_mode and return_indices are not supported")
    rec = MaxPool2d(
        ctx.unique(call.path),
        kernel_size=mod.kernel_size,
        stride=mod.stride,
        padding=mod.padding,
    )
    ctx.add(rec, x.name)
    return TensorValue(rec.name, x.lead, tuple(call.out.shape))
