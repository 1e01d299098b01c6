"""LRF-Dyn core: FFT (training) form == serial recurrence == a naive per-token loop."""

from __future__ import annotations

import math

import pytest
import torch
from model_references import spikes
from torch.utils._python_dispatch import TorchDispatchMode

from spikeport.errors import UnsupportedError
from spikeport.models.attention import build_attention_core


def randomise(core, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in core.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 1.5)


def dense_transition(decay_logit, coupling_up, coupling_down):
    """Ā for one channel from the documented parameterisation, element by element:
    λ = (1 - 2^-12) sigmoid(logit), couplings tanh(raw) * 0.4 (1 - max of adjacent λ)."""
    k = decay_logit.numel()
    lam = [(1 - 2**-12) / (1 + math.exp(-float(x))) for x in decay_logit.detach()]
    a = torch.zeros(k, k, dtype=torch.float64)
    for i in range(k):
        a[i, i] = lam[i]
    for i in range(k - 1):
        bound = 0.4 * (1 - max(lam[i], lam[i + 1]))
        a[i, i + 1] = math.tanh(float(coupling_up[i].detach())) * bound
        a[i + 1, i] = math.tanh(float(coupling_down[i].detach())) * bound
    return a


def naive_lrf_dyn(core, q, k, v, token_input: str, gate: str):
    """Per (t, b, h, c): X = Ā X + Γ u_n, y_n = c·X; out = scale * q ⊙ y (no local term)."""
    t_, b_, h_, n_, d_ = q.shape
    out = torch.zeros(q.shape, dtype=torch.float64)
    u_all = k * v if token_input == "kv" else v
    for h in range(h_):
        for c in range(d_):
            a = dense_transition(
                core.decay_logit[h, c], core.coupling_up[h, c], core.coupling_down[h, c]
            )
            gamma = core.gamma[h, c].double()
            readout = core.readout[h, c].double()
            for t in range(t_):
                for b in range(b_):
                    x = torch.zeros(core.compartments, dtype=torch.float64)
                    for n in range(n_):
                        x = a @ x + gamma * float(u_all[t, b, h, n, c])
                        y = float(readout @ x)
                        g = float(q[t, b, h, n, c]) if gate == "q" else 1.0
                        out[t, b, h, n, c] = core.scale * g * y
    return out.float()


@pytest.mark.parametrize("token_input,gate", [("kv", "q"), ("v", "q"), ("kv", "none")])
def test_fft_form_equals_serial_and_naive_loop(token_input: str, gate: str) -> None:
    shape = (2, 2, 2, 12, 3)
    q, k, v = (spikes(shape, 0.5, s) for s in (21, 22, 23))
    core = build_attention_core(
        "lrf_dyn", num_heads=2, head_dim=3, local=False, token_input=token_input, gate=gate
    )
    randomise(core, seed=1)
    with torch.no_grad():
        fft_out = core(q, k, v)
        serial_out = core.forward_serial(q, k, v)
    naive = naive_lrf_dyn(core.requires_grad_(False), q, k, v, token_input, gate)
    assert naive.abs().max() > 0.1
    torch.testing.assert_close(serial_out, naive, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fft_out, naive, rtol=1e-4, atol=1e-4)


def test_fft_form_equals_serial_with_local_term_and_default_init() -> None:
    grid = (4, 5)
    shape = (2, 1, 2, 20, 4)
    q, k, v = (spikes(shape, 0.5, s) for s in (31, 32, 33))
    core = build_attention_core("lrf_dyn", num_heads=2, head_dim=4, grid=grid)
    with torch.no_grad():
        torch.testing.assert_close(
            core(q, k, v), core.forward_serial(q, k, v), rtol=1e-4, atol=1e-4
        )
    assert [c.dilation for c in core.local.convs] == [(3, 3), (5, 5)]


def test_kernel_is_readout_times_matrix_powers_times_gamma() -> None:
    core = build_attention_core("lrf_dyn", num_heads=1, head_dim=2, local=False)
    randomise(core, seed=2)
    kern = core.kernel(11).detach().double()
    for c in range(2):
        a = dense_transition(
            core.decay_logit[0, c], core.coupling_up[0, c], core.coupling_down[0, c]
        )
        g, r = core.gamma[0, c].detach().double(), core.readout[0, c].detach().double()
        expected = torch.stack([r @ torch.linalg.matrix_power(a, m) @ g for m in range(11)])
        torch.testing.assert_close(kern[0, c], expected, rtol=1e-4, atol=1e-5)


def test_transition_is_tridiagonal_and_stable_for_any_parameters() -> None:
    core = build_attention_core("lrf_dyn", num_heads=2, head_dim=3, local=False)
    randomise(core, seed=3)
    with torch.no_grad():
        core.decay_logit.mul_(10)  # push decays close to 0 and 1
        core.coupling_up.mul_(10)
        core.coupling_down.mul_(-10)
        a = core.transition_matrix().double()
    assert a.shape == (2, 3, 8, 8)
    idx = torch.arange(8)
    off_band = (idx[:, None] - idx[None, :]).abs() > 1
    assert bool((a[..., off_band] == 0).all())
    radius = torch.linalg.eigvals(a).abs().amax()
    assert float(radius) < 1.0


def test_gradients_reach_every_dendritic_parameter() -> None:
    shape = (2, 1, 2, 9, 3)
    q, k, v = (spikes(shape, 0.5, s) for s in (41, 42, 43))
    core = build_attention_core("lrf_dyn", num_heads=2, head_dim=3, grid=(3, 3))
    (core(q, k, v) * torch.linspace(-1, 1, 3)).sum().backward()
    for name, p in core.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name


class ShapeRecorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.shapes.append(tuple(t.shape))
        return out


def has_square(shape: tuple[int, ...], size: int) -> bool:
    return any(a == b == size for a, b in zip(shape, shape[1:], strict=False))


@pytest.mark.parametrize("form", ["forward", "forward_serial"])
def test_no_n_by_n_or_d_by_d_intermediate(form: str) -> None:
    n_tokens, head_dim = 12, 5  # distinct from k = 8 and from each other
    shape = (2, 1, 2, n_tokens, head_dim)
    q, k, v = (spikes(shape, 0.5, s) for s in (51, 52, 53))
    core = build_attention_core("lrf_dyn", num_heads=2, head_dim=head_dim, grid=(3, 4))
    recorder = ShapeRecorder()
    with recorder:
        getattr(core, form)(q, k, v)
    assert recorder.shapes
    assert not [s for s in recorder.shapes if has_square(s, n_tokens) or has_square(s, head_dim)]
    assert core.state_values_per_head == 8 * head_dim


def test_bad_options_are_rejected() -> None:
    with pytest.raises(UnsupportedError, match="token_input"):
        build_attention_core("lrf_dyn", num_heads=1, head_dim=2, local=False, token_input="qk")
    with pytest.raises(UnsupportedError, match="grid"):
        build_attention_core("lrf_dyn", num_heads=1, head_dim=2)
