"""QKFormer builders: official names and parameter counts, forward semantics, the stage-3
attention swap, the official batch-coupled proj_lif quirk, and checkpoint round trips.

References, independent of the code under test:

* ``official_entries`` enumerates the state-dict keys and shapes, written here from the
  official code's structure (``zhouchenlin2096/QKFormer`` ``imagenet/qkformer.py`` and
  ``cifar10/model.py``, read through the code index). Parameter counts are its sums.
* Published sizes: QKFormer README / paper Table 2 (ImageNet): HST-10-384 16.47 M,
  HST-10-512 29.08 M, HST-10-768 64.96 M; paper Table 3 (CIFAR): HST-4-384 6.74 M. The paper
  gives one count for CIFAR-10 and CIFAR-100; the official structure gives 6.74 M with the
  100-class head and 6.71 M with the 10-class head (the head differs by 90 x 385 = 34,650).
* ``qkformer_reference`` re-expresses the official forward with functional ops.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from model_references import (
    bn,
    lif,
    meta_model,
    n_params,
    official_checkpoint,
    randomise,
    trained_like,
)

from spikeport.errors import CheckpointError, SpikeportError, UnsupportedError
from spikeport.models.attention import AXnorCore, LRFDynCore, LRFSSACore, SSACore
from spikeport.models.checkpoint import from_checkpoint
from spikeport.models.firing import measure_firing_rates
from spikeport.models.qkformer import TokenQKAttention
from spikeport.models.registry import build_model, default_config

# --- the official structure, enumerated --------------------------------------------------


def _conv(p: str, cin: int, cout: int, k: int = 1, bias: bool = False, dims: int = 2):
    yield f"{p}.weight", (cout, cin) + (k,) * dims
    if bias:
        yield f"{p}.bias", (cout,)


def _bn(p: str, c: int):
    for n in ("weight", "bias", "running_mean", "running_var"):
        yield f"{p}.{n}", (c,)
    yield f"{p}.num_batches_tracked", ()


def _unit(p: str, cin: int, cout: int, k: int = 3):
    yield from _conv(f"{p}_conv", cin, cout, k)
    yield from _bn(f"{p}_bn", cout)


def _mlp(p: str, w: int, names: tuple[str, str]):
    for name, (cin, cout) in zip(names, ((w, 4 * w), (4 * w, w)), strict=True):
        yield from _conv(f"{p}.{name}_conv", cin, cout, 1, bias=True)
        yield from _bn(f"{p}.{name}_bn", cout)


def _attention(p: str, w: int, qkv: str):
    for n in qkv:
        yield from _conv(f"{p}.{n}_conv", w, w, 1, dims=1)
        yield from _bn(f"{p}.{n}_bn", w)
    yield from _conv(f"{p}.proj_conv", w, w, 1, bias=True, dims=1)
    yield from _bn(f"{p}.proj_bn", w)


def official_entries(embed_dim: int, depth: int, classes: int, imagenet: bool) -> dict:
    """Key -> shape of the official model's state dict."""
    w1, w2, w3 = embed_dim // 4, embed_dim // 2, embed_dim
    names = ("fc1", "fc2") if imagenet else ("mlp1", "mlp2")
    blocks = (1, 2, depth - 3) if imagenet else (1, 1, depth - 2)
    out = []
    out += _unit("patch_embed1.proj", 3, w1 // 2)
    out += _unit("patch_embed1.proj1", w1 // 2, w1)
    if imagenet:
        out += _unit("patch_embed1.proj2", w1, w1)
    out += _unit("patch_embed1.proj_res", w1 // 2, w1, k=1)
    for i, w in ((2, w2), (3, w3)):
        out += _unit(f"patch_embed{i}.proj3", w // 2, w)
        out += _unit(f"patch_embed{i}.proj4", w, w)
        out += _unit(f"patch_embed{i}.proj_res", w // 2, w, k=1)
    for stage, (w, n) in enumerate(zip((w1, w2, w3), blocks, strict=True), start=1):
        for j in range(n):
            p = f"stage{stage}.{j}"
            if stage < 3:
                out += _attention(f"{p}.tssa", w, "qk")
            else:
                out += _attention(f"{p}.{'attn' if imagenet else 'ssa'}", w, "qkv")
            out += _mlp(f"{p}.mlp", w, names)
    out += _conv("head", w3, classes, bias=True, dims=0)
    return dict(out)


def official_parameter_count(entries: dict) -> int:
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    return sum(math.prod(s) for k, s in entries.items() if not k.endswith(buffers))


def shapes(model: torch.nn.Module) -> dict:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    ("embed_dim", "heads", "millions"), [(384, 6, 16.47), (512, 8, 29.08), (768, 12, 64.96)]
)
def test_imagenet_hst10_has_official_keys_and_published_parameter_count(embed_dim, heads, millions):
    m = meta_model("qkformer-imagenet", embed_dim=embed_dim, num_heads=heads)
    want = official_entries(embed_dim, 10, 1000, imagenet=True)
    assert shapes(m) == want
    assert n_params(m) == official_parameter_count(want)
    assert round(n_params(m) / 1e6, 2) == millions


@pytest.mark.parametrize(("embed_dim", "heads"), [(384, 6), (512, 8), (768, 12)])
def test_imagenet_heads_default_to_the_official_factories(embed_dim, heads):
    """QKFormer_10_384 / 512 / 768 use 6 / 8 / 12 heads; heads change no parameter shape, so
    a checkpoint would load into a wrong head count without complaint."""
    assert default_config("qkformer-imagenet", embed_dim=embed_dim).num_heads == heads
    assert default_config("qkformer-imagenet", embed_dim=512, num_heads=4).num_heads == 4


@pytest.mark.parametrize(("classes", "millions"), [(100, 6.74), (10, 6.71)])
def test_cifar_hst4_384_has_official_keys_and_published_parameter_count(classes, millions):
    m = meta_model("qkformer-cifar", num_classes=classes)
    want = official_entries(384, 4, classes, imagenet=False)
    assert shapes(m) == want
    assert n_params(m) == official_parameter_count(want)
    assert round(n_params(m) / 1e6, 2) == millions


def test_state_dict_keys_come_in_the_official_order():
    """Official registration: patch_embed1..3, then stage1..3, then head."""
    tops = list(dict.fromkeys(k.split(".")[0] for k in meta_model("qkformer-cifar").state_dict()))
    assert tops == [f"patch_embed{i}" for i in (1, 2, 3)] + [f"stage{i}" for i in (1, 2, 3)] + [
        "head"
    ]


# --- forward semantics vs a functional re-implementation -------------------------------

IMAGENET_TINY = dict(embed_dim=32, depth=4, num_heads=4, num_classes=7, T=3, img_size=32)
CIFAR_TINY = dict(embed_dim=32, depth=3, num_heads=4, num_classes=7, T=3, img_size=16)


def cbn(sd, p, x, *, stride=1, padding=0, dims=2, pool=False):
    """Official conv -> BN [-> maxpool 3/2/1] on ``[T, B, C, ...]``, per step."""
    t, b = x.shape[:2]
    conv = F.conv2d if dims == 2 else F.conv1d
    y = conv(x.flatten(0, 1), sd[p + "_conv.weight"], sd.get(p + "_conv.bias"), stride, padding)
    y = bn(y, sd, p + "_bn")
    if pool:
        y = F.max_pool2d(y, 3, 2, 1)
    return y.reshape(t, b, *y.shape[1:])


def qkformer_reference(sd, images, *, T, heads, imagenet, blocks, coupled=False):
    """The official forward (imagenet/qkformer.py, cifar10/model.py) with functional ops."""
    x = images.unsqueeze(0).repeat(T, 1, 1, 1, 1)
    x1 = lif(cbn(sd, "patch_embed1.proj", x, padding=1, pool=imagenet))
    x = lif(cbn(sd, "patch_embed1.proj1", x1, padding=1, pool=imagenet))
    if imagenet:
        x = lif(cbn(sd, "patch_embed1.proj2", x, padding=1))
    x = x + lif(cbn(sd, "patch_embed1.proj_res", x1, stride=2 if imagenet else 1))
    mlp = ("fc1", "fc2") if imagenet else ("mlp1", "mlp2")
    for stage in (1, 2, 3):
        if stage > 1:
            e = f"patch_embed{stage}"
            y = lif(cbn(sd, f"{e}.proj3", x, padding=1, pool=imagenet))
            y = lif(cbn(sd, f"{e}.proj4", y, padding=1, pool=not imagenet))
            x = y + lif(cbn(sd, f"{e}.proj_res", x, stride=2))
        t, b, c, hh, ww = x.shape
        n, d = hh * ww, c // heads
        for j in range(blocks[stage - 1]):
            p = f"stage{stage}.{j}."
            tok = x.flatten(3)
            if stage < 3:
                q = lif(cbn(sd, p + "tssa.q", tok, dims=1)).reshape(t, b, heads, d, n)
                k = lif(cbn(sd, p + "tssa.k", tok, dims=1)).reshape(t, b, heads, d, n)
                y = (lif(q.sum(3, keepdim=True), 0.5) * k).reshape(t, b, c, n)
                y = lif(cbn(sd, p + "tssa.proj", y, dims=1))
            else:
                a = p + ("attn." if imagenet else "ssa.")
                q, k, v = (
                    lif(cbn(sd, a + s, tok, dims=1))
                    .transpose(-1, -2)
                    .reshape(t, b, n, heads, d)
                    .permute(0, 1, 3, 2, 4)
                    for s in "qkv"
                )
                y = (q @ (k.transpose(-2, -1) @ v)) * 0.125
                y = lif(y.transpose(3, 4).reshape(t, b, c, n), 0.5)
                y = cbn(sd, a + "proj", y, dims=1)
                y = lif(y.flatten(0, 1)).reshape(y.shape) if coupled else lif(y)
            x = x + y.reshape(t, b, c, hh, ww)
            y = lif(cbn(sd, f"{p}mlp.{mlp[0]}", x))
            x = x + lif(cbn(sd, f"{p}mlp.{mlp[1]}", y))
    return F.linear(x.flatten(3).mean(3).mean(0), sd["head.weight"], sd["head.bias"])


def reference_of(model: torch.nn.Module, images: torch.Tensor, coupled: bool = False):
    """``qkformer_reference`` with ``model``'s weights and sizes."""
    blocks = tuple(len(s) for s in (model.stage1, model.stage2, model.stage3))
    heads = model.stage1[0].tssa.num_heads
    imagenet = model.config.arch == "qkformer-imagenet"
    return qkformer_reference(
        model.state_dict(),
        images,
        T=model.T,
        heads=heads,
        imagenet=imagenet,
        blocks=blocks,
        coupled=coupled,
    )


def _randomised(arch: str, seed: int, **kw) -> torch.nn.Module:
    torch.manual_seed(seed)
    tiny = IMAGENET_TINY if arch == "qkformer-imagenet" else CIFAR_TINY
    return randomise(build_model(default_config(arch, **{**tiny, **kw})), seed=seed)


@pytest.mark.parametrize("arch", ["qkformer-imagenet", "qkformer-cifar"])
def test_forward_equals_functional_reference(arch):
    model = _randomised(arch, 5)
    tiny = IMAGENET_TINY if arch == "qkformer-imagenet" else CIFAR_TINY
    images = torch.rand(4, 3, tiny["img_size"], tiny["img_size"], dtype=torch.float64) * 2
    with torch.no_grad():
        got = model(images)
        want = reference_of(model, images)
    rates = measure_firing_rates(model, images)
    assert all(0 < r < 1 for r in rates.values()), rates  # no dead or saturated path
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_images_must_be_4d():
    model = build_model(default_config("qkformer-cifar", **CIFAR_TINY))
    with pytest.raises(SpikeportError, match=r"\[B, C, H, W\]"):
        model(torch.rand(3, 16, 16))


def test_too_few_blocks_and_pool_stages_are_refused_by_name():
    with pytest.raises(SpikeportError, match="depth must be > 3"):
        build_model(default_config("qkformer-imagenet", **{**IMAGENET_TINY, "depth": 3}))
    with pytest.raises(UnsupportedError, match="pool_stages"):
        build_model(default_config("qkformer-cifar", pool_stages=(True,) * 4, **CIFAR_TINY))
    with pytest.raises(UnsupportedError, match="stage_widths"):
        build_model(default_config("qkformer-cifar", arch_options={"stage_widths": [8]}))


# --- the official proj_lif quirk ----------------------------------------------------------


def test_proj_lif_runs_per_sample_unless_the_official_quirk_is_asked_for():
    """Default: sample 0's logits do not depend on its batch mates. With
    ``batch_coupled_proj_lif`` they do, exactly as the official code's LIF over T*B."""
    images = torch.rand(4, 3, 16, 16, dtype=torch.float64) * 2
    plain = _randomised("qkformer-cifar", 7)
    coupled = _randomised("qkformer-cifar", 7, arch_options={"batch_coupled_proj_lif": True})
    with torch.no_grad():  # (a batch and a single sample may round differently: 1e-15)
        torch.testing.assert_close(plain(images)[:1], plain(images[:1]), rtol=0, atol=1e-12)
        got = coupled(images)
        want = reference_of(coupled, images, coupled=True)
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
        assert (got - plain(images)).abs().max() > 1e-3
        assert (coupled(images[1:2])[0] - got[1]).abs().max() > 1e-3


# --- stage-3 attention swap (LRF-Dyn paper: cores replace QKFormer's SSA) -------------------


@pytest.mark.parametrize(
    ("attention", "cls"),
    [("ssa", SSACore), ("axnor", AXnorCore), ("lrf_ssa", LRFSSACore), ("lrf_dyn", LRFDynCore)],
)
@pytest.mark.parametrize("arch", ["qkformer-imagenet", "qkformer-cifar"])
def test_attention_variant_replaces_only_the_stage3_core(arch, attention, cls):
    tiny = IMAGENET_TINY if arch == "qkformer-imagenet" else CIFAR_TINY
    model = build_model(default_config(arch, attention=attention, **tiny)).eval()
    cores = {n: type(m) for n, m in model.named_modules() if n.endswith(".core")}
    attn = "attn" if arch == "qkformer-imagenet" else "ssa"
    assert cores == {f"stage3.{j}.{attn}.core": cls for j in range(len(model.stage3))}
    assert all(isinstance(b.tssa, TokenQKAttention) for b in (*model.stage1, *model.stage2))
    baseline = meta_model(arch, **tiny).state_dict()
    extra = {k for k in model.state_dict() if ".core." in k}
    assert set(model.state_dict()) - extra == set(baseline)
    assert all(k.startswith("stage3.") for k in extra)
    logits = model(torch.rand(2, 3, tiny["img_size"], tiny["img_size"]))
    assert logits.shape == (2, 7) and torch.isfinite(logits).all()


@pytest.mark.parametrize("arch", ["qkformer-imagenet", "qkformer-cifar"])
def test_lrf_dyn_swaps_into_ssa_trained_weights_with_fresh_attention(tmp_path, arch):
    tiny = IMAGENET_TINY if arch == "qkformer-imagenet" else CIFAR_TINY
    ssa = trained_like(arch, **tiny)
    path = tmp_path / "ssa.pth.tar"
    torch.save(official_checkpoint(ssa), path)
    with pytest.raises(CheckpointError, match=r"stage3\.0\.\w+\.core\..*fresh_attention=True"):
        from_checkpoint(path, arch=arch, attention="lrf_dyn", **tiny)
    dyn = from_checkpoint(path, arch=arch, attention="lrf_dyn", fresh_attention=True, **tiny)
    for k, v in ssa.state_dict().items():
        assert torch.equal(dyn.state_dict()[k], v), k


# --- checkpoint round trips -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "key", "name"),
    [
        ("qkformer-imagenet", "model", "checkpoint-299.pth"),  # MAE-style misc.save_model
        ("qkformer-cifar", "state_dict", "model_best.pth.tar"),  # timm CheckpointSaver
    ],
)
def test_official_checkpoint_round_trip_gives_identical_outputs(tmp_path, arch, key, name):
    tiny = IMAGENET_TINY if arch == "qkformer-imagenet" else CIFAR_TINY
    model = trained_like(arch, **tiny)
    path = tmp_path / name
    torch.save(official_checkpoint(model, key), path)
    loaded = from_checkpoint(path, arch=arch, **tiny)
    assert not loaded.training
    images = torch.rand(3, 3, tiny["img_size"], tiny["img_size"])
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), model(images), rtol=0, atol=0)


def test_cifar_checkpoint_as_imagenet_arch_names_the_wrong_keys(tmp_path):
    tiny = {**CIFAR_TINY, "depth": 4}
    path = tmp_path / "cifar.pth.tar"
    torch.save(official_checkpoint(trained_like("qkformer-cifar", **tiny)), path)
    with pytest.raises(CheckpointError, match="qkformer-imagenet") as err:
        from_checkpoint(path, arch="qkformer-imagenet", **tiny)
    msg = str(err.value)
    assert "missing" in msg and "patch_embed1.proj2_conv.weight" in msg
    assert "unexpected" in msg and "stage1.0.mlp.mlp1_conv.weight" in msg
