"""Shared by the attention tests: random IntAttention cores of every variant, and one core on
Input q, k, v, lowered."""

from __future__ import annotations

import numpy as np

from spikeport.converters.passes import PassManager
from spikeport.converters.passes.lower_attention import LowerAttention
from spikeport.ir import Graph, Input
from spikeport.ir.int_attention import IntAttention


def lowered(att: IntAttention, n: int, lowering: str) -> Graph:
    """Graph q, k, v (n tokens) -> `att`, after the lowering pass named `lowering`."""
    g = Graph("att")
    for p in "qkv":
        g.add(Input(p, shape=(n, att.dim)))
    g.add(att, {"q": "q", "k": "k", "v": "v"})
    return PassManager([LowerAttention(lowering)]).run(g)


def random_core(
    variant: str,
    rng: np.random.Generator,
    name: str,
    dim: int,
    grid: tuple[int, int],
    *,
    dyn_k: int,
    dyn_off: int,
    dyn_lower: bool,
    inner_vth: int,
    **dyn_fields,
) -> IntAttention:
    """A ``variant`` core of 2 heads (``dim`` = 2 x head_dim, count_shift 3) with random integer
    parameters drawn from ``rng``: a per-head ``a`` (axnor), 3x3 local weights (lrf), a
    ``dyn_k``-state LRF-Dyn transition with diagonal 2000..4095 and upper (and, with
    ``dyn_lower``, lower) off-diagonal within +-``dyn_off`` (``dyn_fields``: further LRF-Dyn
    fields), SDSA's inner neuron at ``inner_vth``."""
    p: dict = {"variant": variant, "heads": 2, "head_dim": dim // 2, "count_shift": 3}
    if variant == "axnor":
        p.update(a_int=np.array([3, 11]), a_shift=4)  # per-head a: the ScoreCombine form
    if variant in ("lrf_ssa", "lrf_dyn"):
        p.update(grid=grid, local_weight=rng.integers(-255, 256, (2, dim, 1, 3, 3)), local_shift=-2)
    if variant == "lrf_dyn":
        k = dyn_k
        a = np.zeros((dim, k, k), dtype=np.int64)
        i = np.arange(k)
        a[:, i, i] = rng.integers(2000, 4096, (dim, k))
        a[:, i[:-1], i[1:]] = rng.integers(-dyn_off, dyn_off, (dim, k - 1))
        if dyn_lower:
            a[:, i[1:], i[:-1]] = rng.integers(-dyn_off, dyn_off, (dim, k - 1))
        p.update(
            dyn_a=a,
            dyn_gamma=rng.integers(0, 8192, (dim, k)),
            dyn_c=rng.integers(-4096, 8192, (dim, k)),
            **dyn_fields,
        )
    if variant == "sdsa":
        p.update(inner_vth=inner_vth, inner_dv=2048)
    return IntAttention(name, **p)
