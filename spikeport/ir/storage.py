"""Save / load a graph as a directory: `graph.json` (structure, fields) + `tensors.h5` (arrays)
+ `manifest.json` (their SHA-256, :mod:`spikeport.ir.manifest`).

Nothing is ever unpickled: JSON holds scalars, strings and lists, HDF5 holds numeric
datasets at `nodes/<node name>/<field>`. Loading refuses, with one line naming the file
and the node/field: a missing manifest or a file whose SHA-256 differs from it, an HDF5
link (soft or external) or a dataset stored outside tensors.h5, an unknown schema version,
an unknown node type or field, a missing tensor or one stored under another node's key, a
tensor whose shape or dtype differs from graph.json, a NaN, infinite or out-of-range value
(:mod:`spikeport.value_range`), an integer tensor outside its field's storage type
(``Node.int_dtypes``; tensors are written in that type, and an older artifact's int64 tensor
that fits is converted), sizes over
the memory budget (:mod:`spikeport.budget`) before they are read, a node parameter whose type
differs from the node's annotation (:mod:`spikeport.ir.field_types`), a graph name that is
not a plain name, out-of-range ``meta`` values (:mod:`spikeport.ir.metadata`), and a graph
whose inferred shapes differ from the recorded ones or that does not validate.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import spikeport
from spikeport import budget, hdf5
from spikeport.errors import first_line
from spikeport.ir import manifest
from spikeport.ir.errors import ArtifactError, GraphError
from spikeport.ir.field_types import check_params
from spikeport.ir.graph import Graph
from spikeport.ir.metadata import check_meta, check_name
from spikeport.ir.node import NODE_TYPES, Node, outside
from spikeport.ir.validate import validate
from spikeport.value_range import ValueRangeError, check_values

SCHEMA_VERSION = 1
GRAPH_FILE = "graph.json"
TENSOR_FILE = "tensors.h5"
FORMAT = "spikeport-ir"
JSON_EXPANSION = 16
"""Bytes of Python objects per byte of graph.json, for the budget check before parsing."""


def save(graph: Graph, directory: str | Path) -> Path:
    """Validate `graph` and write it under `directory` (created if needed); returns the path."""
    check_name(graph.name)
    check_meta(graph.meta, set(graph.nx.nodes))
    shapes = validate(graph)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    nodes = []
    tmp_h5 = out / (TENSOR_FILE + ".tmp")
    with h5py.File(tmp_h5, "w") as h5:
        h5.attrs["schema_version"] = SCHEMA_VERSION
        for name in graph.nx.nodes:
            rec = graph.node(name)
            tensors = {}
            for field, arr in rec.tensors().items():
                key = _key(name, field)
                h5.create_dataset(key, data=arr)
                tensors[field] = {"key": key, "shape": list(arr.shape), "dtype": arr.dtype.str}
            nodes.append(
                {
                    "name": name,
                    "type": type(rec).__name__,
                    "params": {k: _jsonable(v, rec, k) for k, v in rec.stored_params().items()},
                    "tensors": tensors,
                    "null_tensors": sorted(
                        f for f in rec.int_tensors + rec.float_tensors if getattr(rec, f) is None
                    ),
                    "shape": list(shapes[name]),
                }
            )
    doc = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "spikeport_version": spikeport.__version__,
        "name": graph.name,
        "meta": graph.meta,
        "nodes": nodes,
        "edges": [list(e) for e in graph.edges()],
        "outputs": list(graph.explicit_outputs) if graph.explicit_outputs is not None else None,
    }
    tmp_json = out / (GRAPH_FILE + ".tmp")
    tmp_json.write_text(json.dumps(doc, indent=1, allow_nan=True) + "\n")
    tmp_h5.replace(out / TENSOR_FILE)
    tmp_json.replace(out / GRAPH_FILE)
    manifest.write(out, [GRAPH_FILE, TENSOR_FILE])
    return out


def load(directory: str | Path) -> Graph:
    """Read a graph written by `save`; raises ArtifactError naming the file and node/field
    (BudgetError for sizes over the memory budget)."""
    d = Path(directory)
    jpath, hpath = d / GRAPH_FILE, d / TENSOR_FILE
    if not jpath.is_file():
        raise ArtifactError(f"{jpath}: not found (an IR artifact directory needs {GRAPH_FILE})")
    if not hpath.is_file():
        raise ArtifactError(f"{hpath}: not found (an IR artifact directory needs {TENSOR_FILE})")
    manifest.verify(d, required=(GRAPH_FILE, TENSOR_FILE))
    budget.require(f"{jpath} (parsed)", jpath.stat().st_size * JSON_EXPANSION)
    try:
        doc = json.loads(jpath.read_text())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # JSONDecodeError: a ValueError
        raise ArtifactError(f"{jpath}: not valid JSON ({first_line(exc)})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ArtifactError(f"{jpath}: not a spikeport IR graph (format != {FORMAT!r})")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ArtifactError(
            f"{jpath}: schema_version {version!r} is not supported (this spikeport "
            f"{spikeport.__version__} reads version {SCHEMA_VERSION})"
        )
    try:
        graph = Graph(check_name(doc.get("name", "graph")))
    except GraphError as exc:
        raise ArtifactError(f"{jpath}: {exc}") from None
    recorded: dict[str, tuple[int, ...]] = {}
    try:
        h5 = hdf5.open_checked(hpath, "an IR tensor file")
    except hdf5.HDF5Error as exc:
        raise ArtifactError(str(exc)) from None
    with h5:
        for entry in _list(doc, "nodes", jpath):
            rec = _node(entry, h5, jpath, hpath)
            if rec.name in graph:
                raise ArtifactError(f"{jpath}: node {rec.name}: defined twice")
            graph.nx.add_node(rec.name, node=rec)
            if entry.get("shape") is not None:
                recorded[rec.name] = _shape(entry["shape"], f"node {rec.name}: shape", jpath)
    for edge in _list(doc, "edges", jpath):
        if not (
            isinstance(edge, list) and len(edge) == 3 and all(isinstance(e, str) for e in edge)
        ):
            raise ArtifactError(f"{jpath}: edge {edge!r} is not [src, dst, port]")
        src, dst, port = edge
        for n in (src, dst):
            if n not in graph:
                raise ArtifactError(f"{jpath}: edge {src} -> {dst}: node {n!r} is not defined")
        try:
            graph.connect(src, dst, port)
        except GraphError as exc:
            raise ArtifactError(f"{jpath}: {exc}") from None
    outputs = doc.get("outputs")
    if outputs is not None and not (
        isinstance(outputs, list) and all(isinstance(o, str) for o in outputs)
    ):
        raise ArtifactError(f"{jpath}: 'outputs' must be a list of node names")
    try:
        if outputs is not None:
            graph.set_outputs(outputs)
        graph.meta = check_meta(doc.get("meta"), set(graph.nx.nodes))
        shapes = validate(graph)
    except GraphError as exc:
        raise ArtifactError(f"{jpath}: {exc}") from None
    for name, shape in recorded.items():
        if shapes[name] != shape:
            raise ArtifactError(
                f"{jpath}: node {name}: recorded shape {shape} but the graph gives {shapes[name]}"
            )
    return graph


def _key(node: str, field: str) -> str:
    """The HDF5 key of a node's tensor field: the only key `load` accepts for it."""
    return f"nodes/{node}/{field}"


