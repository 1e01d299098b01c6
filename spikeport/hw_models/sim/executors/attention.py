"""Executors of the attention nodes: the quantised core ``IntAttention`` (all variants) and
the lowered primitives (IR ``attention_nodes`` and ``DendriticAttention``).

Timing (``docs/semantics.md``, "Timing contract"): every node here computes its output from
the same step's inputs (Lava: receive, then send, in one step), so none adds latency. Only
the SDSA attention carries state across steps (its inner CubaLIF); that state is zeroed at
the start of each of the node's data windows (``Executor.set_window``), exactly as the
retime pass makes ``LIFReset`` do for ordinary neurons. The lowered primitives are
stateless across steps (the dendrites restart at token 0 of every step).

The attention integers come from :mod:`spikeport.hw_models.sim.int_attention` (the formulas
are defined once, there).

IntAttention runs through ``FUSED``, one :class:`FusedAttention` per variant (formula,
counters, word packing); a variant without one must be lowered. Per step, batch-summed:

* ssa / lrf_ssa / axnor: ``bitwise_words`` and ``popcount_words``, one AND (+ one XNOR for
  a-XNOR) word and one popcount per 64-bit word of every (query, key) pair of each head;
  ``synaptic_events`` = v spikes x N queries (score-weighted accumulation of V);
  ``dense_macs`` = heads x N x N x head_dim; the local term adds 18 taps per v spike
  (events) and 18 per output (MACs).
* lrf_dyn: ``neuron_updates`` = ``state_reads`` = N x D x k compartment updates.
* sdsa: ``bitwise_words`` = 2 x N x words(D) (k AND v, q AND s), ``synaptic_events`` =
  non-zero k*v (the column sum), ``neuron_updates`` = D inner neurons, ``state_reads`` = 2 D.
* AndPopcount / XnorPopcount: as the score part of ssa / axnor (XNOR only when a_int != 0).
* ScoreCombine: ``dense_macs`` = 2 per score; SpikeAccumulate: ``synaptic_events`` = v spikes
  x N, ``dense_macs`` = scores x head_dim; DendriticAttention: ``neuron_updates`` =
  ``state_reads`` = N x D x compartments. LocalTerm, SpikeAnd, TokenSum count nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikeport.errors import UnsupportedError
from spikeport.hw_models.sim import int_attention as ia
from spikeport.hw_models.sim.base import (
    COUNTERS,
    Inputs,
    StepwiseExecutor,
    only,
    per_step,
    register_executor,
)
from spikeport.hw_models.sim.kernels import popcount
from spikeport.hw_models.sim.kernels.arith import FLOAT_EXACT, shift_floor
from spikeport.hw_models.sim.kernels.dendritic import dendritic_attention
from spikeport.ir import attention
from spikeport.registry import registrar


def window_segments(steps: int, start: int, period: int) -> list[tuple[int, int]]:
    """Split step indices 0..steps-1 at every t with t % period == start % period.

    Returns [lo, hi) pairs covering all steps: a stateful node restarts at each lo > 0."""
    first = start % period
    cuts = [0, *range(first if first > 0 else period, steps, period), steps]
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def nonzero_per_step(x: np.ndarray) -> np.ndarray:
    """Non-zero count of each step of a [T, ...] array."""
    return np.count_nonzero(x.reshape(len(x), -1), axis=1).astype(np.int64)


@dataclass(frozen=True)
class FusedAttention:
    """The simulator's fused form of one IntAttention variant.

    compute(node, q, k, v): the core's activation (or spikes) on [T, B, N, D] spikes, local
    term excluded; a stateful core starts from rest at each call. counts(node, inputs, out,
    c): fill the per-step counters c ({counter: int64 [T]}) of the core (the local term's
    are added after). packing(node): (bits per packed vector, bitwise op) of its word
    counters, for the measured energy (``cost/measured``).
    """

    compute: Callable[[Any, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    counts: Callable[[Any, Inputs, np.ndarray, dict[str, np.ndarray]], None]
    packing: Callable[[Any], tuple[int, str]]


FUSED: dict[str, FusedAttention] = {}
"""IntAttention variant -> its fused simulator form (see ``spikeport.ir.attention``)."""


def fused_form(node: Any) -> FusedAttention:
    """The fused form of IntAttention `node`'s variant; refused for a variant the backends
    run only lowered."""
    form = FUSED.get(node.variant)
    if form is None:
        raise UnsupportedError(
            f"{node.name}: IntAttention variant {node.variant!r} has no fused simulator form; "
            "lower it (spikeport convert lowers it)"
        )
    return form


_fused = registrar(FUSED, "fused simulator form of attention variant", attention.variant)


def _score_counts(xnor: bool) -> Callable[[Any, Inputs, np.ndarray, dict], None]:
    """One AND (+ one XNOR) word and popcount per 64-bit word of every (query, key) pair of
    each head; v spikes x N events; heads x N x N x head_dim MACs."""

    def counts(rec: Any, inputs: Inputs, out: np.ndarray, c: dict) -> None:
        batch, n_tok = out.shape[1], out.shape[-2]
        pairs = batch * rec.heads * n_tok * n_tok * popcount.words(rec.head_dim)
        c["bitwise_words"][:] = pairs * (2 if xnor else 1)
        c["popcount_words"][:] = pairs * (2 if xnor else 1)
        c["synaptic_events"][:] = nonzero_per_step(inputs["v"]) * n_tok
        c["dense_macs"][:] = batch * rec.heads * n_tok * n_tok * rec.head_dim

    return counts


def _dendrite_counts(rec: Any, inputs: Inputs, out: np.ndarray, c: dict) -> None:
    batch, n_tok, dim = out.shape[1], out.shape[-2], out.shape[-1]
    comp = rec.dyn_gamma.shape[-1]
    c["neuron_updates"][:] = batch * n_tok * dim * comp
    c["state_reads"][:] = batch * n_tok * dim * comp


def _sdsa_counts(rec: Any, inputs: Inputs, out: np.ndarray, c: dict) -> None:
    batch, n_tok, dim = out.shape[1], out.shape[-2], out.shape[-1]
    c["bitwise_words"][:] = 2 * batch * n_tok * popcount.words(dim)
    c["synaptic_events"][:] = nonzero_per_step(inputs["k"] * inputs["v"])
    c["neuron_updates"][:] = batch * dim
    c["state_reads"][:] = 2 * batch * dim


_fused("ssa", "lrf_ssa")(
    FusedAttention(
        compute=lambda rec, q, k, v: ia.ssa_int(q, k, v, rec.heads, rec.count_shift),
        counts=_score_counts(xnor=False),
        packing=lambda rec: (int(rec.head_dim), "and"),
    )
)
_fused("axnor")(
    FusedAttention(
        compute=lambda rec, q, k, v: ia.axnor_int(
            q, k, v, rec.heads, rec.a_int, rec.a_shift, rec.count_shift
        ),
        counts=_score_counts(xnor=True),
        packing=lambda rec: (int(rec.head_dim), "and+xnor"),
    )
)
_fused("lrf_dyn")(
    FusedAttention(
        compute=lambda rec, q, k, v: ia.lrf_dyn_int(
            q,
            k,
            v,
            dyn_a=rec.dyn_a,
            dyn_gamma=rec.dyn_gamma,
            dyn_c=rec.dyn_c,
            input_mode=rec.input_mode,
            count_shift=rec.count_shift,
        ),
        counts=_dendrite_counts,
        packing=lambda rec: (int(rec.head_dim), "and"),
    )
)
_fused("sdsa")(
    FusedAttention(
        compute=lambda rec, q, k, v: ia.sdsa_int(
            q, k, v, count_shift=rec.count_shift, vth=rec.inner_vth, dv=rec.inner_dv
        ),
        counts=_sdsa_counts,
        packing=lambda rec: (int(rec.heads * rec.head_dim), "and"),
    )
)


@register_executor("IntAttention")
class IntAttentionExecutor(StepwiseExecutor):
    """One quantised attention core per step through its variant's :class:`FusedAttention`;
    a stateful core (``AttentionVariant.stateful``: SDSA's inner neuron) restarts per window."""

    def __init__(self, node: Any, in_shapes: Mapping[str, tuple[int, ...]], out_shape: tuple):
        super().__init__(node, in_shapes, out_shape)
        self.form = fused_form(node)
        self.spec = attention.variant(node.variant)
        self.start, self.period, self.offset = 0, None, 0

    def set_window(self, start: int, period: int) -> None:
        self.start, self.period = int(start), int(period)

    def reset(self, batch: int) -> None:
        self.offset = 0

    def skip_to(self, step: int) -> None:
        self.offset = int(step)

    def compute(self, inputs: Inputs) -> np.ndarray:
        rec = self.node
        q, k, v = inputs["q"], inputs["k"], inputs["v"]
        if self.spec.stateful:
            steps = len(q)
            segments = (
                [(0, steps)]
                if self.period is None
                else window_segments(steps, self.start - self.offset, self.period)
            )
            out = np.empty_like(q)
            for lo, hi in segments:  # a fresh state per window = LIFReset at lo
                out[lo:hi] = self.form.compute(rec, q[lo:hi], k[lo:hi], v[lo:hi])
        else:
            out = self.form.compute(rec, q, k, v)
        if self.has_local:
            out = out + ia.local_int(
                v, rec.local_weight, rec.grid, rec.local_dilation, rec.local_shift
            )
        return out

    @property
    def has_local(self) -> bool:
        """Whether the LRF local term is added (a spiking-output core has none)."""
        return self.node.local_weight is not None and not self.spec.spiking_output

    def step_counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, np.ndarray]:
        rec = self.node
        steps, batch = out.shape[:2]
        n_tok, dim = self.out_shape
        c = {key: np.zeros(steps, dtype=np.int64) for key in COUNTERS}
        self.form.counts(rec, inputs, out, c)
        if self.has_local:
            taps = 9 * len(rec.local_dilation)
            c["synaptic_events"] += nonzero_per_step(inputs["v"]) * taps
            c["dense_macs"] += batch * n_tok * dim * taps
        return c


