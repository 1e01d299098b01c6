"""``sdsa``: spike-driven self-attention (Spike-driven Transformer v1).

Float: ``out = Q * SN(sum_n K * V)``: column sum over tokens, then the talking-heads LIF
(tau 2, hard reset 0, threshold ``sdsa_threshold``), a channel mask broadcast over tokens.
The output is spikes (no attention LIF follows; the scale is unused).

Integer: ``kv = sum_n k_n v_n`` (count <= N); inner CubaLIF (du 4095, dv = inner_dv,
vth = inner_vth, input ``kv << m``); ``out = q * s``. The inner neuron keeps state across
timesteps (restarted at each data window). Lowered (pass ``lower-sdsa``): ``SpikeAnd`` (k, v)
-> ``TokenSum`` (<< m) -> ``CubaLIF`` -> ``SpikeAnd`` (q). State: one d-vector of column
sums per head. Analytical count: K AND V and Q AND mask, 2 T N ceil(h d / w) AND words;
the column sum T h N d x pair(k, v) ACs (the inner LIF is counted as a neuron layer).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from spikeport.ir.attention.splice import close, cut
from spikeport.ir.attention.variant import AttentionVariant, CoreCall, bits_for
from spikeport.ir.attention_nodes import SpikeAnd, TokenSum
from spikeport.ir.graph import Graph
from spikeport.ir.int_nodes import DECAY_BITS, DU_FULL, CubaLIF

TAU = 2.0
"""Time constant of SDSA's inner (talking-heads) neuron: dv = 4096 / tau = 2048."""


class Sdsa(AttentionVariant):
    name = "sdsa"
    formula = "Q * SN(sum_n K * V)"
    spiking_output = True
    stateful = True
    fused = True
    lowering_pass = "lower-sdsa"

    def check_int_values(self, node: Any) -> None:
        if not (0 <= node.inner_vth <= 1 << 17 and 0 <= node.inner_dv <= 4096):
            raise node.fail("inner_vth must be 0..2^17 and inner_dv 0..4096")

    def spiking_params(
        self, node: Any, tokens: int, steps: int, count_shift: Callable[[float], int]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        m = count_shift(float(tokens) * TAU)
        vth = max(0, math.ceil(node.sdsa_threshold * TAU * 2**m) - 1)
        params = {"count_shift": m, "inner_vth": vth, "inner_dv": int((1 << DECAY_BITS) / TAU)}
        row = {"count_shift": m, "vth": vth, "state_scale": 64.0 * 2**m * TAU}
        row.update(exact_ties=m >= steps - 1, u_worst_case=64.0 * 2**m * tokens)
        return params, row

    def lower(self, graph: Graph, name: str) -> None:
        rec = graph.node(name)
        c = cut(graph, name)
        graph.add(SpikeAnd(f"{name}.kv"), {"a": c.inputs["k"], "b": c.inputs["v"]})
        graph.add(TokenSum(f"{name}.kv_sum", shift=rec.count_shift), f"{name}.kv")
        lif = CubaLIF(
            f"{name}.talking_lif", shape=(rec.dim,), du=DU_FULL, dv=rec.inner_dv, vth=rec.inner_vth
        )
        graph.add(lif, f"{name}.kv_sum")
        close(graph, c, SpikeAnd(name), {"a": c.inputs["q"], "b": lif.name})

    def state_bits(
        self, heads: int, tokens: int, head_dim: int, order: str, state_bits: int, compartments: int
    ) -> int:
        return heads * head_dim * bits_for(tokens)

    def paper_ops(self, call: CoreCall, ops: dict[str, float], notes: set[str]) -> None:
        c = call
        ops["and_words"] += 2 * c.t * c.b * c.n * math.ceil(c.h * c.d / c.word_bits)
        ops["acs"] += c.t * c.b * c.h * c.n * c.d * c.pair(c.fk, c.fv, c.exact_kv_elem)
        notes.add("sdsa masks")


VARIANT = Sdsa()
