"""What Spikformer and the Spike-driven Transformer share: the attention branch's q/k/v layers
and core, and the model skeleton (direct encoding over T, pooled patch stem, blocks).

Submodule names are the official ones (``q_conv``/``q_linear``, ``q_bn``, ``q_lif``, ...,
``core``, ``attn_lif``; ``patch_embed``, ``block``) and are created in the official order, so
state_dict keys and seeded initial weights are those of the per-model code this replaces.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from spikeport.errors import SpikeportError
from spikeport.models.neuron import MultiStepLIF
from spikeport.models.sps import pooled_size

if TYPE_CHECKING:
    from spikeport.models.registry import ModelConfig

SSA_SCALE = 0.125
ATTN_THRESHOLD = 0.5


def frames(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Apply the per-frame ``fn`` to every step of ``x`` ``[T, B, ...]`` (as one ``[T*B, ...]``
    batch) and return ``[T, B, ...]``."""
    t, b = x.shape[:2]
    y = fn(x.flatten(0, 1))
    return y.reshape(t, b, *y.shape[1:])


def conv_bn(conv: nn.Module, bn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``bn(conv(.))`` on every step of ``x`` ``[T, B, C, ...]``."""
    return frames(lambda z: bn(conv(z)), x)


def head_dim_of(embed_dim: int, num_heads: int) -> int:
    if num_heads <= 0 or embed_dim % num_heads:
        raise SpikeportError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
    return embed_dim // num_heads


def make_core(
    attention: str,
    num_heads: int,
    head_dim: int,
    grid: tuple[int, int],
    options: Mapping[str, Any] | None,
) -> nn.Module:
    """The attention core named ``attention`` (one of ``ATTENTION_TYPES``)."""
    from spikeport.models.attention import build_attention_core

    return build_attention_core(
        attention,
        num_heads=num_heads,
        head_dim=head_dim,
        grid=grid,
        scale=SSA_SCALE,
        **dict(options or {}),
    )


class AttentionBranch(nn.Module):
    """Base of the attention modules: ``{q,k,v}_<layer>`` + ``{q,k,v}_bn`` + ``{q,k,v}_lif``,
    then ``core`` (+ ``attn_lif``, threshold 0.5, when the core does not emit spikes)."""

    def _qkv_layers(
        self,
        dim: int,
        num_heads: int,
        layer: str,
        make: Callable[[], nn.Module],
        norm: Callable[[], nn.Module],
    ) -> int:
        """Set dim / num_heads / scale and the three projections; return head_dim."""
        self.dim, self.num_heads, self.scale = dim, num_heads, SSA_SCALE
        head_dim = head_dim_of(dim, num_heads)
        for name in ("q", "k", "v"):
            setattr(self, f"{name}_{layer}", make())
            setattr(self, f"{name}_bn", norm())
            setattr(self, f"{name}_lif", MultiStepLIF(tau=2.0))
        return head_dim

    def _core_layers(
        self,
        attention: str,
        head_dim: int,
        grid: tuple[int, int],
        options: Mapping[str, Any] | None,
    ) -> None:
        self.core = make_core(attention, self.num_heads, head_dim, grid, options)
        if not self.core.emits_spikes:
            self.attn_lif = MultiStepLIF(tau=2.0, v_threshold=ATTN_THRESHOLD)

    def _heads(self, y: torch.Tensor) -> torch.Tensor:
        """Token-major ``[T, B, N, C]`` -> ``[T, B, heads, N, C / heads]`` (head-major C)."""
        t, b, n, c = y.shape
        h = self.num_heads
        return y.reshape(t, b, n, h, c // h).permute(0, 1, 3, 2, 4)

    def _spiking(self, y: torch.Tensor) -> torch.Tensor:
        """The core's output as spikes: through ``attn_lif`` unless the core emits spikes."""
        return y if self.core.emits_spikes else self.attn_lif(y)


class Residual(nn.Module):
    """A Transformer block: ``x + <attn_name>(x)`` then ``x + mlp(x)`` (spike sums in SEW
    models, a membrane stream in SDT), with the attention under its official attribute."""

    def __init__(self, attn_name: str, attn: nn.Module, mlp: nn.Module) -> None:
        super().__init__()
        self.attn_name = attn_name
        setattr(self, attn_name, attn)
        self.mlp = mlp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + getattr(self, self.attn_name)(x)
        return x + self.mlp(x)


def check_timesteps(T: int) -> int:
    if T < 1:
        raise SpikeportError(f"T must be >= 1, got {T}")
    return int(T)


def over_time(images: torch.Tensor, T: int) -> torch.Tensor:
    """Images ``[B, C, H, W]`` repeated over T (direct encoding); time-major frames
    ``[T, B, C, H, W]`` (event data, ``spikeport.data``) pass through as they are."""
    if images.dim() == 5 and images.shape[0] == T:
        return images
    if images.dim() != 4:
        raise SpikeportError(
            f"expected images [B, C, H, W] or frames [T={T}, B, C, H, W], "
            f"got shape {tuple(images.shape)}"
        )
    return images.unsqueeze(0).repeat(T, 1, 1, 1, 1)


class Backbone(nn.Module):
    """Skeleton: ``T`` steps of the same image, ``patch_embed`` pooling to a side x side token
    ``grid``, ``block`` (``depth`` blocks). Subclasses set ``default_pooling`` and add heads."""

    default_pooling: tuple[bool, ...]

    def _skeleton(
        self,
        config: ModelConfig,
        stem: Callable[[int, int, tuple[bool, ...]], nn.Module],
        block: Callable[[tuple[int, int]], nn.Module],
    ) -> None:
        """Set T, num_classes, patch_embed = stem(in_channels, embed_dim, pool_stages), grid
        and block = [block(grid)] * depth (distinct modules), all from ``config``."""
        pool_stages = config.pool_stages
        pool_stages = tuple(self.default_pooling if pool_stages is None else pool_stages)
        self.T = check_timesteps(config.T)
        self.num_classes = config.num_classes
        self.patch_embed = stem(config.in_channels, config.embed_dim, pool_stages)
        side = pooled_size(config.img_size, pool_stages)
        self.grid = (side, side)
        self.block = nn.ModuleList(block(self.grid) for _ in range(config.depth))

    def repeat_over_time(self, images: torch.Tensor) -> torch.Tensor:
        return over_time(images, self.T)

    def run_blocks(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``[B, C, H, W]`` -> the last block's output (stem layout)."""
        x = self.patch_embed(self.repeat_over_time(images))
        for blk in self.block:
            x = blk(x)
        return x
