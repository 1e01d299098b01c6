"""Analytical energy per layer of the new models (QKFormer, SDT-V3, SDT-V1) on small
instances: per-layer FLOPs and the spike products inside their blocks against hand counts
written here (spikes counted by the test's own hooks), and I-LIF integer spikes priced as
their virtual binary spikes."""

from __future__ import annotations

import math

import pytest
import torch
from model_references import randomise
from test_models_qkformer import IMAGENET_TINY as QK_TINY
from test_models_sdt_v3 import TINY as V3_TINY

from spikeport.hw_models.cost.analytical import Convention, count_model
from spikeport.hw_models.cost.reproduction import uniform_rates
from spikeport.hw_models.cost.structure import count_from_rates, model_structure
from spikeport.models.registry import build_model, default_config

SDT_TINY = dict(embed_dim=32, depth=1, num_heads=2, num_classes=5, img_size=32)
B = 2


def tiny(arch: str, seed: int, **kw) -> torch.nn.Module:
    torch.manual_seed(seed)
    return randomise(build_model(default_config(arch, **kw)), seed=seed)


def outputs(model: torch.nn.Module, names: list[str], scale: float = 1.0):
    """Hooks keeping the output (x scale) of each named submodule; returns (store, handles)."""
    got: dict[str, torch.Tensor] = {}
    mods = dict(model.named_modules())
    handles = [
        mods[n].register_forward_hook(
            lambda m, a, out, n=n: got.__setitem__(n, out.detach() * scale)
        )
        for n in names
    ]
    return got, handles


def rows_of(count):
    return {lo.name: lo for lo in count.layers}, {s.name: s for s in count.stats}


def images(seed: int) -> torch.Tensor:
    return torch.rand(B, 3, 32, 32, generator=torch.Generator().manual_seed(seed)).double()


# --------------------------------------------------------------------------------- QKFormer
def test_qkformer_qkta_is_one_ac_per_q_spike_plus_a_mask_word_per_token():
    model = tiny("qkformer-imagenet", 1, **QK_TINY)
    got, hs = outputs(model, ["stage1.0.tssa.q_lif"])
    count = count_model(model, images(0), Convention(timesteps=3))
    for h in hs:
        h.remove()
    rows, stats = rows_of(count)
    q = got["stage1.0.tssa.q_lif"]  # [T, B, C=8, N=64]
    assert q.sum() > 0
    qkta = rows["stage1.0.tssa"]
    assert qkta.kind == "block:qkta"
    assert qkta.acs == pytest.approx(float(q.sum()) / B)  # each Q spike adds into its head sum
    assert qkta.and_words == 3 * 64 * math.ceil(8 / 32)  # T x tokens x ceil(C / 32)
    names = [lo.name for lo in count.layers]
    assert names.index("stage1.0.tssa") == names.index("stage1.0.tssa.proj_conv") - 1
    # per-layer FLOPs per step, by hand: embed 32 -> stage widths 8, 16, 32
    assert stats["patch_embed1.proj_conv"].flops == 4 * 32 * 32 * 3 * 9  # 3->4, 3x3, 32^2
    assert rows["patch_embed1.proj_conv"].macs == 3 * 4 * 32 * 32 * 3 * 9  # encoding: x T
    assert stats["stage1.0.tssa.q_conv"].flops == 8 * 8 * 64  # 1x1 Conv1d 8->8, 64 tokens
    assert stats["patch_embed2.proj_res_conv"].flops == 16 * 4 * 4 * 8  # 1x1 s2: 8->16, 4^2
    assert rows["stage3.0.attn.core"].kind == "attention:ssa"


# ----------------------------------------------------------------------------------- SDT-V3
V3_ATTN = "block3.0.attn"


def test_sdt_v3_integer_spikes_are_priced_as_their_virtual_binary_spikes():
    model = tiny("sdt-v3", 2, **V3_TINY)
    spike = "ConvBlock1_1.0.Conv.spike1"
    got, hs = outputs(model, [spike], scale=4.0)  # I-LIF output s / 4 -> counts s
    ac = count_model(model, images(1), Convention(timesteps=1))
    mac = count_model(model, images(1), Convention(timesteps=1, graded_spikes="mac"))
    for h in hs:
        h.remove()
    s = got[spike]  # [B, 4, 16, 16] integers 0..4
    assert torch.equal(s, s.round()) and s.max() >= 2
    rows, stats = rows_of(ac)
    conv = "ConvBlock1_1.0.Conv.pwconv1.0"  # 1x1, 4 -> 8 channels: each spike unit reaches 8
    assert rows[conv].acs == pytest.approx(float(s.sum()) * 8 / B)
    assert stats[conv].input_class == "graded"
    assert rows_of(mac)[0][conv].macs == 8 * 4 * 16 * 16  # dense MAC with graded_spikes=mac
    # depth-wise 7x7 of the SepConv (8 channels, groups 8) on 16 x 16: 49 MACs per output
    assert stats["ConvBlock1_1.0.Conv.dwconv.0"].flops == 8 * 16 * 16 * 49
    assert stats[f"{V3_ATTN}.v_conv.0"].flops == 64 * 16 * 4  # 1x1 16 -> 4 x 16, 2 x 2 tokens
    assert rows["downsample1_1.encode_conv"].note.startswith("first (encoding) layer")


