"""QKFormer (Zhou et al., NeurIPS 2024): hierarchical spiking Transformer with Q-K attention.

Rebuilt from the structure of ``zhouchenlin2096/QKFormer`` (``imagenet/qkformer.py``,
``cifar10/model.py``), with its module and parameter names, so official checkpoints load
strictly. Layout ``[T, B, C, H, W]`` throughout; images ``[B, C, H, W]`` are repeated over T.

Three stages of widths ``E/4, E/2, E`` (``E = embed_dim``), each a patch embedding followed by
blocks ``x + attn(x)`` then ``x + mlp(x)`` (SEW residuals: block inputs are spike counts):

* stages 1-2: ``TokenSpikingTransformer`` (attribute ``tssa``): Q-K *token* attention. Per
  head, ``mask_n = attn_lif(sum_{c in head} Q[c, n])`` (LIF, v_th 0.5) is a token mask and the
  output is ``proj_lif(proj_bn(proj_conv(mask ⊙ K)))``; there is no V.
* stage 3: ``SpikingTransformer``: Spikformer-ImageNet SSA (:class:`SSAConv`, its core swappable:
  ``ssa``, ``axnor``, ``lrf_ssa``, ``lrf_dyn``) + MLP. The attention attribute is ``attn``
  (ImageNet) or ``ssa`` (CIFAR).
* patch embeddings: 3x3 conv + BN + LIF stages plus a 1x1 stride-2 (or 1) residual conv branch
  ``proj_res_*``; the output is the sum of two spike tensors (values 0, 1, 2).

Readout: mean over tokens and T, then ``head`` (Linear). Blocks per stage: ImageNet 1, 2,
``depth - 3`` (HST-10: 1, 2, 7); CIFAR 1, 1, ``depth - 2`` (HST-4: 1, 1, 2). Every stage
uses ``num_heads`` heads (the CIFAR code hard-codes 8).

Official quirk (QKFormer issue #14): its ``Spiking_Self_Attention`` runs ``proj_lif`` on a
``[T*B, C, N]`` tensor, i.e. over T*B "timesteps", so a sample's output depends on the other
samples in its batch. Here ``proj_lif`` runs per sample over T (the intended network);
``batch_coupled_proj_lif=True`` reproduces the quirk (published accuracies were measured
with it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from spikeport.errors import SpikeportError, UnsupportedError
from spikeport.models.backbone import (
    ATTN_THRESHOLD,
    Residual,
    check_timesteps,
    conv_bn,
    frames,
    head_dim_of,
    over_time,
)
from spikeport.models.neuron import MultiStepLIF
from spikeport.models.spikformer import MLPConv, SSAConv
from spikeport.models.sps import pooled_size

if TYPE_CHECKING:
    from spikeport.models.registry import ModelConfig


def _pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=3, stride=2, padding=1)


class TokenQKAttention(nn.Module):
    """``Token_QK_Attention``: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]`` spikes."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        head_dim_of(dim, num_heads)
        self.dim, self.num_heads = dim, num_heads
        for name in ("q", "k"):
            setattr(self, f"{name}_conv", nn.Conv1d(dim, dim, 1, bias=False))
            setattr(self, f"{name}_bn", nn.BatchNorm1d(dim))
            setattr(self, f"{name}_lif", MultiStepLIF(tau=2.0))
        self.attn_lif = MultiStepLIF(tau=2.0, v_threshold=ATTN_THRESHOLD)
        self.proj_conv = nn.Conv1d(dim, dim, 1)
        self.proj_bn = nn.BatchNorm1d(dim)
        self.proj_lif = MultiStepLIF(tau=2.0)

    def _spikes(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """``{name}_lif({name}_bn({name}_conv(x)))`` on tokens ``[T, B, C, N]``."""
        y = conv_bn(getattr(self, f"{name}_conv"), getattr(self, f"{name}_bn"), x)
        return getattr(self, f"{name}_lif")(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b, c, hh, ww = x.shape
        tokens = x.flatten(3)
        heads = (t, b, self.num_heads, c // self.num_heads, hh * ww)
        q = self._spikes("q", tokens).reshape(heads)
        k = self._spikes("k", tokens).reshape(heads)
        mask = self.attn_lif(q.sum(dim=3, keepdim=True))  # [T, B, h, 1, N]
        y = conv_bn(self.proj_conv, self.proj_bn, (mask * k).reshape(t, b, c, hh * ww))
        return self.proj_lif(y.reshape(t, b, c, hh, ww))


class _Embedding(nn.Module):
    """Base of the patch embeddings: ``proj{i}_conv/bn[/maxpool]/lif`` units and the
    ``proj_res_*`` shortcut (1x1 conv, BN, LIF)."""

    def _unit(self, name: str, cin: int, cout: int, pool: bool) -> None:
        setattr(self, f"{name}_conv", nn.Conv2d(cin, cout, 3, 1, 1, bias=False))
        setattr(self, f"{name}_bn", nn.BatchNorm2d(cout))
        if pool:
            setattr(self, f"{name}_maxpool", _pool())
        setattr(self, f"{name}_lif", MultiStepLIF(tau=2.0))

    def _run(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """conv -> BN -> [maxpool] -> LIF (the pool, when present, comes before the LIF)."""
        y = conv_bn(getattr(self, f"{name}_conv"), getattr(self, f"{name}_bn"), x)
        pool = getattr(self, f"{name}_maxpool", None)
        if pool is not None:
            y = frames(pool, y)
        return getattr(self, f"{name}_lif")(y)

    def _shortcut(self, cin: int, cout: int, stride: int) -> None:
        self.proj_res_conv = nn.Conv2d(cin, cout, 1, stride, 0, bias=False)
        self.proj_res_bn = nn.BatchNorm2d(cout)
        self.proj_res_lif = MultiStepLIF(tau=2.0)

    def _res(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_res_lif(conv_bn(self.proj_res_conv, self.proj_res_bn, x))


class PatchEmbedInit(_Embedding):
    """Stage-1 embedding ``in_channels -> dim``. ImageNet: ``proj`` (pool), ``proj1`` (pool),
    ``proj2``, shortcut 1x1 stride 2 from ``proj``'s spikes (H/4). CIFAR: ``proj``, ``proj1``,
    shortcut stride 1 (no pooling)."""

    def __init__(self, in_channels: int, dim: int, imagenet: bool) -> None:
        super().__init__()
        self.imagenet = imagenet
        self._unit("proj", in_channels, dim // 2, pool=imagenet)
        self._unit("proj1", dim // 2, dim, pool=imagenet)
        if imagenet:
            self._unit("proj2", dim, dim, pool=False)
        self._shortcut(dim // 2, dim, 2 if imagenet else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_feat = self._run("proj", x)
        x = self._run("proj1", x_feat)
        if self.imagenet:
            x = self._run("proj2", x)
        return x + self._res(x_feat)


class PatchEmbeddingStage(_Embedding):
    """Stage-2/3 embedding ``dim/2 -> dim``, halving H and W: ``proj3``, ``proj4`` (the pool
    sits in ``proj3`` for ImageNet, in ``proj4`` for CIFAR), shortcut 1x1 stride 2 from the
    input."""

    def __init__(self, dim: int, imagenet: bool) -> None:
        super().__init__()
        self._unit("proj3", dim // 2, dim, pool=imagenet)
        self._unit("proj4", dim, dim, pool=not imagenet)
        self._shortcut(dim // 2, dim, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run("proj4", self._run("proj3", x)) + self._res(x)


class _QKFormer(nn.Module):
    imagenet: bool
    attn_name: str
    mlp_names: tuple[str, str]
    stage_blocks: tuple[int, int]  # blocks in stages 1 and 2; stage 3 gets the rest

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c, name = config, type(self).__name__
        embed_dim, depth, num_heads, mlp_ratio = c.embed_dim, c.depth, c.num_heads, c.mlp_ratio
        if c.pool_stages is not None:
            raise UnsupportedError(f"{name}: pool_stages does not apply (the stages fix pooling)")
        if embed_dim % 8:
            raise SpikeportError(f"{name}: embed_dim {embed_dim} must be divisible by 8")
        n1, n2 = self.stage_blocks
        if depth <= n1 + n2:
            raise SpikeportError(f"{name}: depth must be > {n1 + n2}, got {depth}")
        self.T, self.num_classes = check_timesteps(c.T), c.num_classes
        dims = (embed_dim // 4, embed_dim // 2, embed_dim)
        side = pooled_size(c.img_size, (True,) * (4 if self.imagenet else 2))
        self.grid = (side, side)  # stage-3 token grid

        def mlp(dim: int) -> MLPConv:
            return MLPConv(dim, int(dim * mlp_ratio), self.mlp_names)

        def token_stage(dim: int, n: int) -> nn.ModuleList:  # TokenSpikingTransformer blocks
            return nn.ModuleList(
                Residual("tssa", TokenQKAttention(dim, num_heads), mlp(dim)) for _ in range(n)
            )

        # built in the official order (seeded initial weights match), registered in its
        # setattr order (state_dict key order matches)
        embed1 = PatchEmbedInit(c.in_channels, dims[0], self.imagenet)
        stage1 = token_stage(dims[0], n1)
        embed2 = PatchEmbeddingStage(dims[1], self.imagenet)
        stage2 = token_stage(dims[1], n2)
        embed3 = PatchEmbeddingStage(dims[2], self.imagenet)
        stage3 = nn.ModuleList(  # SpikingTransformer blocks
            Residual(
                self.attn_name,
                SSAConv(dims[2], num_heads, self.grid, c.attention, c.attention_options),
                mlp(dims[2]),
            )
            for _ in range(depth - n1 - n2)
        )
        self.patch_embed1, self.patch_embed2, self.patch_embed3 = embed1, embed2, embed3
        self.stage1, self.stage2, self.stage3 = stage1, stage2, stage3
        coupled = bool(c.arch_options.get("batch_coupled_proj_lif", False))
        for blk in self.stage3:
            getattr(blk, self.attn_name).batch_coupled_proj_lif = coupled
        self.head = nn.Linear(embed_dim, c.num_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Token-mean spike counts per step, ``[T, B, E]``."""
        x = over_time(images, self.T)
        for embed, stage in (
            (self.patch_embed1, self.stage1),
            (self.patch_embed2, self.stage2),
            (self.patch_embed3, self.stage3),
        ):
            x = embed(x)
            for blk in stage:
                x = blk(x)
        return x.flatten(3).mean(3)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(images).mean(0))


class QKFormerImageNet(_QKFormer):
    """QKFormer ImageNet (``hierarchical_spiking_transformer``; HST-10-384 / 10-512 / 10-768)."""

    imagenet = True
    attn_name = "attn"
    mlp_names = ("fc1", "fc2")
    stage_blocks = (1, 2)


class QKFormerCifar(_QKFormer):
    """QKFormer CIFAR (``spiking_transformer`` of ``cifar10/model.py``; HST-4-384)."""

    imagenet = False
    attn_name = "ssa"
    mlp_names = ("mlp1", "mlp2")
    stage_blocks = (1, 1)
