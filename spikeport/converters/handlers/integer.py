"""Integer-spike handlers (SDT-V3): ``IntegerLIF`` -> ``IntegerSpike`` and the parameterless
product of ``MS_Attention_linear`` (``LinearAttentionCore``) -> ``LinearAttention``.

Both are stateless, so any leading axes are accepted (SDT-V3 has no time axis: [B, ...]).
The product takes [..., heads, N, d] tensors; the IR node takes (N, heads * d), so the
handler wraps it in Transpose/Reshape pairs that the layout pass later cancels.
"""

from __future__ import annotations

from spikeport.converters.registry import Call, TensorValue, TraceContext, handles
from spikeport.ir import IntegerSpike, LinearAttention, Reshape, Transpose
from spikeport.models.integer_neuron import IntegerLIF
from spikeport.models.sdt_v3 import LinearAttentionCore


@handles(IntegerLIF)
def integer_lif(ctx: TraceContext, call: Call) -> TensorValue:
    m: IntegerLIF = call.module
    (x,) = call.tensor_args()
    rec = IntegerSpike(ctx.unique(call.path), max_value=m.max_value, norm=float(m.norm))
    ctx.add(rec, x.name)
    return TensorValue(rec.name, x.lead, tuple(call.out.shape))


@handles(LinearAttentionCore)
def linear_attention(ctx: TraceContext, call: Call) -> TensorValue:
    core: LinearAttentionCore = call.module
    qkv = call.tensor_args()
    if len(qkv) != 3 or any(len(x.sample_shape) != 3 or x.lead != qkv[0].lead for x in qkv):
        raise call.fail("expects q, k, v of shape [..., heads, N, head_dim]")
    h, n, _ = qkv[0].sample_shape
    names = []
    for port, x in zip("qkv", qkv, strict=True):
        t = ctx.add(Transpose(ctx.unique(f"{call.path}.{port}_nhd"), perm=(1, 0, 2)), x.name)
        width = h * x.sample_shape[2]
        names.append(ctx.add(Reshape(ctx.unique(f"{call.path}.{port}_nd"), shape=(n, width)), t))
    rec = LinearAttention(ctx.unique(call.path), heads=h, scale=float(core.scale))
    ctx.add(rec, dict(zip(("q", "k", "v"), names, strict=True)))
    dv = qkv[2].sample_shape[2]
    r = ctx.add(Reshape(ctx.unique(f"{call.path}.out_nhd"), shape=(n, h, dv)), rec.name)
    out = ctx.add(Transpose(ctx.unique(f"{call.path}.out_hnd"), perm=(1, 0, 2)), r)
    return TensorValue(out, qkv[0].lead, tuple(call.out.shape))
