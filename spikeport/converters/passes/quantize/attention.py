"""Attention (+ its LIF) -> IntAttention (+ CubaLIF); each variant's own fields through
``spikeport.ir.attention`` (``count_bound``, ``int_params``, ``spiking_params``).

The activation ``a`` is in units of 2^-m counts (u = a << 6: S = 2^(m+6) per count); m is the
largest shift (<= count_shift_max) that keeps the worst case inside 24 bits. Integer inputs
make threshold ties common (``V/2 + A = 8``), and SpikingJelly fires on ``>=`` while Lava
fires on ``>``: vth = ceil(theta 2^m) - 1 makes ``v > vth << 6`` equal ``v >= theta S``
whenever v is a multiple of 64, which holds for count inputs while m >= T - 1 (the report
flags it). The LRF local term (any variant that has one): weights << m as 8 bits + sign with
a power-of-two scale 2^local_shift. A spiking-output variant (sdsa) has no LIF after it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from spikeport.converters.passes.graph_edit import kind, single_consumer
from spikeport.converters.passes.quantize import fixed_point as fp
from spikeport.converters.passes.quantize.quantizer import Quantize, rule
from spikeport.errors import UnsupportedError
from spikeport.ir import CubaLIF, Graph, attention
from spikeport.ir.int_attention import IntAttention
from spikeport.ir.int_nodes import DU_FULL


def count_shift(q: Quantize, bound: float) -> int:
    """The largest m <= count_shift_max with 64 * 2^m * bound inside the 24-bit register."""
    m = q.config.count_shift_max
    while m > 0 and 64.0 * 2**m * bound > fp.U_MAX:
        m -= 1
    return m


def local_params(rec: Any, m: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(IntAttention local-term fields, report entries) at count shift m."""
    lw = np.asarray(rec.local_weight, dtype=np.float64) * 2**m
    r = math.ceil(math.log2(max(np.abs(lw).max(), 1e-30) / 255.0))
    lw_int = np.clip(np.rint(lw / 2.0**r), -256, 255).astype(np.int64)
    params = {
        "local_weight": lw_int,
        "local_shift": r,
        "local_dilation": rec.local_dilation,
        "grid": rec.grid,
    }
    return params, {"local_shift": r, "local_rel_error": fp.relative_error(lw_int * 2.0**r, lw)}


@rule("Attention")
def attention_core(q: Quantize, graph: Graph, name: str) -> None:
    rec = graph.node(name)
    spec = attention.variant(rec.variant)
    n_tok, _ = q.shapes[name]
    core = {"variant": rec.variant, "heads": rec.heads, "head_dim": rec.head_dim}
    row: dict[str, Any] = {"layer": name, "kind": f"IntAttention/{rec.variant}"}
    if spec.spiking_output:
        params, extra = spec.spiking_params(rec, n_tok, q.T, lambda b: count_shift(q, b))
        graph.replace(IntAttention(name, **core, **params))
        q.spikes(name)
        q.rows.append(row | extra)
        return
    lif_name = single_consumer(graph, name)
    if lif_name is None or kind(graph, lif_name) != "LIF":
        raise UnsupportedError(f"{name}: attention output must feed one LIF neuron")
    lif = graph.node(lif_name)
    dv, _ = q.lif_params(lif_name, lif)
    if rec.scale != 1.0:
        raise UnsupportedError(f"{name}: scale {rec.scale} != 1; run merge-attention-scale")
    count_bound = spec.count_bound(rec, n_tok)
    local_bound = 0.0
    if rec.local_weight is not None:
        lw = np.asarray(rec.local_weight, dtype=np.float64)
        local_bound = float(np.abs(lw).sum(axis=(0, 2, 3, 4)).max())
    m = count_shift(q, count_bound + local_bound)
    vth = max(0, math.ceil(float(lif.v_threshold) * 2**m) - 1)
    u_worst = 64.0 * 2**m * (count_bound + local_bound)
    row.update(count_shift=m, vth=vth, state_scale=64.0 * 2**m, dv=dv)
    row.update(exact_ties=m >= q.T - 1, u_worst_case=u_worst)
    params: dict[str, Any] = {}
    if rec.local_weight is not None:
        local, extra = local_params(rec, m)
        params.update(local)
        row.update(extra)
    own, extra = spec.int_params(rec, q.config.a_shift)
    params.update(own)
    row.update(extra)
    graph.replace(IntAttention(name, **core, count_shift=m, **params))
    graph.replace(CubaLIF(lif_name, shape=q.shapes[lif_name], du=DU_FULL, dv=dv, vth=vth))
    row["neuron"] = lif_name
    row["wrap_risk"] = u_worst > fp.U_MAX
    q.rows.append(row)
    q.currents(name)
    q.spikes(lif_name)
