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

from spikeport.hw_models.sim.engine import Simulator
from spikeport.ir import Graph

Observer = Callable[[str, Any], None]


def integer_input(graph: Graph, x: Any, T: int | None = None) -> np.ndarray:
    """Float input `x` (model units) -> the integer feed [B, T, *shape] of the graph's input:
    ``rint(x * meta['input_scale'])``; images [B, *shape] are held for T steps (default
    ``meta['T']``), time-major data [T, B, *shape] (``meta['time_major']``) is fed as is."""
    scale = float(graph.meta.get("input_scale", 1.0))
    ints = np.rint(np.asarray(x, dtype=np.float64) * scale).astype(np.int64)
    if graph.meta.get("time_major"):
        return np.moveaxis(ints, 0, 1)
    steps = int(T or graph.meta["T"])
    return np.repeat(ints[:, None], steps, axis=1)


def run_int(
    graph: Graph,
    x: Any,
    *,
    T: int | None = None,
    observe: Observer | None = None,
    stats: dict[str, dict[str, int]] | None = None,
) -> np.ndarray:
    """Evaluate a quantised graph layer-synchronously on float input `x` (numpy or torch;
    :func:`integer_input`). Returns the readout: the final-step v of the node named in
    ``meta['readout']`` (int64 [B, classes]), else the output node's value (int64
    [T, B, ...]). `observe(name, value)` sees every node's value (int64 [T, B, ...]);
    `stats[name]` collects max |u|, max |v| (24-bit registers) and max |a| per neuron node.
    """
    readout = graph.meta.get("readout")
    probes = [(readout, "v")] if readout is not None else [graph.outputs[0]]
    sim = Simulator(graph, probes, schedule="layer")
    seen = None if observe is None else lambda name, v: observe(name, v.astype(np.int64))
    res = sim.run(integer_input(graph, x, T), observe=seen, peaks=stats)
    if readout is not None:
        return res.probes[(readout, "v")][-1]
    return res.outputs[graph.outputs[0]].astype(np.int64)
