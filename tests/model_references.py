"""Helpers for the model tests: functional reference pieces written from the official code's
description (SpikingJelly LIF, eval BatchNorm), randomised weights, official checkpoint files."""

from __future__ import annotations

import argparse
from typing import Any

import torch

from spikeport.models.registry import ModelConfig, build_model, default_config

TINY_SHAPE = dict(embed_dim=32, depth=1, num_heads=2, num_classes=10, img_size=32, T=2)
"""A model small enough to build, run and convert in a test in well under a second."""


def spikes(shape: tuple[int, ...], p: float, seed: int) -> torch.Tensor:
    """Seeded Bernoulli(p) spikes (float 0/1) of ``shape``."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=gen) < p).float()


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def tiny_config(arch: str, **overrides: Any) -> ModelConfig:
    """``arch``'s config at ``TINY_SHAPE``, with ``overrides`` (the arch's defaults elsewhere)."""
    return default_config(arch, **{**TINY_SHAPE, **overrides})


def meta_model(arch: str, **kw) -> torch.nn.Module:
    """The model built on the meta device (no memory; for counts, names and shapes)."""
    with torch.device("meta"):
        return build_model(default_config(arch, **kw))


def lif(x: torch.Tensor, v_th: float = 1.0) -> torch.Tensor:
    """SpikingJelly LIF, tau 2, decay_input, hard reset 0, over dim 0 (written from the notes)."""
    v = torch.zeros_like(x[0])
    out = []
    for xt in x:
        h = v + (xt - v) / 2.0
        s = (h >= v_th).to(x.dtype)
        v = h * (1 - s)
        out.append(s)
    return torch.stack(out)


def bn(x: torch.Tensor, sd: dict, prefix: str) -> torch.Tensor:
    """Eval-mode BatchNorm over dim 1 of an [M, C, ...] tensor."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean, var = sd[prefix + ".running_mean"].view(shape), sd[prefix + ".running_var"].view(shape)
    w, b = sd[prefix + ".weight"].view(shape), sd[prefix + ".bias"].view(shape)
    return (x - mean) / torch.sqrt(var + 1e-5) * w + b


def randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random BN statistics/affines (so BN is not the identity), in float64, eval mode."""
    g = torch.Generator().manual_seed(seed)
    model = model.double()
    for mod in model.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            r = torch.rand(4, mod.num_features, generator=g, dtype=torch.float64)
            mod.running_mean.copy_((r[0] - 0.5) * 0.4)
            mod.running_var.copy_(r[1] * 0.1 + 0.05)
            mod.weight.data.copy_(r[2] * 2 + 1.0)
            mod.bias.data.copy_(r[3] * 1.5)
    return model.eval()


def trained_like(arch: str, seed: int = 0, **kw) -> torch.nn.Module:
    """A model with non-default weights and BN statistics (so a bad load would show)."""
    torch.manual_seed(seed)
    model = build_model(default_config(arch, **kw))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(torch.randn_like(buf) * 0.1)
            elif name.endswith("running_var"):
                buf.copy_(torch.rand_like(buf) * 0.5 + 0.2)
    return model.eval()


def official_checkpoint(
    model: torch.nn.Module, key: str = "state_dict", ema: torch.nn.Module | None = None
) -> dict:
    """What the official training scripts write, with optimiser state after one step.

    ``key="state_dict"``: timm's CheckpointSaver (Spikformer, SDT, QKFormer CIFAR;
    their ``train.py``), keys DataParallel-prefixed ``module.``. ``key="model"``:
    the MAE/DeiT ``misc.save_model`` format (QKFormer ImageNet, SDT-V3), keys unprefixed.
    """
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.0)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()  # zero gradients: weights unchanged, but the optimiser now holds state tensors
    opt.zero_grad(set_to_none=True)
    state = model.state_dict()
    args = argparse.Namespace(model=type(model).__name__, lr=5e-4, batch_size=128, T=4)
    if key == "model":
        return {
            "model": state,
            "optimizer": opt.state_dict(),
            "epoch": 199,
            "scaler": {},
            "args": args,
        }
    ck = {
        "epoch": 299,
        "arch": type(model).__name__,
        "state_dict": {f"module.{k}": v for k, v in state.items()},
        "optimizer": opt.state_dict(),
        "version": 2,
        "args": args,
        "amp_scaler": {"scale": 65536.0, "growth_factor": 2.0, "_growth_tracker": 12},
        "metric": 95.19,
    }
    if ema is not None:
        ck["state_dict_ema"] = ema.state_dict()
    return ck
