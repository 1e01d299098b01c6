"""Attention cores for spiking Transformers, selected by name.

``build_attention_core(name, num_heads=..., head_dim=..., grid=None, scale=0.125, **options)``
returns an :class:`AttentionCore` whose ``forward(q, k, v)`` maps ``[T, B, h, N, d]`` spike
tensors to ``[T, B, h, N, d]``.

``CORES`` is the registry, and ``ATTENTION_TYPES`` (its names) the one list of attention
types: the CLI and the IR's attention node take theirs from here. This module imports no
torch; the core classes are imported when first built or named.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, NamedTuple

from spikeport.errors import UnsupportedError

if TYPE_CHECKING:
    from spikeport.models.attention.core import AttentionCore


class CoreSpec(NamedTuple):
    """Where an attention core's class lives and what its builder accepts."""

    module: str  # under spikeport.models.attention
    cls: str
    options: tuple[str, ...]  # keyword options allowed beyond the common ones
    takes_grid: bool  # the core needs the raster token grid (H, W)


CORES: dict[str, CoreSpec] = {
    "ssa": CoreSpec("ssa", "SSACore", (), False),
    "axnor": CoreSpec("axnor", "AXnorCore", ("per_head", "a_init"), False),
    "lrf_ssa": CoreSpec("lrf_ssa", "LRFSSACore", ("dilations",), True),
    "lrf_dyn": CoreSpec(
        "lrf_dyn",
        "LRFDynCore",
        ("compartments", "token_input", "gate", "local", "dilations"),
        True,
    ),
    "sdsa": CoreSpec("sdsa", "SDSACore", (), False),
}

ATTENTION_TYPES: tuple[str, ...] = tuple(CORES)

_CLASSES = {spec.cls: spec.module for spec in CORES.values()} | {"AttentionCore": "core"}


def __getattr__(name: str) -> Any:
    module = _CLASSES.get(name)
    if module is None:
        raise AttributeError(f"module 'spikeport.models.attention' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def _reject_options(name: str, options: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UnsupportedError(
            f"attention '{name}': unknown option(s) {unknown}; supported: {list(allowed)}"
        )


def build_attention_core(
    name: str,
    *,
    num_heads: int,
    head_dim: int,
    grid: tuple[int, int] | None = None,
    scale: float = 0.125,
    **options,
) -> AttentionCore:
    """Build the attention core ``name`` (one of ``ATTENTION_TYPES``) for ``num_heads`` heads
    of width ``head_dim``; ``grid=(H, W)`` is the raster token grid for local variants."""
    if name not in ATTENTION_TYPES:
        raise UnsupportedError(
            f"attention type '{name}' is not supported; supported: {', '.join(ATTENTION_TYPES)}"
        )
    spec = CORES[name]
    _reject_options(name, options, allowed=spec.options)
    if spec.takes_grid:
        options["grid"] = grid
    cls = __getattr__(spec.cls)
    return cls(num_heads=num_heads, head_dim=head_dim, scale=scale, **options)


__all__ = [
    "ATTENTION_TYPES",
    "AXnorCore",
    "AttentionCore",
    "CORES",
    "LRFDynCore",
    "LRFSSACore",
    "SDSACore",
    "SSACore",
    "build_attention_core",
]
