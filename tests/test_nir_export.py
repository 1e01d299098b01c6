"""NIR export: files nir.read loads, SpikingJelly rebuilds with identical outputs, sub-graphs.

References: SpikingJelly 2.0's own NIR importer (an independent implementation of the NIR
-> LIF discretisation) run against our float reference evaluator and our bit-accurate
simulator; a small stateless NIR interpreter and bit-packed popcounts written here.
"""

from __future__ import annotations

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from spikeport import ir  # noqa: E402
from spikeport.deploy.nir_export import export_nir, to_nir  # noqa: E402
from spikeport.errors import UnsupportedError  # noqa: E402


def _float_graph() -> ir.Graph:
    rng = np.random.default_rng(0)
    g = ir.Graph("float_net")
    g.add(ir.Input("x", shape=(2, 8, 8), kind="float"))
    w = rng.normal(0, 0.6, (4, 2, 3, 3)).astype(np.float32)
    g.add(ir.Conv2d("c1", weight=w, bias=np.full(4, 0.1, np.float32), padding=1, stride=2), "x")
    g.add(
        ir.BatchNorm(
            "bn",
            mean=rng.normal(0, 0.1, 4),
            var=rng.uniform(0.5, 1.5, 4),
            weight=rng.uniform(0.8, 1.5, 4),
            bias=rng.normal(0.2, 0.1, 4),
        ),
        "c1",
    )
    g.add(ir.LIF("sn1", tau=2.0, v_threshold=1.0, v_reset=0.0), "bn")
    g.add(ir.Flatten("fl"), "sn1")
    w2 = rng.normal(0.05, 0.3, (6, 64)).astype(np.float32)
    g.add(ir.Linear("fc", weight=w2, bias=np.full(6, 0.05, np.float32)), "fl")
    g.add(ir.LIF("sn2", tau=3.0, v_threshold=0.5, v_reset=0.0, decay_input=False), "fc")
    g.meta["time_major"] = True
    return g


def test_nir_file_loads_with_nir_read_and_folds_batchnorm(tmp_path):
    path = tmp_path / "net.nir"
    export_nir(_float_graph(), path, dt=1e-4)
    g = nir.read(str(path))
    kinds = {k: type(v).__name__ for k, v in g.nodes.items()}
    assert kinds == {
        "x": "Input",
        "c1": "Conv2d",
        "sn1": "LIF",
        "fl": "Flatten",
        "fc": "Affine",
        "sn2": "LIF",
        "sn2.output": "Output",
    }
    assert ("c1", "sn1") in g.edges  # the BatchNorm is gone, folded into c1
    # LIF mapping by hand: tau 2 steps of 0.1 ms, r 1 (decay_input), r = tau otherwise
    assert np.allclose(g.nodes["sn1"].tau, 2e-4) and np.allclose(g.nodes["sn1"].r, 1.0)
    assert np.allclose(g.nodes["sn2"].tau, 3e-4) and np.allclose(g.nodes["sn2"].r, 3.0)
    assert np.allclose(g.nodes["sn2"].v_leak, 0.0) and np.allclose(g.nodes["sn2"].v_threshold, 0.5)


