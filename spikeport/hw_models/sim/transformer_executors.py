"""Simulator executors for the spiking-Transformer nodes a converted model contains:
``IntAttention`` (all five variants), ``Add``, ``MaxPool2d``, ``TokenMean`` and ``TimeMean``.

Timing (``docs/semantics.md``, "Timing contract"): every node here computes its output from
the same step's inputs (Lava: receive, then send, in one step), so none adds latency. Only
the SDSA attention carries state across steps (its inner CubaLIF); that state is zeroed at
the start of each of the node's data windows (``Executor.set_window``), exactly as the
retime pass makes ``LIFReset`` do for ordinary neurons.

The attention integers come from :mod:`spikeport.hw_models.sim.int_attention` (the formulas are
defined once, there). Operation counts per step (batch-summed):

* ssa / lrf_ssa / axnor: ``bitwise_words`` and ``popcount_words``, one AND (+ one XNOR for
  a-XNOR) word and one popcount per 64-bit word of every (query, key) pair of each head;
  ``synaptic_events`` = v spikes x N queries (score-weighted accumulation of V);
  ``dense_macs`` = heads x N x N x head_dim; the local term adds 18 taps per v spike
  (events) and 18 per output (MACs).
* lrf_dyn: ``neuron_updates`` = ``state_reads`` = N x D x k compartment updates.
* sdsa: ``bitwise_words`` = 2 x N x words(D) (k AND v, q AND s), ``synaptic_events`` =
  non-zero k*v (the column sum), ``neuron_updates`` = D inner neurons, ``state_reads`` = 2 D.
* MaxPool2d: ``bitwise_words`` = outputs x words(kH kW) (an OR over the window's spikes).
* Add, TokenMean, TimeMean: ``dense_macs`` = one add per input element.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

import spikeport.ir.int_attention  # noqa: F401  (registers IntAttention)
from spikeport.errors import UnsupportedError
from spikeport.hw_models.sim import int_attention as ia
from spikeport.hw_models.sim.engine import COUNTERS, Executor, register_executor
from spikeport.hw_models.sim.kernels import popcount

Inputs = Mapping[str, np.ndarray]


def window_segments(steps: int, start: int, period: int) -> list[tuple[int, int]]:
    """Split step indices 0..steps-1 at every t with t % period == start % period.

    Returns [lo, hi) pairs covering all steps: a stateful node restarts at each lo > 0."""
    first = start % period
    cuts = [0, *range(first if first > 0 else period, steps, period), steps]
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


class _StepwiseExecutor(Executor):
    """Base: ``compute`` maps whole [T, B, ...] sequences; ``step`` is the T = 1 case."""

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


def _abs_max(x: np.ndarray) -> int:
    return max(int(x.max()), -int(x.min())) if x.size else 0


def sum_dtype(bound: int) -> type[np.signedinteger]:
    """The narrowest of int8/16/32/64 holding every integer of magnitude <= `bound`."""
    for dtype in (np.int8, np.int16, np.int32):
        if bound <= np.iinfo(dtype).max:
            return dtype
    return np.int64


def _per_step(x: np.ndarray) -> np.ndarray:
    """Non-zero count of each step of a [T, ...] array."""
    return np.count_nonzero(x.reshape(len(x), -1), axis=1).astype(np.int64)


@register_executor("Add")
class _AddExecutor(_StepwiseExecutor):
    """a + b on graded integers (residual of spikes: 0, 1, 2, ...).

    The sum is stored in the narrowest signed type that holds max|a| + max|b| (int8 for a
    residual stream of a few spikes): the same integers at 1/8 of int64's memory."""

    def compute(self, inputs: Inputs) -> np.ndarray:
        a, b = inputs["a"], inputs["b"]
        return np.add(a, b, dtype=sum_dtype(_abs_max(a) + _abs_max(b)))

    def step_counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, np.ndarray]:
        n = math.prod(out.shape[1:])
        return {"dense_macs": np.full(len(out), n, dtype=np.int64)}


@register_executor("MaxPool2d")
class _MaxPoolExecutor(_StepwiseExecutor):
    """Max over each (kH, kW) window of (C, H, W); padding never wins (PyTorch's -inf).

    On binary spikes this is the OR of the window."""

    def compute(self, inputs: Inputs) -> np.ndarray:
        x = next(iter(inputs.values()))
        lead, (c, h, w) = x.shape[:-3], x.shape[-3:]
        kh, kw = self.node.kernel_size
        sh, sw = self.node.stride
        ph, pw = self.node.padding
        flat = x.reshape(-1, c, h, w)
        if ph or pw:
            low = np.iinfo(flat.dtype).min if flat.dtype.kind in "iu" else -np.inf
            flat = np.pad(flat, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=low)
        ho, wo = self.out_shape[1:]
        out = None
        for i in range(kh):  # k*k strided views: no window copies
            for j in range(kw):
                tap = flat[:, :, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]
                out = tap.copy() if out is None else np.maximum(out, tap, out=out)
        assert out is not None
        return out.reshape(*lead, c, ho, wo)

    def step_counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, np.ndarray]:
        kh, kw = self.node.kernel_size
        n = math.prod(out.shape[1:]) * popcount.words(kh * kw)
        return {"bitwise_words": np.full(len(out), n, dtype=np.int64)}


