"""The LIF whole-sequence loop (compiled) gives the same spikes, recorded u/v and final state
as the numpy step, over a batch (LIFReset phases, state resets, per-sample bias)."""

from __future__ import annotations

import numpy as np
import pytest

from spikeport.hw_models.sim.kernels.lif import CubaLifNeuron


@pytest.mark.parametrize("per_sample_bias", [False, True])
def test_batched_sequence_equals_steps(per_sample_bias):
    rng = np.random.default_rng(4)
    batch, shape, steps = 7, (3, 5), 9
    a = rng.integers(-300, 900, (steps, batch, *shape))
    kw = dict(
        du=1000,
        dv=700,
        vth=120,
        bias_mant=rng.integers(-50, 400, shape),
        bias_exp=3,
        reset_interval=4,
        reset_offset=3,
    )
    ref = CubaLifNeuron(shape, **kw)
    ref.reset(batch)
    bias = rng.integers(-100, 300, (batch, *shape)) if per_sample_bias else None
    if bias is not None:
        ref.set_bias(bias)
    want, want_u, want_v = [], [], []
    for t in range(steps):
        want.append(ref.step(a[t]))
        if t % 5 == 2:  # lava.proc.io.reset.Reset after step index 2, 7
            ref.u[...] = 0
            ref.v[...] = 0
        want_u.append(ref.u.copy())
        want_v.append(ref.v.copy())
    got = CubaLifNeuron(shape, **kw)
    got.reset(batch)
    if bias is not None:
        got.set_bias(bias)
    spikes, rec = got.run_sequence(a, state_reset=(5, 2), record=("u", "v"))
    assert np.array_equal(spikes, np.stack(want)) and np.stack(want).any()
    assert np.array_equal(rec["u"], np.stack(want_u)) and np.array_equal(rec["v"], np.stack(want_v))
    assert np.array_equal(got.u, ref.u) and np.array_equal(got.v, ref.v) and got.t == ref.t