def test_spikingjelly_rebuilds_float_export_with_identical_spikes(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("nirtorch")
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    from spikeport.converters.float_eval import run_float

    g = _float_graph()
    path = tmp_path / "net.nir"
    export_nir(g, path)
    net = import_from_nir(str(path), dt=1e-4, step_mode="m", dtype=torch.float32)
    T = 10
    x = torch.from_numpy(np.random.default_rng(1).uniform(0, 2, (T, 4, 2, 8, 8)).astype("f4"))
    with torch.no_grad():
        theirs = net(x)[0]
    ours = run_float(g, x, T=T)
    assert theirs.shape == ours.shape == (T, 4, 6)
    assert torch.equal(theirs, ours)
    assert 0 < int(ours.sum()) < ours.numel()  # active but not saturated


def _int_graph(
    name: str = "int_net", seed: int = 4, dv: int = 4096, vth: tuple[int, int] = (150, 100)
) -> ir.Graph:
    """graded input -> Conv -> CubaLIF -> Flatten -> Dense -> CubaLIF (no current memory)."""
    rng = np.random.default_rng(seed)
    g = ir.Graph(name)
    g.add(ir.Input("x", shape=(2, 6, 6), kind="graded"))
    g.add(ir.Conv("conv", weight=rng.integers(-60, 80, (3, 2, 3, 3)), num_message_bits=8), "x")
    g.add(ir.CubaLIF("n1", shape=(3, 4, 4), du=4095, dv=dv, vth=vth[0]), "conv")
    g.add(ir.Flatten("fl"), "n1")
    g.add(ir.Dense("fc", weight=rng.integers(-90, 120, (5, 48)), weight_exp=1), "fl")
    g.add(ir.CubaLIF("n2", shape=(5,), du=4095, dv=dv, vth=vth[1]), "fc")
    return g


def test_spikingjelly_rebuilds_integer_export_matching_simulator_up_to_latency(tmp_path):
    """Memoryless Loihi neurons (du = 4095, dv = 4096) are exact in floating point, so the
    only difference left is the simulator's one-step latency per synapse (two here)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("nirtorch")
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    from spikeport.hw_models.sim.engine import Simulator

    g = _int_graph()  # one Output node: nirtorch 2.6 did not return on this graph with two
    path = tmp_path / "int.nir"
    export_nir(g, path)
    loaded = nir.read(str(path))
    assert np.allclose(loaded.nodes["n1"].v_threshold, 150 + 1 / 128)
    assert np.allclose(loaded.nodes["n1"].tau_syn, 1e-4)  # (du + 1) / 4096 = 1 per step
    net = import_from_nir(str(path), dt=1e-4, step_mode="m", dtype=torch.float64)
    T, depth = 9, 2
    x = np.random.default_rng(5).integers(-3, 8, (3, T, 2, 6, 6))
    with torch.no_grad():
        theirs = net(torch.from_numpy(np.moveaxis(x, 1, 0).astype(np.float64)))[0].numpy()
    sim = Simulator(g).run(x, T + depth).outputs["n2"]
    assert np.array_equal(sim[depth:], theirs.astype(np.int64))
    assert 0 < sim.sum() < sim.size


def test_integrate_and_fire_cuba_lif_exports_as_nir_if_that_spikingjelly_runs_exactly(tmp_path):
    """du = 4095, dv = 0, no bias: Loihi's v += a, spike when v > vth, reset to 0, which is
    NIR's IF with r = 1/dt (SpikingJelly's IFNode). Equal up to the two synaptic latencies."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("nirtorch")
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    from spikeport.hw_models.sim.engine import Simulator

    g = _int_graph("if_net", seed=6, dv=0, vth=(400, 700))
    path = tmp_path / "if.nir"
    export_nir(g, path, dt=1e-3)
    loaded = nir.read(str(path))
    assert {type(loaded.nodes[n]).__name__ for n in ("n1", "n2")} == {"IF"}
    assert np.allclose(loaded.nodes["n1"].r, 1e3)  # 1 / dt
    assert np.allclose(loaded.nodes["n2"].v_threshold, 700 + 1 / 128)
    net = import_from_nir(str(path), dt=1e-3, step_mode="m", dtype=torch.float64)
    T, depth = 12, 2
    x = np.random.default_rng(7).integers(-3, 8, (3, T, 2, 6, 6))
    with torch.no_grad():
        theirs = net(torch.from_numpy(np.moveaxis(x, 1, 0).astype(np.float64)))[0].numpy()
    sim = Simulator(g).run(x, T + depth).outputs
    assert np.array_equal(sim["n2"][depth:], theirs.astype(np.int64))
    assert 0 < sim["n2"].sum() < sim["n2"].size
    # integration matters: a memoryless neuron (dv = 4096) with these thresholds differs
    leaky = g.copy()
    leaky.replace(leaky.node("n1").replace(dv=4096))
    assert not np.array_equal(Simulator(leaky).run(x, T + depth).outputs["n2"], sim["n2"])


def test_delay_exports_as_nir_delay_of_steps_times_dt(tmp_path):
    g = ir.Graph("late")
    g.add(ir.Input("x", shape=(4,), kind="graded"))
    g.add(ir.Dense("fc", weight=np.eye(4, dtype=np.int64)), "x")
    g.add(ir.CubaLIF("n", shape=(4,), du=4095, dv=4096, vth=0), "fc")
    g.add(ir.Delay("d", steps=3), "n")
    path = tmp_path / "late.nir"
    export_nir(g, path, dt=2e-3)
    node = nir.read(str(path)).nodes["d"]
    assert type(node).__name__ == "Delay"
    assert np.allclose(node.delay, np.full(4, 6e-3))  # NIR: y(t) = x(t - tau), tau = 3 dt


