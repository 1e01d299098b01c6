"""Integer spikes (SDT-V3): IntegerSpike -> GradedSpike, LinearAttention -> IntLinearAttention.

* An ``IntegerSpike`` reads a synaptic current (a current group, :mod:`.current`): its float
  input x = a / scale + beta, so ``round(x) = rint((a + rint(beta scale)) / scale)`` with
  ``vth = scale`` (the group makes it an integer) and ``bias = rint(beta scale)``. It emits
  0..D at ``1 / norm`` float units per integer. When its output feeds the graph's output
  Linear (SDT-V3's classifier spike), that head becomes the readout (:mod:`.readout`).
* ``LinearAttention`` on integer spikes q, k, v (units u_q, u_k, u_v) is exact in integers:
  float ``y = scale u_q u_k u_v P`` with ``P = (q k^T) v``. Its reading IntegerSpike (through
  layout nodes) gets ``vth = 2^m / (scale u_q u_k u_v)`` for ``P << m``: m = 0 when that is
  an integer (SDT-V3 with d = 16: 128), else the largest m keeping ``P_max << m`` inside 24
  bits (the threshold then carries m fraction bits; its rounding is reported).

Rounding: the integer neuron rounds the exact ratio to the nearest integer with ties to
even, like ``torch.round``; where the float model's value is exact (the attention above)
the two agree at ties too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from spikeport.converters.passes.graph_edit import kind, single_consumer
from spikeport.converters.passes.layout import LAYOUT
from spikeport.converters.passes.quantize import fixed_point as fp
from spikeport.converters.passes.quantize.current import (
    CurrentReader,
    Drive,
    ReaderSpec,
    current_reader,
)
from spikeport.converters.passes.quantize.quantizer import Quantize, rule
from spikeport.errors import UnsupportedError
from spikeport.ir import GradedSpike, Graph, IntLinearAttention
from spikeport.ir.integer_nodes import spike_bits

VTH_MAX = fp.U_MAX
"""Largest GradedSpike threshold and input current: the 24-bit register."""


def _integer_spike(q: Quantize, graph: Graph, name: str, vth: int, bias: Any) -> GradedSpike:
    """Replace IntegerSpike `name` by its GradedSpike; mark its output (0..D at 1/norm)."""
    rec = graph.node(name)
    node = GradedSpike(name, shape=q.shapes[name], vth=vth, bias=bias, max_value=rec.max_value)
    graph.replace(node)
    q.bound[name], q.unit[name] = rec.max_value, 1.0 / rec.norm
    return node


@current_reader("IntegerSpike")
class IntegerSpikeReader(CurrentReader):
    """I-LIF reading a current: one spike count per float unit (threshold 1)."""

    def spec(self, q: Quantize, graph: Graph, name: str) -> ReaderSpec:
        """vth <= 2^23 / (2 (D + 1)) and |a| <= 2^23 - (D + 1) vth_max: every bias that
        matters, up to |a| + (D + 1) vth, fits the 24-bit register (see :meth:`build`)."""
        span = graph.node(name).max_value + 1
        vth_max = VTH_MAX // (2 * span)
        return ReaderSpec(1.0, vth_max, VTH_MAX - span * vth_max)

    def output(self, q: Quantize, graph: Graph, name: str) -> tuple[int, float]:
        rec = graph.node(name)
        return rec.max_value, 1.0 / rec.norm

    def build(self, q: Quantize, graph: Graph, name: str, drive: Drive) -> dict[str, Any]:
        """vth = rint(scale), bias = rint(beta scale) clipped to +-(bound + (D + 1) vth):
        beyond that s is D (or 0) for every input |a| <= bound, so the clip is exact (and
        fits 24 bits by :meth:`spec`)."""
        vth = int(round(drive.scale))
        bias_f = np.asarray(drive.bias, dtype=np.float64) * drive.scale
        rounded = np.rint(bias_f)
        lim = drive.bound + (graph.node(name).max_value + 1) * vth
        bias = np.clip(rounded, -lim, lim).astype(np.int64)
        _integer_spike(q, graph, name, vth, bias if bias.any() else None)
        return {
            "vth": vth,
            "vth_rounding": abs(vth - drive.scale) / drive.scale,
            "state_scale": drive.scale,
            "bias_rel_error": fp.relative_error(rounded, bias_f),
            "bias_clipped": int(np.count_nonzero(bias != rounded)),
            "input_bound": drive.bound,
            "num_message_bits": spike_bits(graph.node(name).max_value),
            "wrap_risk": drive.bound > VTH_MAX,
        }


def _reader(graph: Graph, name: str) -> tuple[str, list[str]]:
    """The IntegerSpike reading `name` through a chain of layout nodes, and that chain."""
    chain, nxt = [], single_consumer(graph, name)
    while nxt is not None and kind(graph, nxt) in LAYOUT:
        chain.append(nxt)
        nxt = single_consumer(graph, nxt)
    if nxt is None or kind(graph, nxt) != "IntegerSpike":
        raise UnsupportedError(f"{name}: LinearAttention output must feed one IntegerSpike")
    return nxt, chain


def attention_shift(p_max: int, vth_real: float) -> int:
    """m: 0 when ``vth_real`` is an integer, else the largest m with ``p_max << m`` and the
    threshold ``2^m vth_real`` inside 24 bits."""
    if vth_real == round(vth_real):
        return 0
    m = 0
    while (p_max << (m + 1)) <= VTH_MAX and 2.0 ** (m + 1) * vth_real <= VTH_MAX:
        m += 1
    return m


@rule("LinearAttention")
def linear_attention(q: Quantize, graph: Graph, name: str) -> None:
    rec = graph.node(name)
    ins = graph.inputs_of(name)
    bounds = [q.bound[ins[p]] for p in ("q", "k", "v")]
    units = [q.unit[ins[p]] for p in ("q", "k", "v")]
    n_tok, c = q.shapes[ins["q"]]
    d = c // rec.heads
    top = max(bounds)
    p_max = n_tok * d * math.prod(bounds)
    unit = rec.scale * math.prod(units)  # float units per integer of P
    if not unit > 0:
        raise UnsupportedError(f"{name}: LinearAttention scale {rec.scale} must be > 0")
    spike, _ = _reader(graph, name)
    vth_real = 1.0 / unit
    m = attention_shift(p_max, vth_real)
    vth = int(round(2.0**m * vth_real))
    if not 1 <= vth <= VTH_MAX or p_max << m > VTH_MAX:
        raise UnsupportedError(
            f"{name}: (Q K^T) V of up to {p_max} with threshold {vth_real:.4g} does not fit 24 bits"
        )
    out_bits = max(1, (p_max << m).bit_length())
    graph.replace(
        IntLinearAttention(name, heads=rec.heads, shift=m, max_value=top, out_bits=out_bits)
    )
    q.currents(name)
    _integer_spike(q, graph, spike, vth, None)
    q.rows.append(
        {
            "layer": name,
            "neuron": spike,
            "kind": "IntLinearAttention",
            "count_shift": m,
            "vth": vth,
            "vth_rounding": abs(vth - 2.0**m * vth_real) / (2.0**m * vth_real),
            "product_worst_case": p_max << m,
            "input_bounds": bounds,
            "exact_ties": m == 0,
        }
    )
