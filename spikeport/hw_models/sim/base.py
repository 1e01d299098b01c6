"""The simulator's contract: :class:`Executor` (how one IR node type runs), the registry of
executors by node type, and the operation counters.

The engine (``sim/engine.py``) only talks to executors through the methods of
:class:`Executor`; what a node type can do beyond running (a bias override, state probes,
peak tracking, a window of its own) is a method or attribute here, never a type check in
the engine. This module imports nothing from the engine or the executors.

Counters (per node and timestep, summed over the batch):

* ``synaptic_events``: non-zero input messages x their non-zero fan-out (synapses),
* ``dense_macs``: the multiply-accumulates a dense evaluation would do,
* ``weight_reads``: synaptic weights fetched (one per synaptic event),
* ``neuron_updates``: neurons updated (every neuron, every step),
* ``state_reads``: neuron state words read (neurons x state variables),
* ``spikes``: non-zero output messages of neurons,
* ``bitwise_words`` / ``popcount_words``: 64-bit AND / XNOR word operations and word
  popcounts of the bit-packed attention scores (XnorPopcount, AndPopcount).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from spikeport.errors import SpikeportError
from spikeport.registry import registrar

COUNTERS = (
    "synaptic_events",
    "dense_macs",
    "weight_reads",
    "neuron_updates",
    "state_reads",
    "spikes",
    "bitwise_words",
    "popcount_words",
)

Inputs = Mapping[str, np.ndarray]
Counts = dict[str, np.ndarray]
"""{counter: int64 [T]} of one node."""
RunResult = tuple[np.ndarray, dict[str, np.ndarray]]
"""(output [T, B, *out_shape], {probed state variable: [T, B, ...]})."""


def only(inputs: Inputs) -> np.ndarray:
    """The single input array of a one-input node."""
    return next(iter(inputs.values()))


class Executor:
    """Runs one node. Subclasses implement :meth:`step` (and usually a vectorised
    :meth:`run_all`).

    state_vars: state variables :meth:`probe` can read ("u", "v", ...).
    peak_vars: state variables whose peak magnitude a run can report (a neuron's 24-bit
        registers); the engine records them when asked for peaks.
    accepts_bias: whether :meth:`set_bias` can replace the node's bias for a run.
    """

    state_vars: tuple[str, ...] = ()
    peak_vars: tuple[str, ...] = ()
    accepts_bias = False

    def __init__(self, node: Any, in_shapes: Mapping[str, tuple[int, ...]], out_shape: tuple):
        self.node = node
        self.in_shapes = dict(in_shapes)
        self.out_shape = tuple(out_shape)

    def reset(self, batch: int) -> None:
        """Clear all state for a new run of `batch` samples."""

    def release(self) -> None:
        """Drop the state a finished run left (the engine calls it once a node ran; the
        next :meth:`reset` allocates afresh). The default holds nothing."""

    def step(self, inputs: Inputs, counts: dict[str, int]) -> np.ndarray:
        """One timestep: inputs {port: [B, *shape]} -> output [B, *out_shape]."""
        raise NotImplementedError

    def probe(self, var: str) -> np.ndarray:
        raise SpikeportError(f"{self.node.name}: no state variable {var!r} to probe")

    def set_bias(self, bias: np.ndarray) -> None:
        """Replace the node's bias for this run ([*shape] or [B, *shape])."""
        raise SpikeportError(f"{self.node.name}: has no bias to replace")

    def run_all(
        self,
        inputs: Inputs,
        counts: Counts,
        probe_vars: Iterable[str] = (),
        reset: tuple[int, int] | None = None,
    ) -> RunResult:
        """Every timestep at once under Lava's timing: inputs {port: [T, B, *shape]} ->
        output [T, B, *out_shape].

        Fills `counts` ({counter: [T]}) and returns the probed state variables, [T, B, ...],
        read after each step (and after a `reset` = (interval, phase): state zeroed after
        step index t when t % interval == phase). This default steps through time; stateless
        or feed-forward executors override it with a vectorised form.
        """
        probe_vars = tuple(probe_vars)
        steps = len(only(inputs)) if inputs else len(counts[COUNTERS[0]])
        outs, probed = [], {v: [] for v in probe_vars}
        for t in range(steps):
            c = dict.fromkeys(COUNTERS, 0)
            outs.append(self.step({port: x[t] for port, x in inputs.items()}, c))
            for k, v in c.items():
                counts[k][t] = v
            if reset is not None and t % reset[0] == reset[1]:
                self.zero_state()
            for v in probe_vars:
                probed[v].append(self.probe(v))
        return np.stack(outs), {v: np.stack(a) for v, a in probed.items()}

    def run_synchronous(
        self,
        inputs: Inputs,
        counts: Counts,
        probe_vars: Iterable[str] = (),
        reset: tuple[int, int] | None = None,
        start: int = 0,
    ) -> RunResult:
        """Every timestep at once, layer-synchronously: output step t is computed from input
        step t, i.e. without the node's own latency (a synapse's one-step delay, a Delay's
        steps). `start` is the global step index of step 0 (stateful nodes whose behaviour
        depends on absolute time start their clock there).

        Used by windowed runs of retimed graphs (each node over its data window) and by the
        layer-synchronous schedule. The default suits nodes without latency."""
        self.skip_to(start)
        return self.run_all(inputs, counts, probe_vars, reset)

    def zero_state(self) -> None:
        """Zero u/v-like state (emulates ``lava.proc.io.reset.Reset`` on every state Var)."""
        raise SpikeportError(f"{self.node.name}: has no state to reset")

    def set_window(self, start: int, period: int) -> None:
        """Retimed graphs: the node's data windows start at steps start + k * period.

        Stateful nodes without LIFReset fields of their own (the SDSA attention's inner
        neuron) restart there; the default does nothing."""

    def skip_to(self, step: int) -> None:
        """The next step a run sees is global step index `step` (stateful executors whose
        behaviour depends on absolute time adjust their clock); the default does nothing."""


ExecutorFactory = Callable[[Any, Mapping[str, tuple[int, ...]], tuple[int, ...]], Executor]
EXECUTORS: dict[str, ExecutorFactory] = {}
"""{IR node class name: executor factory}; filled by ``sim/executors``."""


register_executor = registrar(EXECUTORS, "simulator executor for node type")
"""Class decorator ``@register_executor("Dense", ...)``: run IR nodes of those class names with
this executor. A node type has one executor: a second registration is refused."""


class StepwiseExecutor(Executor):
    """Base of nodes without latency or state across steps: :meth:`compute` maps whole
    [T, B, ...] sequences, :meth:`step_counts` gives their counters per step; ``step`` is
    the T = 1 case."""

    def compute(self, inputs: Inputs) -> np.ndarray:
        raise NotImplementedError

    def step_counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, np.ndarray]:
        """Counters per step ([T] arrays) for inputs [T, B, ...] and output [T, B, ...]."""
        return {}

    def step(self, inputs: Inputs, counts: dict[str, int]) -> np.ndarray:
        seq = {p: x[None] for p, x in inputs.items()}
        out = self.compute(seq)
        for key, value in self.step_counts(seq, out).items():
            counts[key] += int(value[0])
        return out[0]

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        out = self.compute(inputs)
        for key, value in self.step_counts(inputs, out).items():
            counts[key][:] = value
        return out, {}


def per_step(value: int, steps: int) -> np.ndarray:
    """A counter that is `value` at each of `steps` steps (int64 [steps])."""
    return np.full(steps, value, dtype=np.int64)
