"""Measured operation counts: the bit-accurate simulator's events on real inputs -> LayerOps.

The simulator counts, per node and timestep, what the lowered graph actually did
(``simulator.COUNTERS``). This module runs it (:func:`run_measured`, which also probes every
CubaLIF's synaptic current ``u`` to tell active from inactive neuron updates, the convention
the ``loihi2`` calibration uses) and turns the totals into per-layer :class:`LayerOps` per
inference for one hardware model (:meth:`MeasuredCount.layer_ops`):

* Dense / Conv / SpikeAccumulate ``synaptic_events`` (non-zero input x non-zero fan-out) ->
  ``acs``; events of a synapse whose input is graded (``num_message_bits > 0``: a multi-bit
  payload, e.g. the encoding layer fed the image) -> ``macs`` when ``graded_events="mac"``.
* ``weight_reads`` x weight bits + ``state_reads`` x state bits -> ``mem_read_bits``, only for a
  hardware model that prices SRAM reads separately (on Loihi the per-synop and per-update
  energies already include their memory accesses).
* ``neuron_updates`` (CubaLIF, sigma-delta neurons, dendritic compartments) -> ``neuron_updates``;
  active = updates with ``u != 0`` for CubaLIF (probed), all updates otherwise.
* ``spikes`` -> ``spikes``.
* 64-bit ``bitwise_words`` / ``popcount_words`` (XnorPopcount, AndPopcount, IntAttention,
  MaxPool2d) -> ``and_words`` (+ ``xnor_words``: half of them for a-XNOR; MaxPool's OR words
  are priced as AND words), ``popcount_words``, re-expressed in the hardware's ``word_bits``:
  ``ceil(bits / word_bits)`` words per packed vector instead of ``ceil(bits / 64)``, with
  ``bits`` = head_dim (SSA, a-XNOR), all channels (SDSA masks) or the pooling window.
* ScoreCombine ``dense_macs`` (2 per score) -> ``int_mults``, plus one ``int_adds`` per score;
  Add / TokenMean / TimeMean ``dense_macs`` (one add per input element) and a max-pool of
  currents' compares -> ``int_adds``.

``dense_macs`` of synapses (what a dense evaluation would do) are kept apart, to show the
event-driven saving; they are never priced. Nodes the simulator counts nothing for (layout,
LocalTerm, SpikeAnd, TokenSum, ...) are listed in ``uncounted`` when they do work.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from spikeport.errors import SpikeportError
from spikeport.hw_models.cost.energy import LayerOps
from spikeport.hw_models.cost.hardware import HardwareModel
from spikeport.hw_models.sim.base import COUNTERS
from spikeport.hw_models.sim.engine import SimResult, Simulator
from spikeport.hw_models.sim.executors.attention import fused_form
from spikeport.ir.timing import SYNAPSES, data_windows

SIM_WORD_BITS = 64
"""Word width of the simulator's bit-packed attention counters."""

NEURON_TYPES = ("CubaLIF", "Delta", "SigmaDelta", "Sigma")
LAYOUT_TYPES = ("Input", "Reshape", "Flatten", "Transpose", "Delay")
ADD_TYPES = ("Add", "TokenMean", "TimeMean", "MaxPool2d")
"""Nodes whose ``dense_macs`` are integer adds (a max-pool of currents: its compares)."""


@dataclass(frozen=True)
class NodeCounts:
    """Simulator counters of one node summed over timesteps and samples, per inference."""

    name: str
    kind: str
    counters: Mapping[str, float]
    active_updates: float | None = None  # neuron updates with u != 0 (CubaLIF, probed)
    graded_input: bool = False  # synapse with a multi-bit message payload
    weight_bits: int | None = None
    packed_bits: int = SIM_WORD_BITS  # bits per bit-packed vector of its word counters
    bitwise: str = "and"  # "and", "and+xnor" (a-XNOR) or "or" (max pooling)


