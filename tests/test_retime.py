"""Retime pass: Delay nodes balance joins, LIFReset gates the bias warm-up, and the retimed
graph under Lava's timing equals the layer-synchronous reference (`int_eval.run_int`,
an independent evaluator that ignores latency) shifted by each node's latency."""

from __future__ import annotations

import numpy as np
import pytest

from spikeport.converters.passes import PassManager
from spikeport.converters.passes.retime import Retime, layer_synchronous
from spikeport.errors import SpikeportError, UnsupportedError
from spikeport.hw_models.sim.engine import Simulator
from spikeport.hw_models.sim.int_eval import run_int
from spikeport.ir import Add, CubaLIF, Delay, Dense, Graph, Input
from spikeport.ir.timing import Timing

T = 5


def residual_graph(seed: int = 0, bias: int = 900) -> Graph:
    """x -> d1 -> n1 -> d2 -> n2; add = n1 + n2 (n1 one step early); -> d3 -> readout."""
    rng = np.random.default_rng(seed)
    g = Graph("residual")
    g.add(Input("x", shape=(8,), kind="graded"))
    g.add(Dense("d1", weight=rng.integers(-60, 120, (6, 8)), num_message_bits=4), "x")
    g.add(CubaLIF("n1", shape=(6,), du=4095, dv=1024, vth=400, bias_mant=bias, bias_exp=4), "d1")
    g.add(Dense("d2", weight=rng.integers(-80, 200, (6, 6))), "n1")
    g.add(CubaLIF("n2", shape=(6,), du=2048, dv=2048, vth=300, bias_mant=bias, bias_exp=3), "d2")
    g.add(Add("add"), {"a": "n1", "b": "n2"})
    g.add(Dense("d3", weight=rng.integers(-200, 200, (4, 6)), num_message_bits=2), "add")
    g.add(
        CubaLIF("readout", shape=(4,), du=4095, dv=0, vth=1 << 17, bias_mant=50, bias_exp=2), "d3"
    )
    g.meta.update(T=T, readout="readout", input_scale=1.0)
    return g


def _retime(g: Graph) -> Graph:
    return PassManager([Retime()]).run(g)


def _reference(g: Graph, x: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    lifs = {n for n in g.topological_order() if type(g.node(n)).__name__ == "CubaLIF"}
    seen: dict[str, np.ndarray] = {}
    v = run_int(g, x, observe=lambda n, val: seen.__setitem__(n, val) if n in lifs else None)
    return seen, v


def _simulate(rg: Graph, x: np.ndarray, **kw):
    lifs = [n for n in rg.topological_order() if type(rg.node(n)).__name__ == "CubaLIF"]
    sim = Simulator(rg, probes=[*lifs, ("readout", "v")])
    feed = np.repeat(x[:, None].astype(np.int64), T, axis=1)
    return sim.run(feed, **kw)


def _inputs(seed: int = 1, batch: int = 9) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 6, (batch, 8)).astype(np.float64)


def _case(**graph_kw):  # type: ignore[no-untyped-def]
    """The residual graph, its inputs, its layer-synchronous reference and its retimed copy."""
    g, x = residual_graph(**graph_kw), _inputs()
    ref, ref_v = _reference(g, x)
    rg = _retime(g)  # a retimed copy: g is left as it was
    return x, ref, ref_v, rg, Timing.from_meta(rg.meta)


def test_retime_delays_the_shorter_branch_and_resets_each_neuron_at_its_window():
    rg = _retime(residual_graph())
    timing = Timing.from_meta(rg.meta)
    assert timing is not None and timing.T == T
    # latencies: d1 sends at 1 (n1 window starts at 1), d2 at 2, d3 at 3 -> readout at 3
    assert timing.node_latency["n1"] == 1 and timing.node_latency["n2"] == 2
    assert timing.latency == 3 and timing.steps == T + 3 and timing.readout_step == 3 + T - 1
    (delay,) = timing.delays
    assert isinstance(rg.node(delay), Delay) and rg.node(delay).steps == 1
    assert rg.inputs_of("add") == {"a": delay, "b": "n2"} and rg.inputs_of(delay) == {"in": "n1"}
    # Lava's time starts at 1: step index l is Lava t = l + 1
    assert rg.node("n1").reset_interval == T and rg.node("n1").reset_offset == 2
    assert rg.node("n2").reset_offset == 3 and rg.node("readout").reset_offset == 4
    assert rg.meta["passes"][-1] == "retime"


