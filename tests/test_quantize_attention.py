"""Integer attention formulas against the PyTorch attention cores (independent float code):
exact where the parameters are representable, within the fixed-point error for LRF-Dyn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeport.hw_models.sim import int_attention as ia
from spikeport.models.attention import AXnorCore, LRFDynCore, SDSACore, SSACore
from spikeport.models.attention.local import LocalReceptiveField

T, B, N, H, D = 3, 4, 16, 4, 8


@pytest.fixture
def qkv():
    rng = np.random.default_rng(0)
    return [(rng.random((T, B, N, H * D)) < 0.3).astype(np.int64) for _ in range(3)]


def _heads(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).double().reshape(*x.shape[:-1], H, D).transpose(-3, -2)


def _merge(y: torch.Tensor) -> np.ndarray:
    return y.transpose(-3, -2).reshape(*y.shape[:-3], y.shape[-2], H * D).detach().numpy()


def test_ssa_counts_equal_core(qkv):
    q, k, v = qkv
    ref = _merge(SSACore(num_heads=H, head_dim=D, scale=1.0).double()(*map(_heads, qkv)))
    assert np.array_equal(ia.ssa_int(q, k, v, H, 3), (ref * 8).astype(np.int64))


def test_axnor_with_representable_a_equals_core_floor(qkv):
    core = AXnorCore(num_heads=H, head_dim=D, scale=1.0, per_head=True).double()
    a_int = np.array([410, 1, 2048, 4000])
    with torch.no_grad():
        core.a_logit[:] = torch.logit(torch.tensor(a_int / 4096.0, dtype=torch.float64))
    with torch.no_grad():
        ref = _merge(core(*map(_heads, qkv)))
    got = ia.axnor_int(*qkv, H, a_int, 12, 9)
    assert np.array_equal(got, np.floor(ref * 512 + 1e-9).astype(np.int64))


def test_xnor_counts_are_popcounts_of_equal_bits(qkv):
    q, k, _ = qkv
    qh, kh = ia.split_heads(q, H), ia.split_heads(k, H)
    ref = (qh[..., :, None, :] == kh[..., None, :, :]).sum(-1)
    assert np.array_equal(ia.xnor_counts(qh, kh), ref)


def test_sdsa_equals_core_bit_for_bit(qkv):
    core = SDSACore(num_heads=H, head_dim=D)
    with torch.no_grad():
        ref = _merge(core(*map(_heads, qkv)))
    # inner LIF tau 2, v_th 0.5: u = kv << m << 6, S = 64 * 2^m * 2, vth = 0.5 * 2 * 2^m - 1
    got = ia.sdsa_int(*qkv, count_shift=3, vth=7, dv=2048)
    assert ref.sum() > 0 and np.array_equal(got, ref.astype(np.int64))


def test_local_term_equals_depthwise_convs():
    rng = np.random.default_rng(1)
    v = (rng.random((T, B, N, H * D)) < 0.4).astype(np.int64)
    w_int = rng.integers(-255, 256, size=(2, H * D, 1, 3, 3))
    lrf = LocalReceptiveField(H * D, (4, 4), (3, 5)).double()
    with torch.no_grad():
        for i, conv in enumerate(lrf.convs):
            conv.weight[:] = torch.from_numpy(w_int[i] / 64.0)
        ref = _merge(lrf(_heads(v)))
    got = ia.local_int(v, w_int, (4, 4), (3, 5), shift=0)
    assert np.array_equal(got, np.rint(ref * 64).astype(np.int64))


def test_lrf_dyn_fixed_point_tracks_serial_float_recurrence(qkv):
    torch.manual_seed(0)
    core = LRFDynCore(num_heads=H, head_dim=D, scale=1.0, local=False).double()
    with torch.no_grad():
        core.gamma.uniform_(0.5, 1.5)
        core.readout.uniform_(-1, 1)
        ref = _merge(core.forward_serial(*map(_heads, qkv)))
        a = core.transition_matrix().reshape(H * D, 8, 8).numpy()
        g = core.gamma.reshape(H * D, 8).numpy()
        c = core.readout.reshape(H * D, 8).numpy()
    q16 = {k: np.rint(x * 4096).astype(np.int64) for k, x in (("a", a), ("g", g), ("c", c))}
    got = ia.lrf_dyn_int(
        *qkv,
        dyn_a=q16["a"],
        dyn_gamma=q16["g"],
        dyn_c=q16["c"],
        input_mode="kv_gate_q",
        count_shift=8,
    )
    err = np.abs(got / 256.0 - ref)
    assert np.abs(ref).max() > 1
    assert err.max() < 0.02 * np.abs(ref).max()
