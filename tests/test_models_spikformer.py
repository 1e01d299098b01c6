"""Spikformer / SDT builders: official names, parameter counts, shapes, and forward semantics.

Reference numbers (parameter counts, key counts, key shapes) come from an independent
enumeration of the official code (``ZK-Zhou/spikformer``, ``BICLab/Spike-Driven-Transformer``).
Forward semantics are checked against a straightforward re-implementation written here from
the official forward (functional ops, an explicit LIF loop, explicit attention formulas).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from model_references import bn, lif, meta_model, n_params, randomise, tiny_config

from spikeport.errors import SpikeportError, UnsupportedError
from spikeport.models.firing import measure_firing_rates
from spikeport.models.registry import build_model, default_config
from spikeport.models.sps import CIFAR_POOLING

ATTENTIONS = ("ssa", "axnor", "lrf_ssa", "lrf_dyn", "sdsa")


# --- official sizes -------------------------------------------------------------------------


def test_cifar_4_384_has_official_parameter_count_and_216_keys():
    m = meta_model("spikformer-cifar")
    assert n_params(m) == 9_330_874
    assert len(m.state_dict()) == 216


@pytest.mark.parametrize(
    ("embed_dim", "expected"), [(512, 29_705_768), (768, 66_363_208), (384, 16_828_312)]
)
def test_imagenet_depth8_has_official_parameter_count(embed_dim, expected):
    m = meta_model("spikformer-imagenet", embed_dim=embed_dim)
    assert n_params(m) == expected
    assert len(m.state_dict()) == 376


def test_imagenet_10_512_parameter_count():
    assert n_params(meta_model("spikformer-imagenet", depth=10)) == 36_025_896


@pytest.mark.parametrize(
    ("embed_dim", "depth", "millions"),
    [(384, 8, 16.82), (512, 6, 23.37), (512, 8, 29.69), (512, 10, 36.01), (768, 8, 66.34)],
)
def test_sdt_parameter_counts_match_published_sizes(embed_dim, depth, millions):
    m = meta_model("sdt", embed_dim=embed_dim, depth=depth)
    assert round(n_params(m) / 1e6, 2) == millions


def test_cifar_state_dict_names_and_shapes_are_official():
    sd = meta_model("spikformer-cifar").state_dict()
    expected = {
        "patch_embed.proj_conv.weight": (48, 3, 3, 3),
        "patch_embed.proj_conv1.weight": (96, 48, 3, 3),
        "patch_embed.proj_conv2.weight": (192, 96, 3, 3),
        "patch_embed.proj_conv3.weight": (384, 192, 3, 3),
        "patch_embed.rpe_conv.weight": (384, 384, 3, 3),
        "patch_embed.rpe_bn.num_batches_tracked": (),
        "block.0.norm1.weight": (384,),
        "block.0.attn.q_linear.weight": (384, 384),
        "block.0.attn.q_linear.bias": (384,),
        "block.0.attn.k_bn.running_var": (384,),
        "block.0.attn.proj_linear.bias": (384,),
        "block.3.norm2.bias": (384,),
        "block.0.mlp.fc1_linear.weight": (1536, 384),
        "block.0.mlp.fc1_bn.weight": (1536,),
        "block.0.mlp.fc2_linear.weight": (384, 1536),
        "head.weight": (10, 384),
        "head.bias": (10,),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert not any("lif" in k or "core" in k for k in sd)


def test_imagenet_state_dict_names_and_shapes_are_official():
    sd = meta_model("spikformer-imagenet").state_dict()
    assert tuple(sd["block.7.attn.q_conv.weight"].shape) == (512, 512, 1)
    assert "block.0.attn.q_conv.bias" not in sd
    assert tuple(sd["block.0.attn.proj_conv.bias"].shape) == (512,)
    assert tuple(sd["block.0.mlp.fc1_conv.weight"].shape) == (2048, 512, 1, 1)
    assert tuple(sd["block.0.mlp.fc2_bn.running_mean"].shape) == (512,)
    assert tuple(sd["head.weight"].shape) == (1000, 512)


def test_sdt_state_dict_names_are_official():
    sd = meta_model("sdt").state_dict()
    assert tuple(sd["block.0.attn.talking_heads.weight"].shape) == (8, 8, 1)
    assert tuple(sd["block.0.attn.q_conv.weight"].shape) == (512, 512, 1, 1)
    assert tuple(sd["block.0.attn.proj_conv.bias"].shape) == (512,)
    assert tuple(sd["block.0.mlp.fc1_conv.weight"].shape) == (2048, 512, 1, 1)
    assert "patch_embed.rpe_bn.weight" in sd
    assert not any(".norm" in k for k in sd)


# --- shapes for every layout x attention ----------------------------------------------------

LAYOUTS = {
    "spikformer-cifar": dict(img_size=16),
    "spikformer-imagenet": dict(img_size=32),
    "sdt": dict(img_size=32),
}


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("arch", sorted(LAYOUTS))
def test_forward_maps_images_to_logits_for_every_layout_and_attention(arch, attention):
    torch.manual_seed(0)
    cfg = tiny_config(arch, num_heads=4, num_classes=7, attention=attention, **LAYOUTS[arch])
    model = build_model(cfg).eval()
    size = LAYOUTS[arch]["img_size"]
    logits = model(torch.rand(3, 3, size, size))
    assert logits.shape == (3, 7)
    assert torch.isfinite(logits).all()
    has_attn_lif = any(n.endswith("attn.attn_lif") for n, _ in model.named_modules())
    assert has_attn_lif == (attention != "sdsa")


def test_images_must_be_4d():
    model = build_model(default_config("spikformer-cifar", embed_dim=16, depth=1, num_heads=2))
    with pytest.raises(SpikeportError, match=r"\[B, C, H, W\]"):
        model(torch.rand(3, 32, 32))


def test_unknown_arch_and_attention_are_rejected_by_name():
    with pytest.raises(UnsupportedError, match="spikformer-cifar"):
        default_config("vit")
    with pytest.raises(UnsupportedError, match="axnor"):
        build_model(default_config("spikformer-cifar", attention="softmax"))


def test_heads_must_divide_width():
    with pytest.raises(SpikeportError, match="num_heads"):
        build_model(default_config("spikformer-cifar", embed_dim=48, num_heads=5))


# --- forward semantics vs an independent re-implementation ---------------------------------


def stem_reference(sd, x, pools, final_pool_before_lif=False):
    """SPS stages conv -> BN -> LIF -> maxpool on [T, B, C, H, W] (official order)."""
    t, b = x.shape[:2]
    for i in range(4):
        s = "" if i == 0 else str(i)
        y = bn(
            F.conv2d(x.flatten(0, 1), sd[f"patch_embed.proj_conv{s}.weight"], padding=1),
            sd,
            f"patch_embed.proj_bn{s}",
        )
        if i == 3 and final_pool_before_lif:
            if pools[i]:
                y = F.max_pool2d(y, 3, 2, 1)
            return y.reshape(t, b, *y.shape[1:])
        y = lif(y.reshape(t, b, *y.shape[1:])).flatten(0, 1)
        if pools[i]:
            y = F.max_pool2d(y, 3, 2, 1)
        x = y.reshape(t, b, *y.shape[1:])
    return x


def cifar_reference(sd, images, T, heads, depth):
    """Official CIFAR Spikformer forward, re-expressed with functional ops."""
    x = images.unsqueeze(0).repeat(T, 1, 1, 1, 1)
    x = stem_reference(sd, x, CIFAR_POOLING)
    t, b, c, hh, ww = x.shape
    r = bn(
        F.conv2d(x.flatten(0, 1), sd["patch_embed.rpe_conv.weight"], padding=1),
        sd,
        "patch_embed.rpe_bn",
    )
    x = lif(r.reshape(t, b, c, hh, ww)) + x
    x = x.flatten(-2).transpose(-1, -2)  # [T, B, N, C]
    n = hh * ww

    def lin_bn_lif(z, p, th=1.0):  # z [T, B, N, Cin]
        y = F.linear(z, sd[p + "_linear.weight"], sd[p + "_linear.bias"])
        y = bn(y.flatten(0, 1).transpose(1, 2), sd, p + "_bn").transpose(1, 2)
        return lif(y.reshape(t, b, n, -1), th)

    for i in range(depth):
        p = f"block.{i}."
        q, k, v = (
            lin_bn_lif(x, p + f"attn.{s}").reshape(t, b, n, heads, c // heads).transpose(2, 3)
            for s in "qkv"
        )
        a = (q @ k.transpose(-1, -2)) * 0.125 @ v
        a = lif(a.transpose(2, 3).reshape(t, b, n, c), 0.5)
        x = x + lin_bn_lif(a, p + "attn.proj")
        x = x + lin_bn_lif(lin_bn_lif(x, p + "mlp.fc1"), p + "mlp.fc2")
    return F.linear(x.mean(2).mean(0), sd["head.weight"], sd["head.bias"])


def sdt_reference(sd, images, T, heads, depth):
    """Official SDT forward (membrane shortcuts, SDSA) re-expressed with functional ops."""
    x = images.unsqueeze(0).repeat(T, 1, 1, 1, 1)
    x_feat = stem_reference(sd, x, (True, True, True, True), final_pool_before_lif=True)
    t, b, c, hh, ww = x_feat.shape
    r = bn(
        F.conv2d(lif(x_feat).flatten(0, 1), sd["patch_embed.rpe_conv.weight"], padding=1),
        sd,
        "patch_embed.rpe_bn",
    )
    x = r.reshape(x_feat.shape) + x_feat

    def conv_bn(z, p):  # 1x1 conv + BN2d on [T, B, C, H, W]
        w = sd[p + "_conv.weight"]
        y = F.conv2d(z.flatten(0, 1), w, sd.get(p + "_conv.bias"))
        return bn(y, sd, p + "_bn").reshape(t, b, -1, hh, ww)

    def heads_of(z):  # [T, B, C, H, W] -> [T, B, h, N, d]
        return z.flatten(3).transpose(-1, -2).reshape(t, b, hh * ww, heads, -1).transpose(2, 3)

    for i in range(depth):
        p = f"block.{i}."
        s = lif(x)
        q, k, v = (heads_of(lif(conv_bn(s, p + f"attn.{n}"))) for n in "qkv")
        kv = lif((k * v).sum(dim=-2, keepdim=True), 0.5)
        y = (q * kv).transpose(3, 4).reshape(t, b, c, hh, ww)
        x = x + conv_bn(y, p + "attn.proj")
        x = x + conv_bn(lif(conv_bn(lif(x), p + "mlp.fc1")), p + "mlp.fc2")
    z = lif(x.flatten(3).mean(3))
    return F.linear(z, sd["head.weight"], sd["head.bias"]).mean(0)


def test_cifar_forward_equals_functional_reference():
    torch.manual_seed(1)
    cfg = default_config("spikformer-cifar", embed_dim=32, depth=2, num_heads=4, T=3, img_size=16)
    model = randomise(build_model(cfg))
    images = torch.rand(4, 3, 16, 16, dtype=torch.float64) * 2
    sd = model.state_dict()
    with torch.no_grad():
        got = model(images)
        want = cifar_reference(sd, images, T=3, heads=4, depth=2)
    assert all(0 < r < 1 for r in measure_firing_rates(model, images).values())  # no dead path
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_sdt_forward_equals_functional_reference():
    torch.manual_seed(2)
    cfg = default_config("sdt", embed_dim=32, depth=2, num_heads=4, T=3, img_size=32)
    model = randomise(build_model(cfg), seed=3)
    images = torch.rand(4, 3, 32, 32, dtype=torch.float64) * 2
    with torch.no_grad():
        got = model(images)
        want = sdt_reference(model.state_dict(), images, T=3, heads=4, depth=2)
    assert all(0 < r < 1 for r in measure_firing_rates(model, images).values())
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def cifar_to_imagenet_state(sd: dict) -> dict:
    """Linear (o,i) -> Conv1d (o,i,1) / MLP Conv2d (o,i,1,1); drops the q/k/v biases."""
    out = {}
    for k, v in sd.items():
        k2 = k.replace("_linear", "_conv")
        if ".attn." in k and "_linear.weight" in k:
            v = v.unsqueeze(-1)
        elif ".mlp." in k and "_linear.weight" in k:
            v = v[:, :, None, None]
        if any(f"attn.{s}_linear.bias" in k for s in "qkv"):
            continue
        out[k2] = v
    return out


@pytest.mark.parametrize("attention", ["ssa", "axnor"])
def test_imagenet_layout_computes_the_same_function_as_cifar_layout(attention):
    """Same weights, same stem pooling: [T,B,N,C]+Linear and [T,B,C,H,W]+Conv agree."""
    torch.manual_seed(4)
    kw = dict(depth=2, num_heads=4, img_size=16, attention=attention, pool_stages=CIFAR_POOLING)
    cifar = randomise(build_model(tiny_config("spikformer-cifar", **kw)))
    for name, p in cifar.named_parameters():  # q/k/v biases do not exist in the ImageNet layout
        if any(f"attn.{s}_linear.bias" in name for s in "qkv"):
            p.data.zero_()
    imnet = build_model(tiny_config("spikformer-imagenet", **kw)).double().eval()
    imnet.load_state_dict(cifar_to_imagenet_state(cifar.state_dict()), strict=True)
    images = torch.rand(3, 3, 16, 16, dtype=torch.float64) * 2
    with torch.no_grad():
        torch.testing.assert_close(imnet(images), cifar(images), rtol=1e-9, atol=1e-9)


def test_sdt_cifar_configuration_pools_only_the_last_two_stages():
    """SDT's CIFAR configs use pooling_stat "0011": 32x32 -> 8x8 tokens."""
    cfg = default_config(
        "sdt",
        embed_dim=64,
        depth=2,
        num_heads=8,
        num_classes=10,
        img_size=32,
        pool_stages=(False, False, True, True),
    )
    model = build_model(cfg).eval()
    assert model.grid == (8, 8)
    assert [n for n, _ in model.patch_embed.named_children() if "pool" in n] == [
        "maxpool2",
        "maxpool3",
    ]
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_pool_stages_needs_four_entries():
    with pytest.raises(SpikeportError, match="pool_stages needs 4"):
        build_model(default_config("spikformer-cifar", embed_dim=32, pool_stages=(True,)))
