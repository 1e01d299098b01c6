"""Spike-driven Transformer V3 (Efficient Spiking Transformer): official names and parameter
counts, forward semantics, integer (I-LIF) spikes and their binary virtual-timestep
expansion, checkpoint round trips.

References, independent of the code under test:

* ``official_entries`` enumerates the state-dict keys and shapes, written here from the
  official ``SDT_V3/Classification/Model_Base/models.py`` (``Spiking_vit_MetaFormer_Spike_
  SepConv``), read in the fork ``prdvanderwal/Spike-Driven-Transformer-V3`` (the BICLab
  repository itself is not in the code index). Parameter counts are its sums.
* Published sizes: LRF-Dyn paper (ICLR 2026 submission) Table 1 lists SDT-V3
  Efficient-Transformer-S at 5.11 M and -L at 18.99 M; the official factories' comments say
  "#5.1M", "#10.0M" (M) and "#19.0M" (L, the paper abstract's 19M). The exact counts of the
  official structure are 5,105,608 / 10,023,112 / 18,987,504, which round to all of these.
* ``sdt_v3_reference`` re-expresses the official forward with functional ops; the I-LIF
  expected values are written out by hand.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from model_references import bn, meta_model, n_params, official_checkpoint, randomise

from spikeport.errors import CheckpointError, SpikeportError, UnsupportedError
from spikeport.models.attention.ssa import ssa_product
from spikeport.models.checkpoint import from_checkpoint, save_model
from spikeport.models.firing import measure_firing_rates
from spikeport.models.integer_neuron import (
    IntegerLIF,
    accumulate_virtual_steps,
    expand_integer_spikes,
)
from spikeport.models.registry import build_model, default_config

# --- the official structure, enumerated --------------------------------------------------


def _w(p: str, shape: tuple, bias: int | None = None):
    yield f"{p}.weight", shape
    if bias is not None:
        yield f"{p}.bias", (bias,)


def _bn(p: str, c: int):
    for n in ("weight", "bias", "running_mean", "running_var"):
        yield f"{p}.{n}", (c,)
    yield f"{p}.num_batches_tracked", ()


def _seq(p: str, cin: int, cout: int, k: int = 1, groups: int = 1):
    """nn.Sequential(Conv2d(bias=False), BatchNorm2d)."""
    yield from _w(f"{p}.0", (cout, cin // groups, k, k))
    yield from _bn(f"{p}.1", cout)


def _sepconv(p: str, dim: int, k: int):
    yield from _seq(f"{p}.pwconv1", dim, 2 * dim)
    yield from _seq(f"{p}.dwconv", 2 * dim, 2 * dim, k, groups=2 * dim)
    yield from _seq(f"{p}.pwconv2", 2 * dim, dim)


def _convblock(p: str, dim: int):
    yield from _sepconv(f"{p}.Conv", dim, 7)
    yield from _w(f"{p}.conv1", (4 * dim, dim, 3, 3))
    yield from _bn(f"{p}.bn1", 4 * dim)
    yield from _w(f"{p}.conv2", (dim, 4 * dim, 3, 3))
    yield from _bn(f"{p}.bn2", dim)


def _block(p: str, dim: int):
    yield from _sepconv(f"{p}.conv", dim, 3)
    yield from _seq(f"{p}.attn.q_conv", dim, dim)
    yield from _seq(f"{p}.attn.k_conv", dim, dim)
    yield from _seq(f"{p}.attn.v_conv", dim, 4 * dim)
    yield from _seq(f"{p}.attn.proj_conv", 4 * dim, dim)
    yield from _w(f"{p}.mlp.fc1_conv", (4 * dim, dim, 1), bias=4 * dim)
    yield from _bn(f"{p}.mlp.fc1_bn", 4 * dim)
    yield from _w(f"{p}.mlp.fc2_conv", (dim, 4 * dim, 1), bias=dim)
    yield from _bn(f"{p}.mlp.fc2_bn", dim)


def _down(p: str, cin: int, cout: int, k: int):
    yield from _w(f"{p}.encode_conv", (cout, cin, k, k), bias=cout)
    yield from _bn(f"{p}.encode_bn", cout)


def official_entries(widths: tuple[int, int, int, int], classes: int, n3: int = 6) -> dict:
    w0, w1, w2, w3 = widths
    out = [
        *_down("downsample1_1", 3, w0 // 2, 7),
        *_convblock("ConvBlock1_1.0", w0 // 2),
        *_down("downsample1_2", w0 // 2, w0, 3),
        *_convblock("ConvBlock1_2.0", w0),
        *_down("downsample2", w0, w1, 3),
        *_convblock("ConvBlock2_1.0", w1),
        *_convblock("ConvBlock2_2.0", w1),
        *_down("downsample3", w1, w2, 3),
    ]
    for j in range(n3):
        out += _block(f"block3.{j}", w2)
    out += _down("downsample4", w2, w3, 3)
    for j in range(2):
        out += _block(f"block4.{j}", w3)
    out += _w("head", (classes, w3), bias=classes)
    return dict(out)


def official_parameter_count(entries: dict) -> int:
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    return sum(math.prod(s) for k, s in entries.items() if not k.endswith(buffers))


@pytest.mark.parametrize(
    ("embed_dim", "widths", "millions"),
    [
        (192, (32, 64, 128, 192), 5.11),  # S
        (240, (48, 96, 192, 240), 10.02),  # M ("#10.0M")
        (360, (64, 128, 256, 360), 18.99),  # L ("#19.0M")
    ],
)
def test_official_sizes_have_official_keys_and_published_parameter_counts(
    embed_dim, widths, millions
):
    m = meta_model("sdt-v3", embed_dim=embed_dim)
    want = official_entries(widths, 1000)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == want
    assert n_params(m) == official_parameter_count(want)
    assert round(n_params(m) / 1e6, 2) == millions


def test_default_is_the_s_model_at_one_timestep():
    cfg = default_config("sdt-v3")
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.T, cfg.img_size) == (192, 8, 8, 1, 224)
    assert round(n_params(meta_model("sdt-v3")) / 1e6, 1) == 5.1


# --- integer spikes -----------------------------------------------------------------------


def test_integer_lif_rounds_clamps_and_normalises():
    x = torch.tensor([-1.0, 0.49, 0.5, 0.51, 1.5, 2.5, 3.7, 4.4, 9.0], requires_grad=True)
    ints = [0, 0, 0, 1, 2, 2, 4, 4, 4]  # round half to even, clamp to 0..4
    out = IntegerLIF()(x)
    assert out.tolist() == [i / 4 for i in ints]
    out.sum().backward()
    assert x.grad.tolist() == [0, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0, 0]  # straight through
    assert IntegerLIF(norm=1)(x).tolist() == ints


def test_expansion_is_a_binary_train_summing_to_the_integer():
    s = torch.tensor([[0.0, 3.0], [4.0, 1.0]])
    b = expand_integer_spikes(s, 4)
    want = [
        [[0, 1], [1, 1]],
        [[0, 1], [1, 0]],
        [[0, 1], [1, 0]],
        [[0, 0], [1, 0]],
    ]
    assert b.tolist() == want
    with pytest.raises(SpikeportError, match="integers in 0..4"):
        expand_integer_spikes(torch.tensor([0.5]), 4)
    with pytest.raises(SpikeportError, match="integers in 0..4"):
        expand_integer_spikes(torch.tensor([5.0]), 4)


TINY = dict(
    embed_dim=32,
    depth=3,
    num_heads=2,
    num_classes=7,
    img_size=32,
    arch_options={"stage_widths": [8, 16, 16, 32]},
)


def dyadic(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Conv / Linear weights and biases k / 64 (|k| <= 16): sums of their products with
    spikes k / 4 are exact in float64, so equalities below are bit-exact."""
    g = torch.Generator().manual_seed(seed)
    for mod in model.modules():
        if isinstance(mod, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
            for p in mod.parameters():
                p.data.copy_(torch.randint(-16, 17, p.shape, generator=g).double() / 64)
    return model


def tiny_model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return dyadic(randomise(build_model(default_config("sdt-v3", **TINY)), seed=seed), seed)


def test_binary_expansion_gives_every_following_layer_the_integer_result():
    """Every I-LIF output that feeds a conv / linear layer: the layer run on the D = 4 binary
    virtual steps (accumulated, constant once) equals the layer on the integer spikes, bit
    for bit. Only q / k / v spikes feed no layer (they meet in the attention product)."""
    model = tiny_model(11)
    spikes, calls = {}, []
    for name, mod in model.named_modules():
        if isinstance(mod, IntegerLIF):
            mod.register_forward_hook(lambda m, i, o, n=name: spikes.__setitem__(n, (m, o)))
        elif isinstance(mod, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
            mod.register_forward_hook(lambda m, i, o: calls.append((m, i[0], o)))
    images = torch.rand(3, 3, 32, 32, dtype=torch.float64) * 3
    with torch.no_grad():
        model(images)
        fed = set()
        for name, (neuron, out) in spikes.items():
            for layer, inp, result in calls:
                if inp.data_ptr() != out.data_ptr() or inp.numel() != out.numel():
                    continue
                s = inp * neuron.norm  # the integer spikes, exact
                binary = expand_integer_spikes(s, neuron.max_value)
                assert binary.sum(0).equal(s)
                got = accumulate_virtual_steps(layer, binary, neuron.norm)
                assert torch.equal(got, result), name
                fed.add(name)
    unfed = {n for n in spikes if n not in fed}
    assert unfed == {
        f"{b}.attn.{s}_spike" for b in ("block3.0", "block4.0", "block4.1") for s in "qkv"
    }
    assert len(fed) == len(spikes) - 9 > 30


def test_binary_expansion_of_q_gives_the_attention_product_of_integer_spikes():
    g = torch.Generator().manual_seed(3)
    sq, sk, sv = (torch.randint(0, 5, (2, 2, 6, 4), generator=g).double() for _ in range(3))
    q, k, v = sq / 4, sk / 4, sv / 4
    want = ssa_product(q, k, v)
    got = accumulate_virtual_steps(lambda z: ssa_product(z, k, v), expand_integer_spikes(sq, 4), 4)
    assert torch.equal(got, want)


# --- forward semantics vs a functional re-implementation -------------------------------


def quant(x: torch.Tensor, norm: float = 4.0) -> torch.Tensor:
    return torch.round(torch.clamp(x, 0, 4)) / norm


def sdt_v3_reference(sd: dict, images: torch.Tensor, heads: int, n3: int) -> torch.Tensor:
    """The official forward (Model_Base/models.py) with functional ops, T = 1."""

    def seq(p, x, groups=1, padding=0):  # Sequential(conv, BN)
        return bn(F.conv2d(x, sd[p + ".0.weight"], None, 1, padding, 1, groups), sd, p + ".1")

    def sepconv(p, x, k):
        x = seq(p + ".pwconv1", quant(x))
        x = seq(p + ".dwconv", quant(x), groups=x.shape[1], padding=k // 2)
        return seq(p + ".pwconv2", quant(x))

    def down(p, x, stride, padding, first=False):
        x = x if first else quant(x)
        y = F.conv2d(x, sd[p + ".encode_conv.weight"], sd[p + ".encode_conv.bias"], stride, padding)
        return bn(y, sd, p + ".encode_bn")

    def convblock(p, x):
        x = sepconv(p + ".Conv", x, 7) + x
        y = bn(F.conv2d(quant(x), sd[p + ".conv1.weight"], padding=1), sd, p + ".bn1")
        return x + bn(F.conv2d(quant(y), sd[p + ".conv2.weight"], padding=1), sd, p + ".bn2")

    def block(p, x):
        x = x + sepconv(p + ".conv", x, 3)
        b, c, hh, ww = x.shape
        s = quant(x)

        def heads_of(z):
            return z.flatten(2).transpose(-1, -2).reshape(b, hh * ww, heads, -1).permute(0, 2, 1, 3)

        q, k, v = (heads_of(quant(seq(f"{p}.attn.{n}_conv", s))) for n in "qkv")
        y = (q @ k.transpose(-2, -1)) @ v * ((c // heads) ** -0.5 * 2)
        y = quant(y.transpose(2, 3).reshape(b, 4 * c, hh * ww)).reshape(b, 4 * c, hh, ww)
        x = x + seq(f"{p}.attn.proj_conv", y)
        t = x.flatten(2)
        t = bn(
            F.conv1d(quant(t), sd[p + ".mlp.fc1_conv.weight"], sd[p + ".mlp.fc1_conv.bias"]),
            sd,
            p + ".mlp.fc1_bn",
        )
        t = bn(
            F.conv1d(quant(t), sd[p + ".mlp.fc2_conv.weight"], sd[p + ".mlp.fc2_conv.bias"]),
            sd,
            p + ".mlp.fc2_bn",
        )
        return x + t.reshape(b, c, hh, ww)

    x = down("downsample1_1", images, 2, 3, first=True)
    x = convblock("ConvBlock1_1.0", x)
    x = convblock("ConvBlock1_2.0", down("downsample1_2", x, 2, 1))
    x = down("downsample2", x, 2, 1)
    x = convblock("ConvBlock2_2.0", convblock("ConvBlock2_1.0", x))
    x = down("downsample3", x, 2, 1)
    for j in range(n3):
        x = block(f"block3.{j}", x)
    x = down("downsample4", x, 1, 1)
    for j in range(2):
        x = block(f"block4.{j}", x)
    z = quant(x.flatten(2).mean(2), norm=1.0)
    return F.linear(z, sd["head.weight"], sd["head.bias"])


def test_forward_equals_functional_reference():
    torch.manual_seed(12)
    model = randomise(build_model(default_config("sdt-v3", **TINY)), seed=12)
    images = torch.rand(4, 3, 32, 32, dtype=torch.float64) * 3
    with torch.no_grad():
        got = model(images)
        want = sdt_v3_reference(model.state_dict(), images, heads=2, n3=1)
    rates = measure_firing_rates(model, images)
    assert len(rates) == sum(isinstance(m, IntegerLIF) for m in model.modules())
    assert all(0 < r < 4 for r in rates.values()), rates  # no dead or saturated neuron
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_unsupported_settings_are_refused_by_name():
    with pytest.raises(UnsupportedError, match="T must be 1"):
        build_model(default_config("sdt-v3", T=4))
    with pytest.raises(UnsupportedError, match="attention"):
        build_model(default_config("sdt-v3", attention="axnor"))
    with pytest.raises(SpikeportError, match="stage_widths"):
        build_model(default_config("sdt-v3", embed_dim=100))
    with pytest.raises(SpikeportError, match="stage_widths must be 4 widths"):
        build_model(default_config("sdt-v3", embed_dim=32, arch_options={"stage_widths": [8, 32]}))
    with pytest.raises(UnsupportedError, match="unknown arch_options.*'widths'"):
        build_model(default_config("sdt-v3", arch_options={"widths": [1, 2, 3, 4]}))


# --- checkpoints ----------------------------------------------------------------------------


def test_official_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    model = tiny_model(13).float().eval()
    path = tmp_path / "checkpoint-199.pth"
    torch.save(official_checkpoint(model, "model"), path)  # SDT-V3 misc.save_model format
    loaded = from_checkpoint(path, arch="sdt-v3", **TINY)
    images = torch.rand(3, 3, 32, 32) * 3
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), model(images), rtol=0, atol=0)


def test_checkpoint_of_other_widths_names_the_shape_mismatch(tmp_path):
    path = tmp_path / "checkpoint.pth"
    torch.save(official_checkpoint(tiny_model(13).float(), "model"), path)
    other = {**TINY, "arch_options": {"stage_widths": [8, 16, 24, 32]}}
    with pytest.raises(CheckpointError, match=r"shape mismatch.*downsample3\.encode_conv\.weight"):
        from_checkpoint(path, arch="sdt-v3", **other)


def test_model_pt_keeps_arch_options(tmp_path):
    model = tiny_model(14).float().eval()
    loaded = from_checkpoint(save_model(model, tmp_path / "model.pt"))
    assert loaded.config.arch_options == {"stage_widths": [8, 16, 16, 32]}
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), model(images), rtol=0, atol=0)
