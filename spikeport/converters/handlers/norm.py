"""Normalisation handlers: eval-mode nn.BatchNorm1d / nn.BatchNorm2d (channel axis = dim 1)."""

from __future__ import annotations

from torch import nn

from spikeport.converters.registry import Call, TensorValue, TraceContext, handles
from spikeport.ir import BatchNorm


@handles(nn.BatchNorm1d, nn.BatchNorm2d)
def batch_norm(ctx: TraceContext, call: Call) -> TensorValue:
    mod = call.module
    (x,) = call.tensor_args()
    if x.lead not in (("TB",), ("B",)):
        raise call.fail(f"input {x.shape}: batch norm needs [T*B, C, ...] (channel axis 1)")
    if mod.running_mean is None or mod.running_var is None:
        raise call.fail("needs running statistics (track_running_stats=True)")
    rec = BatchNorm(  # NumPy views of the statistics: the IR node copies them
        ctx.unique(call.path),
        mean=mod.running_mean.detach().numpy(),
        var=mod.running_var.detach().numpy(),
        weight=None if mod.weight is None else mod.weight.detach().numpy(),
        bias=None if mod.bias is None else mod.bias.detach().numpy(),
        eps=float(mod.eps),
        axis=0,
    )
    ctx.add(rec, x.name)
    return TensorValue(rec.name, x.lead, tuple(call.out.shape))
