"""LRF-SSA core: SSA plus depth-wise dilated 3x3 convolutions on V, against explicit loops."""

from __future__ import annotations

import pytest
import torch
from model_references import spikes

from spikeport.errors import UnsupportedError
from spikeport.models.attention import build_attention_core


def local_loop(v, weights, dilations, grid):
    """sum_r sum_{dy,dx in -1..1} w_r[c, dy+1, dx+1] * v[(y + r dy, x + r dx), c]; zero outside."""
    height, width = grid
    t_, b_, h_, n_, d_ = v.shape
    out = torch.zeros_like(v)
    for t in range(t_):
        for b in range(b_):
            for h in range(h_):
                for c in range(d_):
                    ch = h * d_ + c
                    for y in range(height):
                        for x in range(width):
                            acc = 0.0
                            for w, r in zip(weights, dilations, strict=True):
                                for dy in (-1, 0, 1):
                                    for dx in (-1, 0, 1):
                                        yy, xx = y + r * dy, x + r * dx
                                        if 0 <= yy < height and 0 <= xx < width:
                                            acc += float(w[ch, 0, dy + 1, dx + 1]) * float(
                                                v[t, b, h, yy * width + xx, c]
                                            )
                            out[t, b, h, y * width + x, c] = acc
    return out


def ssa_einsum(q, k, v, scale):
    scores = torch.einsum("tbhni,tbhmi->tbhnm", q, k)
    return torch.einsum("tbhnm,tbhmc->tbhnc", scores, v) * scale


def test_lrf_ssa_equals_ssa_plus_local_loop() -> None:
    grid = (6, 7)
    shape = (2, 1, 2, 42, 3)
    q, k, v = (spikes(shape, 0.3, s) for s in (11, 12, 13))
    core = build_attention_core("lrf_ssa", num_heads=2, head_dim=3, grid=grid)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for conv in core.local.convs:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen))
    weights = [conv.weight.detach() for conv in core.local.convs]
    ref = ssa_einsum(q, k, v, 0.125) + local_loop(v, weights, (3, 5), grid)
    torch.testing.assert_close(core(q, k, v), ref, rtol=1e-5, atol=1e-5)


def test_lrf_ssa_parameters_are_two_depthwise_kernels() -> None:
    core = build_attention_core("lrf_ssa", num_heads=8, head_dim=64, grid=(14, 14))
    shapes = {name: tuple(p.shape) for name, p in core.named_parameters()}
    assert shapes == {
        "local.convs.0.weight": (512, 1, 3, 3),
        "local.convs.1.weight": (512, 1, 3, 3),
    }
    assert [conv.dilation for conv in core.local.convs] == [(3, 3), (5, 5)]


def test_lrf_ssa_needs_a_grid_that_matches_the_tokens() -> None:
    with pytest.raises(UnsupportedError, match="grid"):
        build_attention_core("lrf_ssa", num_heads=1, head_dim=2)
    core = build_attention_core("lrf_ssa", num_heads=1, head_dim=2, grid=(2, 3))
    x = torch.zeros(1, 1, 1, 5, 2)
    with pytest.raises(UnsupportedError, match="2x3"):
        core(x, x, x)
