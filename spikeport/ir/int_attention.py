"""Integer (quantised) spiking self-attention: one node per attention core, before lowering.

Produced by the quantisation pass; evaluated by `spikeport.hw_models.sim.int_attention`
(formulas there). Each variant's fields, checks and lowering to primitives (`AndPopcount`,
`XnorPopcount`, ..., CubaLIF) live in its module of ``spikeport.ir.attention``.

Inputs q, k, v: binary spikes (N, D), D = heads * head_dim, channel c in head c // head_dim.
Output: for ssa | axnor | lrf_ssa | lrf_dyn the integer activation `a` (N, D) of the
attention LIF (a CubaLIF: u += a << 6), in units of 2^-count_shift "counts" (one count is
one unit of the merged attention sum, see passes/merge_attention_scale.py); for sdsa the
binary output spikes q * SN(sum_n k * v) (the inner neuron is Lava CubaLIF arithmetic).

Per head, with C = popcount(q & k) (N x N) and V (N, head_dim), m = count_shift:
* ssa:     a = (C V) << m
* axnor:   a = (((2^p - a_int) C + a_int X) V << m) >> p, X = popcount(~(q ^ k)), p = a_shift
* lrf_ssa: ssa + local, local = sum_r dwconv3x3_r(V) with int weights, then << local_shift
           (>> -local_shift, floor, when negative)
* lrf_dyn: X_n = trunc((A X_{n-1}) / 2^12) + G u_n (per channel, k compartments, u_n = k_n v_n
           or v_n), y_n = trunc((c . X_n) / 2^12); a = gate * (y_n >> (12 - m)) + local.
           A, G, c: 12-fractional-bit signed integers; X, y in units of 2^-12 counts.
* sdsa:    kv = sum_n k_n v_n (count <= N); inner CubaLIF (du = 4095, dv = inner_dv,
           vth = inner_vth, input a = kv << m); out = q * s.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from spikeport.ir.checks import QKVCore, check_choice
from spikeport.ir.dendritic_node import FRAC_BITS
from spikeport.ir.float_attention import INPUT_MODES, check_local, check_variant
from spikeport.ir.int_nodes import WEIGHT_STORAGE
from spikeport.ir.node import Node, Shape, node

DYN_FRAC_BITS = FRAC_BITS
"""Fractional bits of the LRF-Dyn transition, gain and readout integers (12-bit decays)."""


@node
class IntAttention(QKVCore, Node):
    """Quantised attention core (see module docstring for each variant's integer formula).

    count_shift: m, fractional bits of the output activation (0..16).
    a_int [heads] / a_shift: a-XNOR co-silence weight a = a_int / 2^a_shift (axnor only).
    local_weight: int [2, D, 1, 3, 3] (8 bits + sign), local_shift: its power-of-two scale.
    dyn_a [D, k, k], dyn_gamma [D, k], dyn_c [D, k]: 12-fractional-bit integers (lrf_dyn).
    inner_vth, inner_dv: SDSA inner CubaLIF threshold mantissa and voltage decay (sdsa).
    """

    variant: str = "ssa"
    heads: int = 1
    head_dim: int = 1
    count_shift: int = 0
    a_int: np.ndarray | None = None
    a_shift: int = 0
    grid: tuple[int, int] | None = None
    local_weight: np.ndarray | None = None
    local_shift: int = 0
    local_dilation: tuple[int, int] = (3, 5)
    dyn_a: np.ndarray | None = None
    dyn_gamma: np.ndarray | None = None
    dyn_c: np.ndarray | None = None
    input_mode: str = "kv_gate_q"
    inner_vth: int = 0
    inner_dv: int = 0

    level = "int"
    int_tensors = ("a_int", "local_weight", "dyn_a", "dyn_gamma", "dyn_c")
    int_dtypes = {"local_weight": WEIGHT_STORAGE}

    def _check_fields(self) -> None:
        spec = check_variant(self)
        check_choice(self, "input_mode", INPUT_MODES)
        if not 0 <= self.count_shift <= 16:
            raise self.fail(f"count_shift {self.count_shift} outside 0..16")
        check_local(self)
        spec.check_int(self)

    def check(self) -> None:
        lw = self.local_weight
        if lw is not None and np.abs(lw.astype(np.int64)).max(initial=0) > 256:
            raise self.fail("local_weight outside 8 bits + sign")
        check_variant(self).check_int_values(self)

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return self.qkv_shape(inputs)
