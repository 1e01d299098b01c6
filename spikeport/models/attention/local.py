"""Local receptive field (LRF) term: depth-wise 3×3 dilated convolutions over the token grid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spikeport.errors import UnsupportedError
from spikeport.models.attention.core import node_tensor, to_numpy


def local_sum(
    x: torch.Tensor,
    weights: Sequence[torch.Tensor],
    grid: tuple[int, int],
    dilations: Sequence[int],
) -> torch.Tensor:
    """``sum_r DWConv3x3_r(x)`` on the raster token grid: x ``[T, B, h, N, d]``, one depth-wise
    weight ``(h*d, 1, 3, 3)`` per dilation r (padding r). The one formula of the local term."""
    t, b, h, n, d = x.shape
    height, width = grid
    if n != height * width:
        raise UnsupportedError(
            f"local receptive field: {n} tokens do not fill grid {height}x{width}"
        )
    img = x.permute(0, 1, 2, 4, 3).reshape(t * b, h * d, height, width)
    out = sum(
        F.conv2d(img, w, padding=r, dilation=r, groups=h * d)
        for w, r in zip(weights, dilations, strict=True)
    )
    return out.reshape(t, b, h, d, n).permute(0, 1, 2, 4, 3)


def with_local(node: Any, out: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """`out` plus the float IR node's local term on `v` when it has one."""
    if node.local_weight is None:
        return out
    w = node_tensor(node.local_weight)
    return out + local_sum(v, list(w), tuple(node.grid), tuple(node.local_dilation))


class LocalReceptiveField(nn.Module):
    """``sum_r DWConv3x3_dilation_r(x)`` on the ``(H, W)`` raster token grid, per channel.

    Input and output ``[T, B, h, N, d]``; channel ``c = head * d + j`` (Spikformer's head
    split), ``N = H * W`` in raster order. Padding equals the dilation ("same" size, zeros
    outside the grid); no bias. Parameters ``convs.<i>.weight`` of shape ``(h*d, 1, 3, 3)``.
    """

    def __init__(
        self,
        channels: int,
        grid: tuple[int, int],
        dilations: tuple[int, ...] = (3, 5),
        *,
        owner: str = "lrf",
    ) -> None:
        super().__init__()
        if grid is None or len(grid) != 2 or min(grid) < 1:
            raise UnsupportedError(
                f"attention '{owner}': needs grid=(H, W) of the token grid, got {grid!r}"
            )
        if not dilations or min(dilations) < 1:
            raise UnsupportedError(f"attention '{owner}': dilations must be >= 1, got {dilations}")
        self.grid = (int(grid[0]), int(grid[1]))
        self.dilations = tuple(int(r) for r in dilations)
        self.convs = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=r, dilation=r, groups=channels, bias=False)
            for r in self.dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return local_sum(x, [c.weight for c in self.convs], self.grid, self.dilations)

    def ir_params(self) -> dict[str, Any]:
        """The IR node's local-term fields: local_weight [2, D, 1, 3, 3], dilations, grid."""
        if len(self.convs) != 2:
            raise UnsupportedError(
                f"local term with {len(self.convs)} convolutions (IR holds exactly 2)"
            )
        weight = np.stack([to_numpy(c.weight) for c in self.convs])
        return {"local_weight": weight, "local_dilation": tuple(self.dilations), "grid": self.grid}

    def extra_repr(self) -> str:
        return f"grid={self.grid}, dilations={self.dilations}"
