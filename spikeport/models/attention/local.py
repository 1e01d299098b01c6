"""Local receptive field (LRF) term: depth-wise 3×3 dilated convolutions over the token grid."""

from __future__ import annotations

import torch
from torch import nn

from spikeport.errors import UnsupportedError


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
        t, b, h, n, d = x.shape
        height, width = self.grid
        if n != height * width:
            raise UnsupportedError(
                f"local receptive field: {n} tokens do not fill grid {height}x{width}"
            )
        img = x.permute(0, 1, 2, 4, 3).reshape(t * b, h * d, height, width)
        out = sum(conv(img) for conv in self.convs)
        return out.reshape(t, b, h, d, n).permute(0, 1, 2, 4, 3)

    def extra_repr(self) -> str:
        return f"grid={self.grid}, dilations={self.dilations}"
