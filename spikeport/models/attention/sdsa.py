"""Spike-driven self-attention (SDSA, Spike-driven Transformer ``MS_SSA_Conv``).

``kv = sum_n (k_n ⊙ v_n)`` (column sum over the N tokens, ``[T, B, h, 1, d]``), then
``kv_s = talking_heads_lif(kv)`` (LIF tau 2, v_th 0.5, hard reset 0), then
``out_n = q_n ⊙ kv_s`` (a channel mask, broadcast over tokens). Output is spikes; no scale.
"""

from __future__ import annotations

import torch

from spikeport.models.attention.core import AttentionCore
from spikeport.models.neuron import MultiStepLIF


class SDSACore(AttentionCore):
    """SDSA with its own LIF named ``talking_heads_lif`` (official name); ``scale`` unused."""

    name = "sdsa"
    emits_spikes = True

    def __init__(self, *, num_heads: int, head_dim: int, scale: float = 0.125) -> None:
        super().__init__(num_heads=num_heads, head_dim=head_dim, scale=scale)
        self.talking_heads_lif = MultiStepLIF(tau=2.0, v_threshold=0.5, detach_reset=True)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        self.check_inputs(q, k, v)
        kv = (k * v).sum(dim=-2, keepdim=True)
        return q * self.talking_heads_lif(kv)
