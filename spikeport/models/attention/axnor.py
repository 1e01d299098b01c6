"""a-XNOR spiking self-attention (Xiao et al., CVPR 2025): SSA with co-silence credit ``a``.

For binary q, k in {0,1}^d the per-element score is 1 for (1,1), ``a`` for (0,0), 0 for a
mismatch, summed over d::

    sim_a(q, k) = sum_i [q_i k_i + a (1 - q_i)(1 - k_i)]
                = (1 + a) q.k - a (|q| + |k|) + a d

and ``out = sim_a(Q, K) V * scale`` (``a = 0`` is Spikformer SSA). No N×N map is formed when
``d <= N``: ``sim_a(Q,K) V = (1+a) Q(KᵀV) - a (Q1)(1ᵀV) - a 1((K1)ᵀV) + a d 1(1ᵀV)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from spikeport.errors import UnsupportedError
from spikeport.models.attention.core import AttentionCore, node_tensor, to_numpy


def axnor_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor, scale: float
) -> torch.Tensor:
    """``sim_a(Q, K) V * scale`` per head; `a` a scalar or broadcast as ``[1, 1, h, 1, 1]``.
    KV-first when d <= N (d x d and 1 x d summaries only), else the N x N scores."""
    n, d = q.shape[-2], q.shape[-1]
    if d <= n:  # KV-first: d×d and 1×d summaries only
        kv = k.transpose(-2, -1) @ v  # [.., d, d]
        v_sum = v.sum(-2, keepdim=True)  # 1ᵀV      [.., 1, d]
        kcount_v = k.sum(-1, keepdim=True).transpose(-2, -1) @ v  # (K1)ᵀV [.., 1, d]
        q_count = q.sum(-1, keepdim=True)  # Q1       [.., N, 1]
        out = (1 + a) * (q @ kv) - a * q_count * v_sum - a * kcount_v + (a * d) * v_sum
    else:  # QK-first: N×N scores
        q_count = q.sum(-1, keepdim=True)
        k_count = k.sum(-1, keepdim=True).transpose(-2, -1)
        scores = (1 + a) * (q @ k.transpose(-2, -1)) - a * (q_count + k_count) + a * d
        out = scores @ v
    return out * scale


class AXnorCore(AttentionCore):
    """a-XNOR attention; ``a = sigmoid(a_logit)`` is learnable, one per head or one in all.

    Default ``a_init = 0.1``: the paper weights co-spikes above co-silences (``a < 1``); a
    small ``a`` starts near SSA (``a = 0``), so SSA-trained weights stay a good start, while
    the co-silence term, whose count ``c00`` is close to d for sparse spikes, already
    contributes about ``0.1 d`` per pair instead of dominating the score.
    """

    name = "axnor"
    emits_spikes = False

    def __init__(
        self,
        *,
        num_heads: int,
        head_dim: int,
        scale: float = 0.125,
        per_head: bool = False,
        a_init: float = 0.1,
    ) -> None:
        super().__init__(num_heads=num_heads, head_dim=head_dim, scale=scale)
        if not 0.0 < a_init < 1.0:
            raise UnsupportedError(f"attention 'axnor': a_init must be in (0, 1), got {a_init}")
        self.per_head = bool(per_head)
        logit = math.log(a_init / (1.0 - a_init))
        shape = (self.num_heads,) if self.per_head else ()
        self.a_logit = nn.Parameter(torch.full(shape, logit))

    @property
    def a(self) -> torch.Tensor:
        """Current co-silence weight(s) in (0, 1): shape ``(h,)`` if per head, else ``()``."""
        return torch.sigmoid(self.a_logit)

    def _a_broadcast(self) -> torch.Tensor:
        a = self.a
        return a.view(1, 1, -1, 1, 1) if self.per_head else a

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        self.check_inputs(q, k, v)
        return axnor_attention(q, k, v, self._a_broadcast(), self.scale)

    def ir_params(self) -> dict[str, Any]:
        return {"a": to_numpy(self.a)}

    @classmethod
    def reference(
        cls, node: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> torch.Tensor:
        a = node_tensor(node.a)
        a = a.view(1, 1, -1, 1, 1) if a.dim() == 1 else a
        return axnor_attention(q, k, v, a, node.scale)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", per_head={self.per_head}"
