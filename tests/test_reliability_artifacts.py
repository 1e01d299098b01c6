"""Artifact integrity (#13): a converted artifact cannot be silently corrupted.

Each damage a user or an attacker can do to an artifact directory is applied to a real
`spikeport convert` output (a random-weight digits Spikformer) and must be refused with a one
line error naming the file; the references are independent of the code under test (hashlib
for the digests, h5py to damage files, the JSON document edited by hand).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from cli_errors import one_line_error

from spikeport import ir
from spikeport.cli import main
from spikeport.converters.passes import PassManager, QuantConfig
from spikeport.converters.passes.retime import Retime
from spikeport.converters.pipeline import convert_model
from spikeport.ir import manifest
from spikeport.ir.storage import GRAPH_FILE, TENSOR_FILE
from spikeport.models.checkpoint import save_model
from spikeport.models.digits import PIXEL_MAX
from spikeport.models.registry import build_model
from spikeport.models.train import digits_config


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """An artifact laid out as `spikeport convert` writes it (quantised retimed graph, float/,
    report.json, sealed manifest), from a random-weight digits Spikformer."""
    torch.manual_seed(0)
    model = build_model(digits_config("ssa", embed_dim=16, depth=1, num_heads=2)).eval()
    conv = convert_model(model, (1, 8, 8), config=QuantConfig(input_scale=PIXEL_MAX))
    out = tmp_path_factory.mktemp("converted") / "art"
    ir.save(PassManager([Retime()]).run(conv.quantized), out)
    ir.save(conv.float_graph, out / "float")
    (out / "report.json").write_text(json.dumps({"layers": []}))
    manifest.write(out)
    return out


@pytest.fixture(scope="module")
def converted_by_cli(tmp_path_factory) -> Path:
    """`spikeport convert` of a random-weight digits Spikformer (no evaluation)."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("cli")
    model = build_model(digits_config("ssa", embed_dim=16, depth=1, num_heads=2)).eval()
    ckpt = save_model(model, root / "model.pt")
    argv = ["convert", str(ckpt), "-o", str(root / "art"), "--no-eval", "--no-calibration"]
    assert main([*argv, "--no-progress", "--threads", "1"]) == 0
    return root / "art"


@pytest.fixture()
def art(converted: Path, tmp_path: Path) -> Path:
    """A fresh copy of the converted artifact, free to damage."""
    return Path(shutil.copytree(converted, tmp_path / "art"))


def _reseal(path: Path) -> None:
    """Re-record graph.json / tensors.h5 (what someone rewriting the manifest would do)."""
    files = json.loads((path / manifest.FILE).read_text())["files"]
    manifest.write(path, list(files))


def _edit_json(path: Path, edit) -> None:
    doc = json.loads((path / GRAPH_FILE).read_text())
    edit(doc)
    (path / GRAPH_FILE).write_text(json.dumps(doc))


def _tensor_keys(path: Path) -> list[str]:
    keys: list[str] = []
    with h5py.File(path / TENSOR_FILE, "r") as h5:
        h5.visititems(lambda k, o: keys.append(k) if isinstance(o, h5py.Dataset) else None)
    return keys


def _largest_tensor(path: Path) -> str:
    with h5py.File(path / TENSOR_FILE, "r") as h5:
        return max(_tensor_keys(path), key=lambda k: h5[k].size)


# -- the manifest ------------------------------------------------------------------------
def test_convert_records_the_sha256_of_every_file_it_writes(converted_by_cli: Path) -> None:
    converted = converted_by_cli
    doc = json.loads((converted / manifest.FILE).read_text())
    assert doc["format"] == "spikeport-manifest" and doc["version"] == 1
    on_disk = {
        p.relative_to(converted).as_posix()
        for p in converted.rglob("*")
        if p.is_file() and p.name not in (manifest.FILE, ".spikeport-output")
    } | {"float/manifest.json"}
    assert set(doc["files"]) == on_disk
    assert {"graph.json", "tensors.h5", "report.json", "float/graph.json"} <= on_disk
    for name, digest in doc["files"].items():
        assert hashlib.sha256((converted / name).read_bytes()).hexdigest() == digest


