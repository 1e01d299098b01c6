"""``lower-lrf-dyn``: IntAttention (lrf_dyn) -> DendriticAttention (+ LocalTerm + Add).

The quantised k x k transition ``dyn_a`` (12 fractional bits) must be tridiagonal: its
diagonal becomes the 12-bit Loihi decay ``4096 - A_ii`` (0..4096), its off-diagonals the
couplings ``up_i = A[i, i+1]`` and ``down_i = A[i+1, i]``; gamma and readout are copied.
The compartment register width `state_bits` is the smallest multiple of 8 holding the
largest |X| that N tokens of 0/1 drive can reach (a bound from the row sums of |A|).
The last node keeps the attention's name and feeds the attention LIF (charge-fire-reset).
Equals ``hw_models.sim.int_attention.lrf_dyn_int`` (+ ``local_int``) bit for bit.
"""

from __future__ import annotations

import numpy as np

from spikeport.converters.passes.attention_splice import cut
from spikeport.converters.passes.graph_edit import kind
from spikeport.converters.passes.lower_axnor import finish
from spikeport.converters.passes.manager import Pass
from spikeport.errors import UnsupportedError
from spikeport.ir import Graph, Node
from spikeport.ir.dendritic_node import FRAC_BITS, DendriticAttention


def tridiagonal(name: str, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(decay [D, k], up [D, k-1], down [D, k-1]) of integer A [D, k, k] (2^12 = 1.0)."""
    k = a.shape[-1]
    band = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) <= 1
    if np.any(a[:, ~band]):
        raise UnsupportedError(f"{name}: dyn_a is not tridiagonal; cannot lower to dendrites")
    diag = np.diagonal(a, axis1=1, axis2=2)
    decay = (1 << FRAC_BITS) - diag
    if np.any(decay < 0) or np.any(decay > 1 << FRAC_BITS):
        raise UnsupportedError(f"{name}: dyn_a diagonal outside 0..4096 (decay not 12-bit)")
    up = np.diagonal(a, offset=1, axis1=1, axis2=2)
    down = np.diagonal(a, offset=-1, axis1=1, axis2=2)
    return decay, up, down


def state_bits(a: np.ndarray, gamma: np.ndarray, tokens: int) -> int:
    """Register width (multiple of 8) for |X| after `tokens` steps of 0/1 drive:
    |X_n| <= r |X_{n-1}| + 1 + max|gamma|, r = max row sum |A| / 2^12 (the +1 covers the
    truncation)."""
    r = float(np.abs(a).sum(axis=-1).max(initial=0)) / (1 << FRAC_BITS)
    g = float(np.abs(gamma).max(initial=0)) + 1.0
    bound = 0.0
    for _ in range(tokens):
        bound = r * bound + g
    bits = int(np.ceil(bound)).bit_length() + 1  # + sign
    return -(-bits // 8) * 8


class LowerLrfDyn(Pass):
    name = "lower-lrf-dyn"
    description = "lrf_dyn IntAttention -> stateful integer dendritic neuron (k x d state)"

    def match(self, graph: Graph, name: str) -> bool:
        return kind(graph, name) == "IntAttention" and graph.node(name).variant == "lrf_dyn"

    def transform(self, graph: Graph, name: str) -> None:
        rec = graph.node(name)
        a = np.asarray(rec.dyn_a)
        decay, up, down = tridiagonal(name, a)
        c = cut(graph, name)
        bits = state_bits(a, np.asarray(rec.dyn_gamma), c.tokens)
        if bits > 64:
            raise UnsupportedError(f"{name}: dendritic state needs more than 64 bits")

        def last(n: str) -> Node:
            return DendriticAttention(
                n,
                heads=rec.heads,
                head_dim=rec.head_dim,
                compartments=a.shape[-1],
                decay=decay,
                up=up,
                down=down,
                gamma=rec.dyn_gamma,
                readout=rec.dyn_c,
                input_mode=rec.input_mode,
                count_shift=rec.count_shift,
                state_bits=bits,
            )

        finish(graph, c, rec, last, dict(c.inputs))