def test_retimed_graph_equals_layer_synchronous_reference_shifted_by_latency():
    x, ref, ref_v, rg, timing = _case()
    res = _simulate(rg, x)
    assert res.steps == T + timing.latency
    for name, spikes in ref.items():
        lo, hi = timing.window(name)
        assert np.array_equal(res.probes[(name, "out")][lo:hi], spikes), name
    assert np.array_equal(res.probes[("readout", "v")][timing.readout_step], ref_v)
    assert ref["n1"].any() and ref["n2"].any() and not ref["n1"].all()
    # windowed execution produces the same window values
    win = _simulate(rg, x, windowed=True)
    for name, spikes in ref.items():
        assert np.array_equal(win.probes[(name, "out")], spikes), name
    assert np.array_equal(win.probes[("readout", "v")][-1], ref_v)


def test_without_the_reset_gate_the_bias_warm_up_changes_the_result():
    x, ref, ref_v, rg, timing = _case()
    for n in timing.reset_neurons:  # keep the delays, drop the LIFReset
        rg.replace(rg.node(n).replace(reset_interval=None, reset_offset=0))
    res = _simulate(rg, x)
    lo, hi = timing.window("n2")
    assert not np.array_equal(res.probes[("n2", "out")][lo:hi], ref["n2"])
    assert not np.array_equal(res.probes[("readout", "v")][timing.readout_step], ref_v)


def test_without_the_delay_the_residual_add_mixes_steps():
    x, _, ref_v, rg, timing = _case(bias=0)  # no warm-up at all: only the join misaligns
    (delay,) = timing.delays
    rg.nx.remove_edge(delay, "add")
    rg.remove(delay)
    rg.connect("n1", "add", "a")
    res = _simulate(rg, x)
    assert not np.array_equal(res.probes[("readout", "v")][timing.readout_step], ref_v)


def test_layer_synchronous_undoes_the_pass():
    g = residual_graph()
    back = layer_synchronous(_retime(g))
    assert back.same_as(g)
    assert layer_synchronous(g).same_as(g)


def test_retime_is_idempotent_and_streams_with_period_T():
    g = residual_graph()
    rg = _retime(g)
    again = _retime(rg)
    assert again.meta.pop("passes") == ["retime", "retime"]  # the manager logs every run
    again.meta["passes"] = rg.meta["passes"]
    assert again.same_as(rg)
    # two samples back to back: the second's windows start T steps later
    x = _inputs(batch=2)
    ref, ref_v = _reference(g, x[1:])
    timing = Timing.from_meta(rg.meta)
    sim = Simulator(rg, probes=[("readout", "v"), "n2"])
    feed = np.concatenate(
        [np.repeat(x[:1, None], T, axis=1), np.repeat(x[1:, None], T, axis=1)], axis=1
    ).astype(np.int64)
    res = sim.run(feed, 2 * T + timing.latency)
    lo, hi = timing.window("n2")
    assert np.array_equal(res.probes[("n2", "out")][lo + T : hi + T], ref["n2"])
    assert np.array_equal(res.probes[("readout", "v")][timing.readout_step + T], ref_v)


def test_delays_longer_than_one_delay_node_are_chained():
    g = Graph("long")
    g.add(Input("x", shape=(3,), kind="graded"))
    prev = "x"
    for i in range(70):
        g.add(Dense(f"d{i}", weight=np.eye(3, dtype=np.int64), num_message_bits=8), prev)
        prev = f"d{i}"
    g.add(Add("add"), {"a": "x", "b": prev})
    g.meta["T"] = 2
    rg = _retime(g)
    timing = Timing.from_meta(rg.meta)
    assert sum(rg.node(d).steps for d in timing.delays) == 70 and len(timing.delays) == 2
    x = np.arange(6).reshape(2, 3)
    res = Simulator(rg).run(np.repeat(x[:, None], 2, axis=1))
    out = res.outputs["add"]
    assert np.array_equal(out[70], 2 * x) and np.array_equal(out[71], 2 * x)


def test_retime_refuses_what_it_cannot_time():
    g = residual_graph()
    g.replace(g.node("d2").replace(delay=np.ones((6, 6), dtype=np.int64)))
    with pytest.raises(UnsupportedError, match="d2 .*delays"):
        _retime(g)
    g = residual_graph()
    g.replace(g.node("n1").replace(reset_interval=4))
    with pytest.raises(UnsupportedError, match="n1 .*LIFReset"):
        _retime(g)
    g = residual_graph()
    del g.meta["T"]
    with pytest.raises(SpikeportError, match="'T'"):
        _retime(g)