def test_a_bit_flip_in_tensor_data_is_refused_naming_the_file(art: Path, capsys) -> None:
    key = _largest_tensor(art)
    with h5py.File(art / TENSOR_FILE, "r") as h5:
        before = h5[key][()]
        offset = h5[key].id.get_offset()  # contiguous data: where its first byte lies
    raw = bytearray((art / TENSOR_FILE).read_bytes())
    raw[offset] ^= 0x04
    (art / TENSOR_FILE).write_bytes(bytes(raw))
    with pytest.raises(ir.ArtifactError, match=r"tensors\.h5: sha256 differs from manifest"):
        ir.load(art)
    err = one_line_error(capsys, ["simulate", str(art), "--data", "digits", "--limit", "4"])
    assert "tensors.h5" in err
    err = one_line_error(capsys, ["lava", str(art), "--samples", "1"])  # before: "identical"
    assert "tensors.h5: sha256 differs" in err
    # the manifest is what catches it: re-recorded, the damaged weight loads (changed)
    _reseal(art)
    name, field = key.split("/")[1:]
    assert not np.array_equal(getattr(ir.load(art).node(name), field), before)


def test_swapped_tensors_are_refused(art: Path) -> None:
    with h5py.File(art / TENSOR_FILE, "r") as h5:
        by_shape: dict[tuple, list[str]] = {}
        h5.visititems(
            lambda k, o: (
                by_shape.setdefault((o.shape, o.dtype.str), []).append(k)
                if isinstance(o, h5py.Dataset)
                else None
            )
        )
    a, b = next(v for v in by_shape.values() if len(v) >= 2)[:2]
    with h5py.File(art / TENSOR_FILE, "a") as h5:  # swap the data of two same-shape tensors
        va, vb = h5[a][()], h5[b][()]
        h5[a][...], h5[b][...] = vb, va
    with pytest.raises(ir.ArtifactError, match=r"tensors\.h5: sha256 differs"):
        ir.load(art)


def test_a_swapped_tensor_key_is_refused_even_with_a_rewritten_manifest(art: Path) -> None:
    doc = json.loads((art / GRAPH_FILE).read_text())
    specs = [
        (n, f, spec) for n in doc["nodes"] for f, spec in n["tensors"].items() if spec["shape"]
    ]
    (na, fa, sa), (nb, fb, sb) = next(
        (x, y)
        for i, x in enumerate(specs)
        for y in specs[i + 1 :]
        if x[2]["shape"] == y[2]["shape"]
    )
    sa["key"], sb["key"] = sb["key"], sa["key"]
    (art / GRAPH_FILE).write_text(json.dumps(doc))
    with pytest.raises(ir.ArtifactError, match=r"graph\.json: sha256 differs"):
        ir.load(art)
    _reseal(art)
    with pytest.raises(ir.ArtifactError, match=rf"tensor {na['name']}/{fa}: key .* is not"):
        ir.load(art)


@pytest.mark.parametrize("kind", ["external", "soft"])
def test_hdf5_links_are_refused_even_with_a_matching_manifest(art: Path, tmp_path, kind) -> None:
    key = _tensor_keys(art)[0]
    with h5py.File(art / TENSOR_FILE, "a") as h5:
        value = h5[key][()]
        with h5py.File(tmp_path / "outside.h5", "w") as other:
            other["w"] = value
        del h5[key]
        if kind == "external":
            h5[key] = h5py.ExternalLink(str(tmp_path / "outside.h5"), "/w")
        else:
            h5["elsewhere"] = value
            h5[key] = h5py.SoftLink("/elsewhere")
    _reseal(art)
    link = "ExternalLink" if kind == "external" else "SoftLink"
    with pytest.raises(ir.ArtifactError, match=rf"tensors\.h5: '.*' is a {link}"):
        ir.load(art)


