"""The compiled LIF loop (int32 state, its shift form for ku = 0 and kv = 2**k) equals the
numpy reference ``CubaLifNeuron.step`` on random activations over the full ranges: int32
activations that wrap Lava's ``a << 6``, currents that fold at +-2**23 (and beyond 3 * 2**23,
where Lava's single fold leaves u outside 24 bits), v saturating at +-(2**23 - 1), thresholds
beyond the v range, LIFReset and state resets, per-sample bias, recorded u and v."""

from __future__ import annotations

import numpy as np
import pytest

from spikeport.hw_models.sim.kernels.lif import CubaLifNeuron
from spikeport.hw_models.sim.kernels.loops import LIF_BLOCK

# (du, dv): generic, ku = 0 with kv = 2**11 (Spikformer) / 2**12 (readout) / 1 / 3 (not a power
# of two), ku = 4096 (du = -1), kv = 0 (dv = 4096)
DECAYS = [(300, 700), (4095, 2048), (4095, 0), (4095, 4095), (4095, 4093), (-1, 4096), (0, 1)]


def _reference(kw, shape, batch, a, bias, state_reset):
    ref = CubaLifNeuron(shape, **kw)
    ref.reset(batch)
    if bias is not None:
        ref.set_bias(bias)
    spikes, us, vs = [], [], []
    for t, at in enumerate(a):
        spikes.append(ref.step(at))
        if t % state_reset[0] == state_reset[1]:
            ref.u[...] = 0
            ref.v[...] = 0
        us.append(ref.u.copy())
        vs.append(ref.v.copy())
    return ref, np.stack(spikes), np.stack(us), np.stack(vs)


@pytest.mark.parametrize("du,dv", DECAYS)
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64])
def test_compiled_loop_equals_numpy_step_over_int24_ranges(du, dv, dtype):
    rng = np.random.default_rng(du * 7 + dv + np.dtype(dtype).itemsize)
    batch, shape, steps = 3, (2, LIF_BLOCK // 2 + 37), 11  # two blocks, a partial one
    info = np.iinfo(dtype)
    scales = [100, 1 << 10, 1 << 16, 1 << 17, 3 << 17, 1 << 20, 1 << 26, 1 << 40]
    scale = rng.choice([s for s in scales if s <= info.max], size=(steps, batch, *shape))
    a = rng.integers(-1 << 62, 1 << 62, scale.shape) % (2 * scale) - scale
    a = np.clip(a, info.min, info.max).astype(dtype)
    a[:, :, 0, :4] = np.array([info.min, info.max, 1 << 17, -(1 << 17)]).clip(info.min, info.max)
    kw = dict(
        du=du,
        dv=dv,
        vth=int(rng.choice([0, 5, 1 << 12, 1 << 17, 1 << 20])),
        bias_mant=rng.integers(-4096, 4096, shape),
        bias_exp=int(rng.integers(0, 8)),
        reset_interval=5,
        reset_offset=2,
    )
    per_sample = rng.integers(-(1 << 20), 1 << 20, (batch, *shape)) if du % 2 else None
    state_reset = (7, 3)
    ref, s_ref, u_ref, v_ref = _reference(kw, shape, batch, a, per_sample, state_reset)
    got = CubaLifNeuron(shape, **kw)
    got.reset(batch)
    if per_sample is not None:
        got.set_bias(per_sample)
    spikes, rec = got.run_sequence(a, state_reset=state_reset, record=("u", "v"))
    assert np.array_equal(spikes, s_ref)
    assert np.array_equal(rec["u"], u_ref) and np.array_equal(rec["v"], v_ref)
    assert np.array_equal(got.u, ref.u) and np.array_equal(got.v, ref.v)
    assert got.u.dtype == np.int32 and rec["u"].dtype == np.int64
    # the cases reach the edges the loop must get right
    assert (s_ref == 0).any()
    if dtype != np.int8:
        assert s_ref.any() or kw["vth"] << 6 >= 1 << 23
        assert np.abs(v_ref).max() == (1 << 23) - 1 and (np.abs(u_ref) >= 1 << 23).any()


def test_state_stays_in_int32_where_lavas_single_fold_leaves_24_bits():
    """|a << 6| up to 2**31: u after Lava's one fold can exceed 2**23 but never int32."""
    lif = CubaLifNeuron((4,), du=4095, dv=2048, vth=100)
    lif.reset(1)
    a = np.array([[[(1 << 25) - 1, -(1 << 25), 1 << 24, -(1 << 24) - 1]]], np.int64)
    ref = CubaLifNeuron((4,), du=4095, dv=2048, vth=100)
    ref.reset(1)
    ref.step(a[0])
    lif.run_sequence(a)
    assert np.array_equal(lif.u, ref.u) and np.abs(ref.u.astype(np.int64)).max() > 1 << 23
