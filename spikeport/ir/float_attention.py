"""The float spiking self-attention node: one kind, the variant says which formula.

Inputs q, k, v are spike tensors (N, D), D = heads * head_dim, channels head-major
(channel c belongs to head c // head_dim). The output (N, D) is the real-valued
attention result *before* the attention LIF (a separate LIF node), or spikes for a variant
with ``spiking_output``. Each variant's formula, fields and checks live in its module of
``spikeport.ir.attention`` (the one list of variants):

* ssa:     out = (Q K^T) V * scale                                   (Spikformer)
* axnor:   out = S_a V * scale, S_a[i, j] = sum_c q_ic k_jc + a_h (1 - q_ic)(1 - k_jc)
* lrf_ssa: ssa output + local(V): two depth-wise 3x3 convs over the token grid (H, W)
           with dilations `local_dilation`, weights `local_weight` [2, D, 1, 3, 3]
* lrf_dyn: per channel, k dendritic compartments run causally over tokens n:
           X_n = A X_{n-1} + gamma * u_n, y_n = c . X_n; u_n = k_n * v_n and the output
           is y_n * q_n for input_mode "kv_gate_q"; plus the local term when local_weight
           is set. A [D, k, k] tridiagonal, gamma and c [D, k].
* sdsa:    out = Q * SN(sum_n K * V) (Spike-driven Transformer v1, column sum over
           tokens; the inner spiking neuron has threshold `sdsa_threshold`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from spikeport.ir import attention
from spikeport.ir.checks import QKVCore, check_choice
from spikeport.ir.node import Node, Shape, node

INPUT_MODES = ("kv_gate_q", "v", "kv")


def check_variant(node_: Any) -> attention.AttentionVariant:
    """The node's registered variant (``node.fail`` naming the known ones otherwise)."""
    check_choice(node_, "variant", attention.names())
    return attention.variant(node_.variant)


def check_local(node_: Any) -> None:
    """The LRF local term, when set: weights [2, D, 1, 3, 3] and the token grid."""
    weight = node_.local_weight
    if weight is None:
        return
    if weight.shape != (2, node_.dim, 1, 3, 3):
        raise node_.fail(f"local_weight shape {weight.shape} != (2, {node_.dim}, 1, 3, 3)")
    if node_.grid is None:
        raise node_.fail("the local term needs the token grid (H, W)")


@node
class Attention(QKVCore, Node):
    """Spiking self-attention core (see module docstring for each variant's formula).

    variant: a name of ``spikeport.ir.attention`` (ssa | axnor | lrf_ssa | lrf_dyn | sdsa).
    heads, head_dim: D = heads * head_dim.  scale: multiplies the score-weighted sum.
    a: a-XNOR coefficient, shape () or (heads,), 0 < a < 1 (axnor only).
    grid: token grid (H, W) with H * W = N (lrf_ssa, and lrf_dyn with a local term).
    local_weight: [2, D, 1, 3, 3] depth-wise kernels; local_dilation: their dilations.
    dyn_a [D, k, k], dyn_gamma [D, k], dyn_c [D, k]: LRF-Dyn discrete dynamics.
    input_mode: how LRF-Dyn forms u_n from q, k, v (documented default "kv_gate_q").
    sdsa_threshold: threshold of SDSA's inner spiking neuron.
    """

    variant: str = "ssa"
    heads: int = 1
    head_dim: int = 1
    scale: float = 0.125
    a: np.ndarray | None = None
    grid: tuple[int, int] | None = None
    local_weight: np.ndarray | None = None
    local_dilation: tuple[int, int] = (3, 5)
    dyn_a: np.ndarray | None = None
    dyn_gamma: np.ndarray | None = None
    dyn_c: np.ndarray | None = None
    input_mode: str = "kv_gate_q"
    sdsa_threshold: float = 1.0

    float_tensors = ("a", "local_weight", "dyn_a", "dyn_gamma", "dyn_c")

    def _check_fields(self) -> None:
        spec = check_variant(self)
        if min(self.heads, self.head_dim) < 1:
            raise self.fail("heads and head_dim must be >= 1")
        check_choice(self, "input_mode", INPUT_MODES)
        for other in attention.variants():
            if other is not spec and any(getattr(self, f) is not None for f in other.owned_fields):
                raise self.fail(f"{other.owned_phrase}, not {self.variant}")
        check_local(self)
        spec.check_float(self)

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        x = self.qkv_shape(inputs)
        if self.grid is not None and self.grid[0] * self.grid[1] != x[0]:
            raise self.fail(f"grid {self.grid} does not hold {x[0]} tokens")
        return x
