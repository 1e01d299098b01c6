"""The float spiking self-attention node: one kind, the variant says which formula.

Inputs q, k, v are spike tensors (N, D), D = heads * head_dim, channels head-major
(channel c belongs to head c // head_dim). The output (N, D) is the real-valued
attention result *before* the attention LIF (a separate LIF node).

Per head h, with Q, K, V of shape (N, head_dim):
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

import numpy as np

from spikeport.ir.checks import QKVCore, check_choice
from spikeport.ir.node import Node, Shape, node
from spikeport.models.attention import ATTENTION_TYPES

VARIANTS = ATTENTION_TYPES
"""The attention core names, from the model registry (``spikeport.models.attention``)."""
INPUT_MODES = ("kv_gate_q", "v", "kv")


@node
class Attention(QKVCore, Node):
    """Spiking self-attention core (see module docstring for each variant's formula).

    variant: one of ssa | axnor | lrf_ssa | lrf_dyn | sdsa.
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
        check_choice(self, "variant", VARIANTS)
        if min(self.heads, self.head_dim) < 1:
            raise self.fail("heads and head_dim must be >= 1")
        check_choice(self, "input_mode", INPUT_MODES)
        if self.variant == "axnor":
            if self.a is None or self.a.shape not in ((), (self.heads,)):
                raise self.fail(f"axnor needs a of shape () or ({self.heads},)")
            if np.any(self.a < 0) or np.any(self.a > 1):
                raise self.fail("a must lie in [0, 1]")
        elif self.a is not None:
            raise self.fail(f"a is only used by axnor, not {self.variant}")
        if self.variant == "lrf_ssa" and self.local_weight is None:
            raise self.fail("lrf_ssa needs local_weight")
        if self.local_weight is not None:
            if self.local_weight.shape != (2, self.dim, 1, 3, 3):
                raise self.fail(
                    f"local_weight shape {self.local_weight.shape} != (2, {self.dim}, 1, 3, 3)"
                )
            if self.grid is None:
                raise self.fail("the local term needs the token grid (H, W)")
        if self.variant == "lrf_dyn":
            if self.dyn_a is None or self.dyn_gamma is None or self.dyn_c is None:
                raise self.fail("lrf_dyn needs dyn_a, dyn_gamma and dyn_c")
            k = self.dyn_gamma.shape[-1]
            if self.dyn_a.shape != (self.dim, k, k):
                raise self.fail(f"dyn_a shape {self.dyn_a.shape} != ({self.dim}, {k}, {k})")
            for f in ("dyn_gamma", "dyn_c"):
                if getattr(self, f).shape != (self.dim, k):
                    raise self.fail(f"{f} shape {getattr(self, f).shape} != ({self.dim}, {k})")
            off = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) > 1
            if np.any(self.dyn_a[:, off]):
                raise self.fail("dyn_a must be tridiagonal")
        elif any(getattr(self, f) is not None for f in ("dyn_a", "dyn_gamma", "dyn_c")):
            raise self.fail(f"dyn_* fields are only used by lrf_dyn, not {self.variant}")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        x = self.qkv_shape(inputs)
        if self.grid is not None and self.grid[0] * self.grid[1] != x[0]:
            raise self.fail(f"grid {self.grid} does not hold {x[0]} tokens")
        return x