@dataclass(frozen=True)
class MeasuredCount:
    """Per-node counters per inference from ``samples`` inputs over ``steps`` timesteps."""

    graph: str
    nodes: tuple[NodeCounts, ...]
    samples: int
    steps: int
    window: int | None = None
    graded_events: Literal["ac", "mac"] = "ac"
    uncounted: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def basis(self) -> str:
        span = (
            f"each node's {self.window}-step data window of a {self.steps}-step run "
            "(pipelined streaming)"
            if self.window
            else f"all {self.steps} simulated steps (one isolated inference)"
        )
        return (
            f"measured (bit-accurate simulator events on {self.samples} input(s), counted over "
            f"{span}; synops = events x non-zero fan-out; graded events as "
            f"{self.graded_events.upper()}; active neuron update = u != 0)"
        )

    def firing_rates(self) -> dict[str, float]:
        """Spikes per neuron update of every neuron node, over the counted steps (0..1)."""
        out = {}
        for n in self.nodes:
            upd = n.counters.get("neuron_updates", 0.0)
            if n.kind in NEURON_TYPES and upd > 0:
                out[n.name] = n.counters.get("spikes", 0.0) / upd
        return out

    def dense_macs(self) -> dict[str, float]:
        """MACs a dense (non-event-driven) evaluation of each synapse would do, per inference."""
        return {
            n.name: n.counters["dense_macs"]
            for n in self.nodes
            if n.kind in SYNAPSES and n.counters.get("dense_macs")
        }

    def totals(self) -> dict[str, float]:
        out = dict.fromkeys(COUNTERS, 0.0)
        for n in self.nodes:
            for k, v in n.counters.items():
                out[k] += v
        return out

    def layer_ops(self, hw: HardwareModel) -> list[LayerOps]:
        """Per-node LayerOps per inference priced-ready for ``hw`` (its word width; SRAM reads
        only when ``hw`` prices ``mem_read_bit``)."""
        word_bits = hw.format_bits("word_bits", 32)
        state_bits = hw.format_bits("state_bits", 24)
        default_wbits = hw.format_bits("weight_bits", 8)
        memory = hw.energy_j("mem_read_bit") is not None
        out = []
        for n in self.nodes:
            ops = _node_ops(n, self.graded_events, word_bits, state_bits, default_wbits, memory)
            if ops is not None:
                out.append(ops)
        return out


def _node_ops(
    n: NodeCounts,
    graded_events: str,
    word_bits: int,
    state_bits: int,
    default_wbits: int,
    memory: bool,
) -> LayerOps | None:
    c = n.counters
    kw: dict[str, float] = {}
    notes = []
    events = c.get("synaptic_events", 0.0)
    if events:
        if n.graded_input and graded_events == "mac":
            kw["macs"] = events
            notes.append("graded-input events as MAC")
        else:
            kw["acs"] = events
    if c.get("neuron_updates"):
        kw["neuron_updates"] = c["neuron_updates"]
        if n.active_updates is not None:
            kw["neuron_updates_active"] = min(n.active_updates, c["neuron_updates"])
        else:
            kw["neuron_updates_active"] = c["neuron_updates"]
            notes.append("all updates counted active")
    if c.get("spikes"):
        kw["spikes"] = c["spikes"]
    if c.get("bitwise_words") or c.get("popcount_words"):
        bits = max(1, n.packed_bits)
        scale = math.ceil(bits / word_bits) / math.ceil(bits / SIM_WORD_BITS)
        bw = c.get("bitwise_words", 0.0) * scale
        if n.bitwise == "and+xnor":
            kw["and_words"] = bw / 2
            kw["xnor_words"] = bw / 2
        else:
            kw["and_words"] = bw
        if c.get("popcount_words"):
            kw["popcount_words"] = c["popcount_words"] * scale
        notes.append(f"{word_bits}-bit words" + (", OR priced as AND" if n.bitwise == "or" else ""))
    if n.kind == "ScoreCombine" and c.get("dense_macs"):
        kw["int_mults"] = c["dense_macs"]
        kw["int_adds"] = c["dense_macs"] / 2
    if n.kind in ADD_TYPES and c.get("dense_macs"):
        kw["int_adds"] = c["dense_macs"]
    if memory:
        bits = c.get("weight_reads", 0.0) * (n.weight_bits or default_wbits)
        bits += c.get("state_reads", 0.0) * state_bits
        if bits:
            kw["mem_read_bits"] = bits
    if not kw:
        return None
    return LayerOps(n.name, n.kind.lower(), **kw, note="; ".join(notes))


def _graded_input(node: Any) -> bool:
    return int(getattr(node, "num_message_bits", 0) or 0) > 0


