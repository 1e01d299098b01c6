"""Spikformer (Zhou et al., ICLR 2023) with the official module and parameter names.

Two layouts, as in ``ZK-Zhou/spikformer`` (``cifar10/model.py``, ``imagenet/model.py``):

* CIFAR (:class:`SpikformerCifar`): tokens ``[T, B, N, C]``; q/k/v/proj/MLP are ``nn.Linear``
  (bias) + BatchNorm1d; stem pools in stages 2 and 3 only (32x32 -> 8x8, N = 64).
* ImageNet (:class:`SpikformerImageNet`): ``[T, B, C, H, W]``; q/k/v are ``nn.Conv1d`` (no bias),
  proj ``nn.Conv1d`` (bias), MLP ``nn.Conv2d`` 1x1 (bias) + BatchNorm2d; all four stem stages
  pool (224 -> 14, N = 196). Official T is hard-coded 4; here it is a constructor argument.

The attention score/mix step is a pluggable *core* (``spikeport.models.attention``) held as
``attn.core``: for SSA it is ``(Q K^T V) * scale`` on spikes ``[T, B, heads, N, head_dim]``. A core
with ``emits_spikes`` false is followed by ``attn_lif`` (v_threshold 0.5), as in the official code.
Residuals are SEW-style spike sums (``x + attn(x)``, ``x + mlp(x)``), so block inputs are
integers. Readout: mean over tokens, then over T, then ``head`` (a firing rate into a Linear).
Images ``[B, C, H, W]`` in (repeated over T: direct encoding), logits ``[B, classes]`` out.
The unused ``norm1``/``norm2`` LayerNorms are kept so official checkpoints load strictly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from spikeport.models.backbone import AttentionBranch, Backbone, conv_bn
from spikeport.models.neuron import MultiStepLIF
from spikeport.models.sps import CIFAR_POOLING, IMAGENET_POOLING, SPS

if TYPE_CHECKING:
    from spikeport.models.registry import ModelConfig


def _bn_tokens(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm1d over channels of ``[TB, N, C]`` (applied on the transpose, as official)."""
    return bn(x.transpose(-1, -2)).transpose(-1, -2)