# -- lowered primitives ------------------------------------------------------------------
class PopcountExecutor(StepwiseExecutor):
    """Bit-packed scores of each step's q and k [..., N, d] -> [..., N, M]."""

    xnor_words = False
    """Whether each word pair also costs an XNOR and a second popcount."""

    def step_counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, np.ndarray]:
        ops = math.prod(out.shape[1:]) * popcount.words(self.node.head_dim)
        ops *= 2 if self.xnor_words else 1
        return {"bitwise_words": per_step(ops, len(out)), "popcount_words": per_step(ops, len(out))}


@register_executor("AndPopcount")
class AndPopcountExecutor(PopcountExecutor):
    def compute(self, inputs: Inputs) -> np.ndarray:
        return popcount.and_popcount(inputs["q"], inputs["k"])


@register_executor("XnorPopcount")
class XnorPopcountExecutor(PopcountExecutor):
    def __init__(self, node: Any, in_shapes: Mapping[str, tuple[int, ...]], out_shape: tuple):
        super().__init__(node, in_shapes, out_shape)
        self.xnor_words = node.a_int != 0

    def compute(self, inputs: Inputs) -> np.ndarray:
        return popcount.axnor_scores(inputs["q"], inputs["k"], self.node.a_int, self.node.a_shift)


