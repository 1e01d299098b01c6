"""Spike-driven Transformer (Yao et al., NeurIPS 2023) with the official names.

Follows ``BICLab/Spike-Driven-Transformer`` (``model.py``, ``conf/``): layout
``[T, B, C, H, W]`` throughout, every weight layer a 1x1 Conv2d + BatchNorm2d, and *membrane
shortcuts*: the residual stream is real valued and each branch spikes its input first
(``shortcut_lif``, ``fc1_lif``, ``fc2_lif``), so every conv sees binary spikes.

Attention (``MS_SSA_Conv``) with the default ``sdsa`` core computes ``Q * SN_0.5(sum_N(K * V))``
(the core owns that 0.5-threshold neuron, the official ``talking_heads_lif``); any other core
is followed by ``attn_lif`` (0.5). ``talking_heads`` (Conv1d h->h) exists only so official
checkpoints load strictly; like the official code it is never used. No LIF after ``proj_bn``.
Readout: token mean ``[T, B, E]`` -> ``head_lif`` -> ``head`` per step -> mean over T.
The official forward returns ``(logits, hook)``; this one returns the logits only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from spikeport.models.backbone import AttentionBranch, Backbone, Residual, conv_bn
from spikeport.models.neuron import MultiStepLIF
from spikeport.models.sps import IMAGENET_POOLING, MSSPS

if TYPE_CHECKING:
    from spikeport.models.registry import ModelConfig


class SDSAConv(AttentionBranch):
    """``MS_SSA_Conv``: the attention branch (its output is added to the stream by the block)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        grid: tuple[int, int],
        attention: str = "sdsa",
        attention_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.shortcut_lif = MultiStepLIF(tau=2.0)
        conv, bn = (lambda: nn.Conv2d(dim, dim, 1, bias=False)), (lambda: nn.BatchNorm2d(dim))
        head_dim = self._qkv_layers(dim, num_heads, "conv", conv, bn)
        self.talking_heads = nn.Conv1d(num_heads, num_heads, 1, bias=False)
        self._core_layers(attention, head_dim, grid, attention_options)
        self.proj_conv = nn.Conv2d(dim, dim, 1)
        self.proj_bn = nn.BatchNorm2d(dim)

    def _qkv(self, name: str, x: torch.Tensor) -> torch.Tensor:
        y = getattr(self, f"{name}_lif")(
            conv_bn(getattr(self, f"{name}_conv"), getattr(self, f"{name}_bn"), x)
        )
        return self._heads(y.flatten(3).transpose(-1, -2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b, c, hh, ww = x.shape
        s = self.shortcut_lif(x)
        q, k, v = (self._qkv(name, s) for name in ("q", "k", "v"))
        y = self._spiking(self.core(q, k, v).transpose(3, 4).reshape(t, b, c, hh * ww))
        return conv_bn(self.proj_conv, self.proj_bn, y.reshape(t, b, c, hh, ww))


class MLPConvMS(nn.Module):
    """``MS_MLP_Conv``: LIF -> 1x1 conv -> BN, twice (the branch; the block adds it)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1_lif = MultiStepLIF(tau=2.0)
        self.fc1_conv = nn.Conv2d(dim, hidden, 1)
        self.fc1_bn = nn.BatchNorm2d(hidden)
        self.fc2_lif = MultiStepLIF(tau=2.0)
        self.fc2_conv = nn.Conv2d(hidden, dim, 1)
        self.fc2_bn = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = conv_bn(self.fc1_conv, self.fc1_bn, self.fc1_lif(x))
        return conv_bn(self.fc2_conv, self.fc2_bn, self.fc2_lif(y))


class SpikeDrivenTransformer(Backbone):
    """SDT (``sdt`` in timm's registry of the official repo); images in, logits out."""

    default_pooling = IMAGENET_POOLING

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c = config
        self._skeleton(
            c,
            MSSPS,
            lambda grid: Residual(  # MS_Block_Conv
                "attn",
                SDSAConv(c.embed_dim, c.num_heads, grid, c.attention, c.attention_options),
                MLPConvMS(c.embed_dim, int(c.embed_dim * c.mlp_ratio)),
            ),
        )
        self.head_lif = MultiStepLIF(tau=2.0)
        self.head = nn.Linear(c.embed_dim, c.num_classes)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Token-mean membrane stream per step, ``[T, B, E]``."""
        return self.run_blocks(images).flatten(3).mean(3)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_lif(self.forward_features(images))).mean(0)
