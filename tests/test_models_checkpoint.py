"""Checkpoint import: timm-style .pth.tar round trips, safe loading, refusals, model.pt."""

from __future__ import annotations

import fractions
import os
import pickle

import pytest
import torch
from model_references import official_checkpoint
from model_references import trained_like as _trained_like

from spikeport.errors import CheckpointError, UnsupportedError
from spikeport.models.checkpoint import from_checkpoint, save_model

TINY = dict(embed_dim=32, depth=2, num_heads=4, num_classes=10, T=2)


def trained_like(arch: str, seed: int = 0, **kw) -> torch.nn.Module:
    return _trained_like(arch, seed, **{**TINY, **kw})


def timm_checkpoint(model: torch.nn.Module, ema: torch.nn.Module | None = None) -> dict:
    """What timm's CheckpointSaver writes (the official train.py), DataParallel-prefixed."""
    return official_checkpoint(model, "state_dict", ema=ema)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_timm_checkpoint_needs_the_namespace_allowlist(tmp_path):
    """Guards the test below: the file really holds an argparse.Namespace."""
    path = tmp_path / "checkpoint-299.pth.tar"
    torch.save(timm_checkpoint(trained_like("spikformer-cifar")), path)
    with pytest.raises(pickle.UnpicklingError, match="argparse.Namespace"):
        torch.load(path, weights_only=True)


@pytest.mark.parametrize("arch", ["spikformer-cifar", "spikformer-imagenet", "sdt"])
def test_timm_checkpoint_round_trip_gives_identical_outputs(tmp_path, images, arch):
    model = trained_like(arch, img_size=32)
    path = tmp_path / "model_best.pth.tar"
    torch.save(timm_checkpoint(model), path)
    loaded = from_checkpoint(path, arch=arch, img_size=32, **TINY)
    assert not loaded.training
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), model(images), rtol=0, atol=0)


def test_ema_weights_are_loaded_on_request(tmp_path, images):
    model, ema = trained_like("spikformer-cifar", 0), trained_like("spikformer-cifar", 1)
    path = tmp_path / "last.pth.tar"
    torch.save(timm_checkpoint(model, ema=ema), path)
    loaded = from_checkpoint(path, arch="spikformer-cifar", use_ema=True, **TINY)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), ema(images), rtol=0, atol=0)


class Payload:
    """Unpickling this runs a shell command (what a malicious checkpoint does)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_with_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth.tar"
    ck = timm_checkpoint(trained_like("spikformer-cifar"))
    ck["args"] = Payload(str(marker))
    torch.save(ck, path)
    with pytest.raises(CheckpointError, match=r"trust=True.*--trust-checkpoint") as err:
        from_checkpoint(path, arch="spikformer-cifar", **TINY)
    assert "evil.pth.tar" in str(err.value)
    assert "system" in str(err.value)  # names what it refused to run
    assert not marker.exists()


def test_arbitrary_class_needs_explicit_trust(tmp_path, images):
    model = trained_like("spikformer-cifar")
    ck = timm_checkpoint(model)
    ck["args"].ratio = fractions.Fraction(1, 3)  # harmless but not allowlisted
    path = tmp_path / "ck.pth.tar"
    torch.save(ck, path)
    with pytest.raises(CheckpointError, match="fractions.Fraction"):
        from_checkpoint(path, arch="spikformer-cifar", **TINY)
    loaded = from_checkpoint(path, arch="spikformer-cifar", trust=True, **TINY)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), model(images), rtol=0, atol=0)


def test_wrong_arch_names_the_arch_and_the_keys(tmp_path):
    path = tmp_path / "cifar.pth.tar"
    torch.save(timm_checkpoint(trained_like("spikformer-cifar")), path)
    with pytest.raises(CheckpointError, match="spikformer-imagenet") as err:
        from_checkpoint(path, arch="spikformer-imagenet", img_size=32, **TINY)
    msg = str(err.value)
    assert "missing" in msg and "block.0.attn.q_conv.weight" in msg
    assert "unexpected" in msg and "block.0.attn.q_linear.weight" in msg
    assert "more)" in msg and "\n" not in msg  # first few keys only, one line


def test_wrong_dimensions_report_shape_mismatch(tmp_path):
    path = tmp_path / "cifar.pth.tar"
    torch.save(timm_checkpoint(trained_like("spikformer-cifar")), path)
    with pytest.raises(CheckpointError, match=r"shape mismatch.*head.weight \(10, 32\)"):
        from_checkpoint(path, arch="spikformer-cifar", **{**TINY, "num_classes": 100})


def test_unknown_arch_is_rejected(tmp_path):
    path = tmp_path / "cifar.pth.tar"
    torch.save(timm_checkpoint(trained_like("spikformer-cifar")), path)
    with pytest.raises(UnsupportedError, match="unknown arch 'vit'"):
        from_checkpoint(path, arch="vit")


def test_missing_and_unreadable_files_are_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        from_checkpoint(tmp_path / "nope.pth")
    bad = tmp_path / "garbage.pth"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        from_checkpoint(bad)


def test_bare_state_dict_loads(tmp_path, images):
    model = trained_like("spikformer-cifar")
    path = tmp_path / "weights.pth"
    torch.save(model.state_dict(), path)
    loaded = from_checkpoint(path, **TINY)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), model(images), rtol=0, atol=0)


def test_spikeport_model_pt_rebuilds_without_flags(tmp_path, images):
    model = trained_like("spikformer-cifar", attention="axnor")
    path = save_model(model, tmp_path / "model.pt")
    plain = torch.load(path, weights_only=True)  # plain data: no allowlist needed
    assert plain["config"]["attention"] == "axnor"
    loaded = from_checkpoint(path)
    assert loaded.config == model.config
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), model(images), rtol=0, atol=0)


def test_model_pt_rejects_conflicting_arguments(tmp_path):
    path = save_model(trained_like("spikformer-cifar"), tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match=r"embed_dim=64 \(file has 32\)"):
        from_checkpoint(path, embed_dim=64)
    assert from_checkpoint(path, embed_dim=32, arch="spikformer-cifar").config.embed_dim == 32


def test_swapping_axnor_into_ssa_weights_needs_fresh_attention(tmp_path, images):
    ssa = trained_like("spikformer-cifar")
    path = tmp_path / "ssa.pth.tar"
    torch.save(timm_checkpoint(ssa), path)
    with pytest.raises(CheckpointError, match=r"a_logit.*fresh_attention=True"):
        from_checkpoint(path, attention="axnor", **TINY)
    axnor = from_checkpoint(path, attention="axnor", fresh_attention=True, **TINY)
    assert axnor.block[0].attn.core.a.item() == pytest.approx(0.1)  # a_init
    shared = {k: v for k, v in axnor.state_dict().items() if ".core." not in k}
    for k, v in shared.items():
        assert torch.equal(v, ssa.state_dict()[k]), k
