"""The simulator runs converted spiking Transformers.

Fast: the new executors against independent references (torch max-pool, plain sums, the
SDSA inner neuron restarting per window). Slow: for the default digits model of each of
the five attention variants, the retimed artifact under Lava's timing equals the
layer-synchronous integer reference (`int_eval.run_int`) at every LIF (after the
latency shift) and on the readout v, over the whole test split, whatever the batch size
and BLAS thread count. Trained models come from the shared ``digits_models`` fixture."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spikeport.converters.passes import PassManager, QuantConfig
from spikeport.converters.passes.retime import Retime
from spikeport.hw_models.sim import int_attention as ia
from spikeport.hw_models.sim.classification import classify, direct_input
from spikeport.hw_models.sim.engine import Simulator
from spikeport.hw_models.sim.executors.attention import window_segments
from spikeport.hw_models.sim.int_eval import run_int
from spikeport.ir import Add, Graph, Input, MaxPool2d, TokenMean
from spikeport.ir.int_attention import IntAttention
from spikeport.ir.timing import Timing


def _run(graph: Graph, data: dict[str, np.ndarray]):
    return Simulator(graph).run(data)


@pytest.mark.parametrize(
    "kernel,stride,padding",
    [((3, 3), (2, 2), (1, 1)), ((2, 2), (2, 2), (0, 0)), ((3, 2), (1, 2), (1, 1))],
)
def test_maxpool_equals_torch_on_spikes_and_graded(kernel, stride, padding):
    rng = np.random.default_rng(0)
    g = Graph("mp")
    g.add(Input("x", shape=(3, 7, 6), kind="graded"))
    g.add(MaxPool2d("mp", kernel_size=kernel, stride=stride, padding=padding), "x")
    for x in (rng.integers(0, 2, (2, 3, 3, 7, 6)), rng.integers(-9, 9, (2, 3, 3, 7, 6))):
        out = _run(g, {"x": x}).outputs["mp"]  # [T, B, C, H, W]
        t = torch.from_numpy(np.moveaxis(x, 1, 0).reshape(-1, 3, 7, 6).astype(np.float64))
        want = F.max_pool2d(t, kernel, stride, padding).numpy().astype(np.int64)
        assert np.array_equal(out.reshape(want.shape), want)


def test_add_and_token_sum_are_same_step_integer_ops():
    rng = np.random.default_rng(1)
    g = Graph("add")
    g.add(Input("a", shape=(4, 5), kind="graded"))
    g.add(Input("b", shape=(4, 5), kind="graded"))
    g.add(Add("add"), {"a": "a", "b": "b"})
    g.add(TokenMean("tm", axis=0), "add")
    a, b = rng.integers(0, 3, (2, 3, 4, 5)), rng.integers(0, 2, (2, 3, 4, 5))
    res = _run(g, {"a": a, "b": b})
    assert np.array_equal(res.outputs["tm"], np.moveaxis(a + b, 1, 0).sum(axis=2))
    assert res.counts["add"]["dense_macs"].tolist() == [2 * 20] * 3


def test_window_segments_cut_at_each_window_start():
    assert window_segments(10, 3, 4) == [(0, 3), (3, 7), (7, 10)]
    assert window_segments(8, 0, 4) == [(0, 4), (4, 8)]
    assert window_segments(5, -1, 4) == [(0, 3), (3, 5)]


def test_sdsa_inner_neuron_restarts_at_each_window():
    rng = np.random.default_rng(2)
    node = IntAttention("att", variant="sdsa", heads=2, head_dim=3, count_shift=6, inner_vth=90)
    g = Graph("sdsa")
    for p in ("q", "k", "v"):
        g.add(Input(p, shape=(5, 6)))
    g.add(node, {"q": "q", "k": "k", "v": "v"})
    g.meta["timing"] = Timing(T=3, latency=0, node_latency={"att": 2}).to_meta()
    q, k, v = (rng.integers(0, 2, (4, 8, 5, 6)) for _ in range(3))
    out = _run(g, {"q": q, "k": k, "v": v}).outputs["att"]
    qt, kt, vt = (np.moveaxis(a, 1, 0) for a in (q, k, v))
    for lo, hi in [(0, 2), (2, 5), (5, 8)]:  # a fresh neuron from each window start
        want = ia.sdsa_int(qt[lo:hi], kt[lo:hi], vt[lo:hi], count_shift=6, vth=90, dv=0)
        assert np.array_equal(out[lo:hi], want)
    whole = ia.sdsa_int(qt, kt, vt, count_shift=6, vth=90, dv=0)
    assert not np.array_equal(out, whole)  # the restart matters for this input


# ------------------------------------------------------------------- digits, slow ---
VARIANTS = ["ssa", "axnor", "lrf_ssa", "lrf_dyn", "sdsa"]


@pytest.fixture(scope="module")
def digits(digits_split):
    return digits_split


def _quantized(models, attention, data):
    from spikeport.converters.pipeline import convert_model
    from spikeport.models.digits import PIXEL_MAX

    model = models.model(attention, "full")
    conv = convert_model(
        model, (1, 8, 8), config=QuantConfig(input_scale=PIXEL_MAX), calibration=data.x_train
    )
    return conv.quantized


@pytest.mark.slow
@pytest.mark.parametrize("attention", VARIANTS)
def test_simulator_equals_integer_reference_on_digits_transformer(digits_models, digits, attention):
    from threadpoolctl import threadpool_limits

    q = _quantized(digits_models, attention, digits)
    rg = PassManager([Retime()]).run(q)
    timing = Timing.from_meta(rg.meta)
    assert timing is not None and timing.delays  # residual joins needed delays
    x, y = digits.x_test.numpy(), digits.y_test.numpy()
    lifs = [n for n in q.topological_order() if type(q.node(n)).__name__ == "CubaLIF"]

    # every LIF, every step, under Lava's timing (full T + L steps), on 48 images
    ref: dict[str, np.ndarray] = {}
    ref_v = run_int(q, x[:48], observe=lambda n, v: ref.__setitem__(n, v) if n in lifs else None)
    sim = Simulator(rg, probes=[*lifs, (timing.readout, "v")])
    res = sim.run(direct_input(rg, x[:48]))
    assert res.steps == timing.T + timing.latency
    for name in lifs:
        lo, hi = timing.window(name)
        assert np.array_equal(res.probes[(name, "out")][lo:hi], ref[name]), name
    assert np.array_equal(res.probes[(timing.readout, "v")][timing.readout_step], ref_v)
    # and the same bits whatever the batch size, BLAS threads and execution mode
    with threadpool_limits(limits=1):
        one = Simulator(rg, probes=[(timing.readout, "v")]).run(direct_input(rg, x[:7]))
    assert np.array_equal(one.probes[(timing.readout, "v")][timing.readout_step], ref_v[:7])

    # whole test split: windowed readout equals the reference, predictions identical
    full_ref = np.concatenate([run_int(q, x[i : i + 120]) for i in range(0, len(x), 120)])
    with threadpool_limits(limits=2):
        got = classify(rg, x, y, batch_size=45)
    assert got.samples == len(x) == 360
    assert np.array_equal(got.readout_v, full_ref)
    assert np.array_equal(got.predictions, full_ref.argmax(axis=1))
    assert got.accuracy > 0.9
    assert got.ops["synaptic_events"] > 0 and got.ops["neuron_updates"] > 0