def test_refusal_names_reshape_transpose_and_attention_nodes_and_says_why():
    from spikeport.ir.int_attention import IntAttention

    g = ir.Graph("att")
    for p in "qkv":
        g.add(ir.Input(p, shape=(4, 8)))
    g.add(IntAttention("core", variant="ssa", heads=2, head_dim=4), {p: p for p in "qkv"})
    g.add(ir.Transpose("tr", perm=(1, 0)), "core")
    g.add(ir.Reshape("rs", shape=(32,)), "tr")
    with pytest.raises(UnsupportedError) as err:
        to_nir(g)
    msg = str(err.value)
    assert "\n" not in msg
    assert "core (IntAttention), tr (Transpose), rs (Reshape)" in msg
    assert "IntAttention: an attention core multiplies two dynamic signals" in msg
    assert "Reshape: NIR 1.0 has no reshape node" in msg and "Transpose: NIR 1.0 has no" in msg


def test_general_cuba_lif_parameters_map_to_nir_time_constants():
    g = ir.Graph("p")
    g.add(ir.Input("x", shape=(3,), kind="graded"))
    g.add(
        ir.CubaLIF("n", shape=(3,), du=1023, dv=512, vth=7, bias_mant=[2, 0, -4], bias_exp=3), "x"
    )
    node = to_nir(g, dt=1e-3).nodes["n"]
    assert np.allclose(node.tau_syn, 1e-3 * 4096 / 1024)  # current keeps 3/4 per step
    assert np.allclose(node.tau_mem, 1e-3 * 8)  # voltage keeps 7/8 per step
    assert np.allclose(node.w_in, 4.0) and np.allclose(node.r, 8.0)
    # constant drive per step dt/tau_mem * v_leak = bias / 64 (activation units)
    assert np.allclose(node.v_leak * (1 / 8), np.array([2, 0, -4]) * 8 / 64)


