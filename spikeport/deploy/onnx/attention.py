"""Attention as ONNX ops: the lowered primitives one by one, and ``IntAttention`` (fused)
through a per-variant table.

Primitives (``convert --lower-attention``): AndPopcount / XnorPopcount -> the custom
operators of the same name; ScoreCombine -> ``Mul``/``Add``; SpikeAccumulate -> ``MatMul``
+ shifts; LocalTerm -> float64 depth-wise ``Conv`` (exact); SpikeAnd -> binarised ``Mul``;
TokenSum -> ``ReduceSum`` + shift; DendriticAttention -> ``DendriticScan`` with its
tridiagonal as a full matrix.

IntAttention: ``FUSED[variant]`` builds the core from the same helpers (heads split with
``Reshape``/``Transpose``; score-weighted variants: ``AndPopcount`` [+ ``XnorPopcount`` with
a_int 1 = the XNOR count and the per-head combine], ``MatMul`` with V and shifts; lrf_dyn:
``DendriticScan``; sdsa: ``ReduceSum(k * v)`` over tokens, ``LIFStep`` (du 4095, state
``:u``, ``:v``, restarted at each data window of a retimed graph), gated by q), then the
local term when the node has one. A variant without an entry (one the backends run only
lowered, ``AttentionVariant.fused`` False) is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from spikeport.deploy.onnx.builder import Builder
from spikeport.deploy.onnx.emitter import emits
from spikeport.errors import UnsupportedError
from spikeport.ir import attention
from spikeport.ir.dendritic_node import FRAC_BITS
from spikeport.ir.int_nodes import DU_FULL
from spikeport.registry import registrar

Fused = Callable[[Builder, Any, str, str, str, tuple[int, int], Any], str]
"""fn(b, node, q, k, v, (N, D), graph) -> the core's output tensor (before the local term)."""

FUSED: dict[str, Fused] = {}
"""IntAttention variant -> its fused ONNX form."""


fused = registrar(FUSED, "fused ONNX form of attention variant", attention.variant)
"""Decorator: ``@fused("variant", ...)``: the fused ONNX form of these variants."""


# -- helpers: each attention formula written once ---------------------------------------------
def heads(b: Builder, x: str, n: int, h: int, hd: int, base: str) -> str:
    """[B, N, D] -> [B, heads, N, head_dim]."""
    shape = b.const(f"{base}.split", np.array([0, n, h, hd], np.int64))
    return b.op("Transpose", [b.op("Reshape", [x, shape], base)], base, perm=[0, 2, 1, 3])


def merge(b: Builder, x: str, n: int, d: int, base: str) -> str:
    """[B, heads, N, head_dim] -> [B, N, D]."""
    shape = b.const(f"{base}.merge", np.array([0, n, d], np.int64))
    return b.op("Reshape", [b.op("Transpose", [x], base, perm=[0, 2, 1, 3]), shape], base)


def combine(b: Builder, base: str, c_and: str, c_xnor: str, a_int: Any, a_shift: int) -> str:
    """The integer a-XNOR combine ``(2^p - a_int[h]) c_and + a_int[h] c_xnor`` per head."""
    a = np.asarray(a_int, np.int64).reshape(-1, 1, 1)
    keep = b.const(f"{base}.and_weight", (1 << a_shift) - a)
    both = b.op("Mul", [c_and, keep], base)
    same = b.op("Mul", [c_xnor, b.const(f"{base}.a_int", a)], base)
    return b.op("Add", [both, same], base)


def accumulate(b: Builder, base: str, scores: str, v: str, count_shift: int, shift: int) -> str:
    """floor((scores @ v) 2^count_shift / 2^shift)."""
    acc = b.shift(b.op("MatMul", [scores, v], base), count_shift, base)
    return b.shift(acc, -shift, base)


