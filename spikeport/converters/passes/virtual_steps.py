"""``expand-virtual-steps``: SDT-V3's integer spikes as binary spikes over virtual timesteps.

An integer spike s in 0..D is the count of D binary spikes ``b_j = [j < s]`` (the I-LIF's
"virtual timesteps"): a synapse accumulating ``W b_j`` over the D steps gets ``W s``. This
pass rewrites a quantised, layer-synchronous graph (before ``retime``) into that form:

* every ``GradedSpike`` gets ``virtual_steps = D`` (it sums its input over each window of D
  steps, adds its bias once and sends s as binary spikes) and every ``IntLinearAttention``
  the same window (it multiplies the window sums of q, k, v);
* every Dense / Conv reading a GradedSpike (through layout nodes) becomes binary
  (``num_message_bits = 0``);
* the readout CubaLIF (no leak, never spiking) adds its bias on every step, so its bias is
  divided by D (refused unless it is a multiple of D);
* ``meta["virtual_steps"] = D``: a sample's data enters on the first step of each window
  (``run_int`` feeds it so) and one real step lasts D steps.

The graph then gives the same integers as the graded one: every window's current sums, spike
counts and the readout's final v (``tests/test_sdt_v3_convert.py``). It runs
layer-synchronously (each layer's D steps complete before the next layer's, the
``schedule="layer"`` of the simulator); Lava's pipelined timing of it is not implemented
(the simulator and the Lava emitter refuse it).
"""

from __future__ import annotations

import numpy as np

from spikeport.converters.passes.graph_edit import kind
from spikeport.converters.passes.layout import LAYOUT
from spikeport.converters.passes.manager import Pass
from spikeport.errors import UnsupportedError
from spikeport.ir import Graph
from spikeport.ir.int_nodes import BIAS_MANT

META_KEY = "virtual_steps"
LINEAR = ("Input", "Dense", "Conv", "Add", "TokenMean", *LAYOUT)
"""Nodes whose per-step outputs sum to the graded output (linear, stateless)."""
WINDOWED = ("GradedSpike", "IntLinearAttention")


def _spike_source(graph: Graph, name: str) -> bool:
    """Whether synapse `name` reads a GradedSpike (through layout nodes)."""
    src = graph.inputs_of(name)["in"]
    while kind(graph, src) in LAYOUT:
        src = graph.inputs_of(src)["in"]
    return kind(graph, src) == "GradedSpike"


class ExpandVirtualSteps(Pass):
    name = "expand-virtual-steps"
    description = "integer spikes -> binary spikes over D virtual timesteps (layer-synchronous)"

    def run(self, graph: Graph) -> int:
        if graph.meta.get("timing") is not None:
            raise UnsupportedError(f"graph {graph.name}: expand virtual steps before retiming")
        names = graph.topological_order()
        spikes = {graph.node(n).max_value for n in names if kind(graph, n) in WINDOWED}
        if len(spikes) != 1:
            raise UnsupportedError(
                f"graph {graph.name}: virtual steps need integer spikes of one max value "
                f"(found {sorted(spikes) or 'none'})"
            )
        (steps,) = spikes
        readout = graph.meta.get("readout")
        count = 0
        for name in names:
            rec, k = graph.node(name), kind(graph, name)
            if k in WINDOWED:
                graph.replace(rec.replace(virtual_steps=steps))
            elif k in ("Dense", "Conv") and _spike_source(graph, name):
                graph.replace(rec.replace(num_message_bits=0))
            elif k == "CubaLIF" and name == readout and rec.dv == 0:
                graph.replace(rec.replace(**_per_step_bias(rec, steps)))
            elif k not in LINEAR:
                raise UnsupportedError(
                    f"{name} ({k}): not linear over a window of virtual steps; only "
                    f"{', '.join(sorted({*LINEAR, *WINDOWED}))} and the readout neuron are"
                )
            else:
                continue
            count += 1
        graph.meta[META_KEY] = steps
        return count


def _per_step_bias(rec, steps: int) -> dict:  # type: ignore[no-untyped-def]
    """bias_mant / bias_exp adding ``bias / steps`` per step (the readout adds it each step)."""
    total = rec.bias_mant.astype(object) * (1 << rec.bias_exp)
    if (total % steps != 0).any():
        raise UnsupportedError(
            f"{rec.name} (CubaLIF): readout bias is not a multiple of {steps} virtual steps"
        )
    per = total // steps
    for exp in range(8):  # the smallest exact bias_exp whose mantissas fit 13 bits
        mant = per // (1 << exp)
        if (
            (mant * (1 << exp) == per).all()
            and BIAS_MANT.min <= mant.min()
            and mant.max() <= BIAS_MANT.max
        ):
            return {"bias_mant": mant.astype(np.int64), "bias_exp": exp}
    raise UnsupportedError(f"{rec.name} (CubaLIF): readout bias / {steps} has no exact mantissa")
