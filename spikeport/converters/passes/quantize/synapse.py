"""Synapse + LIF -> Dense/Conv + CubaLIF (``H = (1 - 1/tau) V + W x + b``, spike ``H >= theta``,
reset 0).

Weights: 8-bit mantissa + sign, ``W_int = W S / (64 * 2^weight_exp)`` on Lava's grid (even
values in [-256, 254] for Dense, whose LSB truncation is then a no-op). ``vth = theta S / 64``
(Lava compares ``v > vth << 6``); S is chosen so that vth is an integer. ``du = 4095`` (u = a
<< 6 each step), ``dv = 4096 / tau``, ``bias = round(b S)`` as a 13-bit mantissa <<
bias_exp (0..7). Conv ignores weight_exp in Lava, so Conv layers use weight_exp 0; Dense
picks weight_exp so that vth keeps >= 9 bits while the worst-case current ``64 * 2^e *
max_row sum|W_int| * x_max`` stays inside the 24-bit u register (no wrap possible).
"""

from __future__ import annotations

import math

import numpy as np

from spikeport.converters.passes.graph_edit import kind, single_consumer, source
from spikeport.converters.passes.quantize import counts, readout
from spikeport.converters.passes.quantize import fixed_point as fp
from spikeport.converters.passes.quantize.quantizer import Quantize, rule, spiking_neuron
from spikeport.errors import UnsupportedError
from spikeport.ir import Conv, Dense, Graph


