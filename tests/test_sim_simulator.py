"""Simulator behaviour: batch/thread invariance, operation counts, probes, refusals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from spikeport import ir
from spikeport.errors import SpikeportError, UnsupportedError
from spikeport.hw_models.sim.engine import Simulator


def _conv_net(rng: np.random.Generator) -> ir.Graph:
    g = ir.Graph("small")
    g.add(ir.Input("input", shape=(4, 9, 8)))
    w = rng.integers(-256, 256, (6, 2, 3, 3)) * (rng.random((6, 2, 3, 3)) < 0.7)
    g.add(
        ir.Conv("conv", weight=w, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
        "input",
    )
    g.add(ir.CubaLIF("lif1", shape=(6, 5, 8), du=1000, dv=500, vth=60), "conv")
    g.add(ir.Flatten("flat"), "lif1")
    wd = rng.integers(-256, 256, (10, 240)) * (rng.random((10, 240)) < 0.5)
    g.add(ir.Dense("dense", weight=wd, weight_exp=-1, num_weight_bits=9), "flat")
    g.add(ir.CubaLIF("lif2", shape=(10,), du=-1, dv=100, vth=40), "dense")
    return g


def _spikes(rng: np.random.Generator, batch: int, steps: int) -> np.ndarray:
    return (rng.random((batch, steps, 4, 9, 8)) < 0.3).astype(np.int64)


def test_batch_size_does_not_change_any_bit() -> None:
    rng = np.random.default_rng(1)
    g = _conv_net(rng)
    x = _spikes(rng, 3, 12)
    sim = Simulator(g, probes=[("lif1", "u"), ("lif2", "v"), "dense"])
    together = sim.run(x)
    for b in range(3):
        alone = sim.run(x[b : b + 1])
        assert np.array_equal(together.outputs["lif2"][:, b], alone.outputs["lif2"][:, 0])
        for key, arr in together.probes.items():
            assert np.array_equal(arr[:, b], alone.probes[key][:, 0]), key


def test_thread_count_does_not_change_any_bit() -> None:
    rng = np.random.default_rng(2)
    g = _conv_net(rng)
    x = _spikes(rng, 4, 10)
    with threadpool_limits(limits=1):
        one = Simulator(g, probes=[("lif1", "v")]).run(x)
    with threadpool_limits(limits=2):
        two = Simulator(g, probes=[("lif1", "v")]).run(x)
    assert np.array_equal(one.outputs["lif2"], two.outputs["lif2"])
    assert np.array_equal(one.probes[("lif1", "v")], two.probes[("lif1", "v")])
    assert one.totals() == two.totals()


def test_synaptic_event_counts_equal_a_brute_force_count() -> None:
    """events = sum over non-zero inputs of their non-zero synapses, by explicit loops."""
    rng = np.random.default_rng(3)
    g = _conv_net(rng)
    x = _spikes(rng, 2, 6)
    sim = Simulator(g, probes=["lif1", "flat"])
    res = sim.run(x)
    conv = g.node("conv")
    w = conv.weight
    c_out, c_in_g, kh, kw = w.shape
    ho, wo = sim.shapes["conv"][1:]
    for t in range(6):
        expect = 0
        for b, co, i, j in itertools.product(range(2), range(c_out), range(ho), range(wo)):
            grp = co // (c_out // conv.groups)
            for ci, ki, kj in itertools.product(range(c_in_g), range(kh), range(kw)):
                r = i * conv.stride[0] - conv.padding[0] + ki * conv.dilation[0]
                c = j * conv.stride[1] - conv.padding[1] + kj * conv.dilation[1]
                if 0 <= r < 9 and 0 <= c < 8 and w[co, ci, ki, kj] != 0:
                    expect += int(x[b, t, grp * c_in_g + ci, r, c] != 0)
        assert res.counts["conv"]["synaptic_events"][t] == expect
    wd = g.node("dense").weight
    flat = res.probes[("flat", "out")]
    for t in range(6):
        expect = sum(
            int(flat[t, b, j] != 0) * int(np.count_nonzero(wd[:, j]))
            for b in range(2)
            for j in range(wd.shape[1])
        )
        assert res.counts["dense"]["synaptic_events"][t] == expect


def test_neuron_and_mac_counts_follow_the_shapes() -> None:
    rng = np.random.default_rng(4)
    g = _conv_net(rng)
    res = Simulator(g).run(_spikes(rng, 2, 5))
    assert (res.counts["lif1"]["neuron_updates"] == 2 * 6 * 5 * 8).all()
    assert (res.counts["lif1"]["state_reads"] == 2 * 2 * 6 * 5 * 8).all()
    assert (res.counts["conv"]["dense_macs"] == 2 * (6 * 5 * 8) * (2 * 3 * 3)).all()
    assert (res.counts["dense"]["dense_macs"] == 2 * 240 * 10).all()
    assert res.counts["lif2"]["spikes"].sum() == res.outputs["lif2"].sum()
    assert res.totals()["synaptic_events"] == sum(
        int(res.counts[n]["synaptic_events"].sum()) for n in ("conv", "dense")
    )


def test_delay_node_shifts_by_its_steps() -> None:
    g = ir.Graph("d")
    g.add(ir.Input("input", shape=(3,)))
    g.add(ir.Delay("delay", steps=2), "input")
    x = np.arange(1, 19).reshape(1, 6, 3)
    out = Simulator(g).run(x).outputs["delay"][:, 0]
    assert np.array_equal(out[2:], x[0, :4]) and not out[:2].any()


def test_bad_probes_inputs_and_nodes_are_refused_with_names() -> None:
    rng = np.random.default_rng(5)
    g = _conv_net(rng)
    with pytest.raises(SpikeportError, match="lif9"):
        Simulator(g, probes=["lif9"])
    with pytest.raises(SpikeportError, match="no state 'w'"):
        Simulator(g, probes=[("lif1", "w")])
    sim = Simulator(g)
    with pytest.raises(SpikeportError, match="input 'input'"):
        sim.run(np.zeros((1, 3, 4, 9, 9)))
    with pytest.raises(SpikeportError, match="integers"):
        sim.run(np.full((1, 3, 4, 9, 8), 0.5))
    f = ir.Graph("float")
    f.add(ir.Input("input", shape=(4,), kind="float"))
    f.add(ir.Linear("fc", weight=np.ones((2, 4))), "input")
    with pytest.raises(UnsupportedError, match="fc"):
        Simulator(f)


def test_bias_override_applies_to_one_run_only() -> None:
    g = ir.Graph("b")
    g.add(ir.Input("input", shape=(4,)))
    g.add(ir.CubaLIF("lif", shape=(4,), du=4095, dv=0, vth=10, bias_mant=0, bias_exp=6), "input")
    sim = Simulator(g)
    x = np.zeros((2, 5, 4), dtype=np.int64)
    image = np.array([[0, 5, 11, 30], [30, 0, 0, 0]])  # per sample
    driven = sim.run(x, bias={"lif": image}).outputs["lif"]
    assert driven[0, 0].tolist() == [0, 0, 1, 1] and driven[0, 1].tolist() == [1, 0, 0, 0]
    assert not sim.run(x).outputs["lif"].any()
