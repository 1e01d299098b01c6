"""Run a lowered IR graph in Lava (``Loihi2SimCfg(select_tag='fixed_pt')``) with probes, and
compare it with the bit-accurate simulator.

Lava runs one sample at a time: each sample gets a freshly emitted process graph (so all
state starts at zero, as in the simulator). Node outputs are recorded by
``lava.proc.io.sink.RingBuffer`` processes; state variables (a LIF's u and v, a sigma-delta
neuron's sigma/act/residue) are read with ``Var.get()`` after every step, which needs one
``run(RunSteps(1))`` call per step and is therefore slower.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikeport.errors import SpikeportError

ProbeSpec = str | tuple[str, str]
LAYOUT_NODES = ("Input", "Flatten", "Reshape", "Transpose")
STATE_VARS = {
    "CubaLIF": ("u", "v"),
    "Delta": ("act", "residue", "error"),
    "SigmaDelta": ("sigma", "act", "residue", "error"),
    "Sigma": ("sigma",),
}
"""State variables a probe may read, per node type (the Lava process Var names, which are
also the simulator's names)."""


@dataclass
class LavaResult:
    """Probed arrays [T, B, *shape] per (node, var) and the wall time of the Lava runs."""

    probes: dict[tuple[str, str], np.ndarray]
    steps: int
    batch: int
    seconds: float


def parse_probe(graph: Any, spec: ProbeSpec) -> tuple[str, str]:
    """'name', 'name:var' or (name, var) -> (name, var); var 'out' is the node's output."""
    from spikeport.hw_models.sim.engine import split_probe

    name, var = split_probe(spec)
    if name not in graph:
        raise SpikeportError(f"probe {spec!r}: no node {name!r} in graph {graph.name}")
    kind = type(graph.node(name)).__name__
    if var != "out" and var not in STATE_VARS.get(kind, ()):
        raise SpikeportError(
            f"probe {spec!r}: {name} ({kind}) has no state {var!r} (has {STATE_VARS.get(kind, ())})"
        )
    return name, var


def default_probes(graph: Any, *, states: bool = False) -> list[tuple[str, str]]:
    """Every non-layout node's output, plus (with `states`) every neuron's state variables.
    Error accumulators of sigma-delta neurons are left out unless they use cum_error."""
    out = []
    for node in graph:
        kind = type(node).__name__
        if kind in LAYOUT_NODES:
            continue
        out.append((node.name, "out"))
        if states:
            for var in STATE_VARS.get(kind, ()):
                if var != "error" or getattr(node, "cum_error", False):
                    out.append((node.name, var))
    return out


def _feeds(graph: Any, data: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    inputs = graph.input_names
    if not isinstance(data, Mapping):
        if len(inputs) != 1:
            raise SpikeportError(f"graph {graph.name} has inputs {inputs}: pass {{name: array}}")
        data = {inputs[0]: data}
    feeds = {name: np.asarray(data[name]) for name in inputs if name in data}
    missing = [n for n in inputs if n not in feeds]
    if missing:
        raise SpikeportError(f"no data for input node(s) {missing}")
    batches = {a.shape[0] for a in feeds.values()}
    if len(batches) != 1:
        raise SpikeportError(f"inputs have different batch sizes {sorted(batches)}")
    return feeds


def run_lava(
    graph: Any,
    data: np.ndarray | Mapping[str, np.ndarray],
    steps: int | None = None,
    *,
    probes: Iterable[ProbeSpec] = (),
    bias: Mapping[str, np.ndarray] | None = None,
) -> LavaResult:
    """Run `graph` in Lava on `data` [B, T, *shape] per Input node, `steps` timesteps.

    bias: {CubaLIF node: bias_mant}, [*shape] or [B, *shape] (netx's image input).
    Returns the probes, [T, B, ...] int64, like ``Simulator.run(...).probes``.
    """
    from spikeport.deploy.lava.compat import ensure_lava, surface_child_errors

    ensure_lava(netx=False)
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink

    from spikeport.deploy.lava.emitter import emit

    feeds = _feeds(graph, data)
    batch = next(iter(feeds.values())).shape[0]
    if steps is None:
        steps = max(a.shape[1] for a in feeds.values())
    specs = [parse_probe(graph, p) for p in probes]
    per_step = any(var != "out" for _, var in specs)
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    recorded: dict[tuple[str, str], list[np.ndarray]] = {p: [] for p in specs}
    seconds = 0.0
    for b in range(batch):
        sample_bias = {}
        for name, mant in (bias or {}).items():
            arr = np.asarray(mant)
            sample_bias[name] = arr[b] if arr.ndim > len(graph.node(name).shape) else arr
        emitted = emit(graph, {k: v[b] for k, v in feeds.items()}, steps, bias=sample_bias)
        sinks = {}
        for name, var in specs:
            if var == "out" and name not in sinks:
                sinks[name] = Sink(shape=emitted.shapes[name], buffer=steps)
                emitted.outs[name]().connect(sinks[name].a_in)
        anchor = next(iter(emitted.sources.values()), None) or next(iter(emitted.procs.values()))
        states: dict[tuple[str, str], list[np.ndarray]] = {p: [] for p in specs if p[1] != "out"}
        start = time.perf_counter()
        with surface_child_errors():
            try:
                if per_step:
                    for _ in range(steps):
                        anchor.run(condition=RunSteps(1), run_cfg=cfg)
                        for name, var in states:
                            value = getattr(emitted.procs[name], var).get()
                            states[(name, var)].append(np.asarray(value).astype(np.int64))
                else:
                    anchor.run(condition=RunSteps(steps), run_cfg=cfg)
                outs = {
                    n: np.moveaxis(np.asarray(s.data.get()), -1, 0).astype(np.int64)
                    for n, s in sinks.items()
                }
            finally:
                anchor.stop()
        seconds += time.perf_counter() - start
        for name, var in specs:
            arr = outs[name] if var == "out" else np.stack(states[(name, var)])
            recorded[(name, var)].append(arr.reshape(steps, *_probe_shape(emitted, name, var)))
    return LavaResult(
        probes={p: np.stack(v, axis=1) for p, v in recorded.items()},
        steps=steps,
        batch=batch,
        seconds=seconds,
    )


def _probe_shape(emitted: Any, name: str, var: str) -> tuple[int, ...]:
    return emitted.shapes[name]


# -- comparison with the simulator ------------------------------------------------------------
@dataclass
class ProbeAgreement:
    """One probed (node, var): how many integers were compared and how many differed."""

    node: str
    var: str
    kind: str
    values: int
    mismatches: int
    first_mismatch_step: int | None

    @property
    def identical(self) -> bool:
        return self.mismatches == 0


@dataclass
class Comparison:
    rows: list[ProbeAgreement]
    samples: int
    steps: int
    lava_seconds: float
    sim_seconds: float
    predictions: dict[str, list[int]] = field(default_factory=dict)
    lava_probes: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)
    sim_probes: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def identical(self) -> bool:
        return bool(self.rows) and all(r.identical for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "samples": self.samples,
            "steps": self.steps,
            "lava_seconds": round(self.lava_seconds, 4),
            "sim_seconds": round(self.sim_seconds, 4),
            "probes": [
                {
                    "node": r.node,
                    "var": r.var,
                    "type": r.kind,
                    "values": r.values,
                    "mismatches": r.mismatches,
                    "first_mismatch_step": r.first_mismatch_step,
                }
                for r in self.rows
            ],
            **({"predictions": self.predictions} if self.predictions else {}),
        }


def compare(
    graph: Any,
    data: np.ndarray | Mapping[str, np.ndarray],
    steps: int | None = None,
    *,
    probes: Iterable[ProbeSpec] | None = None,
    bias: Mapping[str, np.ndarray] | None = None,
) -> Comparison:
    """Run `graph` in Lava and in the simulator on the same data; compare every probe."""
    from spikeport.hw_models.sim.engine import Simulator

    specs = default_probes(graph) if probes is None else [parse_probe(graph, p) for p in probes]
    sim = Simulator(graph, specs).run(data, steps, bias=bias)
    lava = run_lava(graph, data, sim.steps, probes=specs, bias=bias)
    rows = []
    for name, var in specs:
        a = np.asarray(lava.probes[(name, var)], dtype=np.int64)
        s = np.asarray(sim.probes[(name, var)], dtype=np.int64)
        if a.shape != s.shape:
            raise SpikeportError(f"probe {name}:{var}: Lava shape {a.shape} != simulator {s.shape}")
        diff = (a != s).reshape(len(a), -1).any(axis=1)
        rows.append(
            ProbeAgreement(
                node=name,
                var=var,
                kind=type(graph.node(name)).__name__,
                values=int(a.size),
                mismatches=int((a != s).sum()),
                first_mismatch_step=int(np.argmax(diff)) if diff.any() else None,
            )
        )
    return Comparison(
        rows,
        lava.batch,
        lava.steps,
        lava.seconds,
        sim.seconds,
        lava_probes=lava.probes,
        sim_probes=dict(sim.probes),
    )
