"""Attention cores for spiking Transformers, selected by name.

``build_attention_core(name, num_heads=..., head_dim=..., grid=None, scale=0.125, **options)``
returns an :class:`AttentionCore` whose ``forward(q, k, v)`` maps ``[T, B, h, N, d]`` spike
tensors to ``[T, B, h, N, d]``.

The list of attention types is the IR's (``spikeport.ir.attention``); ``CORES`` says where
each type's torch core lives and which builder options it takes, and must name every type
(importing this module fails otherwise). ``ATTENTION_TYPES`` is the list at import time (the
CLI's choices); :func:`attention_types` the cores registered now. This module imports no
torch; the core classes are imported when first built or named.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, NamedTuple

from spikeport.errors import UnsupportedError
from spikeport.ir.attention import names
from spikeport.registry import register

if TYPE_CHECKING:
    from spikeport.models.attention.core import AttentionCore


class CoreSpec(NamedTuple):
    """Where an attention core's class lives and what its builder accepts."""

    module: str  # under spikeport.models.attention, or a full dotted module path
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

ATTENTION_TYPES: tuple[str, ...] = names()

if set(CORES) != set(ATTENTION_TYPES):
    raise TypeError(
        f"attention cores {sorted(CORES)} do not match the IR's variants {sorted(ATTENTION_TYPES)}"
    )

_CLASSES = {spec.cls: spec.module for spec in CORES.values()} | {"AttentionCore": "core"}


def __getattr__(name: str) -> Any:
    module = _CLASSES.get(name)
    if module is None:
        raise AttributeError(f"module 'spikeport.models.attention' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def attention_types() -> tuple[str, ...]:
    """The attention types with a registered core, in registration order."""
    return tuple(CORES)


def register_core(name: str, spec: CoreSpec) -> None:
    """Register the core of attention type `name` (a variant of ``spikeport.ir.attention``);
    a second core for one name is refused."""
    if name not in names():
        raise TypeError(f"attention core {name!r}: no such variant in spikeport.ir.attention")
    register(CORES, name, spec, "attention core of variant")


def unregister_core(name: str) -> None:
    """Remove the core of `name` (tests that register a toy variant clean up with this)."""
    del CORES[name]


def core_class(name: str) -> type[AttentionCore]:
    """The core class of attention type `name` (imported on first use)."""
    spec = CORES.get(name)
    if spec is None:
        raise UnsupportedError(
            f"attention type '{name}' has no core; supported: {', '.join(attention_types())}"
        )
    module = spec.module if "." in spec.module else f"{__name__}.{spec.module}"
    return getattr(importlib.import_module(module), spec.cls)


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
    if name not in CORES:
        raise UnsupportedError(
            f"attention type '{name}' is not supported; supported: {', '.join(attention_types())}"
        )
    spec = CORES[name]
    _reject_options(name, options, allowed=spec.options)
    if spec.takes_grid:
        options["grid"] = grid
    return core_class(name)(num_heads=num_heads, head_dim=head_dim, scale=scale, **options)


__all__ = [
    "ATTENTION_TYPES",
    "AXnorCore",
    "AttentionCore",
    "CORES",
    "CoreSpec",
    "LRFDynCore",
    "LRFSSACore",
    "SDSACore",
    "SSACore",
    "attention_types",
    "build_attention_core",
    "core_class",
    "register_core",
    "unregister_core",
]
