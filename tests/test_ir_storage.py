"""IR save/load: exact round trip for every node type, and one-line refusals of bad artifacts."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from spikeport import ir
from spikeport.ir import manifest
from spikeport.ir.storage import GRAPH_FILE, TENSOR_FILE


def float_graph() -> ir.Graph:
    """A small Spikformer-like float graph using every float and layout node type."""
    rng = np.random.default_rng(0)
    g = ir.Graph("float_example")
    g.meta = {"source": "test", "note": "every float node"}
    g.add(ir.Input("x", shape=(3, 8, 8), kind="float"))
    g.add(
        ir.Conv2d(
            "conv",
            weight=rng.normal(size=(8, 3, 3, 3)).astype(np.float32),
            bias=np.zeros(8, np.float32),
            padding=1,
        ),
        "x",
    )
    g.add(
        ir.BatchNorm(
            "bn",
            mean=rng.normal(size=8),
            var=rng.uniform(0.5, 2, size=8),
            weight=np.ones(8),
            bias=None,
            eps=1e-5,
        ),
        "conv",
    )
    g.add(ir.LIF("lif0", tau=2.0, v_threshold=1.0, v_reset=0.0), "bn")
    g.add(ir.MaxPool2d("pool", kernel_size=2), "lif0")
    g.add(ir.Flatten("flat", start_dim=1), "pool")
    g.add(ir.Transpose("tokens", perm=(1, 0)), "flat")  # (16 tokens, 8 channels)
    for p in "qkv":
        g.add(
            ir.Linear(f"{p}_lin", weight=rng.normal(size=(8, 8)), bias=rng.normal(size=8)), "tokens"
        )
        g.add(
            ir.LIF(f"{p}_lif", tau=2.0, v_threshold=1.0, v_reset=None, decay_input=False),
            f"{p}_lin",
        )
    qkv = {"q": "q_lif", "k": "k_lif", "v": "v_lif"}
    k = 3
    dyn_a = np.zeros((8, k, k))
    idx = np.arange(k)
    dyn_a[:, idx, idx] = 0.9
    dyn_a[:, idx[:-1], idx[1:]] = 0.05
    dyn_a[:, idx[1:], idx[:-1]] = 0.04
    attn = [
        ir.Attention("ssa", variant="ssa", heads=2, head_dim=4, scale=0.125),
        ir.Attention("axnor", variant="axnor", heads=2, head_dim=4, a=np.array([0.25, 0.5])),
        ir.Attention(
            "lrf_ssa",
            variant="lrf_ssa",
            heads=2,
            head_dim=4,
            grid=(4, 4),
            local_weight=rng.normal(size=(2, 8, 1, 3, 3)),
        ),
        ir.Attention(
            "lrf_dyn",
            variant="lrf_dyn",
            heads=2,
            head_dim=4,
            dyn_a=dyn_a,
            dyn_gamma=np.ones((8, k)),
            dyn_c=np.full((8, k), 0.5),
        ),
        ir.Attention("sdsa", variant="sdsa", heads=1, head_dim=8, sdsa_threshold=0.5),
    ]
    prev = "tokens"
    for i, node in enumerate(attn):
        g.add(node, qkv)
        g.add(ir.Add(f"res{i}"), {"a": prev, "b": node.name})
        prev = f"res{i}"
    g.add(ir.Reshape("grid", shape=(4, 4, -1)), prev)
    g.add(ir.Reshape("back", shape=(16, 8)), "grid")
    g.add(ir.TokenMean("mean", axis=0), "back")
    g.add(ir.TimeMean("tmean"), "mean")
    g.set_outputs(["tmean"])
    return g


def int_graph() -> ir.Graph:
    """A lowered graph using every integer node type."""
    rng = np.random.default_rng(1)
    g = ir.Graph("int_example")
    g.add(ir.Input("x", shape=(2, 6, 6)))
    g.add(
        ir.CubaLIF(
            "in_lif",
            shape=(2, 6, 6),
            du=-1,
            dv=4096,
            vth=25,
            bias_mant=rng.integers(-50, 50, size=(2, 6, 6)),
            bias_exp=6,
            reset_interval=8,
            reset_offset=1,
        ),
        "x",
    )
    g.add(
        ir.Conv(
            "conv",
            weight=rng.integers(-256, 255, size=(4, 1, 3, 3)),
            stride=(1, 2),
            padding=1,
            dilation=1,
            groups=2,
        ),
        "in_lif",
    )
    g.add(
        ir.CubaLIF(
            "conv_lif",
            shape=(4, 6, 3),
            du=4095,
            dv=1024,
            vth=80,
            bias_mant=np.arange(4).reshape(4, 1, 1),
            bias_exp=6,
        ),
        "conv",
    )
    g.add(ir.Flatten("flat"), "conv_lif")
    g.add(
        ir.Dense(
            "fc",
            weight=rng.integers(-128, 127, size=(10, 72)),
            weight_exp=-2,
            num_weight_bits=7,
            delay=rng.integers(0, 62, size=(10, 72)),
        ),
        "flat",
    )
    g.add(ir.Delta("delta", shape=(10,), vth=3, spike_exp=6, state_exp=6, cum_error=True), "fc")
    g.add(ir.Dense("fc2", weight=rng.integers(0, 255, size=(5, 10)), num_message_bits=16), "delta")
    g.add(
        ir.SigmaDelta(
            "sd",
            shape=(5,),
            vth=2,
            bias=rng.integers(-9, 9, size=5),
            spike_exp=6,
            state_exp=6,
            act_mode="unit",
        ),
        "fc2",
    )
    g.add(ir.Sigma("sigma", shape=(5,)), "sd")
    g.add(ir.Delay("delay", steps=4), "sigma")
    g.add(ir.Input("spikes", shape=(2, 7, 20)))
    g.add(
        ir.XnorPopcount("xnor", head_dim=20, a_int=3, a_shift=3, out_bits=8),
        {"q": "spikes", "k": "spikes"},
    )
    g.add(ir.AndPopcount("and", head_dim=20, out_bits=5), {"q": "spikes", "k": "spikes"})
    return g


def _ints(shape, lo=0, hi=2, seed=0):
    return np.random.default_rng(seed).integers(lo, hi, size=shape)


# Node types not in the two example graphs (added by the lowering passes): one sample each,
# with the shape fed to each input port.
EXTRA_SAMPLES = {
    "ScoreCombine": lambda: (
        ir.NODE_TYPES["ScoreCombine"]("n", heads=2, head_dim=5, a_int=np.array([1, 3]), a_shift=2),
        {"c_and": (2, 4, 4), "c_xnor": (2, 4, 4)},
    ),
    "SpikeAccumulate": lambda: (
        ir.NODE_TYPES["SpikeAccumulate"]("n", score_bits=5, count_shift=2, score_shift=1),
        {"scores": (2, 4, 6), "v": (2, 6, 3)},
    ),
    "LocalTerm": lambda: (
        ir.NODE_TYPES["LocalTerm"](
            "n", grid=(2, 3), dilation=(3, 5), weight=_ints((2, 4, 1, 3, 3), -9, 9), shift=1
        ),
        {"in": (6, 4)},
    ),
    "SpikeAnd": lambda: (ir.NODE_TYPES["SpikeAnd"]("n"), {"a": (3, 4), "b": (3, 4)}),
    "TokenSum": lambda: (ir.NODE_TYPES["TokenSum"]("n", shift=1), {"in": (6, 4)}),
    "IntAttention": lambda: (
        ir.NODE_TYPES["IntAttention"](
            "n", variant="axnor", heads=2, head_dim=2, a_int=np.array([1, 2]), a_shift=2
        ),
        {"q": (5, 4), "k": (5, 4), "v": (5, 4)},
    ),
    "DendriticAttention": lambda: (
        ir.NODE_TYPES["DendriticAttention"](
            "n",
            heads=1,
            head_dim=4,
            compartments=3,
            decay=_ints((4, 3), 0, 4096),
            up=_ints((4, 2), -99, 99),
            down=_ints((4, 2), -99, 99, 1),
            gamma=_ints((4, 3), -99, 99, 2),
            readout=_ints((4, 3), -99, 99, 3),
        ),
        {"q": (5, 4), "k": (5, 4), "v": (5, 4)},
    ),
}


def _single_node_graph(sample) -> ir.Graph:
    node, ports = sample()
    g = ir.Graph(f"one_{type(node).__name__}")
    for port, shape in ports.items():
        g.add(ir.Input(f"in_{port}", shape=shape))
    g.add(node, {port: f"in_{port}" for port in ports})
    return g


def test_every_registered_node_type_has_a_round_trip_sample() -> None:
    used = {type(n).__name__ for g in (float_graph(), int_graph()) for n in g}
    missing = set(ir.NODE_TYPES) - used - set(EXTRA_SAMPLES)
    assert missing == set(), f"add a sample for {sorted(missing)} to EXTRA_SAMPLES"


@pytest.mark.parametrize("kind", sorted(EXTRA_SAMPLES))
def test_single_node_round_trip(kind: str, tmp_path: Path) -> None:
    if kind not in ir.NODE_TYPES:
        pytest.skip(f"{kind} is not registered in this tree")
    g = _single_node_graph(EXTRA_SAMPLES[kind])
    back = ir.load(ir.save(g, tmp_path / kind))
    assert back.same_as(g)
    assert back.node("n").tensors().keys() == g.node("n").tensors().keys()


@pytest.mark.parametrize("build", [float_graph, int_graph])
def test_save_load_round_trip_is_identical(build, tmp_path: Path) -> None:
    g = build()
    ir.save(g, tmp_path / "art")
    back = ir.load(tmp_path / "art")
    assert back.same_as(g)
    assert back.edges() == g.edges() and back.outputs == g.outputs
    assert ir.infer_shapes(back) == ir.infer_shapes(g)
    for name in g.nx.nodes:
        a, b = g.node(name), back.node(name)
        assert type(a) is type(b) and a == b
        for field, arr in a.tensors().items():
            other = b.tensors()[field]
            assert other.dtype == arr.dtype and np.array_equal(other, arr)
        assert a.params() == b.params()
    # saving the loaded graph again gives the same JSON document
    ir.save(back, tmp_path / "again")
    assert (tmp_path / "art" / GRAPH_FILE).read_text() == (
        tmp_path / "again" / GRAPH_FILE
    ).read_text()


def test_graph_json_records_versions_and_tensors_live_in_hdf5(tmp_path: Path) -> None:
    ir.save(int_graph(), tmp_path)
    doc = json.loads((tmp_path / GRAPH_FILE).read_text())
    assert doc["schema_version"] == ir.SCHEMA_VERSION
    assert doc["spikeport_version"]
    fc = next(n for n in doc["nodes"] if n["name"] == "fc")
    assert "weight" not in fc["params"] and fc["tensors"]["weight"]["shape"] == [10, 72]
    with h5py.File(tmp_path / TENSOR_FILE) as h5:
        assert h5["nodes/fc/weight"].shape == (10, 72)


def test_equality_detects_a_changed_tensor_value(tmp_path: Path) -> None:
    g = int_graph()
    fc = g.node("fc")
    w = fc.weight.copy()
    w[0, 0] += 1
    g2 = int_graph()
    g2.replace(fc.replace(weight=w))
    assert not g2.same_as(g)


# -- refusals ----------------------------------------------------------------------------
@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    return ir.save(int_graph(), tmp_path / "art")


def _reseal(path: Path) -> None:
    """Record the edited files in the manifest, so that load reaches the check under test."""
    manifest.write(path, [GRAPH_FILE, TENSOR_FILE])


def _edit_json(path: Path, edit) -> None:
    doc = json.loads((path / GRAPH_FILE).read_text())
    edit(doc)
    (path / GRAPH_FILE).write_text(json.dumps(doc))
    _reseal(path)


@contextlib.contextmanager
def _edit_h5(path: Path):
    with h5py.File(path / TENSOR_FILE, "a") as h5:
        yield h5
    _reseal(path)


def _node_entry(doc: dict, name: str) -> dict:
    return next(n for n in doc["nodes"] if n["name"] == name)


def test_refuses_unknown_schema_version(saved: Path) -> None:
    _edit_json(saved, lambda d: d.update(schema_version=99))
    with pytest.raises(ir.ArtifactError, match=r"graph\.json: schema_version 99 is not supported"):
        ir.load(saved)


def test_refuses_unknown_node_type(saved: Path) -> None:
    _edit_json(saved, lambda d: _node_entry(d, "sigma").update(type="Softmax"))
    with pytest.raises(
        ir.ArtifactError, match="graph.json: node sigma: unknown node type 'Softmax'"
    ):
        ir.load(saved)


def test_refuses_unknown_field(saved: Path) -> None:
    _edit_json(saved, lambda d: _node_entry(d, "delay")["params"].update(jitter=1))
    with pytest.raises(ir.ArtifactError, match="node delay \\(Delay\\): unknown field 'jitter'"):
        ir.load(saved)


def test_refuses_missing_tensor(saved: Path) -> None:
    with _edit_h5(saved) as h5:
        del h5["nodes/fc/weight"]
    with pytest.raises(
        ir.ArtifactError, match="tensors.h5: tensor fc/weight: dataset .* is missing"
    ):
        ir.load(saved)


def test_refuses_tensor_shape_mismatch(saved: Path) -> None:
    with _edit_h5(saved) as h5:
        del h5["nodes/fc/weight"]
        h5["nodes/fc/weight"] = np.zeros((10, 71), np.int64)
    with pytest.raises(ir.ArtifactError, match=r"tensor fc/weight: shape \(10, 71\) differs"):
        ir.load(saved)


def test_refuses_non_numeric_tensor(saved: Path) -> None:
    with _edit_h5(saved) as h5:
        del h5["nodes/fc2/weight"]
        h5["nodes/fc2/weight"] = np.array([b"x"] * 50).reshape(5, 10)
    with pytest.raises(ir.ArtifactError, match="tensor fc2/weight: dtype .* is not numeric"):
        ir.load(saved)


def test_refuses_graph_shape_mismatch(saved: Path) -> None:
    # consistent tensors, but the Dense no longer fits the flatten output (72 features)
    with _edit_h5(saved) as h5:
        for f in ("weight", "delay"):
            del h5[f"nodes/fc/{f}"]
            h5[f"nodes/fc/{f}"] = np.zeros((10, 70), np.int64)
    _edit_json(
        saved,
        lambda d: [
            _node_entry(d, "fc")["tensors"][f].update(shape=[10, 70]) for f in ("weight", "delay")
        ],
    )
    with pytest.raises(ir.ArtifactError, match="fc \\(Dense\\): input shape \\(72,\\)"):
        ir.load(saved)


def test_refuses_recorded_shape_mismatch(saved: Path) -> None:
    _edit_json(saved, lambda d: _node_entry(d, "sigma").update(shape=[6]))
    with pytest.raises(ir.ArtifactError, match=r"node sigma: recorded shape \(6,\)"):
        ir.load(saved)


def test_refuses_edge_to_undefined_node(saved: Path) -> None:
    _edit_json(saved, lambda d: d["edges"].append(["ghost", "delay", "in"]))
    with pytest.raises(ir.ArtifactError, match="edge ghost -> delay: node 'ghost' is not defined"):
        ir.load(saved)


def test_refuses_out_of_range_integer_value(saved: Path) -> None:
    _edit_json(saved, lambda d: _node_entry(d, "conv_lif")["params"].update(du=5000))
    with pytest.raises(ir.ArtifactError, match="conv_lif \\(CubaLIF\\): du 5000 outside"):
        ir.load(saved)


def test_refuses_missing_files_and_bad_json(tmp_path: Path, saved: Path) -> None:
    with pytest.raises(ir.ArtifactError, match="graph.json: not found"):
        ir.load(tmp_path / "nowhere")
    (saved / TENSOR_FILE).unlink()
    with pytest.raises(ir.ArtifactError, match="tensors.h5: not found"):
        ir.load(saved)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / GRAPH_FILE).write_text("{not json")
    (bad / TENSOR_FILE).write_bytes(b"")
    _reseal(bad)
    with pytest.raises(ir.ArtifactError, match="graph.json: not valid JSON"):
        ir.load(bad)