@pytest.mark.parametrize("order", ["dxd", "nxn"])
def test_sdt_v3_attention_product_counts_against_hand_formula(order):
    model = tiny("sdt-v3", 3, **V3_TINY)
    ops = [f"{V3_ATTN}.{x}_spike" for x in "qkv"]
    got, hs = outputs(model, ops, scale=4.0)
    conv = dict(timesteps=1, attention_order=order)
    c = count_model(model, images(2), Convention(**conv))
    exact = count_model(model, images(2), Convention(**conv, attention_pair_rate="exact"))
    for h in hs:
        h.remove()
    q, k, v = (got[o] for o in ops)  # [B, 16, 2, 2], [B, 16, 2, 2], [B, 64, 2, 2]
    h, n, d, dv = 2, 4, 8, 32
    rq, rk, rv = (float(x.sum()) / (B * h * n * w) for x, w in ((q, d), (k, d), (v, dv)))
    assert min(rq, rk, rv) > 0
    row = rows_of(c)[0][V3_ATTN]
    if order == "dxd":  # K^T V (d x dv per head, N terms) then Q (K^T V)
        assert row.acs == pytest.approx(h * n * d * dv * (min(rk, rv) + rq))
    else:  # Q K^T (N x N per head, d terms) then (Q K^T) V
        assert row.acs == pytest.approx(h * n * n * (d * min(rq, rk) + dv * rv))
    # exact coincidences of the two integer operands, by loops
    pairs = 0.0
    for b in range(B):
        for head in range(h):
            kh, vh = k[b, head * d : (head + 1) * d], v[b, head * dv : (head + 1) * dv]
            qh = q[b, head * d : (head + 1) * d]
            for i in range(n):  # token i
                if order == "dxd":
                    pairs += float(kh.flatten(1)[:, i].sum() * vh.flatten(1)[:, i].sum())
            if order == "nxn":
                for ch in range(d):
                    pairs += float(qh[ch].sum() * kh[ch].sum())
    second = h * n * d * dv * rq if order == "dxd" else h * n * n * dv * rv
    assert rows_of(exact)[0][V3_ATTN].acs == pytest.approx(pairs / B + second)


# ----------------------------------------------------------------------------------- SDT-V1
def test_sdt_v1_sdsa_and_binary_head_per_layer():
    model = tiny("sdt", 4, **SDT_TINY)
    names = ["block.0.attn.k_lif", "block.0.attn.v_lif", "head_lif"]
    got, hs = outputs(model, names)
    c = count_model(model, images(3), Convention(timesteps=4, head_as_mac=False))
    for h in hs:
        h.remove()
    rows, stats = rows_of(c)
    k, v = got[names[0]], got[names[1]]
    t, n, dim = 4, 4, 32  # 32 / 16 -> 2 x 2 tokens
    fk, fv = float(k.mean()), float(v.mean())
    sdsa = rows["block.0.attn.core"]
    assert sdsa.acs == pytest.approx(t * n * dim * min(fk, fv))  # column sums of K (.) V
    assert sdsa.and_words == 2 * t * n * math.ceil(dim / 32)  # K (.) V and the Q mask
    head = got["head_lif"]  # SDT's head reads spikes: fr x T x FLOPs ACs
    assert rows["head"].acs == pytest.approx(float(head.mean()) * t * 5 * 32)
    assert stats["block.0.mlp.fc1_conv"].flops == 128 * 32 * n  # 1x1 32 -> 128 on 4 tokens


# ---------------------------------------------------------------------- published-rates path
def test_new_blocks_priced_from_a_rate_table_on_the_meta_device():
    with torch.device("meta"):
        qk = build_model(default_config("qkformer-imagenet", **QK_TINY))
        v3 = build_model(default_config("sdt-v3", **V3_TINY))
    s = model_structure(qk, (1, 3, 32, 32), 3)
    c = count_from_rates(s, uniform_rates(s, 0.25), Convention(timesteps=3))
    assert rows_of(c)[0]["stage2.0.tssa"].acs == pytest.approx(3 * 16 * 16 * 0.25)  # 16 ch, 4^2
    s3 = model_structure(v3, (1, 3, 32, 32), 1)
    c3 = count_from_rates(s3, uniform_rates(s3, 0.5), Convention(timesteps=1))
    assert rows_of(c3)[0][V3_ATTN].acs == pytest.approx(2 * 4 * 8 * 32 * (0.5 + 0.5))
    assert c3.layers[0].macs == 4 * 16 * 16 * 3 * 49  # 7x7 s2 3 -> 4 on 16^2, T = 1
