"""Every registered attention type builds and honours the [T, B, h, N, d] contract."""

from __future__ import annotations

import pytest
import torch

from spikeport.models.attention import ATTENTION_TYPES, AttentionCore, build_attention_core

EMITS_SPIKES = {"ssa": False, "axnor": False, "lrf_ssa": False, "lrf_dyn": False, "sdsa": True}


@pytest.mark.parametrize("name", ATTENTION_TYPES)
def test_every_type_builds_and_keeps_shape(name: str) -> None:
    core = build_attention_core(name, num_heads=2, head_dim=4, grid=(3, 4))
    assert isinstance(core, AttentionCore)
    assert core.name == name and core.emits_spikes is EMITS_SPIKES[name]
    gen = torch.Generator().manual_seed(0)
    q, k, v = ((torch.rand(3, 2, 2, 12, 4, generator=gen) < 0.5).float() for _ in range(3))
    out = core(q, k, v)
    assert out.shape == q.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_parameter_counts_per_type() -> None:
    counts = {
        name: sum(
            p.numel()
            for p in build_attention_core(name, num_heads=2, head_dim=4, grid=(3, 4)).parameters()
        )
        for name in ATTENTION_TYPES
    }
    assert counts["ssa"] == 0 and counts["sdsa"] == 0
    assert counts["axnor"] == 1
    assert counts["lrf_ssa"] == 2 * 8 * 9
    # lrf_dyn: per channel 8 decays, 2 x 7 couplings, 8 gains, 8 readouts; plus the local term
    assert counts["lrf_dyn"] == 8 * (8 + 14 + 8 + 8) + 2 * 8 * 9
