"""Integer evaluation of a quantised IR graph, layer-synchronous, on float input images.

:func:`run_int` is the simulator (``sim/engine.py``) under the layer-synchronous schedule:
every node computes step t from step t of its inputs, as PyTorch runs a multi-step model, so
Lava's one-step Dense/Conv delay is ignored. In a feed-forward graph that delay only shifts
every layer's spike train later in time (by its depth); with the input held for T steps and
the readout summed over T it changes which steps are summed, not the per-step arithmetic.
Lava's timing is the simulator's default schedule (and ``passes.retime`` makes a graph give
the same numbers under it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from spikeport.hw_models.sim.classification import direct_input
from spikeport.hw_models.sim.engine import Simulator
from spikeport.ir import Graph

Observer = Callable[[str, Any], None]


def run_int(
    graph: Graph,
    x: Any,
    *,
    T: int | None = None,
    observe: Observer | None = None,
    stats: dict[str, dict[str, int]] | None = None,
) -> np.ndarray:
    """Evaluate a quantised graph layer-synchronously on float input `x` (numpy or torch):
    images [B, *shape] held for T steps (default ``meta['T']``), or for a time-major graph
    frames [T, B, *shape], fed as ``rint(x * meta['input_scale'])``
    (``classification.direct_input``); a graph with ``meta['virtual_steps']`` V > 1
    (``passes.virtual_steps``) runs V steps per step, the data on the first of each.
    Returns the readout: the final-step v of the node named in ``meta['readout']`` (int64
    [B, classes]), else the output node's value (int64 [T, B, ...]). `observe(name, value)`
    sees every node's value (int64 [T, B, ...]); `stats[name]` collects max |u|, max |v|
    (24-bit registers) and max |a| per neuron node.
    """
    readout = graph.meta.get("readout")
    probes = [(readout, "v")] if readout is not None else [graph.outputs[0]]
    sim = Simulator(graph, probes, schedule="layer")
    seen = None if observe is None else lambda name, v: observe(name, v.astype(np.int64))
    x = np.asarray(x)
    if graph.meta.get("time_major"):
        feed = direct_input(graph, np.moveaxis(x, 0, 1))  # [B, T, ...]: frame t at step t
    else:
        feed = direct_input(graph, x, T)
    steps = int(graph.meta.get("virtual_steps", 1))
    if steps > 1:  # integer spikes over virtual steps: data on the first step of each window
        spread = np.zeros((feed.shape[0], feed.shape[1] * steps, *feed.shape[2:]), feed.dtype)
        spread[:, ::steps] = feed
        feed = spread
    res = sim.run(feed, observe=seen, peaks=stats)
    if readout is not None:
        return res.probes[(readout, "v")][-1]
    return res.outputs[graph.outputs[0]].astype(np.int64)
