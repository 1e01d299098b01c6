"""Spike-driven Transformer V3 (Yao et al., TPAMI 2025), the "Efficient Spiking Transformer"
(``Spiking_vit_MetaFormer_Spike_SepConv``) with the official module and parameter names.

Rebuilt from the structure of the official ``SDT_V3/Classification/Model_Base/models.py`` (read
in the fork ``prdvanderwal/Spike-Driven-Transformer-V3``; ``BICLab/Spike-Driven-Transformer-V3``
itself is not in the stored index). Layout ``[B, C, H, W]``: the official ImageNet models have
no time axis (T = 1); every spiking neuron is an :class:`IntegerLIF` emitting
``round(clamp(x, 0, 4)) / 4`` (the classifier's ``spike``: ``/ 1``), expanded into 4 binary
virtual timesteps for inference (:mod:`spikeport.models.integer_neuron`).

The residual stream is real valued (membrane shortcuts); each branch spikes its input first::

    downsample1_1 (7x7 s2 conv + BN, no spike)   ConvBlock1_1        (stage widths w0/2)
    downsample1_2 (spike, 3x3 s2 conv + BN)      ConvBlock1_2        (w0)
    downsample2                                  ConvBlock2_1, ConvBlock2_2   (w1)
    downsample3                                  block3: depth - 2 Transformer blocks  (w2)
    downsample4 (stride 1)                       block4: 2 Transformer blocks          (w3)
    token mean -> spike (norm 1) -> head

* ConvBlock (``MS_ConvBlock_spike_SepConv``): ``x + Conv(x)`` (``SepConv_Spike``: spike,
  1x1 conv x2 + BN, spike, 7x7 depth-wise + BN, spike, 1x1 conv + BN), then
  ``x + bn2(conv2(spike2(bn1(conv1(spike1(x))))))`` with 3x3 convs widening by ``mlp_ratio``.
* Transformer block (``MS_Block_Spike_SepConv``): ``x + conv(x)`` (``SepConv_Spike`` 3x3),
  ``x + attn(x)``, ``x + mlp(x)``. Attention (``MS_Attention_linear``): ``head_spike``, q/k
  1x1 conv + BN (C), v 1x1 conv + BN (4C), their spikes, ``(Q K^T) V * 2 / sqrt(C / heads)``,
  ``attn_spike``, proj 1x1 conv + BN (4C -> C). MLP (``MS_MLP``): spike, Conv1d + BN1d, twice.

Sizes (``embed_dim`` = last stage width, ``stage_widths`` defaults): t 128 (24, 48, 96, 128),
s 192 (32, 64, 128, 192), m 240 (48, 96, 192, 240), l 360 (64, 128, 256, 360).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from spikeport.errors import SpikeportError, UnsupportedError
from spikeport.models.attention.ssa import ssa_product
from spikeport.models.backbone import head_dim_of
from spikeport.models.integer_neuron import SPIKE_MAX, IntegerLIF
from spikeport.models.sps import pooled_size

if TYPE_CHECKING:
    from spikeport.models.registry import ModelConfig

# official Efficient_Spiking_Transformer_{t,s,m,l}: last width -> the four stage widths
OFFICIAL_WIDTHS: dict[int, tuple[int, int, int, int]] = {
    128: (24, 48, 96, 128),
    192: (32, 64, 128, 192),
    240: (48, 96, 192, 240),
    360: (64, 128, 256, 360),
}
V_RATIO = 4  # MS_Attention_linear's lamda_ratio: V and the attention output are 4C wide


def _conv_bn(cin: int, cout: int, kernel: int = 1, padding: int = 0, groups: int = 1):
    """``nn.Sequential(conv, BN)`` (keys ``.0.weight``, ``.1.*``), bias-free conv."""
    conv = nn.Conv2d(cin, cout, kernel, 1, padding, groups=groups, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(cout))


class SepConvSpike(nn.Module):
    """``SepConv_Spike``: inverted separable conv (1x1 x2, depth-wise kxk, 1x1), each after a
    spike; ``[B, C, H, W]`` -> same."""

    def __init__(self, dim: int, spike_max: int, kernel_size: int = 7, padding: int = 3):
        super().__init__()
        med = 2 * dim
        self.spike1 = IntegerLIF(spike_max)
        self.pwconv1 = _conv_bn(dim, med)
        self.spike2 = IntegerLIF(spike_max)
        self.dwconv = _conv_bn(med, med, kernel_size, padding, groups=med)
        self.spike3 = IntegerLIF(spike_max)
        self.pwconv2 = _conv_bn(med, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pwconv1(self.spike1(x))
        x = self.dwconv(self.spike2(x))
        return self.pwconv2(self.spike3(x))


class MSConvBlock(nn.Module):
    """``MS_ConvBlock_spike_SepConv``: SepConv residual, then a 3x3-conv MLP residual."""

    def __init__(self, dim: int, mlp_ratio: int, spike_max: int) -> None:
        super().__init__()
        hidden = dim * mlp_ratio
        self.Conv = SepConvSpike(dim, spike_max)
        self.spike1 = IntegerLIF(spike_max)
        self.conv1 = nn.Conv2d(dim, hidden, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.spike2 = IntegerLIF(spike_max)
        self.conv2 = nn.Conv2d(hidden, dim, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv(x) + x
        y = self.bn1(self.conv1(self.spike1(x)))
        return x + self.bn2(self.conv2(self.spike2(y)))


class MSMLP(nn.Module):
    """``MS_MLP``: spike -> Conv1d + BN1d, twice, on tokens ``[B, C, N]``."""

    def __init__(self, dim: int, hidden: int, spike_max: int) -> None:
        super().__init__()
        self.fc1_conv = nn.Conv1d(dim, hidden, 1)
        self.fc1_bn = nn.BatchNorm1d(hidden)
        self.fc1_spike = IntegerLIF(spike_max)
        self.fc2_conv = nn.Conv1d(hidden, dim, 1)
        self.fc2_bn = nn.BatchNorm1d(dim)
        self.fc2_spike = IntegerLIF(spike_max)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = x.shape
        y = self.fc1_bn(self.fc1_conv(self.fc1_spike(x.flatten(2))))
        y = self.fc2_bn(self.fc2_conv(self.fc2_spike(y)))
        return y.reshape(b, c, hh, ww)


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float):
    """``(Q K^T) V * scale`` over the last two dims of ``[B, heads, N, d]`` (v: ``d_v``)."""
    return ssa_product(q, k, v) * scale


class LinearAttentionCore(nn.Module):
    """The parameterless product of ``MS_Attention_linear`` (:func:`linear_attention`), a
    module so that the converter sees one call (the IR's ``LinearAttention``)."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return linear_attention(q, k, v, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class MSAttentionLinear(nn.Module):
    """``MS_Attention_linear`` (V 4x wide): ``[B, C, H, W]`` -> ``[B, C, H, W]``."""

    def __init__(self, dim: int, num_heads: int, spike_max: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = 2.0 * head_dim_of(dim, num_heads) ** -0.5
        self.head_spike = IntegerLIF(spike_max)
        self.q_conv = _conv_bn(dim, dim)
        self.q_spike = IntegerLIF(spike_max)
        self.k_conv = _conv_bn(dim, dim)
        self.k_spike = IntegerLIF(spike_max)
        self.v_conv = _conv_bn(dim, V_RATIO * dim)
        self.v_spike = IntegerLIF(spike_max)
        self.attn_spike = IntegerLIF(spike_max)
        self.proj_conv = _conv_bn(V_RATIO * dim, dim)
        self.product = LinearAttentionCore(self.scale)

    def _heads(self, y: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[B, heads, N, C / heads]``."""
        b, c = y.shape[:2]
        tokens = y.flatten(2).transpose(-1, -2)  # [B, N, C]
        return tokens.reshape(b, -1, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = x.shape
        s = self.head_spike(x)
        q = self._heads(self.q_spike(self.q_conv(s)))
        k = self._heads(self.k_spike(self.k_conv(s)))
        v = self._heads(self.v_spike(self.v_conv(s)))
        y = self.product(q, k, v)  # [B, heads, N, 4C / heads]
        y = y.transpose(2, 3).reshape(b, V_RATIO * c, hh * ww)
        return self.proj_conv(self.attn_spike(y).reshape(b, V_RATIO * c, hh, ww))


class MSBlock(nn.Module):
    """``MS_Block_Spike_SepConv``: ``x + conv(x)``, ``x + attn(x)``, ``x + mlp(x)``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: int, spike_max: int) -> None:
        super().__init__()
        self.conv = SepConvSpike(dim, spike_max, kernel_size=3, padding=1)
        self.attn = MSAttentionLinear(dim, num_heads, spike_max)
        self.mlp = MSMLP(dim, dim * mlp_ratio, spike_max)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.conv(x)
        x = x + self.attn(x)
        return x + self.mlp(x)


class MSDownSampling(nn.Module):
    """``MS_DownSampling``: [spike] -> conv (bias) -> BN."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int,
        padding: int,
        first_layer: bool,
        spike_max: int,
    ) -> None:
        super().__init__()
        self.encode_conv = nn.Conv2d(cin, cout, kernel, stride, padding)
        self.encode_bn = nn.BatchNorm2d(cout)
        if not first_layer:
            self.encode_spike = IntegerLIF(spike_max)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spike = getattr(self, "encode_spike", None)
        if spike is not None:
            x = spike(x)
        return self.encode_bn(self.encode_conv(x))


def stage_widths_for(embed_dim: int, stage_widths: Sequence[int] | None) -> tuple[int, ...]:
    """The four stage widths: ``stage_widths`` if given (last = ``embed_dim``), else the
    official size whose last width is ``embed_dim``."""
    if stage_widths is None:
        if embed_dim not in OFFICIAL_WIDTHS:
            raise SpikeportError(
                f"sdt-v3: embed_dim {embed_dim} is not an official size "
                f"({', '.join(map(str, OFFICIAL_WIDTHS))}); pass arch_options "
                "{'stage_widths': [w0, w1, w2, embed_dim]}"
            )
        return OFFICIAL_WIDTHS[embed_dim]
    widths = tuple(int(w) for w in stage_widths)
    if len(widths) != 4 or widths[-1] != embed_dim or widths[0] % 2 or min(widths) < 2:
        raise SpikeportError(
            f"sdt-v3: stage_widths must be 4 widths ending in embed_dim {embed_dim}, "
            f"the first even; got {list(stage_widths)}"
        )
    return widths


class SpikeDrivenTransformerV3(nn.Module):
    """SDT-V3 ``Spiking_vit_MetaFormer_Spike_SepConv``; images ``[B, C, H, W]`` -> logits."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c = config
        spike_max = int(c.arch_options.get("spike_max", SPIKE_MAX))
        if c.T != 1:
            raise UnsupportedError(
                f"sdt-v3: T must be 1 (the official model has no time axis; its integer "
                f"spikes become {spike_max} virtual timesteps at inference), got {c.T}"
            )
        if c.attention != "ssa" or c.attention_options:
            raise UnsupportedError(
                f"sdt-v3: its attention (MS_Attention_linear) is fixed; attention must be "
                f"'ssa' without options, got {c.attention!r}"
            )
        if c.pool_stages is not None:
            raise UnsupportedError("sdt-v3: pool_stages does not apply")
        if c.depth < 2:
            raise SpikeportError(f"sdt-v3: depth must be >= 2 (block4 has 2 blocks), got {c.depth}")
        if int(c.mlp_ratio) != c.mlp_ratio:
            raise SpikeportError(f"sdt-v3: mlp_ratio must be an integer, got {c.mlp_ratio}")
        w0, w1, w2, w3 = stage_widths_for(c.embed_dim, c.arch_options.get("stage_widths"))
        ratio, d, num_heads = int(c.mlp_ratio), spike_max, c.num_heads
        self.T, self.num_classes, self.spike_max = 1, c.num_classes, spike_max
        self.downsample1_1 = MSDownSampling(c.in_channels, w0 // 2, 7, 2, 3, True, d)
        self.ConvBlock1_1 = nn.ModuleList([MSConvBlock(w0 // 2, ratio, d)])
        self.downsample1_2 = MSDownSampling(w0 // 2, w0, 3, 2, 1, False, d)
        self.ConvBlock1_2 = nn.ModuleList([MSConvBlock(w0, ratio, d)])
        self.downsample2 = MSDownSampling(w0, w1, 3, 2, 1, False, d)
        self.ConvBlock2_1 = nn.ModuleList([MSConvBlock(w1, ratio, d)])
        self.ConvBlock2_2 = nn.ModuleList([MSConvBlock(w1, ratio, d)])
        self.downsample3 = MSDownSampling(w1, w2, 3, 2, 1, False, d)
        self.block3 = nn.ModuleList(MSBlock(w2, num_heads, ratio, d) for _ in range(c.depth - 2))
        self.downsample4 = MSDownSampling(w2, w3, 3, 1, 1, False, d)
        self.block4 = nn.ModuleList(MSBlock(w3, num_heads, ratio, d) for _ in range(2))
        self.head = nn.Linear(w3, c.num_classes)
        self.spike = IntegerLIF(spike_max, norm=1)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        side = pooled_size(c.img_size, (True,) * 4)
        self.grid = (side, side)  # token grid of stages 3-4

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """The last stage's output ``[B, E, H', W']`` (real valued)."""
        if images.dim() != 4:
            raise SpikeportError(f"expected images [B, C, H, W], got shape {tuple(images.shape)}")
        x = images
        for name in (
            "downsample1_1",
            "ConvBlock1_1",
            "downsample1_2",
            "ConvBlock1_2",
            "downsample2",
            "ConvBlock2_1",
            "ConvBlock2_2",
            "downsample3",
            "block3",
            "downsample4",
            "block4",
        ):
            part = getattr(self, name)
            for blk in part if isinstance(part, nn.ModuleList) else (part,):
                x = blk(x)
        return x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.spike(self.forward_features(images).flatten(2).mean(2)))
