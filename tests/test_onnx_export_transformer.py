"""ONNX export of converted spiking Transformers: the quantised, retimed digits Spikformer
(IntAttention of all five variants, or their lowered primitives; residual Add, MaxPool2d,
Delay, LIFReset, TokenMean) and attention cores alone, run with onnx.reference, equal the
bit-accurate simulator at every node and step."""

from __future__ import annotations

import functools

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

from spikeport import ir  # noqa: E402
from spikeport.deploy.onnx import export_onnx, onnx_summary, run_onnx  # noqa: E402
from spikeport.hw_models.sim.engine import Simulator  # noqa: E402
from spikeport.ir.int_attention import IntAttention  # noqa: E402

N, HEADS, HD = 6, 2, 4
D = HEADS * HD


def _core(variant: str, rng: np.random.Generator) -> IntAttention:
    kw: dict = {"variant": variant, "heads": HEADS, "head_dim": HD, "count_shift": 2}
    if variant == "axnor":
        kw |= {"a_int": np.array([3, 5]), "a_shift": 3}
    if variant == "sdsa":
        kw |= {"inner_vth": 5, "inner_dv": 700}
    if variant == "lrf_ssa":
        kw |= {
            "grid": (2, 3),
            "local_weight": rng.integers(-256, 257, (2, D, 1, 3, 3)),
            "local_shift": -2,
        }
    if variant.startswith("lrf_dyn"):
        k = 3
        a = np.zeros((D, k, k), dtype=np.int64)
        for i in range(k):
            a[:, i, i] = rng.integers(3000, 4000, D)
        for i in range(k - 1):
            a[:, i, i + 1] = rng.integers(-300, 300, D)
            a[:, i + 1, i] = rng.integers(-300, 300, D)
        kw |= {
            "variant": "lrf_dyn",
            "dyn_a": a,
            "dyn_gamma": rng.integers(2000, 4096, (D, k)),
            "dyn_c": rng.integers(-3000, 3000, (D, k)),
            "count_shift": 4,
            "input_mode": "v" if variant.endswith("_v") else "kv_gate_q",
        }
    return IntAttention("att", **kw)


def _core_graph(variant: str) -> tuple[ir.Graph, dict[str, np.ndarray]]:
    """q, k, v inputs -> the attention core -> a LIF; random spikes [2, 5, N, D] per input."""
    rng = np.random.default_rng(0)
    g = ir.Graph(variant)
    for p in "qkv":
        g.add(ir.Input(p, shape=(N, D)))
    g.add(_core(variant, rng), {"q": "q", "k": "k", "v": "v"})
    g.add(ir.CubaLIF("lif", shape=(N, D), du=4095, dv=0, vth=3), "att")
    g.set_outputs(["att", "lif"])
    return g, {p: rng.integers(0, 2, (2, 5, N, D)) for p in "qkv"}


@pytest.mark.parametrize("variant", ["ssa", "axnor", "lrf_ssa", "lrf_dyn", "lrf_dyn_v", "sdsa"])
def test_onnx_attention_core_equals_simulator(variant):
    g, data = _core_graph(variant)
    model = export_onnx(g)
    ops = onnx_summary(model)
    assert "ai.spikeport.AndPopcount" in ops or variant in ("lrf_dyn", "lrf_dyn_v", "sdsa")
    got, want = run_onnx(model, data, 5), Simulator(g).run(data, 5).outputs
    for name in want:
        assert np.array_equal(got[name], want[name]), name
    assert np.count_nonzero(want["att"]) and np.count_nonzero(want["lif"])


@functools.cache
def _trained(attention: str):
    """A small trained digits model of ``attention`` (shared with other tests: conftest)."""
    from digits_models import shared

    from spikeport.models.digits import load_digits_split

    return shared().model(attention, "small"), load_digits_split()


def _digits_graph(attention: str, lower: bool) -> tuple[ir.Graph, object]:
    from spikeport.converters.passes import PassManager, QuantConfig
    from spikeport.converters.passes.retime import Retime
    from spikeport.converters.pipeline import convert_model
    from spikeport.models.digits import PIXEL_MAX

    model, data = _trained(attention)
    conv = convert_model(
        model,
        (1, 8, 8),
        config=QuantConfig(input_scale=PIXEL_MAX),
        calibration=data.x_train,
        lower=lower,
    )
    return PassManager([Retime()]).run(conv.quantized), data


