"""Spike-driven self-attention (SDSA, Spike-driven Transformer ``MS_SSA_Conv``).

``kv = sum_n (k_n ⊙ v_n)`` (column sum over the N tokens, ``[T, B, h, 1, d]``), then
``kv_s = talking_heads_lif(kv)`` (LIF tau 2, v_th 0.5, hard reset 0), then
``out_n = q_n ⊙ kv_s`` (a channel mask, broadcast over tokens). Output is spikes; no scale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from spikeport.errors import UnsupportedError
from spikeport.models.attention.core import AttentionCore
from spikeport.models.neuron import MultiStepLIF

TAU = 2.0
"""Time constant of the talking-heads LIF (official)."""


def sdsa_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    neuron: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """``q * neuron(sum_n k * v)``: the column sum over tokens, spiked, masks q."""
    kv = (k * v).sum(dim=-2, keepdim=True)
    return q * neuron(kv)


class SDSACore(AttentionCore):
    """SDSA with its own LIF named ``talking_heads_lif`` (official name); ``scale`` unused."""

    name = "sdsa"
    emits_spikes = True

    def __init__(self, *, num_heads: int, head_dim: int, scale: float = 0.125) -> None:
        super().__init__(num_heads=num_heads, head_dim=head_dim, scale=scale)
        self.talking_heads_lif = MultiStepLIF(tau=TAU, v_threshold=0.5, detach_reset=True)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        self.check_inputs(q, k, v)
        return sdsa_attention(q, k, v, self.talking_heads_lif)

    def ir_params(self) -> dict[str, Any]:
        lif = self.talking_heads_lif
        if lif.tau != TAU or not lif.decay_input or lif.v_reset != 0.0:
            raise UnsupportedError("SDSA inner neuron must be tau 2, decay_input, hard reset to 0")
        return {"sdsa_threshold": float(lif.v_threshold)}

    @classmethod
    def reference(
        cls, node: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> torch.Tensor:
        return sdsa_attention(q, k, v, MultiStepLIF(tau=TAU, v_threshold=node.sdsa_threshold))