def _packing(node: Any) -> tuple[int, str]:
    """(bits per packed vector, bitwise op) of a node's word counters."""
    kind = type(node).__name__
    if kind == "MaxPool2d":
        return int(np.prod(node.kernel_size)), "or"
    if kind == "IntAttention":
        return fused_form(node).packing(node)
    if kind in ("XnorPopcount", "AndPopcount"):
        a_int = np.asarray(getattr(node, "a_int", 0))
        xnor = kind == "XnorPopcount" and bool(np.any(a_int != 0))
        return int(node.head_dim), "and+xnor" if xnor else "and"
    return SIM_WORD_BITS, "and"


def synaptic_depth(graph: Any) -> int:
    """Steps from the first input step until the last node has received it (the extra steps
    needed to flush a sample through the graph's synaptic latencies)."""
    return max(data_windows(graph).values(), default=0)


@dataclass
class MeasuredSums:
    """Integer sums of a measured run over some samples: per node and counter the per-step
    totals (int64 ``[steps]``), per CubaLIF the per-step count of updates with u != 0.
    :meth:`add` merges runs of disjoint samples exactly (a split measured in shards)."""

    samples: int
    steps: int
    sums: dict[str, dict[str, np.ndarray]]
    active: dict[str, np.ndarray]

    def add(self, other: MeasuredSums) -> MeasuredSums:
        if other.steps != self.steps:
            raise SpikeportError(f"cannot merge runs of {self.steps} and {other.steps} steps")
        return MeasuredSums(
            samples=self.samples + other.samples,
            steps=self.steps,
            sums={
                n: {k: v + other.sums[n][k] for k, v in per.items()} for n, per in self.sums.items()
            },
            active={n: v + other.active[n] for n, v in self.active.items()},
        )


@dataclass(frozen=True)
class MeasuredRun:
    """How :func:`measure_sums` simulates: the simulator (CubaLIF ``u`` probed), the steps
    and run options, and whether each node runs over its data window only."""

    sim: Simulator
    lifs: tuple[str, ...]
    steps: int | None
    window: int | None
    sim_windowed: bool
    run_kwargs: dict[str, Any]


def measured_run(
    graph: Any,
    steps: int | None = None,
    *,
    window: int | None = None,
    use_sim_windows: bool = True,
    **run_kwargs: Any,
) -> MeasuredRun:
    """The simulator and options of a measured run (see :func:`run_measured`)."""
    if window is not None and window < 1:
        raise SpikeportError(f"window must be >= 1, got {window}")
    lifs = tuple(n for n in graph.topological_order() if type(graph.node(n)).__name__ == "CubaLIF")
    sim = Simulator(graph, probes=[(n, "u") for n in lifs])
    timing = graph.meta.get("timing")
    # A retimed graph can be simulated over the data windows only (same values, T steps per
    # node instead of T + L); then every counter array already is the node's window.
    sim_windowed = (
        use_sim_windows
        and window is not None
        and timing is not None
        and int(timing["T"]) == window
        and steps in (None, window + int(timing["latency"]))
    )
    if sim_windowed:
        run_kwargs = {**run_kwargs, "windowed": True}
        steps = None
    return MeasuredRun(sim, lifs, steps, window, sim_windowed, run_kwargs)


def measure_sums(
    run: MeasuredRun,
    data: np.ndarray | Mapping[str, np.ndarray],
    *,
    batch_size: int = 64,
    results: list[SimResult] | None = None,
) -> MeasuredSums:
    """Simulate ``data`` ([B, T, *shape] integers per Input node) in batches and sum the
    counters; each batch's result (outputs only, probes dropped) is appended to ``results``
    when given."""
    feeds = data if isinstance(data, Mapping) else None
    total = next(iter(feeds.values())).shape[0] if feeds is not None else np.asarray(data).shape[0]
    if total < 1:
        raise SpikeportError("run_measured: no samples")
    sums: dict[str, dict[str, np.ndarray]] = {}
    active: dict[str, np.ndarray] = {}
    steps = 0
    for lo in range(0, total, batch_size):
        if feeds is not None:
            chunk: Any = {k: v[lo : lo + batch_size] for k, v in feeds.items()}
        else:
            chunk = np.asarray(data)[lo : lo + batch_size]
        res = run.sim.run(chunk, run.steps, **run.run_kwargs)
        steps = res.steps
        for node, per in res.counts.items():
            acc = sums.setdefault(node, {k: np.zeros(res.steps, np.int64) for k in COUNTERS})
            for k, v in per.items():
                acc[k] += v
        for n in run.lifs:
            u = res.probes[(n, "u")]
            per_step = np.count_nonzero(u.reshape(u.shape[0], -1), axis=1)
            active[n] = active.get(n, np.zeros(res.steps, np.int64)) + per_step
        res.probes.clear()
        if results is not None:
            results.append(res)
    return MeasuredSums(total, steps, sums, active)


