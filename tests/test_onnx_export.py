"""ONNX export of lowered graphs: checker, custom ops, and bit-exact agreement with the simulator.

References: the bit-accurate simulator (whose kernels are checked against Lava's own
processes elsewhere) on lava-dl's shipped netx networks and on small synthetic graphs; for
nodes the simulator has no executor for (popcounts, max-pool, add) a straightforward
loop written here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from spikeport import ir  # noqa: E402
from spikeport.converters.netx_import import load_netx  # noqa: E402
from spikeport.deploy.onnx import export_onnx, onnx_summary, run_onnx  # noqa: E402
from spikeport.errors import SpikeportError, UnsupportedError  # noqa: E402
from spikeport.hw_models.sim.engine import Simulator  # noqa: E402


def _netx_dir() -> Path:
    for entry in sys.path:
        d = Path(entry) / "tests" / "lava" / "lib" / "dl" / "netx"
        if (d / "gts").is_dir():
            return d
    pytest.skip("lava-dl's netx networks are not installed")


NETS = {
    "tiny": "tiny.net",
    "mnist": "mnist.net",
    "pilotnet_sdnn_square": "gts/pilotnet_sdnn/square_network.net",
}


def _all_outputs(g: ir.Graph) -> ir.Graph:
    """A copy whose outputs are every non-Input node, so every node's value is compared."""
    g = g.copy()
    g.set_outputs([n for n in g.topological_order() if type(g.node(n)).__name__ != "Input"])
    return g