@pytest.mark.parametrize("kind", ["external", "virtual"])
def test_datasets_stored_in_other_files_are_refused(art: Path, tmp_path, kind) -> None:
    key = _largest_tensor(art)
    with h5py.File(art / TENSOR_FILE, "a") as h5:
        value = h5[key][()]
        del h5[key]
        raw = tmp_path / "raw.bin"
        value.tofile(raw)
        if kind == "external":
            h5.create_dataset(
                key, shape=value.shape, dtype=value.dtype, external=[(raw, 0, 1 << 30)]
            )
        else:
            with h5py.File(tmp_path / "src.h5", "w") as src:
                src["w"] = value
            layout = h5py.VirtualLayout(shape=value.shape, dtype=value.dtype)
            layout[...] = h5py.VirtualSource(str(tmp_path / "src.h5"), "w", shape=value.shape)
            h5.create_virtual_dataset(key, layout)
    _reseal(art)
    with pytest.raises(ir.ArtifactError, match="takes its data from another file"):
        ir.load(art)


def test_an_artifact_without_manifest_is_refused_with_a_way_out(art: Path) -> None:
    (art / manifest.FILE).unlink()
    with pytest.raises(ir.ArtifactError, match=r"manifest\.json: not found .*re-create it"):
        ir.load(art)


def test_listed_missing_unlisted_and_linked_files_are_refused(art: Path, tmp_path) -> None:
    (art / "report.json").unlink()
    with pytest.raises(
        ir.ArtifactError, match=r"report\.json: listed in manifest\.json but missing"
    ):
        ir.load(art)
    _reseal_without(art, "report.json")
    ir.load(art)  # consistent again
    (art / "report.json").write_text("{}")  # a report from elsewhere dropped in
    with pytest.raises(ir.ArtifactError, match=r"report\.json: not listed in manifest\.json"):
        ir.load(art)
    (art / "report.json").unlink()
    (tmp_path / "g.json").write_bytes((art / GRAPH_FILE).read_bytes())
    (art / GRAPH_FILE).unlink()
    (art / GRAPH_FILE).symlink_to(tmp_path / "g.json")
    with pytest.raises(ir.ArtifactError, match="symbolic link"):
        ir.load(art)


def _reseal_without(path: Path, name: str) -> None:
    files = json.loads((path / manifest.FILE).read_text())["files"]
    manifest.write(path, [f for f in files if f != name])


@pytest.mark.parametrize("entry", ["../outside.json", "/etc/hostname", "a/../../b", ""])
def test_manifest_paths_outside_the_artifact_are_refused(art: Path, entry: str) -> None:
    doc = json.loads((art / manifest.FILE).read_text())
    doc["files"][entry] = "0" * 64
    (art / manifest.FILE).write_text(json.dumps(doc))
    with pytest.raises(ir.ArtifactError, match="is not a plain path inside the artifact"):
        ir.load(art)


