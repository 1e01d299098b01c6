"""Architecture names -> builders, and the JSON-able :class:`ModelConfig` that rebuilds a model.

Arch names: ``spikformer-cifar``, ``spikformer-imagenet``, ``sdt``, ``qkformer-cifar``,
``qkformer-imagenet``, ``sdt-v3``. A config is everything a builder needs, so a saved
``model.pt`` (config + tensors) rebuilds without user flags. ``arch_options`` holds the few
settings only one family has (``ARCH_OPTIONS`` lists them per arch).
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from spikeport.errors import SpikeportError, UnsupportedError, first_line

ARCHS = (
    "spikformer-cifar",
    "spikformer-imagenet",
    "sdt",
    "qkformer-cifar",
    "qkformer-imagenet",
    "sdt-v3",
)

# Official defaults per arch (the official repositories' configs: CIFAR 4-384, ImageNet
# 8-512, SDT 8-512; QKFormer cifar10.yml HST-4-384 and imagenet/qkformer.py HST-10-384; SDT-V3
# Efficient_Spiking_Transformer_s, 5.1 M).
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "spikformer-cifar": dict(
        embed_dim=384, depth=4, num_heads=12, num_classes=10, img_size=32, attention="ssa"
    ),
    "spikformer-imagenet": dict(
        embed_dim=512, depth=8, num_heads=8, num_classes=1000, img_size=224, attention="ssa"
    ),
    "sdt": dict(
        embed_dim=512, depth=8, num_heads=8, num_classes=1000, img_size=224, attention="sdsa"
    ),
    "qkformer-cifar": dict(
        embed_dim=384, depth=4, num_heads=8, num_classes=10, img_size=32, attention="ssa"
    ),
    "qkformer-imagenet": dict(
        embed_dim=384, depth=10, num_heads=6, num_classes=1000, img_size=224, attention="ssa"
    ),
    "sdt-v3": dict(
        embed_dim=192, depth=8, num_heads=8, num_classes=1000, img_size=224, T=1, attention="ssa"
    ),
}

# Options (``ModelConfig.arch_options``) each arch accepts; see the model modules' docstrings.
ARCH_OPTIONS: dict[str, tuple[str, ...]] = {
    "qkformer-cifar": ("batch_coupled_proj_lif",),
    "qkformer-imagenet": ("batch_coupled_proj_lif",),
    "sdt-v3": ("stage_widths", "spike_max"),
}


@dataclass(frozen=True)
class ModelConfig:
    """How to build a model. ``pool_stages`` None = the arch's official stem pooling."""

    arch: str
    embed_dim: int
    depth: int
    num_heads: int
    num_classes: int
    T: int = 4
    attention: str = "ssa"
    attention_options: dict[str, Any] = field(default_factory=dict)
    in_channels: int = 3
    img_size: int = 32
    mlp_ratio: float = 4.0
    pool_stages: tuple[bool, ...] | None = None
    dataset: str | None = None
    arch_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Field types and ranges (a config may come from an untrusted model.pt)."""
        for name in ("embed_dim", "depth", "num_heads", "num_classes", "in_channels", "img_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 1 << 31:
                raise SpikeportError(f"model config {name} = {value!r}: must be a count >= 1")
        from spikeport.budget import BudgetError, require_T

        try:
            require_T("model config T", self.T)
        except BudgetError as exc:
            raise SpikeportError(str(exc)) from None
        ratio = self.mlp_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio < 1e4:
            raise SpikeportError(f"model config mlp_ratio = {ratio!r}: must be a number > 0")
        for name in ("arch", "attention"):
            if not isinstance(getattr(self, name), str):
                raise SpikeportError(f"model config {name} = {getattr(self, name)!r}: not a name")
        if self.dataset is not None and not isinstance(self.dataset, str):
            raise SpikeportError(f"model config dataset = {self.dataset!r}: not a name")
        for name in ("attention_options", "arch_options"):
            if not isinstance(getattr(self, name), dict):
                raise SpikeportError(f"model config {name}: must be a mapping")
        stages = self.pool_stages
        if stages is not None and not all(isinstance(p, bool) for p in stages):
            raise SpikeportError(f"model config pool_stages = {stages!r}: must be booleans")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["pool_stages"] = None if self.pool_stages is None else list(self.pool_stages)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> ModelConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(map(str, set(data) - names))
        if unknown:
            raise SpikeportError(f"{source}: unknown model config field(s) {unknown}")
        missing = sorted(
            n for n in ("arch", "embed_dim", "depth", "num_heads", "num_classes") if n not in data
        )
        if missing:
            raise SpikeportError(f"{source}: model config lacks field(s) {missing}")
        data = dict(data)
        stages = data.get("pool_stages")
        if isinstance(stages, list | tuple):
            data["pool_stages"] = tuple(stages)
        for name in ("attention_options", "arch_options"):
            data[name] = data.get(name) or {}
        return cls(**data)


# Defaults that follow another field, as in the official factories: QKFormer ImageNet's
# HST-10-384 / 512 / 768 have 6 / 8 / 12 heads (head width 64). Heads change no parameter
# shape there, so a wrong default would load a checkpoint silently and compute another model.
DERIVED_DEFAULTS: dict[str, dict[str, Any]] = {
    "qkformer-imagenet": {"num_heads": lambda v: max(1, v["embed_dim"] // 64)},
}


def default_config(arch: str, **overrides: Any) -> ModelConfig:
    """The official configuration of ``arch``, with ``overrides`` (None values ignored)."""
    check_arch(arch)
    given = {k: v for k, v in overrides.items() if v is not None}
    values = {**ARCH_DEFAULTS[arch], **given}
    for field_name, derive in DERIVED_DEFAULTS.get(arch, {}).items():
        if field_name not in given:
            values[field_name] = derive(values)
    return ModelConfig(arch=arch, **values)


def check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise UnsupportedError(f"unknown arch {arch!r}; supported: {', '.join(ARCHS)}")


# arch -> (module under spikeport.models, class)
_BUILDERS: dict[str, tuple[str, str]] = {
    "spikformer-cifar": ("spikformer", "SpikformerCifar"),
    "spikformer-imagenet": ("spikformer", "SpikformerImageNet"),
    "sdt": ("sdt", "SpikeDrivenTransformer"),
    "qkformer-cifar": ("qkformer", "QKFormerCifar"),
    "qkformer-imagenet": ("qkformer", "QKFormerImageNet"),
    "sdt-v3": ("sdt_v3", "SpikeDrivenTransformerV3"),
}


def build_model(config: ModelConfig) -> nn.Module:
    """A freshly initialised model (train mode) for ``config``; ``model.config`` holds it."""
    check_arch(config.arch)
    from spikeport.models.attention import attention_types

    if config.attention not in attention_types():
        raise UnsupportedError(
            f"unknown attention {config.attention!r}; supported: {', '.join(attention_types())}"
        )
    allowed = ARCH_OPTIONS.get(config.arch, ())
    unknown = sorted(set(config.arch_options) - set(allowed))
    if unknown:
        raise UnsupportedError(
            f"arch {config.arch!r}: unknown arch_options {unknown}; supported: {list(allowed)}"
        )
    module, name = _BUILDERS[config.arch]
    builder = getattr(importlib.import_module(f"spikeport.models.{module}"), name)
    try:
        with torch.device("meta"):  # sizes first: a config can declare any width or depth
            shapes = builder(config)
    except (ValueError, TypeError, KeyError, IndexError, AssertionError, ZeroDivisionError) as exc:
        # values each in range that the arch cannot combine (heads not dividing the width,
        # unknown option values...): the builder's own message, on one line
        raise UnsupportedError(f"model {config.arch}: cannot build ({first_line(exc)})") from None
    require_model(config, shapes)
    model = builder(config)
    model.config = config
    return model


def require_model(config: ModelConfig, model: nn.Module) -> None:
    """BudgetError unless the parameters and buffers of ``model`` (built on the meta device,
    so nothing is allocated) fit the memory budget twice (the model and a state dict)."""
    from spikeport import budget

    size = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    what = (
        f"model {config.arch} (embed_dim={config.embed_dim}, depth={config.depth}, "
        f"num_heads={config.num_heads}): parameters and a copy"
    )
    budget.require(what, 2 * size)
