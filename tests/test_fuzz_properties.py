"""Property: every reader of untrusted input gives a result or a one-line SpikeportError,
never another exception (#13).

Structure-aware generation with hypothesis (the byte-level, coverage-guided fuzzing of the
same readers is ``tests/fuzz_main.py``): valid documents with values replaced by arbitrary
JSON, HDF5 files written field by field with arbitrary dtypes, shapes, values and links,
NIR graphs and checkpoints with arbitrary fields. ``derandomize`` keeps ``make test``
reproducible; ``max_examples`` is modest to keep it fast.
"""

from __future__ import annotations

import io
import json
from typing import Any

import fuzz_targets as ft
import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_netx_import import write_net

from spikeport import ir
from spikeport.errors import SpikeportError
from spikeport.ir.metadata import check_meta

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # a finding is reported as drawn (shrinking a
    # file-sized example can take minutes)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module", autouse=True)
def _fuzz_budget():
    """The fuzzing memory budget, for this module's tests only."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPIKEPORT_MEMORY_BUDGET", ft.FUZZ_BUDGET)
        yield


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> ft.Workspace:
    return ft.Workspace(tmp_path_factory.mktemp("fuzz"))


def _ok_or_one_line(fn, *args: Any) -> None:
    try:
        fn(*args)
    except SpikeportError as exc:
        assert "\n" not in str(exc).strip(), str(exc)


# -- value strategies ----------------------------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["../x", "a/b", "", "nodes/x/weight", "int", "float", "ssa"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys / indices) into a JSON document."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, data: st.DataObject, edits: int = 3) -> Any:
    """``doc`` with up to ``edits`` values replaced by arbitrary JSON (or keys removed)."""
    for _ in range(data.draw(st.integers(1, edits))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(json_values)
    return doc


# -- IR artifacts ----------------------------------------------------------------------------
@FUZZ
@given(data=st.data(), which=st.sampled_from(["I", "F"]))
def test_mutated_graph_json_loads_or_is_refused(ws, data, which) -> None:
    template = ws.float_artifact if which == "F" else ws.artifact
    doc = _mutate(json.loads((template / "graph.json").read_text()), data)
    text = json.dumps(doc, allow_nan=True).encode()
    _ok_or_one_line(ft.run_ir_graph, ws, which.encode() + text)


META_KEYS = [
    "T",
    "time_major",
    "input_scale",
    "readout_scale",
    "dt",
    "readout",
    "level",
    "source",
    "passes",
    "quantization",
    "layers",
    "input_transform",
    "spike_exp",
    "reset_interval",
    "timing",
    "output_lead",
]


@FUZZ
@given(meta=st.dictionaries(st.sampled_from(META_KEYS), json_values, max_size=6))
def test_arbitrary_meta_is_accepted_or_refused_as_a_graph_error(meta) -> None:
    try:
        check_meta(meta, {"a", "b"})
    except ir.GraphError as exc:
        assert "\n" not in str(exc)


dtypes = st.sampled_from(["i1", "u1", "i2", "i4", "i8", "u8", "f2", "f4", "f8", "?", "S3"])


@st.composite
def datasets(draw) -> np.ndarray:
    dtype = np.dtype(draw(dtypes))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    if dtype.kind == "S":
        return np.full(shape, b"ab", dtype=dtype)
    if dtype.kind == "f":
        return draw(hnp.arrays(dtype, shape, elements=st.floats(width=dtype.itemsize * 8)))
    return draw(hnp.arrays(dtype, shape))


@FUZZ
@given(data=st.data())
def test_rewritten_tensor_files_load_or_are_refused(ws, data, tmp_path_factory) -> None:
    d = ft._artifact_with(ws, "graph.json", (ws.artifact / "graph.json").read_bytes())
    with h5py.File(d / "tensors.h5", "a") as h5:
        keys: list[str] = []
        h5.visititems(lambda k, o: keys.append(k) if isinstance(o, h5py.Dataset) else None)
        for key in data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique=True)):
            action = data.draw(st.sampled_from(["replace", "delete", "soft", "hard", "external"]))
            del h5[key]
            if action == "replace":
                h5[key] = data.draw(datasets())
            elif action == "soft":
                h5[key] = h5py.SoftLink("/" + data.draw(st.sampled_from(keys)))
            elif action == "hard":
                other = data.draw(st.sampled_from(keys))
                if other in h5:
                    h5[key] = h5[other]
            elif action == "external":
                h5[key] = h5py.ExternalLink(str(tmp_path_factory.getbasetemp()), "/x")
    ir.manifest.write(d, ["graph.json", "tensors.h5"])
    _ok_or_one_line(ir.load, d)


# -- netx -------------------------------------------------------------------------------------
layer_types = st.sampled_from(["input", "dense", "conv", "flatten", "pool", "average", "zz"])
neuron_types = st.sampled_from(["CUBA", "LOIHI", "SDNN", "RF", "??"])
small = st.integers(min_value=-3, max_value=40)
numbers = st.one_of(small, st.floats(allow_nan=True, allow_infinity=True), st.just(2**40))


@st.composite
def netx_layer(draw) -> dict[str, Any]:
    layer: dict[str, Any] = {"type": draw(layer_types)}
    if draw(st.booleans()):
        layer["shape"] = np.array(draw(st.lists(small, min_size=0, max_size=3)), dtype=np.int64)
    for key in ("weight", "bias", "delay", "stride", "padding", "dilation", "groups"):
        if draw(st.integers(0, 3)) == 0:
            shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
            layer[key] = draw(hnp.arrays(np.float64, shape, elements=numbers.map(float)))
    if draw(st.booleans()):
        neuron = {"type": draw(neuron_types)}
        for key in ("iDecay", "vDecay", "vThMant", "messageBits", "sigma_output"):
            if draw(st.booleans()):
                neuron[key] = draw(numbers)
        layer["neuron"] = neuron
    return layer


@FUZZ
@given(layers=st.lists(netx_layer(), min_size=0, max_size=4))
def test_arbitrary_netx_files_import_or_are_refused(tmp_path_factory, layers) -> None:
    from spikeport.converters.netx_import import load_netx

    path = tmp_path_factory.mktemp("netx") / "net.net"
    write_net(path, layers)
    _ok_or_one_line(load_netx, path)


# -- NIR -------------------------------------------------------------------------------------
arrays_any = st.one_of(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
        elements=st.floats(allow_nan=True, allow_infinity=True, width=32),
    ),
    st.just("same"),
    st.none(),
)


@st.composite
def nir_graphs(draw) -> Any:
    import nir

    def arr():
        return draw(arrays_any)

    kinds = draw(
        st.lists(
            st.sampled_from(["Affine", "Linear", "LIF", "Flatten", "Conv2d", "IF", "Scale"]),
            min_size=1,
            max_size=3,
        )
    )
    nodes: dict[str, Any] = {
        "in": nir.Input(
            input_type=np.array(draw(st.lists(st.integers(-1, 6), min_size=0, max_size=3)))
        )
    }
    for i, kind in enumerate(kinds):
        try:
            if kind == "Affine":
                node = nir.Affine(weight=arr(), bias=arr())
            elif kind == "Linear":
                node = nir.Linear(weight=arr())
            elif kind == "LIF":
                node = nir.LIF(tau=arr(), r=arr(), v_leak=arr(), v_threshold=arr(), v_reset=arr())
            elif kind == "Flatten":
                node = nir.Flatten(
                    input_type={"input": np.array([2, 3])},
                    start_dim=draw(small),
                    end_dim=draw(small),
                )
            elif kind == "Conv2d":
                node = nir.Conv2d(
                    input_shape=None,
                    weight=arr(),
                    stride=draw(small),
                    padding=draw(st.one_of(small, st.just("same"))),
                    dilation=draw(small),
                    groups=draw(small),
                    bias=arr(),
                )
            elif kind == "IF":
                node = nir.IF(r=arr(), v_threshold=arr())
            else:
                node = nir.Scale(scale=arr())
        except Exception:  # nir's own constructors refuse some fields: not our input
            assume(False)
        nodes[f"n{i}"] = node
    nodes["out"] = nir.Output(output_type=np.array([2]))
    names = list(nodes)
    edges = draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(names)), max_size=6))
    edges += [(a, b) for a, b in zip(names, names[1:], strict=False) if draw(st.booleans())]
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    except Exception:
        assume(False)


@FUZZ
@given(graph=nir_graphs(), dt=st.one_of(st.none(), st.floats(allow_nan=True)))
def test_arbitrary_nir_graphs_import_or_are_refused(graph, dt) -> None:
    from spikeport.converters.nir_import import load_nir

    _ok_or_one_line(load_nir, graph, dt)


# -- checkpoints -----------------------------------------------------------------------------
tensors = st.builds(
    lambda shape, fill, dtype: torch.full(shape, fill).to(dtype),
    hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([torch.float32, torch.float16, torch.int64, torch.bool]),
)


@FUZZ
@given(data=st.data())
def test_arbitrary_checkpoints_load_or_are_refused(ws, data, tmp_path_factory) -> None:
    from spikeport.models.checkpoint import from_checkpoint

    obj = torch.load(ws.checkpoint, weights_only=True)
    if data.draw(st.booleans()):  # change the config (sizes, names, types)
        obj["config"] = _mutate(obj["config"], data, edits=2)
    state = obj["state_dict"]
    for key in data.draw(st.lists(st.sampled_from(sorted(state)), max_size=3, unique=True)):
        state[key] = data.draw(st.one_of(tensors, json_values))
    if data.draw(st.booleans()):
        obj = data.draw(st.sampled_from([state, {"model": state}, [state], {"state_dict": 3}]))
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    torch.save(obj, path)
    _ok_or_one_line(from_checkpoint, path)


# -- data loaders ----------------------------------------------------------------------------
npz_arrays = hnp.arrays(
    st.sampled_from([np.float32, np.int64, np.uint8, np.bool_, np.dtype("U2")]),
    hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4),
)


@FUZZ
@given(
    contents=st.dictionaries(
        st.sampled_from(["x", "y", "t", "p", "frames", "z"]), npz_arrays, max_size=4
    )
)
def test_arbitrary_npz_data_files_open_or_are_refused(ws, contents) -> None:
    buf = io.BytesIO()
    np.savez(buf, **contents)
    _ok_or_one_line(ft.run_data_npz, ws, buf.getvalue())
    _ok_or_one_line(ft.run_data_events, ws, buf.getvalue())


@FUZZ
@given(data=st.data())
def test_mutated_data_records_read_or_are_refused(ws, data) -> None:
    doc = _mutate(json.loads(ft.seeds_data_record(ws)[0]), data)
    _ok_or_one_line(ft.run_data_record, ws, json.dumps(doc, allow_nan=True).encode())


@FUZZ
@given(
    batch=st.dictionaries(
        st.sampled_from([b"data", b"labels", b"filenames", b"batch_label"]),
        st.one_of(json_values, npz_arrays),
        max_size=4,
    )
)
def test_arbitrary_cifar_batches_open_or_are_refused(ws, batch) -> None:
    import pickle

    _ok_or_one_line(ft.run_data_cifar, ws, pickle.dumps(batch, protocol=2))


def test_every_fuzz_target_reads_its_seeds_without_error(ws) -> None:
    from spikeport import ir as _ir

    for target in ft.TARGETS.values():
        seeds = target.seeds(ws)
        assert seeds or target.name == "netx", target.name  # netx: lava-dl's files, if installed
        for seed in seeds:
            target.run(ws, seed)  # valid input: no error at all
    assert _ir.load(ws.artifact).meta["T"] == 4


# -- findings of the coverage-guided runs, kept as regression tests -------------------------
def test_a_cifar_batch_with_non_utf8_keys_is_a_data_error(ws) -> None:
    import pickle

    with pytest.raises(SpikeportError, match="no field 'data'"):
        ft.run_data_cifar(ws, pickle.dumps({b"\x8a\xff": 1, b"labels": [0]}, protocol=2))


def test_a_truncated_png_is_a_data_error(ws) -> None:
    png = (ws.image_dir / "a" / "img_0.png").read_bytes()
    with pytest.raises(SpikeportError, match="not a readable image"):
        ft.run_data_image(ws, png[:20])  # the IHDR chunk cut short: PIL raised ValueError


def test_an_image_declaring_a_huge_size_is_refused_before_decoding(ws, monkeypatch) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 12000, 12000, 8, 2, 0, 0, 0)  # 12000 x 12000 RGB
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
    monkeypatch.setenv("SPIKEPORT_MEMORY_BUDGET", "256M")
    with pytest.raises(SpikeportError, match=r"12000x12000 image\): needs"):
        ft.run_data_image(ws, png)


def _resize_heap_object(raw: bytes, index: int, size: int) -> bytes:
    """``raw`` with global heap object ``index`` declaring ``size`` bytes (HDF5 spec III.E:
    a "GCOL" collection of objects: index u16, refcount u16, reserved u32, size u64, data
    padded to 8 bytes)."""
    import struct

    start = raw.index(b"GCOL")
    end = start + struct.unpack_from("<Q", raw, start + 8)[0]
    at = start + 16
    while at + 16 <= end:
        found, _, _, length = struct.unpack_from("<HHIQ", raw, at)
        if found == index:
            return raw[: at + 8] + struct.pack("<Q", size) + raw[at + 16 :]
        if found == 0:
            break
        at += 16 + (length + 7) // 8 * 8
    raise AssertionError(f"no heap object {index}")


def test_a_damaged_string_heap_that_makes_hdf5_loop_is_refused_in_time(ws, monkeypatch):
    """Found by atheris on a .nir: one global-heap string (a node name, 3 bytes) declaring
    768 bytes made HDF5 itself spin forever reading the graph's strings (in C: no Python
    timeout can interrupt it)."""
    from spikeport import hdf5

    monkeypatch.setattr(hdf5, "VLEN_SECONDS", 1.0)
    damaged = _resize_heap_object(ws.nir_file.read_bytes(), 13, 0x300)
    with pytest.raises(SpikeportError, match="variable-length data did not finish in 1 s"):
        ft.run_nir(ws, damaged)
    ft.run_nir(ws, ws.nir_file.read_bytes())  # the intact file: the probe passes