def _list(doc: dict[str, Any], key: str, jpath: Path) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise ArtifactError(f"{jpath}: {key!r} must be a list")
    return value


def _shape(value: Any, where: str, jpath: Path) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value
    ):
        raise ArtifactError(f"{jpath}: {where} {value!r} is not a list of sizes")
    return tuple(value)


def _node(entry: Any, h5: h5py.File, jpath: Path, hpath: Path) -> Node:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ArtifactError(f"{jpath}: node entry {str(entry)[:80]!r} has no name")
    name, kind = entry["name"], entry.get("type")
    cls = NODE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(sorted(NODE_TYPES))
        raise ArtifactError(f"{jpath}: node {name}: unknown node type {kind!r} (known: {known})")
    params, tensors = entry.get("params") or {}, entry.get("tensors") or {}
    nulls = entry.get("null_tensors") or []
    if not (isinstance(params, dict) and isinstance(tensors, dict) and isinstance(nulls, list)):
        raise ArtifactError(
            f"{jpath}: node {name} ({kind}): params/tensors must be objects, null_tensors a list"
        )
    if not all(isinstance(f, str) for f in nulls):
        raise ArtifactError(f"{jpath}: node {name} ({kind}): null_tensors must name fields")
    tensor_fields = set(cls.int_tensors + cls.float_tensors)
    fields = {f.name for f in dataclasses.fields(cls) if f.name != "name"}
    for f in list(params) + list(tensors) + nulls:
        if f not in fields:
            raise ArtifactError(f"{jpath}: node {name} ({kind}): unknown field {f!r}")
        if (f in tensor_fields) == (f in params):
            raise ArtifactError(f"{jpath}: node {name} ({kind}): field {f!r} in the wrong section")
    missing = fields - set(params) - set(tensors) - set(nulls) - set(cls.added_fields)
    if missing:
        raise ArtifactError(f"{jpath}: node {name} ({kind}): missing field {sorted(missing)[0]!r}")
    values: dict[str, Any] = {k: _from_json(v) for k, v in params.items()}
    values.update({f: None for f in nulls})
    for field, spec in tensors.items():
        where = f"{name}/{field}"
        values[field] = _tensor(h5, spec, _key(name, field), where, jpath, hpath)
        if field in cls.int_tensors:  # an older artifact's int64 weights: converted if they fit
            dtype = cls.int_dtype(field)
            bad = outside(values[field], dtype)
            if bad is not None:
                raise ArtifactError(
                    f"{hpath}: tensor {where}: value {bad} outside {dtype} "
                    f"(the storage type of {kind}.{field})"
                )
    try:
        check_params(cls, name, {k: values[k] for k in params})
        return cls(name=name, **values)
    except GraphError as exc:
        raise ArtifactError(f"{jpath}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ArtifactError(f"{jpath}: node {name} ({kind}): {first_line(exc)}") from None


def _tensor(h5: h5py.File, spec: Any, key: str, where: str, jpath: Path, hpath: Path) -> np.ndarray:
    if not isinstance(spec, dict) or not isinstance(spec.get("key"), str):
        raise ArtifactError(f"{jpath}: tensor {where}: entry must name its HDF5 key")
    if spec["key"] != key:
        raise ArtifactError(f"{jpath}: tensor {where}: key {spec['key']!r} is not {key!r}")
    shape = _shape(spec.get("shape", []), f"tensor {where}: shape", jpath)
    want = None
    if "dtype" in spec:
        try:
            want = np.dtype(spec["dtype"])
        except (TypeError, ValueError):
            raise ArtifactError(f"{jpath}: tensor {where}: dtype {spec['dtype']!r}") from None
    ds = h5.get(key)
    if not isinstance(ds, h5py.Dataset):
        raise ArtifactError(f"{hpath}: tensor {where}: dataset {key!r} is missing")
    try:
        hdf5.check_numeric(ds, f"{hpath}: tensor {where}")
    except hdf5.HDF5Error as exc:
        raise ArtifactError(str(exc)) from None
    if ds.shape != shape:
        raise ArtifactError(
            f"{hpath}: tensor {where}: shape {ds.shape} differs from {shape} in {jpath.name}"
        )
    if want is not None and want != ds.dtype:
        raise ArtifactError(
            f"{hpath}: tensor {where}: dtype {ds.dtype} differs from {want.str} in {jpath.name}"
        )
    try:
        arr = hdf5.read(ds, f"{hpath}: tensor {where}")
        check_values(arr, f"{hpath}: tensor {where}")
    except (hdf5.HDF5Error, ValueRangeError) as exc:
        raise ArtifactError(str(exc)) from None
    return arr


def _jsonable(value: Any, rec: Node, field: str) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value  # json writes non-finite floats as NaN / Infinity and reads them back
    if isinstance(value, tuple | list):
        return [_jsonable(v, rec, field) for v in value]
    raise GraphError(f"{rec.name}: field {field!r} value {value!r} cannot be saved as JSON")


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    return value