@register_executor("ScoreCombine")
class ScoreCombineExecutor(StepwiseExecutor):
    """(2^a_shift - a_int[h]) c_and + a_int[h] c_xnor on [..., h, N, M] counts."""

    def compute(self, inputs: Inputs) -> np.ndarray:
        n = self.node
        return ia.score_combine(inputs["c_and"], inputs["c_xnor"], n.a_int, n.a_shift)

    def step_counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, np.ndarray]:
        return {"dense_macs": per_step(2 * math.prod(out.shape[1:]), len(out))}


@register_executor("SpikeAccumulate")
class SpikeAccumulateExecutor(StepwiseExecutor):
    """floor((scores @ v) 2^count_shift / 2^score_shift), [..., h, N, M] x [..., h, M, d]."""

    def compute(self, inputs: Inputs) -> np.ndarray:
        scores = np.asarray(inputs["scores"], dtype=np.int64)
        v = np.asarray(inputs["v"], dtype=np.int64)
        bound = int(np.abs(scores).max(initial=0)) * int(np.abs(v).sum(axis=-2).max(initial=0))
        if bound < FLOAT_EXACT:  # every partial sum is an exactly representable integer
            total = np.rint(scores.astype(np.float64) @ v.astype(np.float64)).astype(np.int64)
        else:
            total = scores @ v
        return shift_floor(total << self.node.count_shift, -self.node.score_shift)

    def step_counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, np.ndarray]:
        n_tok = self.out_shape[1]
        macs = math.prod(out.shape[1:]) * self.in_shapes["v"][1]
        return {
            "synaptic_events": nonzero_per_step(inputs["v"]) * n_tok,
            "dense_macs": per_step(macs, len(out)),
        }


@register_executor("LocalTerm")
class LocalTermExecutor(StepwiseExecutor):
    """The integer local term of v (``int_attention.local_int``)."""

    def compute(self, inputs: Inputs) -> np.ndarray:
        n = self.node
        return ia.local_int(only(inputs), n.weight, n.grid, n.dilation, n.shift)


@register_executor("SpikeAnd")
class SpikeAndExecutor(StepwiseExecutor):
    """a AND b on 0/1 spikes, b broadcast to a's per-sample shape (numpy rules: b (D,) over
    a's tokens (N, D), b (h, 1, N) over a's channels (h, d, N))."""

    def compute(self, inputs: Inputs) -> np.ndarray:
        a, b = inputs["a"], inputs["b"]
        lead, b_shape = b.shape[:2], self.in_shapes["b"]
        pad = len(self.in_shapes["a"]) - len(b_shape)
        b = b.reshape(*lead, *(1,) * pad, *b_shape)
        return (a != 0).astype(np.int64) * (b != 0)


@register_executor("TokenSum")
class TokenSumExecutor(StepwiseExecutor):
    """Column sum over tokens [..., N, D] -> [..., D], << shift."""

    def compute(self, inputs: Inputs) -> np.ndarray:
        return np.asarray(only(inputs), dtype=np.int64).sum(axis=-2) << self.node.shift


@register_executor("DendriticAttention")
class DendriticAttentionExecutor(StepwiseExecutor):
    """The integer dendritic neuron of lowered LRF-Dyn (``kernels.dendritic``)."""

    def compute(self, inputs: Inputs) -> np.ndarray:
        return dendritic_attention(inputs["q"], inputs["k"], inputs["v"], self.node)[0]

    def step_counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, np.ndarray]:
        n_tok, dim = self.out_shape
        lead = math.prod(out.shape[1 : out.ndim - 2])  # batch (and any extra axes)
        updates = lead * n_tok * dim * self.node.compartments
        return {
            "neuron_updates": per_step(updates, len(out)),
            "state_reads": per_step(updates, len(out)),
        }
