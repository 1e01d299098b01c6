"""The readout: TokenMean -> TimeMean -> Linear (Spikformer, QKFormer) -> [Transpose +]
Dense(ones) token sum + Dense(head, weights W / N), or Linear -> TimeMean (SDT, a head on
spikes every step) -> Dense(head); then a CubaLIF readout neuron that never spikes
(vth = 2^17, as netx readouts) with dv = 0, whose final v is T * S * logits."""

from __future__ import annotations

import numpy as np

from spikeport.converters.passes.graph_edit import kind, single_consumer, source
from spikeport.converters.passes.quantize import fixed_point as fp
from spikeport.converters.passes.quantize.quantizer import Quantize, rule
from spikeport.errors import UnsupportedError
from spikeport.ir import CubaLIF, Dense, Graph, Reshape, Transpose
from spikeport.ir.int_nodes import DU_FULL


@rule("TokenMean")
def readout(q: Quantize, graph: Graph, name: str) -> None:
    tmean = single_consumer(graph, name)
    head = single_consumer(graph, tmean) if tmean else None
    if (
        tmean is None
        or kind(graph, tmean) != "TimeMean"
        or head is None
        or kind(graph, head) != "Linear"
        or head not in graph.outputs
    ):
        raise UnsupportedError(
            f"{name}: token mean must feed mean over time then the output Linear head"
        )
    tm = graph.node(name)
    src = source(graph, name)
    in_shape = q.shapes[src]
    if len(in_shape) != 2:
        raise UnsupportedError(f"{name}: token mean of a {len(in_shape)}-d input (needs (N, D))")
    axis = tm.axis % 2
    n_tok, dim = in_shape[axis], in_shape[1 - axis]
    xb = q.bound[src]
    lin = graph.node(head)
    w = np.asarray(lin.weight, dtype=np.float64) / n_tok
    b = np.zeros(w.shape[0]) if lin.bias is None else np.asarray(lin.bias, np.float64)
    # rebuild: [Transpose] -> token-sum Dense -> Reshape -> head Dense -> readout CubaLIF
    for n in (head, tmean, name):
        graph.remove(n)
    last = src
    if axis == 0:
        last = graph.add(Transpose(f"{name}.tokens_last", perm=(1, 0)), last).name
    bits_in = fp.message_bits(xb)
    graph.add(
        Dense(name, weight=np.ones((1, n_tok), dtype=np.int64), num_message_bits=bits_in), last
    )
    graph.add(Reshape(f"{name}.flat", shape=(dim,)), name)
    head_neuron(q, graph, head, w, b, f"{name}.flat", n_tok * xb)


@rule("TimeMean")
def time_mean_head(q: Quantize, graph: Graph, name: str) -> None:
    """Linear head -> TimeMean at the output (SDT: the head reads ``head_lif``'s spikes each
    step, the logits are averaged over T): head Dense + readout neuron."""
    head = source(graph, name)
    if kind(graph, head) != "Linear" or name not in graph.outputs:
        raise UnsupportedError(f"{name}: a mean over time must be the output, after a Linear head")
    spike_head(q, graph, head, drop=(name,))


def spike_head(q: Quantize, graph: Graph, head: str, drop: tuple[str, ...] = ()) -> None:
    """The output Linear `head` reading spikes (binary or graded: ``q.bound``/``q.unit`` of
    its source) every step, after removing the nodes `drop` behind it (a TimeMean): head
    Dense + readout neuron."""
    src = source(graph, head)
    lin = graph.node(head)
    w = np.asarray(lin.weight, dtype=np.float64) * q.unit[src]
    b = np.zeros(w.shape[0]) if lin.bias is None else np.asarray(lin.bias, np.float64)
    for n in (*drop, head):
        graph.remove(n)
    head_neuron(q, graph, head, w, b, src, q.bound[src])


def head_neuron(
    q: Quantize, graph: Graph, head: str, w: np.ndarray, b: np.ndarray, feed: str, bound: int
) -> None:
    """Add the head Dense `head` (float weights `w` per input integer, bias `b`) on `feed`
    (integers of magnitude <= `bound`) and the readout CubaLIF whose final v is T S logits."""
    wmax = float(np.abs(w).max(initial=0.0)) or 1e-30
    chosen = None
    for e in range(7, -9, -1):
        s = fp.W_MAX * 64.0 * 2.0**e / wmax
        w_int = fp.even(w * s / (64.0 * 2.0**e))
        row_sum = float(np.abs(w_int).sum(1).max(initial=0))
        v_bound = q.T * (64.0 * 2.0**e * row_sum * bound + float(np.abs(b * s).max(initial=0)))
        chosen = (e, s, w_int, v_bound)
        if v_bound <= fp.U_MAX:
            break
    e, s, w_int, v_bound = chosen
    bias_mant, bias_exp, bias_sat = fp.bias(np.rint(b * s + fp.floor_offset(e)))
    graph.add(
        Dense(head, weight=w_int, weight_exp=e, num_message_bits=fp.message_bits(bound)), feed
    )
    neuron = f"{head}.readout"
    graph.add(
        CubaLIF(
            neuron,
            shape=(w.shape[0],),
            du=DU_FULL,
            dv=0,
            vth=fp.VTH_MAX,
            bias_mant=bias_mant,
            bias_exp=bias_exp,
        ),
        head,
    )
    graph.set_outputs([neuron])
    graph.meta["readout"] = neuron
    graph.meta["readout_scale"] = s * q.T
    w_back = w_int * 64.0 * 2.0**e / s
    q.rows.append(
        {
            "layer": head,
            "neuron": neuron,
            "kind": "Dense (readout)",
            **fp.weight_stats(w, w_int, e),
            "state_scale": s,
            "vth": fp.VTH_MAX,
            "input_bound": bound,
            **fp.weight_errors(w_back, w),
            "bias_rel_error": fp.relative_error(bias_mant * 2.0**bias_exp / s, b),
            "bias_exp": bias_exp,
            "bias_saturated": bias_sat,
            "v_worst_case": v_bound,
            "wrap_risk": False,
            "v_saturation_possible": v_bound > fp.U_MAX,
        }
    )