def measured_count(
    run: MeasuredRun,
    sums: MeasuredSums,
    graded_events: Literal["ac", "mac"] = "ac",
) -> MeasuredCount:
    """Per-inference counts of (merged) sums: each node's totals over its data window (or
    every step) divided by the number of samples."""
    if graded_events not in ("ac", "mac"):
        raise SpikeportError(f"graded_events must be 'ac' or 'mac', got {graded_events!r}")
    graph, window, total = run.sim.graph, run.window, sums.samples
    timing = graph.meta.get("timing")
    run_steps = sums.steps
    starts: dict[str, int] = {}
    if run.sim_windowed:
        run_steps = int(timing["T"]) + int(timing["latency"])
    elif window is not None:
        starts = dict(timing["node_latency"]) if timing else data_windows(graph)

    def total_of(name: str, arr: np.ndarray) -> float:
        if window is None or run.sim_windowed:
            return float(arr.sum()) / total
        t0 = int(starts.get(name, 0))
        return float(arr[t0 : t0 + window].sum()) / total

    nodes = []
    uncounted = []
    for name in graph.topological_order():
        if name not in run.sim.executors:
            continue
        node = graph.node(name)
        kind = type(node).__name__
        counters = {k: total_of(name, v) for k, v in sums.sums[name].items()}
        if not any(counters.values()):
            if kind not in LAYOUT_TYPES and not any(v.any() for v in sums.sums[name].values()):
                uncounted.append(f"{name} ({kind})")
            continue
        packed_bits, bitwise = _packing(node)
        nodes.append(
            NodeCounts(
                name=name,
                kind=kind,
                counters=counters,
                active_updates=total_of(name, sums.active[name]) if name in sums.active else None,
                graded_input=kind in SYNAPSES and _graded_input(node),
                weight_bits=getattr(node, "num_weight_bits", None),
                packed_bits=packed_bits,
                bitwise=bitwise,
            )
        )
    return MeasuredCount(
        graph=getattr(graph, "name", ""),
        nodes=tuple(nodes),
        samples=total,
        steps=run_steps,
        window=window,
        graded_events=graded_events,
        uncounted=tuple(uncounted),
    )


def run_measured(
    graph: Any,
    data: np.ndarray | Mapping[str, np.ndarray],
    steps: int | None = None,
    *,
    window: int | None = None,
    batch_size: int = 64,
    graded_events: Literal["ac", "mac"] = "ac",
    use_sim_windows: bool = True,
    **run_kwargs: Any,
) -> tuple[MeasuredCount, list[SimResult]]:
    """Simulate ``graph`` on ``data`` ([B, T, *shape] integers per Input node) in batches and
    return the per-inference counts and the raw results (outputs only, probes dropped).

    ``window``: the sample's T. Given, each node's counters are summed only over its own data
    window, steps ``[start, start + T)`` (``start`` from the graph's retime record, else
    :func:`ir.timing.data_windows`): the cost per inference when samples stream back to back
    through the pipeline. None: every simulated step (one isolated inference, including the steps
    before data reaches a node and after it has passed). For a retimed graph whose T equals
    ``window`` and ``use_sim_windows``, the simulator itself runs each node over its window
    only (``Simulator.run(windowed=True)``: the same values, (T + L) / T times less work).
    The work is :func:`measured_run`, :func:`measure_sums` (integer sums, mergeable across
    shards of the data) and :func:`measured_count`.
    """
    if graded_events not in ("ac", "mac"):
        raise SpikeportError(f"graded_events must be 'ac' or 'mac', got {graded_events!r}")
    run = measured_run(graph, steps, window=window, use_sim_windows=use_sim_windows, **run_kwargs)
    results: list[SimResult] = []
    sums = measure_sums(run, data, batch_size=batch_size, results=results)
    return measured_count(run, sums, graded_events), results
