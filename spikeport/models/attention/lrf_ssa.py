"""LRF-SSA (Zhang et al., ICLR 2026, Eq. 8): SSA plus a learned local term on V.

``out = (Q Kᵀ) V * scale + sum_{r in (3, 5)} DWConv3x3_r(V)``, the convolutions running over
the ``(H, W)`` token grid per channel. The local term acts on the value spikes and is added
after the global aggregation (Eq. 8's form). Eq. 14 instead puts a local map R inside the
attention matrix, ``(s Q Kᵀ + R) V = s Q Kᵀ V + R V``: the same form with one kernel shared
by all channels; we keep per-channel (depth-wise) kernels, as the paper's "two depth-wise
3×3 convolutions" say. The local term is not multiplied by ``scale`` (its weights are learned).
"""

from __future__ import annotations

from typing import Any

import torch

from spikeport.models.attention.core import AttentionCore
from spikeport.models.attention.local import LocalReceptiveField
from spikeport.models.attention.ssa import SSACore, ssa_product


class LRFSSACore(AttentionCore):
    """SSA + local receptive field; parameters ``local.convs.{0,1}.weight`` ``(h*d,1,3,3)``."""

    name = "lrf_ssa"
    emits_spikes = False

    def __init__(
        self,
        *,
        num_heads: int,
        head_dim: int,
        grid: tuple[int, int] | None,
        scale: float = 0.125,
        dilations: tuple[int, ...] = (3, 5),
    ) -> None:
        super().__init__(num_heads=num_heads, head_dim=head_dim, scale=scale)
        self.local = LocalReceptiveField(
            num_heads * head_dim, grid, tuple(dilations), owner=self.name
        )

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        self.check_inputs(q, k, v)
        return ssa_product(q, k, v) * self.scale + self.local(v)

    def ir_params(self) -> dict[str, Any]:
        return self.local.ir_params()

    @classmethod
    def reference(
        cls, node: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> torch.Tensor:
        return SSACore.reference(node, q, k, v)