def local(
    b: Builder,
    base: str,
    v: str,
    n: int,
    d: int,
    grid: tuple[int, int],
    dilations: tuple[int, ...],
    weight: np.ndarray,
    shift: int,
) -> str:
    """Sum over dilations r of depth-wise 3x3 convs (padding r) over the token grid."""
    hh, ww = grid
    img = b.op("Transpose", [v], base, perm=[0, 2, 1])
    img = b.op("Reshape", [img, b.const(f"{base}.grid", np.array([0, d, hh, ww], np.int64))], base)
    img = b.op("Cast", [img], base, to=b.tp.DOUBLE)
    total = None
    for i, r in enumerate(dilations):
        w = np.asarray(weight[i], dtype=np.float64)
        y = b.op(
            "Conv",
            [img, b.const(f"{base}.w{i}", w)],
            base,
            kernel_shape=[3, 3],
            dilations=[r, r],
            pads=[r, r, r, r],
            group=d,
        )
        total = y if total is None else b.op("Add", [total, y], base)
    flat = b.const(f"{base}.flat", np.array([0, d, n], np.int64))
    out = b.op("Reshape", [b.op("Cast", [total], base, to=b.tp.INT64), flat], base)
    return b.shift(b.op("Transpose", [out], base, perm=[0, 2, 1]), shift, base)


def dendritic_scan(
    b: Builder,
    base: str,
    q: str,
    k: str,
    v: str,
    tensors: dict[str, np.ndarray],
    input_mode: str,
    count_shift: int,
) -> str:
    """LRF-Dyn's dendrites: ``DendriticScan(u, A, gamma, c)`` (`tensors`: {constant name
    suffix: A [D, k, k], gamma, c [D, k]}, 12 fractional bits), the output shifted to
    2^-count_shift counts and gated by q for input mode kv_gate_q."""
    u = v if input_mode == "v" else b.op("Mul", [k, v], base)
    consts = [b.const(f"{base}.{key}", np.asarray(t, np.int64)) for key, t in tensors.items()]
    out = b.shift(b.op("DendriticScan", [u, *consts], base), count_shift - FRAC_BITS, base)
    return b.op("Mul", [q, out], base) if input_mode == "kv_gate_q" else out


