"""`Timing`: the latency record the retime pass writes into ``graph.meta["timing"]``.

Under the timing contract (``docs/semantics.md``, "Timing contract") a Dense or Conv synapse
delivers one step after it receives, every other node (neurons, attention, Add, MaxPool,
layout, readout accumulation) in the same step, and a Delay node `steps` later. A retimed
graph reproduces the layer-synchronous computation of a T-step sample shifted in time: the
value the layer-synchronous evaluation gives node X at step t appears at step
``latency[X] + t``. The simulator, the Lava backend and the CLI all read these numbers from
here; nobody recomputes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

META_KEY = "timing"
SYNAPSES = ("Dense", "Conv")
"""Node types that deliver one step late (Lava's Dense / Conv ProcessModels)."""


def node_latency(node: Any) -> int:
    """Steps `node` adds between receiving and sending: a Dense or Conv 1 plus its largest
    synaptic delay, a Delay its ``steps``, every other node 0."""
    kind = type(node).__name__
    if kind in SYNAPSES:
        extra = getattr(node, "delay", None)
        return 1 + (int(np.max(extra)) if extra is not None and np.size(extra) else 0)
    if kind == "Delay":
        return int(node.steps)
    return 0


def data_windows(graph: Any) -> dict[str, int]:
    """Step at which each node receives the first step of a sample's data: the sum of the
    :func:`node_latency` on the longest path to it (for a retimed graph, its
    ``Timing.node_latency``)."""
    start: dict[str, int] = {}
    arrive: dict[str, int] = {}
    for name in graph.topological_order():
        start[name] = max((arrive[s] for s in graph.inputs_of(name).values()), default=0)
        arrive[name] = start[name] + node_latency(graph.node(name))
    return start


@dataclass(frozen=True)
class Timing:
    """Latencies of a retimed graph, in timesteps.

    T: timesteps of one sample (its data window length).
    latency: the graph latency L, the largest node latency (the readout's, for a classifier).
    node_latency: {node name: step at which its window of T data steps starts}.
    readout: the readout neuron (or None); its final v is read at ``readout_step``.
    reset_neurons: CubaLIF nodes the pass turned into LIFReset (reset_interval = T).
    delays: the Delay nodes the pass inserted.
    """

    T: int
    latency: int
    node_latency: Mapping[str, int]
    readout: str | None = None
    reset_neurons: tuple[str, ...] = ()
    delays: tuple[str, ...] = ()

    @property
    def steps(self) -> int:
        """Steps to run one sample end to end: T + L."""
        return self.T + self.latency

    def window(self, node: str) -> tuple[int, int]:
        """[start, stop) step indices holding node's T data steps."""
        start = self.node_latency[node]
        return start, start + self.T

    @property
    def readout_step(self) -> int | None:
        """Step index (0-based) after which the readout's v is the sample's result."""
        if self.readout is None:
            return None
        return self.node_latency[self.readout] + self.T - 1

    def to_meta(self) -> dict[str, Any]:
        return {
            "T": self.T,
            "latency": self.latency,
            "steps": self.steps,
            "readout": self.readout,
            "readout_step": self.readout_step,
            "node_latency": dict(self.node_latency),
            "reset_neurons": list(self.reset_neurons),
            "delays": list(self.delays),
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> Timing | None:
        """The record stored in a graph's meta, or None for a graph that was not retimed."""
        rec = meta.get(META_KEY)
        if rec is None:
            return None
        return cls(
            T=int(rec["T"]),
            latency=int(rec["latency"]),
            node_latency={str(k): int(v) for k, v in rec["node_latency"].items()},
            readout=rec.get("readout"),
            reset_neurons=tuple(rec.get("reset_neurons", ())),
            delays=tuple(rec.get("delays", ())),
        )
