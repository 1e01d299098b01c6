"""The attention-core interface shared by every variant.

A core is the trainable torch form of one variant of ``spikeport.ir.attention``. Besides
``forward`` it says what the converter needs: ``ir_params()`` (its fields of the IR
``Attention`` node) and ``reference(node, q, k, v)`` (the float node evaluated with the same
torch operations as ``forward``, so a traced graph reproduces the model bit for bit).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from spikeport.errors import UnsupportedError


class AttentionCore(nn.Module):
    """Maps spike tensors ``q, k, v`` of shape ``[T, B, h, N, d]`` to ``[T, B, h, N, d]``.

    ``emits_spikes`` False: the result is the real-valued input current of the caller's
    attention LIF (``attn_lif``, v_th 0.5). True: the core already produced spikes.
    """

    name: str = ""
    emits_spikes: bool = False

    def __init__(self, *, num_heads: int, head_dim: int, scale: float = 0.125) -> None:
        super().__init__()
        if num_heads < 1 or head_dim < 1:
            raise UnsupportedError(
                f"attention '{self.name}': num_heads and head_dim must be >= 1, "
                f"got {num_heads}, {head_dim}"
            )
        self.num_heads = int(num_heads)
        self.head_dim = int(head_dim)
        self.scale = float(scale)

    def check_inputs(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """Raise ``UnsupportedError`` unless q, k, v share one ``[T, B, h, N, d]`` shape."""
        if not (q.shape == k.shape == v.shape) or q.dim() != 5:
            raise UnsupportedError(
                f"attention '{self.name}': q, k, v must share shape [T, B, h, N, d], got "
                f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
            )
        if q.shape[2] != self.num_heads or q.shape[4] != self.head_dim:
            raise UnsupportedError(
                f"attention '{self.name}': expected h={self.num_heads}, d={self.head_dim}, "
                f"got shape {tuple(q.shape)}"
            )

    def ir_params(self) -> dict[str, Any]:
        """This core's variant fields of the IR ``Attention`` node (NumPy arrays), beyond
        heads, head_dim and scale. Raises UnsupportedError for a setting the IR cannot hold."""
        return {}

    @classmethod
    def reference(
        cls, node: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> torch.Tensor:
        """The float IR ``Attention`` node `node` (this variant) on ``[T, B, h, N, d]`` spikes."""
        raise NotImplementedError(f"attention core '{cls.name}' defines no reference")

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, head_dim={self.head_dim}, scale={self.scale}"


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A NumPy view of parameter `t` (the IR node copies it)."""
    return t.detach().cpu().numpy()


def node_tensor(value: Any) -> torch.Tensor:
    """An IR node's tensor field as a torch tensor of its own dtype."""
    return torch.from_numpy(np.array(value))
