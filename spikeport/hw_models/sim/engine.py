"""The bit-accurate simulator: executes a lowered (integer) IR graph over T timesteps.

Every lowered node runs the executor registered for its type (``sim/executors``), which
uses the kernel that reproduces its Lava fixed-point ProcessModel (``sim/kernels``;
semantics in ``docs/semantics.md``). Values are exact integers: int64, or a narrower signed
type where they provably fit (int8 spikes, int32 synaptic activations, an Add in the
narrowest type holding its bound); cast before arithmetic that could overflow. The batch is
a leading axis of every array; samples never interact, so results do not depend on the
batch size (nor on BLAS threads: float products are only used where they are exact,
``kernels.arith.exact_matmul``).

Two schedules:

* ``"lava"`` (default), Lava's timing: synapses deliver their result one step later, a
  Delay node `steps` later, every other node in the same step. An Input node emits its data
  for each step; a neuron fed directly by an Input (netx's input layer) or by another neuron
  sees the value of the same step, as in Lava.
* ``"layer"``, layer-synchronous: no node adds latency (what PyTorch computes for a
  multi-step model), so step t of every node is computed from step t of its inputs.

Because the graph is a DAG, nodes run one after the other over all timesteps (synapses as
one product over time, neurons looping over time with the batch vectorised); this equals
stepping the whole graph. The operation counters are listed in ``sim/base.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from spikeport import budget, ir
from spikeport.errors import SpikeportError, UnsupportedError
from spikeport.hw_models.sim.base import COUNTERS, Executor
from spikeport.hw_models.sim.executors import EXECUTORS
from spikeport.ir.timing import Timing

Schedule = Literal["lava", "layer"]
SCHEDULES: tuple[str, ...] = ("lava", "layer")
Observer = Callable[[str, np.ndarray], None]


@dataclass
class SimResult:
    """What a run produced. Arrays are [T, B, *shape]; counts are [T] per node, batch-summed."""

    outputs: dict[str, np.ndarray]
    probes: dict[tuple[str, str], np.ndarray]
    counts: dict[str, dict[str, np.ndarray]]
    steps: int
    batch: int
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)

    def totals(self) -> dict[str, int]:
        """Every counter summed over nodes and timesteps."""
        out = dict.fromkeys(COUNTERS, 0)
        for per_node in self.counts.values():
            for k, v in per_node.items():
                out[k] += int(v.sum())
        return out


ProbeSpec = str | tuple[str, str]
PEAK_INPUT = "a"
"""Peaks report the largest |input| of a node under ``max_a`` (a neuron's activation)."""


def split_probe(spec: ProbeSpec) -> tuple[str, str]:
    """'name', 'name:var' or (name, var) -> (name, var); var "out" is the node's output."""
    if isinstance(spec, tuple):
        return spec[0], spec[1]
    name, _, var = spec.rpartition(":") if ":" in spec else (spec, "", "out")
    return name, var


class Simulator:
    """Executes a lowered IR graph (see module docstring).

    probes: node names (record the node's output) or (name, var) pairs / "name:var" strings
    (record a state variable after each step, e.g. ("layer1.neuron", "u")).
    schedule: "lava" (Lava's timing) or "layer" (layer-synchronous: no node adds latency).
    """

    def __init__(
        self, graph: Any, probes: Iterable[ProbeSpec] = (), *, schedule: Schedule = "lava"
    ) -> None:
        if schedule not in SCHEDULES:
            raise SpikeportError(f"schedule {schedule!r}: must be one of {', '.join(SCHEDULES)}")
        self.graph = graph
        self.schedule = schedule
        self.timing = Timing.from_meta(graph.meta)
        try:
            shapes = ir.infer_shapes(graph)
        except ir.GraphError as exc:
            raise SpikeportError(f"graph {graph.name}: {exc}") from None
        self.order = graph.topological_order()
        self.inputs = graph.input_names
        self.executors: dict[str, Executor] = {}
        for name in self.order:
            node = graph.node(name)
            kind = type(node).__name__
            if kind == "Input":
                continue
            if getattr(node, "level", "int") == "float":
                raise UnsupportedError(
                    f"{name} ({kind}): float node in a lowered graph; run the lowering passes first"
                )
            factory = EXECUTORS.get(kind)
            if factory is None:
                raise UnsupportedError(f"{name} ({kind}): the simulator has no executor for it")
            wiring = graph.inputs_of(name)
            in_shapes = {port: tuple(shapes[src]) for port, src in wiring.items()}
            self.executors[name] = factory(node, in_shapes, tuple(shapes[name]))
            if schedule == "lava" and self.timing is not None and name in self.timing.node_latency:
                self.executors[name].set_window(self.timing.node_latency[name], self.timing.T)
        self.shapes = {k: tuple(v) for k, v in shapes.items()}
        self.probes = [self._check_probe(p) for p in probes]

    def _check_probe(self, spec: ProbeSpec) -> tuple[str, str]:
        name, var = split_probe(spec)
        if name not in self.graph:
            raise SpikeportError(f"probe {spec!r}: no node {name!r} in graph {self.graph.name}")
        if var != "out":
            ex = self.executors.get(name)
            if ex is None or var not in ex.state_vars:
                have = () if ex is None else ex.state_vars
                raise SpikeportError(f"probe {spec!r}: {name} has no state {var!r} (has {have})")
        return name, var

    def run(
        self,
        data: np.ndarray | Mapping[str, np.ndarray],
        steps: int | None = None,
        *,
        bias: Mapping[str, np.ndarray] | None = None,
        state_resets: Mapping[str, tuple[int, int]] | None = None,
        windowed: bool = False,
        observe: Observer | None = None,
        peaks: dict[str, dict[str, int]] | None = None,
    ) -> SimResult:
        """Run `steps` timesteps on `data` [B, T, *shape] per Input node (zeros after T).

        steps: default T, or T + latency for a retimed graph (``graph.meta["timing"]``) under
            Lava's timing, so that the last node's window ends.
        bias: {node: bias} replacing a node's bias (CubaLIF: bias_mant), [*shape] or
            [B, *shape] (how netx feeds images through an input layer).
        state_resets: {neuron node: (interval, offset)}: zero its state after step t when
            (t - 1) % interval == offset % interval, as ``lava.proc.io.reset.Reset`` does.
        windowed: retimed graphs under Lava's timing only: compute each node only over its
            T-step data window (``Timing.window``), layer-synchronously from its inputs'
            windows; every array (outputs, probes, counts) then has T steps, step i being the
            node's window step i. The values are those of the full run (nothing outside a
            node's window reaches another node's window: the LIFReset gates discard it), at
            (T + L) / T times less work; what a full run computes outside windows is not
            produced.
        observe: ``observe(name, sequence)`` sees every node's output [T, B, ...] once it
            is computed (Input nodes included).
        peaks: filled with {node: {"max_u": .., "max_v": .., "max_a": ..}} for every node
            whose executor has ``peak_vars`` (CubaLIF: its 24-bit u and v registers, and its
            input activation a): the largest magnitude over all steps and samples, merged
            (max) with what the dict already holds.

        Node state exists only while its node runs (``Executor.reset`` just before,
        ``Executor.release`` just after) and a node's output is dropped once its last
        consumer ran, unless it is a graph output or probed.
        """
        feeds = self._feeds(data)
        batch = next(iter(feeds.values())).shape[0]
        if windowed:
            if self.timing is None:
                raise SpikeportError(
                    f"graph {self.graph.name}: windowed runs need a retimed graph (no timing)"
                )
            if self.schedule != "lava":
                raise SpikeportError("windowed runs are runs under Lava's timing (schedule lava)")
            if steps not in (None, self.timing.T):
                raise SpikeportError(f"windowed runs have T = {self.timing.T} steps, not {steps}")
            steps = self.timing.T
        if steps is None:
            steps = max(f.shape[1] for f in feeds.values())
            if self.schedule == "lava" and self.timing is not None:
                steps += self.timing.latency
        budget.require_run(f"simulate {self.graph.name}", self.shapes.values(), steps, batch, 8)
        for name in bias or {}:
            ex = self.executors.get(name)
            if ex is None or not ex.accepts_bias:
                raise SpikeportError(f"bias override {name!r}: not a CubaLIF node of the graph")
        resets = {}
        for name, (interval, offset) in (state_resets or {}).items():
            if name not in self.executors:
                raise SpikeportError(f"state reset {name!r}: not a node of the graph")
            resets[name] = (int(interval), int(offset) % int(interval))
        counts = {n: {k: np.zeros(steps, dtype=np.int64) for k in COUNTERS} for n in self.executors}
        keep = set(self.graph.outputs) | {n for n, v in self.probes if v == "out"}
        pending = dict.fromkeys(self.order, 0)  # uses of each node's output still to come
        for src, _, _ in self.graph.edges():
            pending[src] += 1
        vars_of: dict[str, list[str]] = {}
        for name, var in self.probes:
            if var != "out":
                vars_of.setdefault(name, []).append(var)
        seqs: dict[str, np.ndarray] = {}
        probed: dict[tuple[str, str], np.ndarray] = {}
        start = time.perf_counter()
        # A DAG: every node's output sequence depends only on its inputs' sequences, so nodes
        # run one after the other over all timesteps (identical to stepping the whole graph).
        for name in self.order:
            if name in feeds:
                f = feeds[name]
                seq = np.zeros((steps, batch, *f.shape[2:]), dtype=np.int64)
                n = min(steps, f.shape[1])
                seq[:n] = np.moveaxis(f[:, :n], 1, 0)
                seqs[name] = seq
            else:
                wiring = self.graph.inputs_of(name)
                ins = {port: seqs[src] for port, src in wiring.items()}
                ex = self.executors[name]
                ex.reset(batch)  # state lives only while its node runs
                if bias and name in bias:
                    ex.set_bias(np.asarray(bias[name]))
                want = vars_of.get(name, [])
                extra = [v for v in ex.peak_vars if v not in want] if peaks is not None else []
                sync = windowed or self.schedule == "layer"
                run_args = (ins, counts[name], (*want, *extra), resets.get(name))
                if sync:
                    first = self.timing.node_latency[name] if windowed else 0  # type: ignore[union-attr]
                    seqs[name], states = ex.run_synchronous(*run_args, start=first)
                else:
                    seqs[name], states = ex.run_all(*run_args)
                ex.release()
                if peaks is not None and ex.peak_vars:
                    self._record_peaks(peaks, name, ins, states)
                for var in want:
                    probed[(name, var)] = states[var]
                for src in wiring.values():
                    pending[src] -= 1
                    if pending[src] == 0 and src not in keep:
                        del seqs[src]
            if observe is not None:
                observe(name, seqs[name])
        for name, var in self.probes:
            if var == "out":
                probed[(name, var)] = seqs[name]
        seconds = time.perf_counter() - start
        return SimResult(
            outputs={k: seqs[k] for k in self.graph.outputs},
            probes={p: probed[p] for p in self.probes},
            counts=counts,
            steps=steps,
            batch=batch,
            seconds=seconds,
            meta={"windowed": windowed},
        )

    def _record_peaks(
        self,
        peaks: dict[str, dict[str, int]],
        name: str,
        ins: Mapping[str, np.ndarray],
        states: Mapping[str, np.ndarray],
    ) -> None:
        ex = self.executors[name]
        keys = [f"max_{v}" for v in ex.peak_vars] + [f"max_{PEAK_INPUT}"]
        got = {f"max_{v}": _abs_peak(states[v]) for v in ex.peak_vars}
        got[f"max_{PEAK_INPUT}"] = max((_abs_peak(x) for x in ins.values()), default=0)
        old = peaks.setdefault(name, dict.fromkeys(keys, 0))
        for key, value in got.items():
            old[key] = max(old[key], value)

    def _feeds(self, data: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not isinstance(data, Mapping):
            if len(self.inputs) != 1:
                raise SpikeportError(
                    f"graph {self.graph.name} has inputs {self.inputs}: pass {{name: array}}"
                )
            data = {self.inputs[0]: data}
        feeds = {}
        batch = None
        for name in self.inputs:
            if name not in data:
                raise SpikeportError(f"no data for input node {name!r}")
            arr = np.asarray(data[name])
            want = self.shapes[name]
            if arr.ndim != len(want) + 2 or tuple(arr.shape[2:]) != want:
                raise SpikeportError(
                    f"input {name!r}: data shape {arr.shape}, expected [batch, T, *{want}]"
                )
            if not np.issubdtype(arr.dtype, np.integer) and not np.issubdtype(arr.dtype, bool):
                if not np.array_equal(arr, np.round(arr)):
                    raise SpikeportError(
                        f"input {name!r}: data must be integers (spikes or messages)"
                    )
            if batch is not None and arr.shape[0] != batch:
                raise SpikeportError(f"input {name!r}: batch {arr.shape[0]} != {batch}")
            batch = arr.shape[0]
            feeds[name] = arr.astype(np.int64)
        extra = set(data) - set(self.inputs)
        if extra:
            raise SpikeportError(f"data for unknown input node(s) {sorted(extra)}")
        return feeds


def _abs_peak(x: np.ndarray) -> int:
    """max |x| (0 for an empty array)."""
    return int(np.abs(x).max(initial=0))


def simulate(graph: Any, data: np.ndarray, steps: int | None = None, **kwargs: Any) -> SimResult:
    """Convenience: ``Simulator(graph, probes).run(data, steps, ...)``."""
    probes = kwargs.pop("probes", ())
    return Simulator(graph, probes).run(data, steps, **kwargs)
