"""The simulator's lean paths give the same integers as independent references: the stacked
attention product (vs exact Python-int products), the narrow Add (vs Python ints), windowed
Conv (vs the layer-synchronous evaluator ``int_eval.run_int`` and the full run), and
state that is dropped after each node (rerunning and stepping still give the same bits)."""

from __future__ import annotations

import numpy as np
import pytest

from spikeport.converters.passes import PassManager
from spikeport.converters.passes.retime import Retime
from spikeport.hw_models.sim import int_attention as ia
from spikeport.hw_models.sim.base import Executor
from spikeport.hw_models.sim.engine import Simulator
from spikeport.hw_models.sim.int_eval import run_int
from spikeport.ir import Add, Conv, CubaLIF, Dense, Flatten, Graph, Input
from spikeport.ir.timing import Timing

T = 4


@pytest.mark.parametrize("a_max", [3, 1 << 30, 1 << 51])  # float32, float64, int64 regimes
def test_stacked_attention_product_equals_python_int_product(a_max: int) -> None:
    rng = np.random.default_rng(a_max % 1000)
    a = rng.integers(-a_max, a_max + 1, (2, 3, 5, 7), dtype=np.int64)
    b = rng.integers(0, 2, (3, 7, 4)).astype(np.int8)  # broadcast over the leading axis
    b[0, :, 0] = 1  # a column sum of 7: bound 7 a_max
    a[0, 0, 0] = a_max  # every regime reaches its bound
    ref = np.matmul(a.astype(object), b.astype(object))
    got = ia._bmm(a, b)
    assert got.dtype == np.int64
    assert np.array_equal(got, ref.astype(np.int64))


def test_attention_product_at_the_float32_bound_is_exact() -> None:
    # one column of 2**24 / 4 ones times 4: the sum 2**24 itself is where float32 stops
    # holding every integer, so the bound must send it to float64 and still add exactly
    k = 1 << 14
    a = np.full((1, 1, k), 1 << 10, dtype=np.int64)
    a[0, 0, 0] += 1  # 2**24 + 1 in total: float32 would round it
    b = np.ones((1, k, 1), dtype=np.int8)
    assert int(ia._bmm(a, b)[0, 0, 0]) == (1 << 24) + 1


def test_add_sums_exactly_in_a_narrow_type() -> None:
    g = Graph("add")
    g.add(Input("a", shape=(3, 5)))
    g.add(Input("b", shape=(3, 5)))
    g.add(Add("s"), {"a": "a", "b": "b"})
    sim = Simulator(g)
    rng = np.random.default_rng(3)
    for hi, dtype in ((2, np.int8), (200, np.int16), (1 << 40, np.int64)):
        a = rng.integers(-hi, hi, (2, T, 3, 5))
        b = rng.integers(-hi, hi, (2, T, 3, 5))
        out = sim.run({"a": a, "b": b}).outputs["s"]
        ref = np.moveaxis(a.astype(object) + b.astype(object), 1, 0)
        assert np.array_equal(out, ref.astype(np.int64)) and out.dtype == dtype


def conv_graph(seed: int = 0) -> Graph:
    """x -> conv (graded) -> n1 -> conv (binary, strided) -> n2 -> dense -> readout."""
    rng = np.random.default_rng(seed)
    g = Graph("convs")
    g.add(Input("x", shape=(2, 9, 8), kind="graded"))
    w1 = rng.integers(-40, 90, (4, 2, 3, 3))
    g.add(Conv("c1", weight=w1, padding=(1, 1), num_message_bits=4), "x")
    g.add(CubaLIF("n1", shape=(4, 9, 8), du=4095, dv=1024, vth=300, bias_mant=20), "c1")
    w2 = rng.integers(-60, 120, (6, 2, 3, 3))
    g.add(Conv("c2", weight=w2, stride=(2, 2), groups=2), "n1")
    g.add(CubaLIF("n2", shape=(6, 4, 3), du=2048, dv=2048, vth=100, bias_mant=10), "c2")
    g.add(Flatten("flat"), "n2")
    g.add(Dense("d", weight=rng.integers(-90, 150, (3, 72))), "flat")
    g.add(CubaLIF("readout", shape=(3,), du=4095, dv=0, vth=1 << 17), "d")
    g.meta.update(T=T, readout="readout", input_scale=1.0)
    return g


def test_windowed_conv_equals_reference_and_full_run_counts() -> None:
    g = conv_graph()
    x = np.random.default_rng(1).integers(0, 6, (5, 2, 9, 8)).astype(np.float64)
    lifs = ("n1", "n2", "readout")
    ref: dict[str, np.ndarray] = {}
    ref_v = run_int(g, x, observe=lambda n, v: ref.__setitem__(n, v) if n in lifs else None)
    assert ref["n1"].any() and ref["n2"].any() and not ref["n2"].all()
    rg = PassManager([Retime()]).run(g)
    timing = Timing.from_meta(rg.meta)
    sim = Simulator(rg, probes=[*lifs, ("readout", "v")])
    feed = np.repeat(x[:, None].astype(np.int64), T, axis=1)
    full = sim.run(feed)
    win = sim.run(feed, windowed=True)
    for name in lifs:
        assert np.array_equal(win.probes[(name, "out")], ref[name]), name
    assert np.array_equal(win.probes[("readout", "v")][-1], ref_v)
    for name in ("c1", "c2"):  # a synapse counts input events: its input's window
        lo, hi = timing.window(rg.inputs_of(name)["in"])
        for key, per_step in win.counts[name].items():
            assert np.array_equal(per_step, full.counts[name][key][lo:hi]), (name, key)
    assert win.counts["c2"]["synaptic_events"].any()