class _SSALayers(AttentionBranch):
    """Spikformer's attention layers in either layout: ``{q,k,v}_<layer>`` + BatchNorm1d + LIF,
    the core, then ``proj_<layer>`` (with bias) + ``proj_bn`` + ``proj_lif``."""

    layer = "linear"
    """The projections' attribute suffix and kind: ``linear`` or ``conv`` (1x1 Conv1d)."""
    qkv_bias = True

    def __init__(
        self,
        dim: int,
        num_heads: int,
        grid: tuple[int, int],
        attention: str = "ssa",
        attention_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        qkv, bn = (lambda: self._projection(dim, self.qkv_bias)), (lambda: nn.BatchNorm1d(dim))
        head_dim = self._qkv_layers(dim, num_heads, self.layer, qkv, bn)
        self._core_layers(attention, head_dim, grid, attention_options)
        setattr(self, f"proj_{self.layer}", self._projection(dim, True))
        self.proj_bn = nn.BatchNorm1d(dim)
        self.proj_lif = MultiStepLIF(tau=2.0)

    def _projection(self, dim: int, bias: bool) -> nn.Module:
        if self.layer == "linear":
            return nn.Linear(dim, dim, bias=bias)
        return nn.Conv1d(dim, dim, 1, bias=bias)


class SSA(_SSALayers):
    """Spiking self-attention, CIFAR layout ``[T, B, N, C]`` -> ``[T, B, N, C]`` spikes
    (``nn.Linear`` projections, all with bias)."""

    def _qkv(self, name: str, x: torch.Tensor, t: int, b: int) -> torch.Tensor:
        n, c = x.shape[-2:]
        y = _bn_tokens(getattr(self, f"{name}_bn"), getattr(self, f"{name}_linear")(x))
        return self._heads(getattr(self, f"{name}_lif")(y.reshape(t, b, n, c)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b, n, c = x.shape
        xf = x.flatten(0, 1)
        q, k, v = (self._qkv(name, xf, t, b) for name in ("q", "k", "v"))
        y = self._spiking(self.core(q, k, v).transpose(2, 3).reshape(t, b, n, c))
        y = _bn_tokens(self.proj_bn, self.proj_linear(y.flatten(0, 1)))
        return self.proj_lif(y.reshape(t, b, n, c))


class MLP(nn.Module):
    """CIFAR-layout MLP: Linear + BN1d + LIF, twice; ``[T, B, N, C]`` -> ``[T, B, N, C]``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1_linear = nn.Linear(dim, hidden)
        self.fc1_bn = nn.BatchNorm1d(hidden)
        self.fc1_lif = MultiStepLIF(tau=2.0)
        self.fc2_linear = nn.Linear(hidden, dim)
        self.fc2_bn = nn.BatchNorm1d(dim)
        self.fc2_lif = MultiStepLIF(tau=2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b, n, c = x.shape
        y = _bn_tokens(self.fc1_bn, self.fc1_linear(x.flatten(0, 1)))
        y = self.fc1_lif(y.reshape(t, b, n, -1))
        y = _bn_tokens(self.fc2_bn, self.fc2_linear(y.flatten(0, 1)))
        return self.fc2_lif(y.reshape(t, b, n, c))


class SSAConv(_SSALayers):
    """Spiking self-attention, ImageNet layout ``[T, B, C, H, W]`` -> same, spikes (1x1
    ``nn.Conv1d`` projections: q/k/v without bias, proj with)."""

    layer = "conv"
    qkv_bias = False
    batch_coupled_proj_lif = False
    """True: run proj_lif over [T*B, C, N] with T*B as its time axis, as the official QKFormer
    Spiking_Self_Attention does (its issue #14; outputs depend on the batch)."""

    def _qkv(self, name: str, x: torch.Tensor, t: int, b: int) -> torch.Tensor:
        c, n = x.shape[-2:]
        y = getattr(self, f"{name}_bn")(getattr(self, f"{name}_conv")(x))
        return self._heads(getattr(self, f"{name}_lif")(y.reshape(t, b, c, n)).transpose(-1, -2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b, c, hh, ww = x.shape
        n = hh * ww
        xf = x.flatten(3).flatten(0, 1)
        q, k, v = (self._qkv(name, xf, t, b) for name in ("q", "k", "v"))
        y = self._spiking(self.core(q, k, v).transpose(3, 4).reshape(t, b, c, n))
        y = self.proj_bn(self.proj_conv(y.flatten(0, 1)))
        if self.batch_coupled_proj_lif:
            return self.proj_lif(y).reshape(t, b, c, hh, ww)
        return self.proj_lif(y.reshape(t, b, c, hh, ww))


class MLPConv(nn.Module):
    """ImageNet-layout MLP: 1x1 Conv2d + BN2d + LIF, twice, on ``[T, B, C, H, W]``.

    ``names`` are the two layers' prefixes: ``fc1``/``fc2`` (Spikformer, QKFormer ImageNet)
    or ``mlp1``/``mlp2`` (QKFormer CIFAR).
    """

    def __init__(self, dim: int, hidden: int, names: tuple[str, str] = ("fc1", "fc2")) -> None:
        super().__init__()
        self.names = names
        for name, (cin, cout) in zip(names, ((dim, hidden), (hidden, dim)), strict=True):
            setattr(self, f"{name}_conv", nn.Conv2d(cin, cout, 1))
            setattr(self, f"{name}_bn", nn.BatchNorm2d(cout))
            setattr(self, f"{name}_lif", MultiStepLIF(tau=2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.names:
            y = conv_bn(getattr(self, f"{name}_conv"), getattr(self, f"{name}_bn"), x)
            x = getattr(self, f"{name}_lif")(y)
        return x


class Block(nn.Module):
    """``x + attn(x)`` then ``+ mlp(x)``; ``norm1``/``norm2`` exist only for checkpoint keys."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        grid: tuple[int, int],
        mlp_ratio: float,
        conv_layout: bool,
        attention: str,
        attention_options: Mapping[str, Any] | None,
    ) -> None:
        super().__init__()
        attn_cls, mlp_cls = (SSAConv, MLPConv) if conv_layout else (SSA, MLP)
        eps = 1e-6 if conv_layout else 1e-5
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = attn_cls(dim, num_heads, grid, attention, attention_options)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = mlp_cls(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class _Spikformer(Backbone):
    conv_layout = False
    default_pooling: tuple[bool, ...] = CIFAR_POOLING

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c = config
        self._skeleton(
            c,
            SPS,
            lambda grid: Block(
                c.embed_dim,
                c.num_heads,
                grid,
                c.mlp_ratio,
                self.conv_layout,
                c.attention,
                c.attention_options,
            ),
        )
        self.head = nn.Linear(c.embed_dim, c.num_classes)


class SpikformerCifar(_Spikformer):
    """Spikformer, CIFAR layout (tokens ``[T, B, N, C]``, Linear + BN1d)."""

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Token-mean spike counts per step, ``[T, B, E]``."""
        x = self.patch_embed(self.repeat_over_time(images))
        x = x.flatten(-2).transpose(-1, -2)
        for blk in self.block:
            x = blk(x)
        return x.mean(2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(images).mean(0))


class SpikformerImageNet(_Spikformer):
    """Spikformer, ImageNet layout (``[T, B, C, H, W]``, Conv1d/Conv2d + BN)."""

    conv_layout = True
    default_pooling = IMAGENET_POOLING

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.run_blocks(images).flatten(3).mean(3)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(images).mean(0))
