"""SDSA core against a direct loop (token sum, hand-written LIF tau 2 / v_th 0.5, mask)."""

from __future__ import annotations

import torch
from model_references import spikes

from spikeport.models.attention import build_attention_core


def sdsa_loop(q, k, v):
    t_, b_, h_, n_, d_ = q.shape
    out = torch.zeros_like(q)
    for b in range(b_):
        for h in range(h_):
            for c in range(d_):
                vmem = 0.0
                for t in range(t_):
                    x = sum(float(k[t, b, h, n, c] * v[t, b, h, n, c]) for n in range(n_))
                    hmem = (vmem + x) / 2.0  # tau = 2, decay_input, v_reset = 0
                    fired = hmem >= 0.5
                    vmem = 0.0 if fired else hmem
                    for n in range(n_):
                        out[t, b, h, n, c] = q[t, b, h, n, c] * float(fired)
    return out


def test_sdsa_equals_direct_loop() -> None:
    shape = (4, 2, 2, 5, 6)
    # sparse k, v so that the per-channel AND counts are 0 or 1 often and the LIF's
    # leak/threshold matters (count 1 alone -> H = 0.5 fires; needs checking over time).
    q, k, v = spikes(shape, 0.5, 1), spikes(shape, 0.25, 2), spikes(shape, 0.25, 3)
    core = build_attention_core("sdsa", num_heads=2, head_dim=6)
    out = core(q, k, v)
    ref = sdsa_loop(q, k, v)
    assert torch.equal(out, ref)
    assert 0 < out.sum() < q.sum()  # the mask both passes and blocks some spikes
    assert core.emits_spikes is True and core.name == "sdsa"
    assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_sdsa_neuron_is_talking_heads_lif_and_adds_no_state_dict_keys() -> None:
    core = build_attention_core("sdsa", num_heads=8, head_dim=64)
    assert core.talking_heads_lif.v_threshold == 0.5 and core.talking_heads_lif.tau == 2.0
    assert list(core.state_dict()) == []