def _run_stateless(g, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Evaluate a NIR graph of stateless nodes: fan-in sums, Heaviside(I - theta) > 0."""
    import torch
    import torch.nn.functional as F

    preds = {k: [s for s, d in g.edges if d == k] for k in g.nodes}
    vals: dict[str, np.ndarray] = {}

    def value(k):
        if k in vals:
            return vals[k]
        n = g.nodes[k]
        kind = type(n).__name__
        if kind == "Input":
            vals[k] = feeds[k]
            return vals[k]
        x = sum(value(p) for p in preds[k])
        if kind in ("Linear", "Affine"):
            y = x @ n.weight.T + (n.bias if kind == "Affine" else 0)
        elif kind == "Threshold":
            y = (x - n.threshold > 0).astype(float)
        elif kind == "Scale":
            y = x * n.scale
        elif kind == "Flatten":
            y = x.reshape(x.shape[0], -1)
        elif kind == "SumPool2d":
            t = torch.from_numpy(np.asarray(x, dtype=np.float64))
            k_, s_, p_ = (tuple(int(v) for v in a) for a in (n.kernel_size, n.stride, n.padding))
            y = F.avg_pool2d(t, k_, s_, p_, count_include_pad=True).numpy() * np.prod(k_)
        elif kind == "Output":
            y = x
        else:
            raise AssertionError(kind)
        vals[k] = y
        return y

    return {k: value(k) for k, v in g.nodes.items() if type(v).__name__ == "Output"}


@pytest.mark.parametrize("kind", ["and", "xnor"])
def test_popcount_subgraph_computes_bit_packed_scores(kind):
    n, m, d = 3, 4, 5
    g = ir.Graph("att")
    g.add(ir.Input("q", shape=(n, d)))
    g.add(ir.Input("k", shape=(m, d)))
    a_int, a_shift = (0, 0) if kind == "and" else (3, 2)
    if kind == "and":
        g.add(ir.AndPopcount("s", head_dim=d, out_bits=8), {"q": "q", "k": "k"})
    else:
        g.add(ir.XnorPopcount("s", head_dim=d, a_int=a_int, a_shift=a_shift), {"q": "q", "k": "k"})
    ng = to_nir(g)
    assert {type(v).__name__ for v in ng.nodes.values()} <= {
        "Input", "Output", "Flatten", "Linear", "Affine", "Threshold", "Scale"
    }  # fmt: skip
    rng = np.random.default_rng(9)
    q = rng.integers(0, 2, (6, n, d))
    k = rng.integers(0, 2, (6, m, d))
    got = _run_stateless(ng, {"q": q.astype(float), "k": k.astype(float)})["s.output"]
    mask = (1 << d) - 1
    for b in range(6):
        for i in range(n):
            qa = int("".join(map(str, q[b, i])), 2)
            for j in range(m):
                kb = int("".join(map(str, k[b, j])), 2)
                c_and = bin(qa & kb).count("1")
                c_xnor = bin(~(qa ^ kb) & mask).count("1")
                want = ((1 << a_shift) - a_int) * c_and + a_int * c_xnor
                assert got[b, i * m + j] == want


def test_binary_maxpool_becomes_sumpool_threshold_or():
    g = ir.Graph("pool")
    g.add(ir.Input("x", shape=(2, 6, 6), kind="float"))
    g.add(ir.LIF("sn", tau=2.0), "x")
    g.add(ir.MaxPool2d("mp", kernel_size=3, stride=2, padding=1), "sn")
    ng = to_nir(g)
    assert type(ng.nodes["mp.sum"]).__name__ == "SumPool2d"
    spikes = np.random.default_rng(3).integers(0, 2, (4, 2, 6, 6)).astype(float)
    sub = nir.NIRGraph(
        nodes={
            "s": nir.Input({"input": np.array([2, 6, 6])}),
            "mp.sum": ng.nodes["mp.sum"],
            "mp": ng.nodes["mp"],
            "o": nir.Output({"output": np.array([2, 3, 3])}),
        },
        edges=[("s", "mp.sum"), ("mp.sum", "mp"), ("mp", "o")],
    )
    got = _run_stateless(sub, {"s": spikes})["o"]
    want = np.zeros((4, 2, 3, 3))
    for b, c, i, j in np.ndindex(*want.shape):
        rows = slice(max(0, 2 * i - 1), 2 * i + 2)
        cols = slice(max(0, 2 * j - 1), 2 * j + 2)
        want[b, c, i, j] = spikes[b, c, rows, cols].max()
    assert np.array_equal(got, want)


def test_nir_export_refuses_unexpressible_nodes_naming_them():
    g = ir.Graph("bad")
    g.add(ir.Input("x", shape=(4, 8), kind="float"))
    g.add(ir.LIF("soft", tau=2.0, v_reset=None), "x")
    g.add(ir.TokenMean("mean"), "soft")
    with pytest.raises(UnsupportedError, match=r"soft \(LIF with soft reset\), mean \(TokenMean\)"):
        to_nir(g)
    h = ir.Graph("pool")
    h.add(ir.Input("x", shape=(1, 4, 4), kind="float"))
    h.add(ir.MaxPool2d("mp"), "x")
    with pytest.raises(UnsupportedError, match=r"mp \(MaxPool2d of non-binary input\)"):
        to_nir(h)


def test_partial_export_stops_at_the_first_unexpressible_node_and_runs(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("nirtorch")
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    from spikeport.converters.float_eval import run_float

    g = _float_graph()  # ... sn1 -> fl -> fc -> sn2, then a token mean NIR cannot express
    g.add(ir.Reshape("tokens", shape=(2, 3)), "sn2")
    g.add(ir.TokenMean("mean"), "tokens")
    with pytest.raises(UnsupportedError, match=r"tokens \(Reshape\), mean \(TokenMean\)"):
        to_nir(g)
    path = tmp_path / "part.nir"
    export_nir(g, path, partial=True)
    loaded = nir.read(str(path))
    assert loaded.metadata["dropped"] == "tokens,mean"
    assert "sn2.output" in loaded.nodes and "mean" not in loaded.nodes
    net = import_from_nir(str(path), dt=1e-4, step_mode="m", dtype=torch.float32)
    T = 6
    x = torch.from_numpy(np.random.default_rng(8).uniform(0, 2, (T, 2, 2, 8, 8)).astype("f4"))
    seen = {}
    run_float(g, x, T=T, observe=lambda n, v: seen.__setitem__(n, v))
    with torch.no_grad():
        assert torch.equal(net(x)[0], seen["sn2"])


def test_partial_export_of_a_converted_spikformer_keeps_the_patch_embedding():
    torch = pytest.importorskip("torch")
    from spikeport.converters.torch_fx import to_ir
    from spikeport.models.registry import build_model
    from spikeport.models.train import digits_config

    model = build_model(digits_config("axnor", embed_dim=16, depth=1, num_heads=2)).eval()
    g = to_ir(model, torch.zeros(2, 1, 8, 8))
    with pytest.raises(UnsupportedError, match=r"block\.0\.attn\.core \(Attention\)"):
        to_nir(g)
    ng = to_nir(g, partial=True)
    kinds = [type(v).__name__ for v in ng.nodes.values()]
    assert kinds.count("Conv2d") >= 4 and kinds.count("LIF") >= 4
    assert "SumPool2d" in kinds and "Threshold" in kinds  # max-pool of spikes
    assert "block.0.attn.core" in ng.metadata["dropped"].split(",")
