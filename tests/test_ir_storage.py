"""IR save/load: exact round trip for every node type, and one-line refusals of bad artifacts."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_errors import one_line_error
from ir_examples import float_graph, int_graph

from spikeport import ir
from spikeport.ir import manifest
from spikeport.ir.storage import GRAPH_FILE, TENSOR_FILE


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
    "SpikeAnd": lambda: (ir.NODE_TYPES["SpikeAnd"]("n"), {"a": (2, 3, 4), "b": (2, 1, 4)}),
    "Mul": lambda: (ir.NODE_TYPES["Mul"]("n"), {"a": (2, 3, 4), "b": (4,)}),
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
    "IntegerSpike": lambda: (
        ir.NODE_TYPES["IntegerSpike"]("n", max_value=4, norm=1.0),
        {"in": (3, 4)},
    ),
    "LinearAttention": lambda: (
        ir.NODE_TYPES["LinearAttention"]("n", heads=2, scale=0.5),
        {"q": (5, 4), "k": (5, 4), "v": (5, 8)},
    ),
    "GradedSpike": lambda: (
        ir.NODE_TYPES["GradedSpike"](
            "n", shape=(2, 3), vth=7, bias=_ints((2, 1), -9, 9), max_value=4, virtual_steps=4
        ),
        {"in": (2, 3)},
    ),
    "IntLinearAttention": lambda: (
        ir.NODE_TYPES["IntLinearAttention"]("n", heads=2, shift=3, max_value=4, out_bits=20),
        {"q": (5, 4), "k": (5, 4), "v": (5, 8)},
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


def test_a_field_added_after_schema_1_is_stored_only_when_not_default(tmp_path: Path) -> None:
    g = ir.Graph("pools")
    g.add(ir.Input("x", shape=(2, 4, 4)))
    g.add(ir.MaxPool2d("spikes"), "x")
    g.add(ir.MaxPool2d("current", kind="current"), "x")
    ir.save(g, tmp_path / "art")
    doc = json.loads((tmp_path / "art" / GRAPH_FILE).read_text())
    assert "kind" not in _node_entry(doc, "spikes")["params"]
    assert _node_entry(doc, "current")["params"]["kind"] == "current"
    back = ir.load(tmp_path / "art")
    assert back.node("spikes").kind == "spikes" and back.node("current").kind == "current"


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


# -- storage types; artifacts written with int64 tensors -----------------------------------
def test_integer_tensors_are_saved_in_their_storage_types(tmp_path: Path) -> None:
    g = int_graph()
    ir.save(g, tmp_path)
    doc = json.loads((tmp_path / GRAPH_FILE).read_text())
    recorded = {
        f"{n['name']}/{f}": spec["dtype"] for n in doc["nodes"] for f, spec in n["tensors"].items()
    }
    with h5py.File(tmp_path / TENSOR_FILE) as h5:
        stored = {k: h5[f"nodes/{k}"].dtype for k in recorded}
    # weight mantissas int16, delays int8 (numpy's type strings), other integer tensors int64
    assert recorded["fc/weight"] == "<i2" and recorded["fc/delay"] == "|i1"
    assert stored["fc/weight"] == np.int16 and stored["fc/delay"] == np.int8
    assert stored["conv/weight"] == stored["fc2/weight"] == np.int16
    for key, dtype in stored.items():
        name, field = key.split("/")
        rec = g.node(name)
        if field in rec.int_tensors:
            assert dtype == rec.int_dtype(field) and np.dtype(recorded[key]) == dtype, key
    assert any(dtype == np.int64 for dtype in stored.values())  # e.g. CubaLIF bias_mant


def _as_int64_artifact(path: Path) -> None:
    """Rewrite an artifact as spikeport wrote it before integer storage types (commit
    adf61e2): every integer tensor an int64 dataset, graph.json recording "<i8" (written as
    save writes it), the manifest recorded again. (Checked once against adf61e2's own output
    for int_graph(): graph.json byte-identical, every dataset equal in dtype and values.)"""
    doc = json.loads((path / GRAPH_FILE).read_text())
    with h5py.File(path / TENSOR_FILE, "a") as h5:
        for entry in doc["nodes"]:
            for spec in entry["tensors"].values():
                data = h5[spec["key"]][()]
                if data.dtype.kind in "iu":
                    del h5[spec["key"]]
                    h5[spec["key"]] = data.astype(np.int64)
                    spec["dtype"] = np.dtype(np.int64).str
    (path / GRAPH_FILE).write_text(json.dumps(doc, indent=1, allow_nan=True) + "\n")
    _reseal(path)


def test_an_artifact_with_int64_tensors_still_loads(tmp_path: Path) -> None:
    g = int_graph()
    art = ir.save(g, tmp_path / "old")
    _as_int64_artifact(art)
    with h5py.File(art / TENSOR_FILE) as h5:
        assert h5["nodes/fc/weight"].dtype == h5["nodes/fc/delay"].dtype == np.int64
    back = ir.load(art)
    assert back.same_as(g)  # values equal, and held in the storage types again
    assert back.node("fc").weight.dtype == np.int16 and back.node("fc").delay.dtype == np.int8
    ir.save(back, tmp_path / "new")
    with h5py.File(tmp_path / "new" / TENSOR_FILE) as h5:
        assert h5["nodes/fc/weight"].dtype == np.int16


def test_an_int64_tensor_outside_its_storage_type_is_refused_at_load(saved: Path, capsys) -> None:
    _as_int64_artifact(saved)
    with _edit_h5(saved) as h5:
        h5["nodes/fc/weight"][0, 3] = 40000  # int64 dataset: stored as is
    with pytest.raises(ir.ArtifactError) as err:
        ir.load(saved)
    assert re.fullmatch(
        r".*tensors\.h5: tensor fc/weight: value 40000 outside int16 "
        r"\(the storage type of Dense\.weight\)",
        str(err.value),
    )
    one_line_error(capsys, ["simulate", str(saved)], "tensors.h5: tensor fc/weight: value 40000")


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


def test_refuses_tensor_dtype_mismatch(saved: Path) -> None:
    with _edit_h5(saved) as h5:  # the same values, but not in the dtype graph.json records
        w = h5["nodes/fc/weight"][()]
        del h5["nodes/fc/weight"]
        h5["nodes/fc/weight"] = w.astype(np.int64)
    with pytest.raises(ir.ArtifactError, match=r"tensor fc/weight: dtype int64 differs from <i2"):
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
            dtype = h5[f"nodes/fc/{f}"].dtype
            del h5[f"nodes/fc/{f}"]
            h5[f"nodes/fc/{f}"] = np.zeros((10, 70), dtype)
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