# -- metadata values -------------------------------------------------------------------
BAD_META = [
    ("T", 0, "meta.T = 0: must be 1..4096"),
    ("T", 10**7, "meta.T = 10000000: must be 1..4096"),
    ("T", 2.5, "meta.T = 2.5: must be a whole number"),
    ("T", True, "meta.T = True: must be a whole number"),
    ("T", "4", "meta.T = '4': must be a whole number"),
    ("input_scale", 0, "meta.input_scale = 0: must be a finite number > 0"),
    ("input_scale", -16.0, "meta.input_scale = -16.0: must be a finite number > 0"),
    ("input_scale", float("nan"), "meta.input_scale = nan: must be a finite number > 0"),
    ("input_scale", float("inf"), "meta.input_scale = inf: must be a finite number > 0"),
    ("input_scale", "16", "meta.input_scale = '16': must be a finite number > 0"),
    ("readout_scale", -1.0, "meta.readout_scale = -1.0: must be a finite number > 0"),
    ("time_major", "false", "meta.time_major = 'false': must be true or false"),
    ("time_major", 0, "meta.time_major = 0: must be true or false"),
    ("readout", "ghost", "meta.readout = 'ghost': not a node of the graph"),
    ("level", "float16", "meta.level = 'float16': must be one of float, int"),
    ("passes", "quantize", "meta.passes = 'quantize': must be a list of strings"),
    ("quantization", [], "meta.quantization: must be an object"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_META, ids=lambda v: str(v)[:20])
def test_out_of_range_meta_values_are_refused(art: Path, key, value, message) -> None:
    _edit_json(art, lambda d: d["meta"].update({key: value}))
    _reseal(art)
    with pytest.raises(ir.ArtifactError, match=rf"graph\.json: {_re(message)}"):
        ir.load(art)


def test_inconsistent_timing_records_are_refused(art: Path) -> None:
    cases = [
        (
            lambda t: t.update(T=5, steps=t["steps"] + 1),
            "meta.timing.T = 5 differs from meta.T = 4",
        ),
        (lambda t: t.update(latency=-1), "meta.timing.latency = -1"),
        (lambda t: t["node_latency"].update(ghost=1), "meta.timing.node_latency = 'ghost'"),
        (lambda t: t.update(steps=t["steps"] + 1), "meta.timing.steps"),
        (lambda t: t.update(readout_step=0), "meta.timing.readout_step = 0"),
    ]
    for edit, message in cases:
        copy = Path(shutil.copytree(art, art.with_name(f"t{len(message)}")))
        _edit_json(copy, lambda d, e=edit: e(d["meta"]["timing"]))
        _reseal(copy)
        with pytest.raises(ir.ArtifactError, match=_re(message)):
            ir.load(copy)


@pytest.mark.parametrize("name", ["../x", "/tmp/x", "a/b", ".hidden", "", "a b", "x" * 200])
def test_graph_names_that_are_not_plain_names_are_refused(art: Path, name: str) -> None:
    _edit_json(art, lambda d: d.update(name=name))
    _reseal(art)
    with pytest.raises(ir.ArtifactError, match="graph name .*: must be 1-128 letters"):
        ir.load(art)


def test_export_cannot_be_steered_outside_the_artifact_by_the_graph_name(
    art: Path, tmp_path: Path, capsys
) -> None:
    victim = tmp_path / "x.onnx"
    victim.write_text("precious")
    _edit_json(art, lambda d: d.update(name="../x"))
    _reseal(art)
    err = one_line_error(capsys, ["export", str(art), "--format", "onnx"])
    assert "graph name '../x'" in err
    assert victim.read_text() == "precious"


def test_save_refuses_what_load_would_refuse(tmp_path: Path) -> None:
    g = ir.Graph("../x")
    g.add(ir.Input("x", shape=(2,)))
    with pytest.raises(ir.GraphError, match="graph name"):
        ir.save(g, tmp_path / "a")
    g.name = "ok"
    g.meta["T"] = 0
    with pytest.raises(ir.GraphError, match="meta.T = 0"):
        ir.save(g, tmp_path / "b")
    assert ir.plain_name("../my model (2)") == "_my_model__2_"


def test_non_finite_float_tensors_are_refused(art: Path) -> None:
    flt = art / "float"
    key = next(k for k in _tensor_keys(flt) if h5py.File(flt / TENSOR_FILE)[k].dtype.kind == "f")
    with h5py.File(flt / TENSOR_FILE, "a") as h5:
        data = h5[key][()]
        data.flat[0] = np.nan
        h5[key][...] = data
    _reseal(flt)
    with pytest.raises(ir.ArtifactError, match=rf"tensor {key.split('/')[1]}/.*: holds NaN"):
        ir.load(flt)


def _re(text: str) -> str:
    import re

    return re.escape(text)


WRONG_TYPES = [
    ("float", "LIF", "decay_input", "false", "field 'decay_input' = 'false' is not of type bool"),
    ("float", "LIF", "v_threshold", True, "field 'v_threshold' = True is not of type float"),
    ("float", "Conv2d", "groups", 1.5, "field 'groups' = 1.5 is not of type int"),
    ("int", "CubaLIF", "du", True, "field 'du' = True is not of type int"),
    ("int", "CubaLIF", "reset_interval", "4", "field 'reset_interval' = '4' is not of type"),
    ("int", "Conv", "stride", [1, 1.5], "field 'stride' = (1, 1.5) is not of type"),
]


@pytest.mark.parametrize(("graph", "kind", "field", "value", "message"), WRONG_TYPES)
def test_node_parameters_of_the_wrong_type_are_refused(art, graph, kind, field, value, message):
    path = art / "float" if graph == "float" else art

    def edit(doc: dict) -> None:
        node = next(n for n in doc["nodes"] if n["type"] == kind)
        node["params"][field] = value

    _edit_json(path, edit)
    _reseal(path)
    with pytest.raises(ir.ArtifactError, match=_re(message)):
        ir.load(path)
