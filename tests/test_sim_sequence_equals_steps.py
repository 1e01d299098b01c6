"""The vectorised whole-sequence paths equal stepping through time (which is tested against Lava).

The simulator runs synapses over all timesteps at once (one product, or an event-driven
scatter for delays); the step-by-step kernels are the ones compared with Lava's processes.
"""

from __future__ import annotations

import numpy as np
import pytest

from spikeport import ir
from spikeport.hw_models.sim.base import COUNTERS, Executor
from spikeport.hw_models.sim.engine import Simulator
from spikeport.hw_models.sim.kernels import DenseSynapse


def _stepped(kernel: DenseSynapse, x: np.ndarray) -> np.ndarray:
    kernel.reset(x.shape[1:-1])
    return np.stack([kernel.step(xt) for xt in x])


@pytest.mark.parametrize(
    ("weight_exp", "graded", "with_delay", "even"),
    [
        (0, False, False, False),
        (-2, False, True, True),  # linear shift: event-driven path
        (-2, False, True, False),  # flooring shift: per-delay path
        (3, True, True, False),
        (-1, True, False, False),
    ],
)
def test_dense_sequence_equals_steps(
    weight_exp: int, graded: bool, with_delay: bool, even: bool
) -> None:
    rng = np.random.default_rng(weight_exp + 10 * graded + 100 * with_delay + 1000 * even)
    w = rng.integers(-64, 64, (9, 13)) * (rng.random((9, 13)) < 0.6)
    if even:
        w = w * 4
    delay = rng.integers(0, 7, w.shape) if with_delay else None
    x = rng.integers(-50, 50, (25, 2, 3, 13)) if graded else rng.random((25, 2, 3, 13)) < 0.3
    x = x * (rng.random(x.shape) < 0.5)
    kw = {"weight_exp": weight_exp, "num_weight_bits": 9, "num_message_bits": 16 * graded}
    a = DenseSynapse(w, delay=delay, **kw).run_sequence(x)
    b = _stepped(DenseSynapse(w, delay=delay, **kw), x)
    assert np.abs(b).sum() > 0
    assert np.array_equal(a, b)


def test_conv_and_layout_sequence_paths_equal_steps() -> None:
    rng = np.random.default_rng(7)
    g = ir.Graph("c")
    g.add(ir.Input("input", shape=(2, 7, 6)))
    g.add(ir.Conv("conv", weight=rng.integers(-9, 9, (4, 2, 3, 3)), padding=(1, 0)), "input")
    g.add(ir.Delay("delay", steps=3), "conv")
    g.add(ir.Transpose("tr", perm=(2, 0, 1)), "delay")
    g.add(ir.Flatten("flat"), "tr")
    sim = Simulator(g)
    x = (rng.random((11, 3, 2, 7, 6)) < 0.4).astype(np.int64)  # [T, B, ...]
    seq = {"input": x}
    for name in ("conv", "delay", "tr", "flat"):
        ex = sim.executors[name]
        src = g.inputs_of(name)["in"]
        fast_counts = {k: np.zeros(11, dtype=np.int64) for k in COUNTERS}
        slow_counts = {k: np.zeros(11, dtype=np.int64) for k in COUNTERS}
        ex.reset(3)
        fast, _ = ex.run_all({"in": seq[src]}, fast_counts)
        ex.reset(3)
        slow, _ = Executor.run_all(ex, {"in": seq[src]}, slow_counts)
        assert np.array_equal(fast, slow), name
        for k in COUNTERS:
            assert np.array_equal(fast_counts[k], slow_counts[k]), (name, k)
        seq[name] = fast
    assert np.abs(seq["flat"]).sum() > 0


@pytest.mark.parametrize("scale", [300, 1 << 26])  # the second forces Lava's int32 wraps
def test_lif_sequence_equals_steps(scale: int) -> None:
    from spikeport.hw_models.sim.kernels import CubaLifNeuron

    rng = np.random.default_rng(scale % 97)
    a = rng.integers(-scale, scale, (40, 3, 5)) * (rng.random((40, 3, 5)) < 0.6)
    kw = {"du": 30, "dv": 900, "vth": 700, "bias_mant": rng.integers(-99, 99, 5), "bias_exp": 5}
    kw |= {"reset_interval": 7, "reset_offset": 3}
    fast = CubaLifNeuron((5,), **kw)
    fast.reset(3)
    s_fast, rec = fast.run_sequence(a, state_reset=(9, 4), record=("u", "v"))
    slow = CubaLifNeuron((5,), **kw)
    slow.reset(3)
    s_slow, us, vs = [], [], []
    for t, at in enumerate(a):
        s_slow.append(slow.step(at))
        if t % 9 == 4:
            slow.u[...] = 0
            slow.v[...] = 0
        us.append(slow.u.copy())
        vs.append(slow.v.copy())
    assert np.array_equal(s_fast, np.stack(s_slow))
    assert np.array_equal(rec["u"], np.stack(us))
    assert np.array_equal(rec["v"], np.stack(vs))
    assert s_fast.any() if scale < 1000 else (np.abs(rec["u"]) > 1 << 20).any()