def _netx_input(g: ir.Graph, key: str, batch: int, steps: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    shape = g.node(g.input_names[0]).shape
    hi = 120 if "sdnn" in key else 40_000  # input neurons see a << 6 each step
    return rng.integers(-hi // 4, hi, (batch, steps, *shape))


@pytest.mark.parametrize("key", sorted(NETS))
def test_exported_netx_model_passes_checker_with_custom_domain(key, tmp_path):
    g = load_netx(_netx_dir() / NETS[key])
    path = tmp_path / f"{key}.onnx"
    export_onnx(g, path)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    domains = {o.domain: o.version for o in model.opset_import}
    assert domains.get("ai.spikeport") == 1
    ops = onnx_summary(model)
    neuron_op = "ai.spikeport.SigmaDeltaStep" if "sdnn" in key else "ai.spikeport.LIFStep"
    assert ops[neuron_op] >= 2
    assert ("Conv" in ops) or ("MatMul" in ops)


@pytest.mark.parametrize("steps", [1, 12])
@pytest.mark.parametrize("key", sorted(NETS))
def test_onnx_reference_run_equals_simulator_on_netx_networks(key, steps):
    g = _all_outputs(load_netx(_netx_dir() / NETS[key]))
    x = _netx_input(g, key, batch=2, steps=steps)
    got = run_onnx(export_onnx(g), x, steps)
    want = Simulator(g).run(x, steps).outputs
    assert set(got) == set(want)
    for name in want:
        assert got[name].shape == want[name].shape, name
        assert np.array_equal(got[name], want[name]), name
    if steps > 1:  # not vacuous: activity reaches the last synapse (netx readouts never spike)
        last = [n for n in g.outputs if type(g.node(n)).__name__ in ("Dense", "Conv")][-1]
        assert np.count_nonzero(want[last]) > 0


def _synthetic_graph() -> ir.Graph:
    """Dense (graded, mixed sign, negative exponent) -> LIF with reset, Delay, Transpose,
    a second Dense (binary, positive exponent) and a bias-driven LIF."""
    rng = np.random.default_rng(3)
    g = ir.Graph("synthetic")
    g.add(ir.Input("x", shape=(4, 6), kind="graded"))
    g.add(
        ir.Dense(
            "d1",
            weight=rng.integers(-256, 256, (5, 6)),
            weight_exp=-3,
            num_weight_bits=7,
            num_message_bits=8,
        ),
        "x",
    )
    g.add(
        ir.CubaLIF(
            "n1",
            shape=(4, 5),
            du=300,
            dv=200,
            vth=20,
            bias_mant=rng.integers(-40, 40, (5,)),
            bias_exp=3,
            reset_interval=5,
            reset_offset=2,
        ),
        "d1",
    )
    g.add(ir.Delay("late", steps=2), "n1")
    g.add(ir.Transpose("tr", perm=(1, 0)), "late")
    g.add(ir.Dense("d2", weight=rng.integers(0, 200, (3, 4)), weight_exp=2), "tr")
    g.add(ir.Reshape("flat", shape=(15,)), "d2")
    g.add(ir.CubaLIF("n2", shape=(15,), du=4095, dv=0, vth=300, bias_mant=5, bias_exp=2), "flat")
    return g


@pytest.mark.parametrize("steps", [1, 17])
def test_onnx_reference_run_equals_simulator_on_synthetic_graph(steps):
    g = _all_outputs(_synthetic_graph())
    x = np.random.default_rng(11).integers(-120, 128, (3, steps, 4, 6))
    got = run_onnx(export_onnx(g), x, steps)
    want = Simulator(g).run(x, steps).outputs
    for name in want:
        assert np.array_equal(got[name], want[name]), name
    if steps > 1:
        assert np.count_nonzero(want["n1"]) > 0 and np.count_nonzero(want["n2"]) > 0


def _run_once(model, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One ReferenceEvaluator run of an unrolled model -> {output: [T, B, ...]} (sim layout)."""
    from onnx.reference import ReferenceEvaluator

    from spikeport.deploy.onnx.ops import CUSTOM_OPS

    names = [o.name for o in model.graph.output]
    got = ReferenceEvaluator(model, new_ops=list(CUSTOM_OPS)).run(names, feeds)
    return {n: np.moveaxis(v, 1, 0) for n, v in zip(names, got, strict=True)}


@pytest.mark.parametrize("key", sorted(NETS))
def test_unrolled_onnx_model_run_once_equals_simulator_on_netx_networks(key, tmp_path):
    steps = 12
    g = _all_outputs(load_netx(_netx_dir() / NETS[key]))
    x = _netx_input(g, key, batch=2, steps=steps)
    path = tmp_path / f"{key}_T{steps}.onnx"
    export_onnx(g, path, steps=steps)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    # the whole sequence in, every step out; no state or time inputs left
    assert [i.name for i in model.graph.input] == g.input_names
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["B", steps, *g.node(g.input_names[0]).shape]
    got = _run_once(model, {g.input_names[0]: x})
    want = Simulator(g).run(x, steps).outputs
    assert set(got) == set(want)
    for name in want:
        assert np.array_equal(got[name], want[name]), name
    last = [n for n in g.outputs if type(g.node(n)).__name__ in ("Dense", "Conv")][-1]
    assert np.count_nonzero(want[last]) > 0


def test_unrolled_onnx_equals_simulator_with_lif_reset_and_delay():
    """The per-step time constant drives LIFReset (interval 5, offset 2) and the Delay ring
    starts from the in-graph zeros."""
    steps = 17
    g = _all_outputs(_synthetic_graph())
    x = np.random.default_rng(11).integers(-120, 128, (3, steps, 4, 6))
    model = export_onnx(g, steps=steps)
    got = _run_once(model, {"x": x})
    want = Simulator(g).run(x, steps).outputs
    for name in want:
        assert np.array_equal(got[name], want[name]), name
    assert np.count_nonzero(want["n1"]) > 0 and np.count_nonzero(want["n2"]) > 0
    # the reset matters: without it the first LIF's voltage would differ at step 7 on
    g2 = g.copy()
    g2.replace(g2.node("n1").replace(reset_interval=None))
    assert not np.array_equal(Simulator(g2).run(x, steps).outputs["n1"], want["n1"])


def test_run_onnx_of_unrolled_model_pads_short_input_and_refuses_longer_runs():
    g = _all_outputs(_synthetic_graph())
    x = np.random.default_rng(4).integers(-120, 128, (2, 6, 4, 6))
    model = export_onnx(g, steps=9)
    got = run_onnx(model, x)
    assert got["n2"].shape == (6, 2, 15)
    want = Simulator(g).run(x, 9).outputs
    assert all(np.array_equal(run_onnx(model, x, 9)[k], want[k]) for k in want)
    with pytest.raises(SpikeportError, match="unrolled for 9 steps"):
        run_onnx(model, x, 10)
    with pytest.raises(SpikeportError, match="steps must be a positive"):
        export_onnx(g, steps=0)


def _popcount_by_bits(q: np.ndarray, k: np.ndarray, a_int: int, a_shift: int) -> np.ndarray:
    """Pack each row into a Python int and count bits of (q & k) and ~(q ^ k)."""
    d = q.shape[-1]
    mask = (1 << d) - 1

    def pack(row):
        return sum(int(b) << i for i, b in enumerate(row))

    out = np.zeros((*q.shape[:-1], k.shape[-2]), dtype=np.int64)
    for idx in np.ndindex(*q.shape[:-1]):
        qa = pack(q[idx])
        for m in range(k.shape[-2]):
            kb = pack(k[(*idx[:-1], m)])
            c_and = bin(qa & kb).count("1")
            c_xnor = bin(~(qa ^ kb) & mask).count("1")
            out[(*idx, m)] = ((1 << a_shift) - a_int) * c_and + a_int * c_xnor
    return out


@pytest.mark.parametrize("kind", ["and", "xnor"])
def test_onnx_popcount_ops_equal_bit_packed_counts(kind):
    rng = np.random.default_rng(5)
    g = ir.Graph("scores")
    g.add(ir.Input("q", shape=(2, 5, 7)))
    g.add(ir.Input("k", shape=(2, 4, 7)))
    if kind == "and":
        g.add(ir.AndPopcount("s", head_dim=7, out_bits=8), {"q": "q", "k": "k"})
        a_int, a_shift = 0, 0
    else:
        a_int, a_shift = 5, 3
        g.add(
            ir.XnorPopcount("s", head_dim=7, a_int=a_int, a_shift=a_shift, out_bits=8),
            {"q": "q", "k": "k"},
        )
    q = rng.integers(0, 2, (2, 3, 2, 5, 7))
    k = rng.integers(0, 2, (2, 3, 2, 4, 7))
    got = run_onnx(export_onnx(g), {"q": q, "k": k}, 3)["s"]
    for t in range(3):
        for b in range(2):
            want = _popcount_by_bits(q[b, t], k[b, t], a_int, a_shift)
            assert np.array_equal(got[t, b], want)


def test_onnx_maxpool_and_add_equal_direct_loops():
    g = ir.Graph("pool")
    g.add(ir.Input("x", shape=(2, 5, 6), kind="graded"))
    g.add(ir.MaxPool2d("p", kernel_size=3, stride=2, padding=1), "x")
    g.add(ir.Add("sum"), {"a": "p", "b": "p"})
    x = np.random.default_rng(2).integers(-50, 50, (2, 1, 2, 5, 6))
    got = run_onnx(export_onnx(g), x, 1)["sum"][0]
    want = np.zeros((2, 2, 3, 3), dtype=np.int64)
    for b, c, i, j in np.ndindex(*want.shape):
        best = None
        for di in range(3):
            for dj in range(3):
                r, s = 2 * i - 1 + di, 2 * j - 1 + dj
                if 0 <= r < 5 and 0 <= s < 6:
                    v = x[b, 0, c, r, s]
                    best = v if best is None else max(best, v)
        want[b, c, i, j] = 2 * best
    assert np.array_equal(got, want)


def test_onnx_export_refuses_float_and_attention_nodes_naming_them():
    g = ir.Graph("float")
    g.add(ir.Input("x", shape=(4,), kind="float"))
    g.add(ir.Linear("fc", weight=np.ones((3, 4))), "x")
    g.add(ir.LIF("sn"), "fc")
    with pytest.raises(UnsupportedError, match=r"fc \(Linear\), sn \(LIF\)"):
        export_onnx(g)


def test_onnx_export_refuses_delayed_dense_naming_it():
    g = ir.Graph("delayed")
    g.add(ir.Input("x", shape=(3,)))
    g.add(ir.Dense("syn", weight=np.ones((2, 3)), delay=np.full((2, 3), 2)), "x")
    with pytest.raises(UnsupportedError, match=r"syn \(Dense with synaptic delays\)"):
        export_onnx(g)
