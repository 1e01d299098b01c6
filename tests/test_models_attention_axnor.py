"""a-XNOR core against the element-wise pair definition (1,1)->1, (0,0)->a, mismatch->0."""

from __future__ import annotations

import pytest
import torch
from model_references import spikes

from spikeport.models.attention import build_attention_core


def pair_score(qi: float, ki: float, a: float) -> float:
    if qi == 1 and ki == 1:
        return 1.0
    if qi == 0 and ki == 0:
        return a
    return 0.0


def axnor_loop(q, k, v, a_per_head, scale):
    t_, b_, h_, n_, d_ = q.shape
    out = torch.zeros(q.shape, dtype=torch.float64)
    for t in range(t_):
        for b in range(b_):
            for h in range(h_):
                a = float(a_per_head[h])
                for n in range(n_):
                    for m in range(n_):
                        qs, ks = q[t, b, h, n].tolist(), k[t, b, h, m].tolist()
                        sim = sum(pair_score(qi, ki, a) for qi, ki in zip(qs, ks, strict=True))
                        out[t, b, h, n] += sim * v[t, b, h, m].double()
    return (out * scale).float()


@pytest.mark.parametrize("per_head", [False, True])
@pytest.mark.parametrize("n_tokens,head_dim", [(7, 4), (3, 6)])  # KV-first and QK-first paths
def test_axnor_equals_pairwise_definition(per_head: bool, n_tokens: int, head_dim: int) -> None:
    heads = 3
    shape = (2, 1, heads, n_tokens, head_dim)
    q, k, v = (spikes(shape, 0.35, s) for s in (4, 5, 6))
    core = build_attention_core("axnor", num_heads=heads, head_dim=head_dim, per_head=per_head)
    if per_head:
        with torch.no_grad():
            core.a_logit.copy_(torch.tensor([-2.0, 0.3, 1.5]))
    a = core.a.detach()
    a_heads = a.tolist() if per_head else [float(a)] * heads
    assert core.a.shape == ((heads,) if per_head else ())
    out = core(q, k, v)
    torch.testing.assert_close(out, axnor_loop(q, k, v, a_heads, 0.125), rtol=1e-5, atol=1e-5)


def test_axnor_default_a_and_range() -> None:
    core = build_attention_core("axnor", num_heads=2, head_dim=4)
    assert abs(float(core.a.detach()) - 0.1) < 1e-6
    core = build_attention_core("axnor", num_heads=2, head_dim=4, a_init=0.3, per_head=True)
    torch.testing.assert_close(core.a, torch.full((2,), 0.3))
    with torch.no_grad():
        core.a_logit.copy_(torch.tensor([-30.0, 30.0]))
    assert bool(((core.a >= 0) & (core.a <= 1)).all())


def test_axnor_gradient_reaches_a_with_the_co_silence_count() -> None:
    # d(sum out)/d a = scale * sum_{n,m} c00(n,m) * sum_c v[m,c]; chain rule a(1-a) to the logit.
    shape = (1, 1, 1, 5, 4)
    q, k, v = (spikes(shape, 0.4, s) for s in (7, 8, 9))
    core = build_attention_core("axnor", num_heads=1, head_dim=4)
    core(q, k, v).sum().backward()
    c00 = (1 - q[0, 0, 0]) @ (1 - k[0, 0, 0]).T  # co-silent pairs per (n, m)
    expected = 0.125 * float((c00 * v[0, 0, 0].sum(-1)[None, :]).sum())
    a = float(core.a.detach())
    assert core.a_logit.grad is not None
    torch.testing.assert_close(core.a_logit.grad, torch.tensor(expected * a * (1 - a)))
    assert expected > 0
