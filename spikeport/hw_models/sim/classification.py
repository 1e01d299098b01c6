"""Classify a dataset with the bit-accurate simulator: accuracy, firing rates, op counts.

A converted classifier (``spikeport convert``) is a retimed graph (``graph.meta["timing"]``)
with direct input encoding: each image, scaled by ``meta["input_scale"]`` and rounded, is
presented for T steps (a time-major graph's event frames: frame t at step t); the
prediction is the argmax of the readout neuron's v after ``Timing.readout_step``. A graph
that was not retimed is refused: retime it first (``converters.passes.retime.retimed``).

Counts: ``ops`` sums each node's counters over its T-step data window, i.e. the per-sample
work when samples stream back to back (every node busy with some sample on every step).
A full run (``windowed=False``) also counts the warm-up/drain steps one isolated sample
costs; those appear in ``ops_full_run``.

A run is :func:`tally` (integer sums over some samples: a whole split, a chunk of it, or one
shard of a distributed run; :meth:`Tally.add` merges tallies of disjoint samples exactly)
followed by :func:`summarize` (the floats: accuracy, firing rates), so a split evaluated in
pieces gives the same result as in one piece.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikeport.errors import SpikeportError
from spikeport.hw_models.sim.base import COUNTERS
from spikeport.hw_models.sim.engine import Simulator
from spikeport.ir import Graph
from spikeport.ir.timing import Timing, node_latency


def direct_input(graph: Graph, images: Any, T: int | None = None) -> np.ndarray:
    """Samples (float, model units) -> integer feed [B, T, *shape], ``rint(x * input_scale)``
    (what ``int_eval.run_int`` feeds too): images [B, *shape] repeated over T (default
    ``meta['T']``); for a time-major graph (event frames) samples [B, T, *shape], frame t fed
    at step t."""
    scale = float(graph.meta.get("input_scale", 1.0))
    steps = int(T or graph.meta["T"])
    x = np.rint(np.asarray(images, dtype=np.float64) * scale).astype(np.int64)
    if not graph.meta.get("time_major"):
        return np.repeat(x[:, None], steps, axis=1)
    if x.ndim < 2 or x.shape[1] != steps:
        raise SpikeportError(
            f"graph {graph.name}: time-major samples need T = {steps} frames, got shape "
            f"{list(x.shape)} ([B, T, ...])"
        )
    return x


@dataclass
class Tally:
    """Integer sums of a classification run over some samples (``seconds``: simulator time).

    ``spikes`` / ``neuron_steps``: per CubaLIF node, spikes and neuron updates (samples x T x
    neurons) over its data window (firing rate = their quotient); ``probe_nonzero`` /
    ``probe_sum``: per probed node and window step, non-zero outputs and their sum."""

    samples: int
    correct: int
    predictions: np.ndarray  # int64 [samples], in sample order
    readout_v: np.ndarray | None  # [samples, classes], the readout's v (None: not kept)
    ops_per_node: dict[str, dict[str, int]]
    full: dict[str, int]
    spikes: dict[str, int]
    neuron_steps: dict[str, int]
    probe_nonzero: dict[str, list[int]]
    probe_sum: dict[str, list[int]]
    seconds: float = 0.0

    def add(self, other: Tally) -> Tally:
        """The tally of both runs' samples (``self``'s first): every count added exactly."""

        def plus(a: dict, b: dict) -> dict:
            return {k: plus(v, b[k]) if isinstance(v, dict) else v + b[k] for k, v in a.items()}

        def steps(a: dict[str, list[int]], b: dict[str, list[int]]) -> dict[str, list[int]]:
            return {k: [x + y for x, y in zip(v, b[k], strict=True)] for k, v in a.items()}

        return Tally(
            samples=self.samples + other.samples,
            correct=self.correct + other.correct,
            predictions=np.concatenate([self.predictions, other.predictions]),
            readout_v=None
            if self.readout_v is None or other.readout_v is None
            else np.concatenate([self.readout_v, other.readout_v]),
            ops_per_node=plus(self.ops_per_node, other.ops_per_node),
            full=plus(self.full, other.full),
            spikes=plus(self.spikes, other.spikes),
            neuron_steps=plus(self.neuron_steps, other.neuron_steps),
            probe_nonzero=steps(self.probe_nonzero, other.probe_nonzero),
            probe_sum=steps(self.probe_sum, other.probe_sum),
            seconds=self.seconds + other.seconds,
        )


@dataclass
class Classification:
    """Result of :func:`classify`. Rates are spikes per neuron per step over data windows;
    ``probes``: per probed node, ``nonzero_per_step`` and ``sum_per_step`` over its window."""

    accuracy: float
    samples: int
    seconds: float
    predictions: np.ndarray
    readout_v: np.ndarray | None
    ops: dict[str, int]
    ops_per_node: dict[str, dict[str, int]]
    ops_full_run: dict[str, int] | None
    firing_rates: dict[str, float]
    timing: Timing
    windowed: bool
    probes: dict[str, dict[str, list[int]]]

    @property
    def throughput(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("inf")


def classifier(graph: Graph, probes: Sequence[str] = ()) -> Simulator:
    """A simulator of the retimed `graph` that records its readout's v and the `probes`'
    outputs (checked: the graph is retimed and names a readout, every probe is a node)."""
    timing = Timing.from_meta(graph.meta)
    if timing is None:
        raise SpikeportError(
            f"graph {graph.name}: not retimed for Lava's timing (no meta['timing']); "
            "retime it first (spikeport.converters.passes.retime.retimed)"
        )
    if timing.readout is None:
        raise SpikeportError(f"graph {graph.name}: meta names no readout neuron to classify with")
    for p in probes:
        if p not in graph:
            raise SpikeportError(f"--probe {p!r}: no node of that name in graph {graph.name}")
    return Simulator(graph, probes=[*probes, (timing.readout, "v")])


def tally(
    sim: Simulator,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int = 60,
    windowed: bool = True,
    progress: Callable[[int], Any] | None = None,
    keep_readout: bool = True,
) -> Tally:
    """Run every image through ``sim`` (from :func:`classifier`) in batches and sum what was
    counted; `progress(n)` after each batch. Probes: the nodes ``sim`` records besides the
    readout. ``keep_readout``: keep every sample's readout v (off in a distributed run's
    shards: 8 bytes x classes per sample to ship and concatenate, and no output uses it)."""
    if batch_size < 1:
        raise SpikeportError(f"batch size must be >= 1, got {batch_size}")
    graph, timing = sim.graph, sim.timing
    readout = timing.readout
    probes = [n for n, var in sim.probes if var == "out"]
    lifs = [n for n in sim.order if type(graph.node(n)).__name__ == "CubaLIF"]
    ops_per_node = {n: dict.fromkeys(COUNTERS, 0) for n in sim.executors}
    full = dict.fromkeys(COUNTERS, 0)
    spikes = dict.fromkeys(lifs, 0)
    nonzero = {p: [0] * timing.T for p in probes}
    sums = {p: [0] * timing.T for p in probes}
    labels = np.asarray(labels)
    predictions, vs, correct, seconds = [], [], 0, 0.0
    for lo in range(0, len(images), batch_size):
        feed = direct_input(graph, images[lo : lo + batch_size])
        t0 = time.perf_counter()
        res = sim.run(feed, windowed=windowed)
        seconds += time.perf_counter() - t0
        v = res.probes[(readout, "v")]
        vs.append(v[-1] if windowed else v[timing.readout_step])
        pred = vs[-1].argmax(axis=1)
        predictions.append(pred)
        correct += int((pred == labels[lo : lo + len(feed)]).sum())
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
            for t, step in enumerate(seq[lo_w:hi_w]):
                nonzero[p][t] += int((step != 0).sum())
                sums[p][t] += int(step.sum())
        if progress is not None:
            progress(len(feed))
    n = sum(len(p) for p in predictions)
    return Tally(
        samples=n,
        correct=correct,
        predictions=np.concatenate(predictions) if predictions else np.zeros(0, np.int64),
        readout_v=(np.concatenate(vs) if vs else np.zeros((0,), np.int64))
        if keep_readout
        else None,
        ops_per_node=ops_per_node,
        full=full,
        spikes=spikes,
        neuron_steps={name: n * timing.T * math.prod(sim.shapes[name]) for name in lifs},
        probe_nonzero=nonzero,
        probe_sum=sums,
        seconds=seconds,
    )


def summarize(t: Tally, timing: Timing, windowed: bool) -> Classification:
    """The accuracy, operation totals and firing rates of a (merged) tally."""
    ops = {k: sum(per[k] for per in t.ops_per_node.values()) for k in COUNTERS}
    return Classification(
        accuracy=t.correct / t.samples if t.samples else 0.0,
        samples=t.samples,
        seconds=t.seconds,
        predictions=t.predictions,
        readout_v=t.readout_v,
        ops=ops,
        ops_full_run=None if windowed else t.full,
        ops_per_node=t.ops_per_node,
        firing_rates={n: s / max(1, t.neuron_steps[n]) for n, s in t.spikes.items()},
        timing=timing,
        windowed=windowed,
        probes={
            p: {"nonzero_per_step": t.probe_nonzero[p], "sum_per_step": t.probe_sum[p]}
            for p in t.probe_nonzero
        },
    )


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

    probes: node names whose output is summed per step over the node's window."""
    sim = classifier(graph, probes)
    res = tally(sim, images, labels, batch_size=batch_size, windowed=windowed, progress=progress)
    return summarize(res, sim.timing, windowed)


def output_window(graph: Graph, timing: Timing, name: str) -> tuple[int, int]:
    """Steps carrying node `name`'s output data (a synapse's are one later than its input)."""
    lo = timing.node_latency[name] + node_latency(graph.node(name))
    return lo, lo + timing.T