def test_dropped_state_does_not_change_reruns_or_stepping() -> None:
    g = conv_graph(seed=2)
    x = np.random.default_rng(4).integers(0, 6, (3, T, 2, 9, 8))
    sim = Simulator(g, probes=["n1", ("n2", "v")])
    first = sim.run(x)
    again = sim.run(x)
    assert all(ex.kernel.u.size == 0 for n, ex in sim.executors.items() if n.startswith("n"))
    for key in first.probes:
        assert np.array_equal(first.probes[key], again.probes[key]), key
    # a fresh step-by-step run of every node equals the vectorised one
    seqs = {"x": np.moveaxis(x, 1, 0)}
    for name in g.topological_order()[1:]:
        ex = sim.executors[name]
        ex.reset(3)
        out, _ = Executor.run_all(
            ex,
            {p: seqs[s] for p, s in g.inputs_of(name).items()},
            {k: np.zeros(first.steps, dtype=np.int64) for k in first.counts[name]},
        )
        seqs[name] = out
    assert np.array_equal(seqs["n1"], first.probes[("n1", "out")])
    assert np.array_equal(seqs["readout"], first.outputs["readout"])


@pytest.mark.parametrize("x_max", [5, 1 << 26])  # int32 window, then int64 (|a_out| >= 2**31)
def test_windowed_dense_equals_full_run(x_max: int) -> None:
    rng = np.random.default_rng(x_max % 101)
    g = Graph("dense")
    g.add(Input("x", shape=(3, 12), kind="graded"))
    w1 = rng.integers(-256, 256, (10, 12)) * (rng.random((10, 12)) < 0.7)
    d1 = Dense("d1", weight=w1, weight_exp=-2, num_weight_bits=8, num_message_bits=24)
    g.add(d1, "x")
    vth = 400  # large inputs saturate v below vth << 6 = 2**23: n1 is then silent
    g.add(CubaLIF("n1", shape=(3, 10), du=4095, dv=1024, vth=vth), "d1")
    g.add(Dense("d2", weight=rng.integers(-90, 200, (4, 10)), weight_exp=1), "n1")
    g.add(CubaLIF("readout", shape=(3, 4), du=4095, dv=0, vth=1 << 16), "d2")
    g.meta.update(T=T, readout="readout", input_scale=1.0)
    rg = PassManager([Retime()]).run(g)
    timing = Timing.from_meta(rg.meta)
    sim = Simulator(rg, probes=["d1", "n1", "d2", ("readout", "v")])
    x = rng.integers(-x_max, x_max + 1, (5, T, 3, 12)) * (rng.random((5, T, 3, 12)) < 0.6)
    full, win = sim.run(x), sim.run(x, windowed=True)
    assert (np.abs(full.probes[("d1", "out")]).max() >= 1 << 31) == (x_max > 1000)
    for name in ("d1", "n1", "d2"):
        lo = timing.window(name)[0] + (name != "n1")  # a synapse's output: one step later
        got, want = win.probes[(name, "out")], full.probes[(name, "out")][lo : lo + T]
        assert np.array_equal(got, want), name
    lo, hi = timing.window("readout")
    assert np.array_equal(win.probes[("readout", "v")], full.probes[("readout", "v")][lo:hi])
    if x_max < 1000:
        assert win.probes[("n1", "out")].any() and not win.probes[("n1", "out")].all()
    for name in ("d1", "d2"):
        lo, hi = timing.window(rg.inputs_of(name)["in"])
        for key, per_step in win.counts[name].items():
            assert np.array_equal(per_step, full.counts[name][key][lo:hi]), (name, key)


@pytest.mark.parametrize("x_max", [1, 30000])  # a_out within 24 bits, then past them (wraps)
def test_chunked_conv_equals_torch_and_wraps_like_lava(monkeypatch, x_max: int) -> None:
    torch = pytest.importorskip("torch")
    from spikeport.hw_models.sim.kernels import conv as conv_mod

    monkeypatch.setattr(conv_mod, "COLUMN_CHUNK_ELEMENTS", 500)  # several frames per chunk
    rng = np.random.default_rng(x_max)
    x = rng.integers(-x_max, x_max + 1, (7, 3, 6, 5))
    w = rng.integers(-256, 256, (4, 3, 3, 3))
    syn = conv_mod.ConvSynapse(w, padding=(1, 2), num_message_bits=16)
    got = syn.compute(x)
    ref = torch.nn.functional.conv2d(
        torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=(1, 2)
    )
    ref = ref.numpy().astype(np.int64)
    assert (np.abs(ref).max() >= 1 << 23) == (x_max > 1)
    wrapped = (ref + (1 << 23)) % (1 << 24) - (1 << 23)  # Lava's signed_clamp
    assert np.array_equal(got, wrapped)
