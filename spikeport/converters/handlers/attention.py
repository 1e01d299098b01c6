"""Attention-core handler: every spikeport AttentionCore (ssa, axnor, lrf_ssa, lrf_dyn, sdsa).

Cores are leaves (they branch on shapes): the handler reads their parameters into one
IR ``Attention`` node. Cores take [T, B, heads, N, head_dim]; the IR node takes (N, D), so
the handler wraps it in Transpose/Reshape pairs that the layout pass later cancels.
"""

from __future__ import annotations

import numpy as np
import torch

from spikeport.converters.registry import Call, TensorValue, TraceContext, handles
from spikeport.ir import Attention, Reshape, Transpose
from spikeport.models.attention import (
    AttentionCore,
    AXnorCore,
    LRFDynCore,
    LRFSSACore,
    SDSACore,
    SSACore,
)

_INPUT_MODES = {("kv", "q"): "kv_gate_q", ("kv", "none"): "kv", ("v", "none"): "v"}


def _np(t: torch.Tensor) -> np.ndarray:
    """A NumPy view of `t` (the IR node copies it)."""
    return t.detach().cpu().numpy()


def _local(core, call: Call) -> dict:
    local = core.local
    if local is None:
        return {}
    if len(local.convs) != 2:
        raise call.fail(f"local term with {len(local.convs)} convolutions (IR holds exactly 2)")
    weight = np.stack([_np(c.weight) for c in local.convs])
    return {"local_weight": weight, "local_dilation": tuple(local.dilations), "grid": local.grid}


def _params(core: AttentionCore, call: Call) -> dict:
    if type(core) is SSACore:
        return {"variant": "ssa"}
    if type(core) is AXnorCore:
        return {"variant": "axnor", "a": _np(core.a)}
    if type(core) is LRFSSACore:
        return {"variant": "lrf_ssa", **_local(core, call)}
    if type(core) is LRFDynCore:
        mode = _INPUT_MODES.get((core.token_input, core.gate))
        if mode is None:
            raise call.fail(f"token_input={core.token_input!r} with gate={core.gate!r}")
        d = core.num_heads * core.head_dim
        kc = core.compartments
        with torch.no_grad():
            dyn_a = _np(core.transition_matrix()).reshape(d, kc, kc)
        return {
            "variant": "lrf_dyn",
            "dyn_a": dyn_a,
            "dyn_gamma": _np(core.gamma).reshape(d, kc),
            "dyn_c": _np(core.readout).reshape(d, kc),
            "input_mode": mode,
            **_local(core, call),
        }
    if type(core) is SDSACore:
        lif = core.talking_heads_lif
        if lif.tau != 2.0 or not lif.decay_input or lif.v_reset != 0.0:
            raise call.fail("SDSA inner neuron must be tau 2, decay_input, hard reset to 0")
        return {"variant": "sdsa", "sdsa_threshold": float(lif.v_threshold)}
    raise call.fail("not supported (supported cores: ssa, axnor, lrf_ssa, lrf_dyn, sdsa)")


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
