"""Classify a dataset with the bit-accurate simulator: accuracy, firing rates, op counts.

A converted classifier (``spikeport convert``) is a retimed graph (``graph.meta["timing"]``)
with direct input encoding: each image, scaled by ``meta["input_scale"]`` and rounded, is
presented for T steps; the prediction is the argmax of the readout neuron's v after
``Timing.readout_step``. A graph that was not retimed is retimed here first.

Counts: ``ops`` sums each node's counters over its T-step data window, i.e. the per-sample
work when samples stream back to back (every node busy with some sample on every step).
A full run (``windowed=False``) also counts the warm-up/drain steps one isolated sample
costs; those appear in ``ops_full_run``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikeport.errors import SpikeportError
from spikeport.hw_models.sim.engine import COUNTERS, Simulator
from spikeport.ir import Graph
from spikeport.ir.timing import Timing


def retimed(graph: Graph) -> Graph:
    """`graph` if it carries a timing record, else its retimed copy."""
    if Timing.from_meta(graph.meta) is not None:
        return graph
    from spikeport.converters.passes import PassManager
    from spikeport.converters.passes.retime import Retime

    return PassManager([Retime()]).run(graph)


def direct_input(graph: Graph, images: np.ndarray) -> np.ndarray:
    """Images [B, *shape] (float, model units) -> integer feed [B, T, *shape]:
    ``rint(x * input_scale)`` repeated over T (what ``int_eval.run_int`` feeds)."""
    if graph.meta.get("time_major"):
        raise SpikeportError(f"graph {graph.name}: time-major inputs are not direct-encoded")
    scale = float(graph.meta.get("input_scale", 1.0))
    steps = int(graph.meta["T"])
    x = np.rint(np.asarray(images, dtype=np.float64) * scale).astype(np.int64)
    return np.repeat(x[:, None], steps, axis=1)


@dataclass
class Classification:
    """Result of :func:`classify`. Rates are spikes per neuron per step over data windows."""

    accuracy: float
    samples: int
    seconds: float
    predictions: np.ndarray
    readout_v: np.ndarray
    ops: dict[str, int]
    ops_per_node: dict[str, dict[str, int]]
    ops_full_run: dict[str, int] | None
    firing_rates: dict[str, float]
    timing: Timing
    windowed: bool
    probes: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("inf")


def classify(
    graph: Graph,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int = 60,
    probes: Sequence[str] = (),
    windowed: bool = True,
    progress: Callable[[int], Any] | None = None,
) -> Classification:
    """Run every image through the simulator in batches; `progress(n)` after each batch.

    probes: node names whose output is kept ([samples, T, *shape] over the node's window).
    """
    if batch_size < 1:
        raise SpikeportError(f"batch size must be >= 1, got {batch_size}")
    graph = retimed(graph)
    timing = Timing.from_meta(graph.meta)
    assert timing is not None
    readout = timing.readout
    if readout is None:
        raise SpikeportError(f"graph {graph.name}: meta names no readout neuron to classify with")
    for p in probes:
        if p not in graph:
            raise SpikeportError(f"--probe {p!r}: no node of that name in graph {graph.name}")
    sim = Simulator(graph, probes=[*probes, (readout, "v")])
    lifs = [n for n in sim.order if type(graph.node(n)).__name__ == "CubaLIF"]
    ops_per_node = {n: dict.fromkeys(COUNTERS, 0) for n in sim.executors}
    full = {k: 0 for k in COUNTERS}
    spikes = dict.fromkeys(lifs, 0)
    kept: dict[str, list[np.ndarray]] = {p: [] for p in probes}
    vs, seconds = [], 0.0
    for lo in range(0, len(images), batch_size):
        feed = direct_input(graph, images[lo : lo + batch_size])
        t0 = time.perf_counter()
        res = sim.run(feed, windowed=windowed)
        seconds += time.perf_counter() - t0
        v = res.probes[(readout, "v")]
        vs.append(v[-1] if windowed else v[timing.readout_step])
        for name, per in res.counts.items():
            lo_w, hi_w = (0, timing.T) if windowed else timing.window(name)
            for k, arr in per.items():
                ops_per_node[name][k] += int(arr[lo_w:hi_w].sum())
                full[k] += int(arr.sum())
            if name in spikes:
                spikes[name] += int(per["spikes"][lo_w:hi_w].sum())
        for p in probes:
            seq = res.probes[(p, "out")]
            lo_w, hi_w = (0, timing.T) if windowed else output_window(graph, timing, p)
            kept[p].append(np.moveaxis(seq[lo_w:hi_w], 0, 1))
        if progress is not None:
            progress(len(feed))
    readout_v = np.concatenate(vs) if vs else np.zeros((0,), dtype=np.int64)
    predictions = readout_v.argmax(axis=1) if len(readout_v) else np.zeros(0, dtype=np.int64)
    labels = np.asarray(labels)
    n = len(predictions)
    ops = {k: sum(per[k] for per in ops_per_node.values()) for k in COUNTERS}
    rates = {
        name: spikes[name] / max(1, n * timing.T * math.prod(sim.shapes[name])) for name in lifs
    }
    return Classification(
        accuracy=float((predictions == labels).mean()) if n else 0.0,
        samples=n,
        seconds=seconds,
        predictions=predictions,
        readout_v=readout_v,
        ops=ops,
        ops_full_run=None if windowed else full,
        ops_per_node=ops_per_node,
        firing_rates=rates,
        timing=timing,
        windowed=windowed,
        probes={p: np.concatenate(a) for p, a in kept.items()},
    )


def output_window(graph: Graph, timing: Timing, name: str) -> tuple[int, int]:
    """Steps carrying node `name`'s output data (a synapse's are one later than its input)."""
    from spikeport.converters.passes.retime import node_latency

    lo = timing.node_latency[name] + node_latency(graph, name)
    return lo, lo + timing.T