def rounding_shift(
    q: Quantize, name: str, w: np.ndarray, w_back: np.ndarray, unit: float
) -> np.ndarray:
    """Mean pre-activation shift (float units, per output) caused by weight rounding; a
    grouped conv's output channel sees only its group's input means."""
    mean = q.input_means.get(name)
    if mean is None:
        return np.zeros(w.shape[0])
    mu = np.asarray(mean, dtype=np.float64) / unit  # mean integer message
    dw = (w_back - w).reshape(w.shape[0], w.shape[1], -1).sum(-1)
    groups = mu.size // w.shape[1]
    if groups == 1:
        return dw @ mu
    per_group = dw.reshape(groups, w.shape[0] // groups, w.shape[1])
    return np.einsum("goi,gi->go", per_group, mu.reshape(groups, -1)).ravel()


def weights(
    w: np.ndarray, theta: float, e: int, wmax: float, xb: int, conv: bool, search: bool
) -> tuple[int, int, float, np.ndarray, float]:
    """(e, vth, S, W_int, worst-case |u|) at weight exponent e. With `search`, larger
    scales (up to 2x, clipping the largest weights) are tried and the one with the least
    squared weight error whose worst-case current fits 24 bits is kept.

    Candidates are evaluated in one reused float64 buffer (mantissas are small integers,
    exact in float64, so row sums and errors equal those of the int64 mantissas); only the
    chosen candidate's int64 mantissas are materialised."""
    vth0 = min(fp.VTH_MAX, max(1, math.floor(fp.W_MAX * theta * 2.0**e / wmax)))
    step = 64.0 * 2.0**e
    buf = np.empty(w.shape, dtype=np.float64)
    best = None
    tried: set[int] = set()
    for j in range(17 if search else 1):
        vth = min(fp.VTH_MAX, math.floor(vth0 * (1 + j / 16)))
        if vth in tried:  # same scale, same error: never strictly better
            continue
        tried.add(vth)
        s = 64.0 * vth / theta
        np.multiply(w, s, out=buf)
        buf /= step
        fp.mantissa_float(buf, conv)
        row = np.abs(buf).reshape(buf.shape[0], -1).sum(1).max(initial=0)
        u_bound = step * float(row) * xb
        buf *= 64.0
        buf *= 2.0**e
        buf /= s
        buf -= w
        np.square(buf, out=buf)
        err = float(np.sum(buf))
        if best is None or (u_bound <= fp.U_MAX and err < best[0]):
            best = (err, (e, vth, s, u_bound))
    e, vth, s, u_bound = best[1]
    return e, vth, s, fp.mantissa(w * s / step, conv), u_bound


def is_readout_head(graph: Graph, name: str) -> bool:
    """The output Linear fed by a token or time mean (quantised by the TokenMean rule), or
    feeding the output time mean (the TimeMean rule)."""
    if kind(graph, name) != "Linear":
        return False
    if name in graph.outputs:
        return kind(graph, source(graph, name)) in ("TimeMean", "TokenMean")
    after = single_consumer(graph, name)
    return after is not None and kind(graph, after) == "TimeMean" and after in graph.outputs


@rule("Conv2d", "Linear")
def synapse_lif(q: Quantize, graph: Graph, name: str) -> bool:
    if is_readout_head(graph, name):
        return False
    if name in graph.outputs and q.T == 1 and q.bound.get(source(graph, name), 0) >= 1:
        readout.spike_head(q, graph, name)  # a head on spikes, one step: its v is S x logits
        return True
    lif_name = single_consumer(graph, name)
    if lif_name is None or kind(graph, lif_name) != "LIF":
        from spikeport.converters.passes.quantize import current

        current.claim(q, graph, name)  # a current reaching its neurons through carriers
        return False  # quantised (and counted) with its group after the walk
    if counts.is_count_synapse(q, graph, name):
        counts.count_synapse(q, graph, name, lif_name)
        return True
    k = kind(graph, name)
    syn, lif = graph.node(name), graph.node(lif_name)
    dv, dv_err = q.lif_params(lif_name, lif)
    src = source(graph, name)
    xb, unit = q.bound[src], q.unit[src]
    is_conv = k == "Conv2d"
    w = np.asarray(syn.weight, dtype=np.float64) * unit
    b = np.zeros(w.shape[0]) if syn.bias is None else np.asarray(syn.bias, np.float64)
    theta = float(lif.v_threshold)
    if theta <= 0:
        raise UnsupportedError(f"{lif_name}: threshold {theta} must be > 0 on Loihi")
    wmax = float(np.abs(w).max(initial=0.0)) or 1e-30
    exps = [0] if is_conv else list(range(-8, 8))
    chosen = None
    for e in exps:
        cand = weights(w, theta, e, wmax, xb, is_conv, search=False)
        if chosen is None or cand[4] <= fp.U_MAX:
            chosen = cand
        if cand[4] > fp.U_MAX or cand[1] >= q.config.min_vth:
            break
    if q.config.clip_search:
        chosen = weights(w, theta, chosen[0], wmax, xb, is_conv, search=True)
    e, vth, s, w_int, u_bound = chosen
    w_back = w_int * 64.0 * 2.0**e / s
    shift = rounding_shift(q, name, w, w_back, unit)
    bias_mant, bias_exp, bias_sat = fp.bias(np.rint((b - shift) * s + fp.floor_offset(e)))
    bits = fp.message_bits(xb)
    if is_conv:
        geometry = {f: getattr(syn, f) for f in ("stride", "padding", "dilation", "groups")}
        new = Conv(name, weight=w_int, num_message_bits=bits, **geometry)
        bias_mant = bias_mant.reshape(-1, 1, 1)
    else:
        new = Dense(name, weight=w_int, weight_exp=e, num_message_bits=bits)
    graph.replace(new)
    spiking_neuron(q, graph, lif_name, dv, vth, bias_mant, bias_exp)
    q.currents(name)
    b_back = (bias_mant.reshape(-1) * 2.0**bias_exp) / s
    q.rows.append(
        {
            "layer": name,
            "neuron": lif_name,
            "kind": "Conv" if is_conv else "Dense",
            **fp.weight_stats(w, w_int, e),
            "state_scale": s,
            "vth": vth,
            "dv": dv,
            "dv_rounding": dv_err,
            "input_bound": xb,
            "num_message_bits": bits,
            **fp.weight_errors(w_back, w),
            "bias_rel_error": fp.relative_error(b_back, b),
            "bias_exp": bias_exp,
            "bias_saturated": bias_sat,
            "bias_correction_max": float(np.abs(shift).max(initial=0.0)),
            "u_worst_case": u_bound,
            "wrap_risk": u_bound > fp.U_MAX,
            "v_saturation_possible": 2 * u_bound + float(np.abs(b * s).max(initial=0)) > fp.U_MAX,
        }
    )
    return True
