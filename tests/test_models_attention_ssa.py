"""SSA core and the attention registry."""

from __future__ import annotations

import pytest
import torch
from model_references import spikes

from spikeport.errors import UnsupportedError
from spikeport.models.attention import ATTENTION_TYPES, build_attention_core


def ssa_loop(q, k, v, scale):
    """out[t,b,h,n,c] = scale * sum_m (sum_i q[n,i] k[m,i]) v[m,c], written as loops."""
    t_, b_, h_, n_, d_ = q.shape
    out = torch.zeros_like(q)
    for t in range(t_):
        for b in range(b_):
            for h in range(h_):
                for n in range(n_):
                    for m in range(n_):
                        score = float((q[t, b, h, n] * k[t, b, h, m]).sum())
                        out[t, b, h, n] += score * v[t, b, h, m]
    return out * scale


@pytest.mark.parametrize("n_tokens,head_dim", [(6, 4), (3, 8)])  # KV-first and QK-first paths
def test_ssa_equals_loop_formula(n_tokens: int, head_dim: int) -> None:
    shape = (2, 2, 3, n_tokens, head_dim)
    q, k, v = (spikes(shape, 0.4, s) for s in (1, 2, 3))
    core = build_attention_core("ssa", num_heads=3, head_dim=head_dim)
    out = core(q, k, v)
    assert out.shape == shape
    assert core.emits_spikes is False and core.name == "ssa"
    torch.testing.assert_close(out, ssa_loop(q, k, v, 0.125), rtol=0, atol=0)


def test_ssa_has_no_state_dict_entries() -> None:
    assert list(build_attention_core("ssa", num_heads=8, head_dim=64).state_dict()) == []


def test_unknown_attention_name_lists_supported() -> None:
    with pytest.raises(UnsupportedError) as err:
        build_attention_core("softmax", num_heads=2, head_dim=4)
    msg = str(err.value)
    assert "softmax" in msg and all(name in msg for name in ATTENTION_TYPES)


def test_unknown_option_is_rejected() -> None:
    with pytest.raises(UnsupportedError, match="bogus"):
        build_attention_core("ssa", num_heads=2, head_dim=4, bogus=1)


def test_mismatched_shapes_are_rejected() -> None:
    core = build_attention_core("ssa", num_heads=2, head_dim=4)
    q = torch.zeros(1, 1, 2, 5, 4)
    with pytest.raises(UnsupportedError, match="ssa"):
        core(q, q, torch.zeros(1, 1, 2, 5, 3))
