"""Execution of the lowered attention primitives (IR ``attention_nodes`` and
``DendriticAttention``) on integer arrays with any leading axes ([T, B, ...]).

Every primitive is stateless across SNN timesteps (the dendrites restart at token 0 of
every step), so each one maps a step's inputs to that step's output with no latency.

* :data:`EVALUATORS` {node type: fn(node, {port: array}) -> array} is used by the integer
  reference evaluation (``int_eval.run_int``).
* Importing this module registers simulator executors for the same node types (the
  simulator already runs ``AndPopcount`` / ``XnorPopcount`` itself).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

import spikeport.ir.dendritic_node  # noqa: F401  (registers DendriticAttention)
from spikeport.hw_models.sim import int_attention as ia
from spikeport.hw_models.sim.engine import COUNTERS, Executor, register_executor
from spikeport.hw_models.sim.kernels import popcount
from spikeport.hw_models.sim.kernels.arith import FLOAT_EXACT, shift_floor
from spikeport.hw_models.sim.kernels.dendritic import dendritic_attention

Inputs = Mapping[str, np.ndarray]


def score_combine(node: Any, c_and: np.ndarray, c_xnor: np.ndarray) -> np.ndarray:
    """(2^a_shift - a_int[h]) c_and + a_int[h] c_xnor on [..., h, N, M] counts."""
    a = np.asarray(node.a_int, dtype=np.int64).reshape(-1, 1, 1)
    return ((1 << node.a_shift) - a) * c_and + a * c_xnor


def spike_accumulate(node: Any, scores: np.ndarray, v: np.ndarray) -> np.ndarray:
    """floor((scores @ v) 2^count_shift / 2^score_shift), [..., h, N, M] x [..., h, M, d]."""
    scores = np.asarray(scores, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    bound = int(np.abs(scores).max(initial=0)) * int(np.abs(v).sum(axis=-2).max(initial=0))
    if bound < FLOAT_EXACT:  # every partial sum is an exactly representable integer
        total = np.rint(scores.astype(np.float64) @ v.astype(np.float64)).astype(np.int64)
    else:
        total = scores @ v
    return shift_floor(total << node.count_shift, -node.score_shift)


def spike_and(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a AND b on 0/1 spikes; b [..., D] is broadcast over a's token axis [..., N, D]."""
    if b.ndim == a.ndim - 1:
        b = b[..., None, :]
    return (a != 0).astype(np.int64) * (b != 0)


def token_sum(node: Any, x: np.ndarray) -> np.ndarray:
    """Column sum over tokens [..., N, D] -> [..., D], << shift."""
    return np.asarray(x, dtype=np.int64).sum(axis=-2) << node.shift


def local_term(node: Any, v: np.ndarray) -> np.ndarray:
    return ia.local_int(v, node.weight, node.grid, node.dilation, node.shift)


EVALUATORS: dict[str, Callable[[Any, Inputs], np.ndarray]] = {
    "AndPopcount": lambda n, x: popcount.and_popcount(x["q"], x["k"]),
    "XnorPopcount": lambda n, x: popcount.axnor_scores(x["q"], x["k"], n.a_int, n.a_shift),
    "ScoreCombine": lambda n, x: score_combine(n, x["c_and"], x["c_xnor"]),
    "SpikeAccumulate": lambda n, x: spike_accumulate(n, x["scores"], x["v"]),
    "LocalTerm": lambda n, x: local_term(n, x["in"]),
    "SpikeAnd": lambda n, x: spike_and(x["a"], x["b"]),
    "TokenSum": lambda n, x: token_sum(n, x["in"]),
    "DendriticAttention": lambda n, x: dendritic_attention(x["q"], x["k"], x["v"], n)[0],
}
"""Integer evaluation of each lowered attention node type on its input arrays."""


class _StatelessExecutor(Executor):
    """Runs an :data:`EVALUATORS` entry on each step (or all steps at once)."""

    def _counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, int]:
        node, kind = self.node, type(self.node).__name__
        c = dict.fromkeys(COUNTERS, 0)
        if kind == "DendriticAttention":
            n_tok, dim = self.out_shape
            lead = math.prod(out.shape[: out.ndim - 2])
            c["neuron_updates"] = lead * n_tok * dim * node.compartments
            c["state_reads"] = c["neuron_updates"]
        elif kind == "SpikeAccumulate":
            v = inputs["v"]
            n_tok = self.out_shape[1]
            c["synaptic_events"] = int(np.count_nonzero(v)) * n_tok
            c["dense_macs"] = math.prod(out.shape) * self.in_shapes["v"][1]
        elif kind == "ScoreCombine":
            c["dense_macs"] = 2 * math.prod(out.shape)
        return c

    def step(self, inputs: Inputs, counts: dict[str, int]) -> np.ndarray:
        out = EVALUATORS[type(self.node).__name__](self.node, inputs)
        for key, value in self._counts(inputs, out).items():
            counts[key] += value
        return out

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        steps = len(next(iter(inputs.values())))
        out = EVALUATORS[type(self.node).__name__](self.node, inputs)
        for t in range(steps):
            for key, value in self._counts({p: x[t] for p, x in inputs.items()}, out[t]).items():
                counts[key][t] = value
        return out, {}


for _kind in ("ScoreCombine", "SpikeAccumulate", "LocalTerm", "SpikeAnd", "TokenSum"):
    register_executor(_kind)(_StatelessExecutor)
register_executor("DendriticAttention")(_StatelessExecutor)
