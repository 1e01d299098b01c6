"""Count synapses: a Linear / Conv2d whose weights are all 0 or one value c > 0, without bias
(QKFormer's per-head channel sum, traced as a Linear of ones, times 1/tau after
fold-input-scale), followed by its LIF.

Its input integers give exact counts, and ties with the threshold are then the rule, not the
exception (``Q`` summing to 1 meets ``0.5 / 0.5``), so it is quantised as the attention
activations are (:mod:`.attention`): the neuron sees the count in units of 2^-m
(``Dense`` mantissas 1, ``weight_exp`` m; S = 2^(m+6) / c per float unit) and
``vth = ceil(theta / c * 2^m) - 1`` makes Lava's ``v > vth << 6`` equal SpikingJelly's
``H >= theta`` exactly while v stays a multiple of 64: with dv = 2048 (tau 2) that holds for
m >= T - 1 (reported as ``exact_ties``).
"""

from __future__ import annotations

import math

import numpy as np

from spikeport.converters.passes.graph_edit import kind, source
from spikeport.converters.passes.quantize import fixed_point as fp
from spikeport.converters.passes.quantize.attention import count_shift
from spikeport.converters.passes.quantize.quantizer import Quantize, spiking_neuron
from spikeport.ir import Conv, Dense, Graph
from spikeport.ir.int_nodes import ACT_SHIFT

MAX_EXP = 7
"""Largest Dense weight_exp (a larger shift goes into the mantissa) and largest Conv shift
(Lava's Conv has no exponent: mantissas 2^m <= 255)."""


def is_count_synapse(q: Quantize, graph: Graph, name: str) -> bool:
    """Weights all 0 or c > 0 (at least one c), no bias, integer input in unit steps."""
    rec = graph.node(name)
    if q.unit.get(source(graph, name)) != 1.0:
        return False
    if rec.bias is not None and np.any(np.asarray(rec.bias) != 0):
        return False
    w = np.asarray(rec.weight, dtype=np.float64)
    nonzero = w[w != 0]
    return nonzero.size > 0 and nonzero[0] > 0 and bool(np.all(nonzero == nonzero[0]))


def count_synapse(q: Quantize, graph: Graph, name: str, lif_name: str) -> None:
    rec, lif = graph.node(name), graph.node(lif_name)
    dv, dv_err = q.lif_params(lif_name, lif)
    w = np.asarray(rec.weight, dtype=np.float64)
    c = float(w[w != 0][0])
    xb = q.bound[source(graph, name)]
    ones = (w != 0).astype(np.int64)
    bound = float(ones.reshape(len(ones), -1).sum(1).max()) * xb
    conv = kind(graph, name) == "Conv2d"
    m = min(count_shift(q, bound), MAX_EXP) if conv else count_shift(q, bound)
    vth = max(0, math.ceil(float(lif.v_threshold) / c * 2**m) - 1)
    e = min(m, MAX_EXP)
    bits = fp.message_bits(xb)
    if conv:
        geometry = {f: getattr(rec, f) for f in ("stride", "padding", "dilation", "groups")}
        # Lava's Conv ignores weight_exp: the whole shift is in the mantissas
        graph.replace(Conv(name, weight=ones << m, num_message_bits=bits, **geometry))
    else:
        graph.replace(Dense(name, weight=ones << (m - e), weight_exp=e, num_message_bits=bits))
    spiking_neuron(q, graph, lif_name, dv, vth)
    q.currents(name)
    u_worst = float(2**m * bound * (1 << ACT_SHIFT))
    q.rows.append(
        {
            "layer": name,
            "neuron": lif_name,
            "kind": "Conv (count)" if conv else "Dense (count)",
            "weight_min": float(w.min()),
            "weight_max": float(w.max()),
            "count_shift": m,
            "vth": vth,
            "dv": dv,
            "dv_rounding": dv_err,
            "state_scale": 2.0 ** (m + ACT_SHIFT) / c,
            "input_bound": xb,
            "num_message_bits": bits,
            "weight_rel_error": 0.0,
            "exact_ties": m >= q.T - 1 and dv == 2048,
            "u_worst_case": u_worst,
            "wrap_risk": u_worst > fp.U_MAX,
        }
    )