@register_executor("TokenMean")
class _TokenMeanExecutor(_StepwiseExecutor):
    """Integer readout accumulation: the *sum* over the token axis (the 1/N is a scale the
    readout absorbs; an integer graph has no division)."""

    def compute(self, inputs: Inputs) -> np.ndarray:
        x = next(iter(inputs.values()))
        nd = len(self.in_shapes["in"])
        return x.sum(axis=2 + self.node.axis % nd)

    def step_counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, np.ndarray]:
        x = next(iter(inputs.values()))
        return {"dense_macs": np.full(len(out), math.prod(x.shape[1:]), dtype=np.int64)}


@register_executor("IntAttention")
class _IntAttentionExecutor(_StepwiseExecutor):
    """One quantised attention core per step; the SDSA inner neuron restarts per window."""

    def __init__(self, node: Any, in_shapes: Mapping[str, tuple[int, ...]], out_shape: tuple):
        super().__init__(node, in_shapes, out_shape)
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
        m = rec.count_shift
        if rec.variant == "sdsa":
            steps = len(q)
            segments = (
                [(0, steps)]
                if self.period is None
                else window_segments(steps, self.start - self.offset, self.period)
            )
            out = np.empty_like(q)
            for lo, hi in segments:  # a fresh inner neuron per window = LIFReset at lo
                out[lo:hi] = ia.sdsa_int(
                    q[lo:hi], k[lo:hi], v[lo:hi], count_shift=m, vth=rec.inner_vth, dv=rec.inner_dv
                )
            return out
        if rec.variant in ("ssa", "lrf_ssa"):
            out = ia.ssa_int(q, k, v, rec.heads, m)
        elif rec.variant == "axnor":
            out = ia.axnor_int(q, k, v, rec.heads, rec.a_int, rec.a_shift, m)
        elif rec.variant == "lrf_dyn":
            out = ia.lrf_dyn_int(
                q,
                k,
                v,
                dyn_a=rec.dyn_a,
                dyn_gamma=rec.dyn_gamma,
                dyn_c=rec.dyn_c,
                input_mode=rec.input_mode,
                count_shift=m,
            )
        else:  # pragma: no cover - the node validates its variant
            raise UnsupportedError(f"{rec.name}: attention variant {rec.variant!r}")
        if rec.local_weight is not None:
            out = out + ia.local_int(
                v, rec.local_weight, rec.grid, rec.local_dilation, rec.local_shift
            )
        return out

    def step_counts(self, inputs: Inputs, out: np.ndarray) -> dict[str, np.ndarray]:
        rec = self.node
        steps, batch = out.shape[:2]
        n_tok, dim = self.out_shape
        c = {key: np.zeros(steps, dtype=np.int64) for key in COUNTERS}
        if rec.variant == "sdsa":
            kv = inputs["k"] * inputs["v"]
            c["bitwise_words"][:] = 2 * batch * n_tok * popcount.words(dim)
            c["synaptic_events"][:] = _per_step(kv)
            c["neuron_updates"][:] = batch * dim
            c["state_reads"][:] = 2 * batch * dim
            return c
        if rec.variant == "lrf_dyn":
            comp = rec.dyn_gamma.shape[-1]
            c["neuron_updates"][:] = batch * n_tok * dim * comp
            c["state_reads"][:] = batch * n_tok * dim * comp
        else:
            pairs = batch * rec.heads * n_tok * n_tok * popcount.words(rec.head_dim)
            c["bitwise_words"][:] = pairs * (2 if rec.variant == "axnor" else 1)
            c["popcount_words"][:] = pairs * (2 if rec.variant == "axnor" else 1)
            c["synaptic_events"][:] = _per_step(inputs["v"]) * n_tok
            c["dense_macs"][:] = batch * rec.heads * n_tok * n_tok * rec.head_dim
        if rec.local_weight is not None:
            taps = 9 * len(rec.local_dilation)
            c["synaptic_events"] += _per_step(inputs["v"]) * taps
            c["dense_macs"] += batch * n_tok * dim * taps
        return c