# -- the lowered primitives -------------------------------------------------------------------
@emits("AndPopcount", "XnorPopcount")
def popcount(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    attrs = {}
    if type(rec).__name__ == "XnorPopcount":
        attrs = {"a_int": rec.a_int, "a_shift": rec.a_shift}
    return b.op(type(rec).__name__, [ins["q"], ins["k"]], rec.name, **attrs)


@emits("ScoreCombine")
def score_combine(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    return combine(b, rec.name, ins["c_and"], ins["c_xnor"], rec.a_int, rec.a_shift)


@emits("SpikeAccumulate")
def spike_accumulate(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    return accumulate(b, rec.name, ins["scores"], ins["v"], rec.count_shift, rec.score_shift)


@emits("LocalTerm")
def local_term(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    n, d = shapes[rec.name]
    return local(b, rec.name, x, n, d, rec.grid, rec.dilation, rec.weight, rec.shift)


@emits("SpikeAnd")
def spike_and(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    a = b.binary(ins["a"], False, rec.name)
    other = b.binary(ins["b"], False, rec.name)
    src = graph.inputs_of(rec.name)
    if len(shapes[src["b"]]) < len(shapes[src["a"]]):  # (D,) broadcast over tokens
        axis = b.const(f"{rec.name}.tokens", np.array([1], np.int64))
        other = b.op("Unsqueeze", [other, axis], rec.name)
    return b.op("Mul", [a, other], rec.name)


@emits("TokenSum")
def token_sum(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    axis = b.const(f"{rec.name}.tokens", np.array([1], np.int64))
    return b.shift(b.op("ReduceSum", [x, axis], rec.name, keepdims=0), rec.shift, rec.name)


@emits("DendriticAttention")
def dendritic(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    tensors = {"A": rec.transition(), "gamma": rec.gamma, "readout": rec.readout}
    q, k, v = ins["q"], ins["k"], ins["v"]
    return dendritic_scan(b, rec.name, q, k, v, tensors, rec.input_mode, rec.count_shift)


# -- IntAttention, fused ----------------------------------------------------------------------
@emits("IntAttention")
def int_attention(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    form = FUSED.get(rec.variant)
    if form is None:
        raise UnsupportedError(
            f"{rec.name}: IntAttention variant {rec.variant!r} has no fused ONNX form; "
            "lower it (spikeport convert lowers it)"
        )
    n, d = shapes[rec.name]
    out = form(b, rec, ins["q"], ins["k"], ins["v"], (n, d), graph)
    if rec.local_weight is not None and not attention.variant(rec.variant).spiking_output:
        params = (rec.grid, rec.local_dilation, rec.local_weight, rec.local_shift)
        out = b.op("Add", [out, local(b, f"{rec.name}.local", ins["v"], n, d, *params)], rec.name)
    return out


def score_core(
    b: Builder, rec: Any, q: str, k: str, v: str, nd: tuple[int, int], xnor: bool
) -> str:
    """Per head: AND counts [+ XNOR counts and the a-XNOR combine], scores x V, merged."""
    (n, d), h, hd, name = nd, rec.heads, rec.head_dim, rec.name
    qh, kh, vh = (
        heads(b, t, n, h, hd, f"{name}.{p}") for p, t in zip("qkv", (q, k, v), strict=True)
    )
    scores = b.op("AndPopcount", [qh, kh], name)
    if xnor:
        c_xnor = b.op("XnorPopcount", [qh, kh], name, a_int=1, a_shift=0)
        scores = combine(b, name, scores, c_xnor, rec.a_int, rec.a_shift)
    acc = accumulate(b, name, scores, vh, rec.count_shift, rec.a_shift if xnor else 0)
    return merge(b, acc, n, d, name)


@fused("ssa", "lrf_ssa")
def and_core(b, rec, q, k, v, nd, graph):  # type: ignore[no-untyped-def]
    return score_core(b, rec, q, k, v, nd, xnor=False)


@fused("axnor")
def axnor_core(b, rec, q, k, v, nd, graph):  # type: ignore[no-untyped-def]
    return score_core(b, rec, q, k, v, nd, xnor=True)


@fused("lrf_dyn")
def lrf_dyn_core(b, rec, q, k, v, nd, graph):  # type: ignore[no-untyped-def]
    tensors = {"dyn_a": rec.dyn_a, "dyn_gamma": rec.dyn_gamma, "dyn_c": rec.dyn_c}
    return dendritic_scan(b, rec.name, q, k, v, tensors, rec.input_mode, rec.count_shift)


@fused("sdsa")
def sdsa_core(b, rec, q, k, v, nd, graph):  # type: ignore[no-untyped-def]
    """q * SN(sum_n k v << m): the inner neuron is a LIFStep (du 4095) whose state restarts
    at the first step of each of the node's data windows (retimed graphs), as the simulator."""
    from spikeport.ir.timing import Timing

    name, d = rec.name, nd[1]
    axis = b.const(f"{name}.tokens", np.array([1], np.int64))
    kv = b.op("ReduceSum", [b.op("Mul", [k, v], name), axis], name, keepdims=0)  # [B, D]
    u_in, u_out = b.state(name, "u", (d,))
    v_in, v_out = b.state(name, "v", (d,))
    timing = Timing.from_meta(graph.meta)
    interval, offset = 0, 0
    if timing is not None and name in timing.node_latency:
        interval, offset = timing.T, (timing.node_latency[name] + 1) % timing.T
    s, u, vv = b.op(
        "LIFStep",
        [
            b.shift(kv, rec.count_shift, name),
            u_in,
            v_in,
            b.const(f"{name}.bias", np.zeros(d, np.int64)),
            b.time,
        ],
        name,
        n_out=3,
        du=DU_FULL,
        dv=rec.inner_dv,
        vth=rec.inner_vth,
        bias_exp=0,
        reset_interval=interval,
        reset_offset=offset,
    )
    b.identity(u, u_out)
    b.identity(vv, v_out)
    return b.op("Mul", [q, b.op("Unsqueeze", [s, axis], name)], name)
