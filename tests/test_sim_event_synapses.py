"""Event-driven synapses (kernels/events.py) give the same integers as an independent dense
evaluation: Dense against numpy's int64 product of Lava's effective weights, Conv against
torch's float64 conv2d (exact for these magnitudes) with Lava's 24-bit wrap; the synaptic
events they count equal non-zero inputs x their non-zero fan-out; the result does not
depend on numba's thread count; and the LIF time loop, split into parallel neuron blocks,
still equals the numpy step over several blocks."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spikeport.hw_models.sim.kernels import events
from spikeport.hw_models.sim.kernels.conv import ConvSynapse
from spikeport.hw_models.sim.kernels.dense import DenseSynapse, effective_weights
from spikeport.hw_models.sim.kernels.lif import CubaLifNeuron
from spikeport.hw_models.sim.kernels.loops import LIF_BLOCK


def _sparse(rng, shape, rate, high=2, dtype=np.int8):
    """Integers in [1, high) at `rate` of the positions, else 0."""
    x = rng.integers(1, high, shape) * (rng.random(shape) < rate)
    return x.astype(dtype)


def _wrap24(y: np.ndarray) -> np.ndarray:
    return (y + (1 << 23)) % (1 << 24) - (1 << 23)


@pytest.mark.parametrize(
    ("graded", "weight_exp", "n_in", "rate", "out_dtype", "high"),
    [
        (False, 0, 64, 0.08, np.int32, 2),  # word skipping (64 int8 = 8 words)
        (False, 3, 37, 0.05, np.int64, 2),  # rows not a whole number of words
        (False, -2, 96, 0.9, np.int32, 2),  # dense input: the float32 BLAS path
        (True, -3, 96, 0.06, np.int64, 200),  # graded gather-add, four rows per pass
        (True, -3, 40, 0.2, np.int64, 200),  # graded, float32 BLAS
        (True, 2, 48, 0.6, np.int64, 200),
        (True, 1, 64, 0.5, np.int64, 1 << 20),  # sums beyond float32's exact range
    ],
)
def test_dense_events_equal_int64_product(graded, weight_exp, n_in, rate, out_dtype, high):
    rng = np.random.default_rng(n_in)
    w = rng.integers(-300, 300, (23, n_in))
    w[:, 3] = 0  # an input without synapses
    syn = DenseSynapse(w, weight_exp=weight_exp, num_message_bits=8 if graded else 0)
    x = _sparse(rng, (3, 5, n_in), rate, high, np.int64 if graded else np.int8)
    x[1, 2] = 0  # an all-zero row
    eff = effective_weights(w).astype(np.int64)
    s = x.astype(np.int64) if graded else (x != 0).astype(np.int64)
    acc = s.reshape(-1, n_in) @ eff.T
    want = acc << weight_exp if weight_exp >= 0 else acc >> -weight_exp
    got = np.full((3, 5, 23), 7, dtype=out_dtype)  # every element must be written
    row_events = np.empty(15, dtype=np.int64)
    syn.compute_into(x, got, row_events)
    assert np.array_equal(got.reshape(-1, 23), want) and want.any()
    fan = np.count_nonzero(eff, axis=0)
    assert np.array_equal(row_events, (x.reshape(-1, n_in) != 0) @ fan)


CONV_CASES = [
    # (C_in, H, W, C_out, k, stride, padding, dilation, groups, graded, rate)
    (6, 9, 8, 4, 3, (1, 1), (1, 1), (1, 1), 1, False, 0.1),
    (6, 11, 10, 6, 3, (2, 2), (1, 1), (1, 1), 2, False, 0.2),
    (4, 12, 9, 5, 3, (2, 1), (2, 0), (2, 1), 1, True, 0.15),
    (8, 7, 7, 8, 1, (1, 1), (0, 0), (1, 1), 8, False, 0.3),
    (3, 8, 8, 4, 3, (1, 1), (1, 1), (1, 1), 1, True, 0.9),  # shallow (27 taps): scatter
    (16, 6, 6, 8, 3, (1, 1), (1, 1), (1, 1), 1, False, 0.1),  # deep (144 taps), sparse
    (48, 7, 6, 8, 3, (2, 1), (1, 1), (1, 1), 1, False, 0.4),  # many channels per position
    (40, 5, 6, 24, 1, (1, 1), (0, 0), (1, 1), 1, False, 0.3),  # 1 x 1: float32 product
    (40, 5, 6, 24, 1, (1, 1), (0, 0), (1, 1), 1, True, 0.3, 6),  # 1 x 1, small graded values
    (40, 5, 6, 24, 1, (1, 1), (0, 0), (1, 1), 1, True, 0.05, 6),  # 1 x 1, sparse: scatter-add
    (40, 5, 6, 24, 1, (1, 1), (0, 0), (1, 1), 1, True, 0.6),  # 1 x 1, sums wrap: im2col
    (8, 8, 8, 4, 3, (1, 1), (1, 1), (1, 1), 1, True, 0.9),  # deep, dense: im2col + BLAS
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_events_equal_torch_float64_conv(case):
    c_in, h, w_, c_out, k, stride, pad, dil, groups, graded, rate = case[:11]
    high = case[11] if len(case) > 11 else 1 << 20 if graded else 2
    rng = np.random.default_rng(c_in * h + int(100 * rate))
    w = rng.integers(-256, 256, (c_out, c_in // groups, k, k))
    x = _sparse(rng, (2, 3, c_in, h, w_), rate, high, np.int64)
    syn = ConvSynapse(
        w,
        stride=stride,
        padding=pad,
        dilation=dil,
        groups=groups,
        num_message_bits=24 if graded else 0,
    )
    s = torch.from_numpy(x.reshape(6, c_in, h, w_).astype(np.float64))
    ref = F.conv2d(s, torch.from_numpy(w.astype(np.float64)), None, stride, pad, dil, groups)
    want = _wrap24(ref.numpy().astype(np.int64))  # |sums| < 2**53: float64 is exact
    got = np.full((2, 3, *want.shape[1:]), 7, dtype=np.int32)  # every element written
    frame_events = np.empty(6, dtype=np.int64)
    syn.compute_into(x, got, frame_events)
    assert np.array_equal(got.reshape(want.shape), want) and want.any()
    if graded and rate < 0.5 and high > 1 << 10:
        assert np.abs(ref.numpy()).max() >= 1 << 23  # the wrap was exercised
    fan = syn.fanout((c_in, h, w_)).ravel()
    assert np.array_equal(frame_events, (x.reshape(6, -1) != 0) @ fan)


def test_conv_fanout_counts_each_synapse_once():
    """Summed over input positions, the fan-out is the number of non-zero (input, output)
    synapse pairs: the non-zero weight taps reaching inside the frame, per output."""
    rng = np.random.default_rng(3)
    w = rng.integers(-2, 3, (4, 3, 3, 3))
    x = np.ones((1, 3, 6, 5), dtype=np.float64)
    ones = F.conv2d(
        torch.from_numpy(x), torch.from_numpy((w != 0).astype(np.float64)), None, (2, 1), (1, 1)
    )
    fan = ConvSynapse(w, stride=(2, 1), padding=(1, 1)).fanout((3, 6, 5))
    assert fan.sum() == int(ones.sum())


def test_event_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(9)
    w = rng.integers(-256, 256, (16, 8, 3, 3))
    syn = ConvSynapse(w, padding=(1, 1))
    x = _sparse(rng, (12, 8, 10, 10), 0.1)
    outs = []
    before = numba.get_num_threads()
    try:
        for threads in (1, before):
            numba.set_num_threads(threads)
            outs.append(syn.compute_into(x, np.zeros((12, 16, 10, 10), dtype=np.int32)))
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(outs[0], outs[1])


def test_event_rate_rule():
    assert events.use_events(35, 100, 0.35) and not events.use_events(36, 100, 0.35)
    assert events.parallel(events.PARALLEL_ELEMENTS) and not events.parallel(1000)


def test_lif_blocks_equal_numpy_steps():
    """A layer wider than one parallel block (neurons split across blocks, batch 3) equals
    the numpy step, spikes and final state."""
    rng = np.random.default_rng(5)
    shape, batch, steps = (LIF_BLOCK + 321,), 3, 6
    kw = dict(
        du=900,
        dv=300,
        vth=90,
        bias_mant=rng.integers(-20, 80, shape),
        bias_exp=2,
        reset_interval=3,
        reset_offset=1,
    )
    a = rng.integers(-500, 1200, (steps, batch, *shape)).astype(np.int32)
    ref = CubaLifNeuron(shape, **kw)
    ref.reset(batch)
    want = np.stack([ref.step(a[t]) for t in range(steps)])
    got = CubaLifNeuron(shape, **kw)
    got.reset(batch)
    spikes, _ = got.run_sequence(a)
    assert np.array_equal(spikes, want) and want.any() and not want.all()
    assert np.array_equal(got.u, ref.u) and np.array_equal(got.v, ref.v)