@pytest.mark.slow
@pytest.mark.parametrize("lower", [False, True], ids=["cores", "lowered"])
@pytest.mark.parametrize("attention", ["ssa", "axnor", "lrf_ssa", "lrf_dyn", "sdsa"])
def test_onnx_converted_digits_spikformer_equals_simulator(attention, lower):
    from spikeport.hw_models.sim.classification import direct_input

    g, data = _digits_graph(attention, lower)
    g = g.copy()
    g.set_outputs([n for n in g.topological_order() if type(g.node(n)).__name__ != "Input"])
    x = direct_input(g, data.x_test[:16].numpy())
    from spikeport.ir.timing import Timing

    timing = Timing.from_meta(g.meta)
    steps = timing.T + timing.latency  # Lava's timing: the last layer's window ends here
    model = export_onnx(g)
    kinds = {type(n).__name__ for n in g}
    assert {"Add", "CubaLIF", "Conv", "Dense", "Delay", "MaxPool2d"} <= kinds
    assert ("IntAttention" in kinds) != lower
    got, want = run_onnx(model, x, steps), Simulator(g).run(x, steps).outputs
    for name in want:
        assert np.array_equal(got[name], want[name]), name
    lifs = [n for n in g.topological_order() if type(g.node(n)).__name__ == "CubaLIF"]
    active = [n for n in lifs if np.count_nonzero(want[n])]
    # all but the readout (never spikes) and at most the sparse attention LIF are active
    assert len(active) >= len(lifs) - 2, sorted(set(lifs) - set(active))


def _run_once(model, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One ReferenceEvaluator run of an unrolled model -> {output: [T, B, ...]} (sim layout)."""
    from onnx.reference import ReferenceEvaluator

    from spikeport.deploy.onnx.ops import CUSTOM_OPS

    names = [o.name for o in model.graph.output]
    got = ReferenceEvaluator(model, new_ops=list(CUSTOM_OPS)).run(names, feeds)
    return {n: np.moveaxis(v, 1, 0) for n, v in zip(names, got, strict=True)}


@pytest.mark.parametrize("variant", ["axnor", "lrf_dyn", "sdsa"])
def test_unrolled_onnx_attention_core_run_once_equals_simulator(variant):
    g, data = _core_graph(variant)
    got = _run_once(export_onnx(g, steps=5), data)
    want = Simulator(g).run(data, 5).outputs
    for name in want:
        assert np.array_equal(got[name], want[name]), name
    assert np.count_nonzero(want["lif"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("attention", "lower"), [("sdsa", False), ("axnor", True)], ids=["sdsa-cores", "axnor-lowered"]
)
def test_unrolled_onnx_converted_digits_spikformer_equals_simulator(attention, lower):
    """One evaluator run of the T + latency step model (LIFReset and the SDSA inner neuron
    read the per-step time constant) equals the simulator at every node and step."""
    from spikeport.hw_models.sim.classification import direct_input
    from spikeport.ir.timing import Timing

    g, data = _digits_graph(attention, lower)
    g = g.copy()
    g.set_outputs([n for n in g.topological_order() if type(g.node(n)).__name__ != "Input"])
    timing = Timing.from_meta(g.meta)
    steps = timing.T + timing.latency
    x = direct_input(g, data.x_test[:16].numpy())
    assert any(getattr(n, "reset_interval", None) for n in g)  # LIFReset present
    model = export_onnx(g, steps=steps)
    onnx.checker.check_model(model)
    seq = np.zeros((x.shape[0], steps, *x.shape[2:]), np.int64)
    seq[:, : x.shape[1]] = x  # zeros after the T data steps, as the simulator
    got = _run_once(model, {g.input_names[0]: seq})
    want = Simulator(g).run(x, steps).outputs
    for name in want:
        assert np.array_equal(got[name], want[name]), name
    lifs = [n for n in g.topological_order() if type(g.node(n)).__name__ == "CubaLIF"]
    # all but the readout (never spikes) and at most the sparse attention LIF are active
    assert sum(bool(np.count_nonzero(want[n])) for n in lifs) >= len(lifs) - 2


def test_onnx_token_mean_is_the_integer_token_sum():
    g = ir.Graph("readout")
    g.add(ir.Input("x", shape=(N, D), kind="graded"))
    g.add(ir.TokenMean("mean", axis=0), "x")
    x = np.random.default_rng(1).integers(-9, 9, (2, 3, N, D))
    got = run_onnx(export_onnx(g), x, 3)["mean"]
    assert np.array_equal(got, np.moveaxis(x, 1, 0).sum(axis=2))
    assert np.array_equal(got, Simulator(g).run(x, 3).outputs["mean"])
