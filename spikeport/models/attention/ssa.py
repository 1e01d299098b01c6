"""Spikformer spiking self-attention (SSA): ``(Q Kᵀ) V · scale``, no softmax, no parameters."""

from __future__ import annotations

from typing import Any

import torch

from spikeport.models.attention.core import AttentionCore
from spikeport.models.attention.local import with_local


def ssa_product(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``(Q Kᵀ) V`` over the last two dims, in the cheaper association order.

    QK-first costs ``2 N² d`` per head and keeps an N×N map; KV-first costs ``2 N d²`` and
    keeps a d×d map (Spikformer ImageNet's order). For spikes both are exact integer sums
    (float32 is exact below 2^24), so the choice does not change the result.
    """
    n, d = q.shape[-2], q.shape[-1]
    if d <= n:
        return q @ (k.transpose(-2, -1) @ v)
    return (q @ k.transpose(-2, -1)) @ v


class SSACore(AttentionCore):
    """``out = (Q Kᵀ) V · scale``; the caller applies ``attn_lif`` (v_th 0.5)."""

    name = "ssa"
    emits_spikes = False

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        self.check_inputs(q, k, v)
        return ssa_product(q, k, v) * self.scale

    @classmethod
    def reference(
        cls, node: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> torch.Tensor:
        return with_local(node, ssa_product(q, k, v) * node.scale, v)
