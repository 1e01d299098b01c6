"""Attention cores for spiking Transformers, selected by name.

``build_attention_core(name, num_heads=..., head_dim=..., grid=None, scale=0.125, **options)``
returns an :class:`AttentionCore` whose ``forward(q, k, v)`` maps ``[T, B, h, N, d]`` spike
tensors to ``[T, B, h, N, d]``.
"""

from __future__ import annotations

from collections.abc import Callable

from spikeport.errors import UnsupportedError
from spikeport.models.attention.axnor import AXnorCore
from spikeport.models.attention.core import AttentionCore
from spikeport.models.attention.lrf_dyn import LRFDynCore
from spikeport.models.attention.lrf_ssa import LRFSSACore
from spikeport.models.attention.sdsa import SDSACore
from spikeport.models.attention.ssa import SSACore

ATTENTION_TYPES: tuple[str, ...] = ("ssa", "axnor", "lrf_ssa", "lrf_dyn", "sdsa")


def _ssa(num_heads: int, head_dim: int, grid, scale: float, options: dict) -> AttentionCore:
    _reject_options("ssa", options, allowed=())
    return SSACore(num_heads=num_heads, head_dim=head_dim, scale=scale)


def _axnor(num_heads: int, head_dim: int, grid, scale: float, options: dict) -> AttentionCore:
    _reject_options("axnor", options, allowed=("per_head", "a_init"))
    return AXnorCore(num_heads=num_heads, head_dim=head_dim, scale=scale, **options)


def _lrf_ssa(num_heads: int, head_dim: int, grid, scale: float, options: dict) -> AttentionCore:
    _reject_options("lrf_ssa", options, allowed=("dilations",))
    return LRFSSACore(num_heads=num_heads, head_dim=head_dim, grid=grid, scale=scale, **options)


def _lrf_dyn(num_heads: int, head_dim: int, grid, scale: float, options: dict) -> AttentionCore:
    allowed = ("compartments", "token_input", "gate", "local", "dilations")
    _reject_options("lrf_dyn", options, allowed=allowed)
    return LRFDynCore(num_heads=num_heads, head_dim=head_dim, grid=grid, scale=scale, **options)


def _sdsa(num_heads: int, head_dim: int, grid, scale: float, options: dict) -> AttentionCore:
    _reject_options("sdsa", options, allowed=())
    return SDSACore(num_heads=num_heads, head_dim=head_dim, scale=scale)


_BUILDERS: dict[str, Callable[..., AttentionCore]] = {
    "ssa": _ssa,
    "axnor": _axnor,
    "lrf_ssa": _lrf_ssa,
    "lrf_dyn": _lrf_dyn,
    "sdsa": _sdsa,
}


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
    return _BUILDERS[name](num_heads, head_dim, grid, scale, dict(options))


__all__ = [
    "ATTENTION_TYPES",
    "AXnorCore",
    "AttentionCore",
    "LRFDynCore",
    "LRFSSACore",
    "SDSACore",
    "SSACore",
    "build_attention_core",
]
