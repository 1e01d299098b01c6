"""Spiking patch splitting (SPS) stems with the official attribute names.

Two stems, both four 3x3 conv stages widening ``in_channels -> E/8 -> E/4 -> E/2 -> E`` plus a
3x3 relative-position conv (``rpe_conv``), all convs bias-free, each followed by BatchNorm2d:

* :class:`SPS` (Spikformer, CIFAR and ImageNet): every stage is conv -> BN -> LIF -> [maxpool];
  output ``rpe_lif(rpe_bn(rpe_conv(x))) + x`` is a sum of two spike tensors, values in {0, 1, 2}.
* :class:`MSSPS` (Spike-driven Transformer ``MS_SPS``): stage 3 pools *before* its LIF and the
  output ``rpe_bn(rpe_conv(lif(x))) + x`` is real valued (a membrane-potential stream).

Max-pooling (3x3, stride 2, pad 1) halves H and W; a stage pools when its entry in
``pool_stages`` is true. The pool modules are named ``maxpool`` (stage 0) and ``maxpool{i}``.
Both stems take and return ``[T, B, C, H, W]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from spikeport.errors import SpikeportError
from spikeport.models.neuron import MultiStepLIF

CIFAR_POOLING = (False, False, True, True)
IMAGENET_POOLING = (True, True, True, True)


def _suffix(i: int) -> str:
    return "" if i == 0 else str(i)


def stem_widths(in_channels: int, embed_dim: int) -> list[tuple[int, int]]:
    """(in, out) channel pairs of the four conv stages."""
    if embed_dim % 8:
        raise SpikeportError(f"SPS: embed_dim {embed_dim} must be divisible by 8")
    outs = [embed_dim // 8, embed_dim // 4, embed_dim // 2, embed_dim]
    return list(zip([in_channels, *outs[:3]], outs, strict=True))


def pooled_size(size: int, pool_stages: Sequence[bool]) -> int:
    """Spatial size after the stem: each pooled stage maps s -> (s - 1) // 2 + 1."""
    for pooled in pool_stages:
        if pooled:
            size = (size - 1) // 2 + 1
    return size


class _StemBase(nn.Module):
    def __init__(self, in_channels: int, embed_dim: int, pool_stages: Sequence[bool]) -> None:
        super().__init__()
        pool_stages = tuple(bool(p) for p in pool_stages)
        if len(pool_stages) != 4:
            raise SpikeportError(f"SPS: pool_stages needs 4 entries, got {len(pool_stages)}")
        self.pool_stages = pool_stages
        self.embed_dim = embed_dim
        for i, (cin, cout) in enumerate(stem_widths(in_channels, embed_dim)):
            s = _suffix(i)
            setattr(self, f"proj_conv{s}", nn.Conv2d(cin, cout, 3, 1, 1, bias=False))
            setattr(self, f"proj_bn{s}", nn.BatchNorm2d(cout))
            setattr(self, f"proj_lif{s}", MultiStepLIF(tau=2.0))
            if pool_stages[i]:
                setattr(self, f"maxpool{s}", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        self.rpe_conv = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1, bias=False)
        self.rpe_bn = nn.BatchNorm2d(embed_dim)

    def _conv_bn(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """conv + BN of stage ``i`` on ``[T, B, C, H, W]``."""
        s = _suffix(i)
        t, b = x.shape[:2]
        y = getattr(self, f"proj_bn{s}")(getattr(self, f"proj_conv{s}")(x.flatten(0, 1)))
        return y.reshape(t, b, *y.shape[1:])

    def _pool(self, i: int, x: torch.Tensor) -> torch.Tensor:
        if not self.pool_stages[i]:
            return x
        t, b = x.shape[:2]
        y = getattr(self, f"maxpool{_suffix(i)}")(x.flatten(0, 1))
        return y.reshape(t, b, *y.shape[1:])

    def _rpe(self, x: torch.Tensor) -> torch.Tensor:
        t, b = x.shape[:2]
        y = self.rpe_bn(self.rpe_conv(x.flatten(0, 1)))
        return y.reshape(t, b, *y.shape[1:])


class SPS(_StemBase):
    """Spikformer stem; output spikes-sum ``[T, B, E, H', W']`` (values 0, 1, 2)."""

    def __init__(
        self, in_channels: int, embed_dim: int, pool_stages: Sequence[bool] = CIFAR_POOLING
    ) -> None:
        super().__init__(in_channels, embed_dim, pool_stages)
        self.rpe_lif = MultiStepLIF(tau=2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(4):
            x = getattr(self, f"proj_lif{_suffix(i)}")(self._conv_bn(i, x))
            x = self._pool(i, x)
        return self.rpe_lif(self._rpe(x)) + x


class MSSPS(_StemBase):
    """Spike-driven Transformer stem (``MS_SPS``); output real valued ``[T, B, E, H', W']``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(3):
            x = getattr(self, f"proj_lif{_suffix(i)}")(self._conv_bn(i, x))
            x = self._pool(i, x)
        x_feat = self._pool(3, self._conv_bn(3, x))
        return self._rpe(self.proj_lif3(x_feat)) + x_feat
