"""Attention-core handler: every spikeport ``AttentionCore`` (one per variant of
``spikeport.ir.attention``).

Cores are leaves (they branch on shapes): the handler reads their parameters
(``core.ir_params()``) into one IR ``Attention`` node. Cores take [T, B, heads, N, head_dim];
the IR node takes (N, D), so the handler wraps it in Transpose/Reshape pairs that the layout
pass later cancels.
"""

from __future__ import annotations

from spikeport.converters.registry import Call, TensorValue, TraceContext, handles
from spikeport.errors import UnsupportedError
from spikeport.ir import Attention, Reshape, Transpose, attention
from spikeport.models.attention import AttentionCore


def _params(core: AttentionCore, call: Call) -> dict:
    if core.name not in attention.names():
        raise call.fail(f"not supported (supported cores: {', '.join(attention.names())})")
    try:
        return {"variant": core.name, **core.ir_params()}
    except UnsupportedError as exc:
        raise call.fail(str(exc)) from None


@handles(AttentionCore)
def attention_core(ctx: TraceContext, call: Call) -> TensorValue:
    core: AttentionCore = call.module
    qkv = call.tensor_args()
    if len(qkv) != 3 or any(x.lead != ("T", "B") or len(x.sample_shape) != 3 for x in qkv):
        raise call.fail("expects q, k, v of shape [T, B, heads, N, head_dim]")
    h, n, d = qkv[0].sample_shape
    params = _params(core, call)
    names = []
    for port, x in zip("qkv", qkv, strict=True):
        t = ctx.add(Transpose(ctx.unique(f"{call.path}.{port}_nhd"), perm=(1, 0, 2)), x.name)
        names.append(ctx.add(Reshape(ctx.unique(f"{call.path}.{port}_nd"), shape=(n, h * d)), t))
    rec = Attention(ctx.unique(call.path), heads=h, head_dim=d, scale=core.scale, **params)
    ctx.add(rec, dict(zip(("q", "k", "v"), names, strict=True)))
    r = ctx.add(Reshape(ctx.unique(f"{call.path}.out_nhd"), shape=(n, h, d)), rec.name)
    out = ctx.add(Transpose(ctx.unique(f"{call.path}.out_hnd"), perm=(1, 0, 2)), r)
    return TensorValue(out, ("T", "B"), tuple(call.out.shape))
