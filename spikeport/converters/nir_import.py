"""Read a NIR graph (``nir.NIRGraph`` or a ``.nir`` HDF5 file) into a float IR graph.

The inverse of ``spikeport.deploy.nir_export`` for float layers, and what snnTorch or
SpikingJelly write for conv/linear/LIF networks:

* ``Input`` -> Input(kind "float"); ``Output`` -> the graph's outputs.
* ``Affine`` -> Linear(weight, bias); ``Linear`` -> Linear(weight); ``Conv2d`` -> Conv2d
  (integer padding only); ``Flatten`` -> Flatten (NIR's dims are per sample, as ours).
* ``LIF`` -> LIF (SpikingJelly semantics, hard reset): ``tau = tau_nir / dt`` (> 1; rounded
  to the digits the parameter's dtype carries: 6 for float32, 9 for float64);
  ``r = 1`` -> decay_input=True, ``r = tau`` -> decay_input=False; ``v_leak`` must equal
  ``v_reset``; parameters must be uniform over the neurons.
* Several edges into one node -> Add nodes summing them (NIR fan-in sums).

``dt`` (seconds) is the graph's ``metadata["dt"]`` when present, else the argument
(default 1e-4, SpikingJelly's and snnTorch's convention). Nothing else is imported: the
error names every unsupported NIR node. A ``.nir`` file is opened with the checks of
:mod:`spikeport.hdf5` first (no links to other files, declared sizes within the memory
budget); a malformed node field, or a NaN, infinite or out-of-range weight or parameter
(:mod:`spikeport.value_range`), is one line naming the node.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from spikeport import hdf5
from spikeport.errors import SpikeportError, UnsupportedError, first_line
from spikeport.value_range import check_values

DEFAULT_DT = 1e-4
_SUPPORTED = ("Input", "Output", "Affine", "Linear", "Conv2d", "Flatten", "LIF")


def _clean(name: str) -> str:
    return str(name).replace("/", "_")


def _uniform(node_name: str, field: str, value: Any) -> float:
    arr = np.asarray(value, dtype=np.float64)
    check_values(arr, f"NIR graph: node {node_name} (LIF): {field}")
    u = np.unique(arr)
    if u.size != 1:
        raise UnsupportedError(f"{node_name} (LIF): {field} differs between neurons")
    return float(u[0])


def _digits(value: Any) -> int:
    """Decimal digits a NIR parameter carries: 6 for float32, at most 9 otherwise."""
    dtype = np.asarray(value).dtype
    return min(9, np.finfo(dtype).precision) if np.issubdtype(dtype, np.floating) else 9


def _pair(node_name: str, field: str, value: Any) -> tuple[int, int]:
    if isinstance(value, str):
        raise UnsupportedError(f"{node_name} (Conv2d): {field} {value!r} is not a number")
    arr = np.atleast_1d(np.asarray(value)).astype(np.int64)
    return (int(arr[0]), int(arr[-1])) if arr.size in (1, 2) else (int(arr[0]), int(arr[1]))


def _shape(node_name: str, types: dict) -> tuple[int, ...]:
    if len(types) != 1:
        raise UnsupportedError(f"{node_name}: only single-port Input/Output nodes are supported")
    return tuple(int(d) for d in np.asarray(next(iter(types.values()))).ravel())


def load_nir(source: Any, dt: float | None = None, name: str | None = None) -> Any:
    """Convert `source` (a NIRGraph or a path to a .nir file) to a float ``ir.Graph``."""
    import nir

    from spikeport import ir

    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise SpikeportError(f"{path}: no such NIR file")
        hdf5.open_checked(path, "a NIR file").close()
        try:
            source = nir.read(str(path))
        except Exception as exc:  # h5py/nir raise many types for a bad file
            raise SpikeportError(f"{path}: not a readable NIR file ({first_line(exc)})") from None
        name = name or path.stem
    if not isinstance(source, nir.NIRGraph):
        raise SpikeportError(f"expected a nir.NIRGraph or a .nir path, got {type(source).__name__}")
    meta_dt = (source.metadata or {}).get("dt") if isinstance(source.metadata, dict) else None
    step = _finite(meta_dt if meta_dt is not None else (dt or DEFAULT_DT), "metadata dt")
    if step <= 0:
        raise SpikeportError(f"NIR graph: dt = {step} must be > 0")
    bad = [
        f"{k} ({type(v).__name__})"
        for k, v in source.nodes.items()
        if type(v).__name__ not in _SUPPORTED
    ]
    if bad:
        raise UnsupportedError(f"NIR graph: no spikeport import for {', '.join(bad)}")
    preds: dict[str, list[str]] = {k: [] for k in source.nodes}
    for src, dst in source.edges:
        if src not in source.nodes or dst not in source.nodes:
            raise SpikeportError(f"NIR graph: edge {src} -> {dst} names a missing node")
        preds[dst].append(src)
    g = ir.Graph(ir.plain_name(name or "nir"))
    g.meta.update({"source": "nir", "dt": step, "time_major": True})
    value: dict[str, str] = {}  # NIR node -> IR node carrying its output
    outputs: list[str] = []
    for key in _topological(source.nodes, preds):
        node, kind = source.nodes[key], type(source.nodes[key]).__name__
        ir_name = _clean(key)
        ins = [value[p] for p in preds[key]]
        if kind == "Output":
            if len(ins) != 1:
                ins = [_sum(g, ir, f"{ir_name}.sum", ins)]
            outputs.append(ins[0])
            continue
        if kind == "Input":
            with _fields(key, kind):
                g.add(ir.Input(ir_name, shape=_shape(key, node.input_type), kind="float"))
            value[key] = ir_name
            continue
        if not ins:
            raise SpikeportError(f"NIR graph: node {key} ({kind}) has no input")
        src = ins[0] if len(ins) == 1 else _sum(g, ir, f"{ir_name}.in", ins)
        with _fields(key, kind):
            g.add(_convert(ir, key, ir_name, node, kind, step), src)
        value[key] = ir_name
    if not outputs:
        raise SpikeportError("NIR graph: no Output node")
    g.set_outputs(outputs)
    return g


@contextlib.contextmanager
def _fields(key: str, kind: str) -> Iterator[None]:
    """Reading a NIR node's fields: a malformed one (wrong type, size or value) is one line."""
    try:
        yield
    except (TypeError, ValueError, IndexError, KeyError, AttributeError, ArithmeticError) as exc:
        msg = f"NIR graph: node {key} ({kind}): bad field ({first_line(exc)})"
        raise SpikeportError(msg) from None


def _finite(value: Any, what: str) -> float:
    """``value`` as a float; SpikeportError when it is not one finite number."""
    try:
        out = float(np.asarray(value, dtype=np.float64).item())
    except (TypeError, ValueError):
        raise SpikeportError(f"NIR graph: {what} {str(value)[:40]!r} is not a number") from None
    if not np.isfinite(out):
        raise SpikeportError(f"NIR graph: {what} = {out} is not finite")
    return out


def _tensor(key: str, field: str, value: Any) -> np.ndarray:
    """A weight or bias as an array; NaN, infinite or out-of-range entries are refused."""
    arr = np.asarray(value)
    check_values(arr, f"NIR graph: node {key}: {field}")
    return arr


def _sum(g: Any, ir: Any, name: str, ins: list[str]) -> str:
    acc = ins[0]
    for i, other in enumerate(ins[1:]):
        node = name if i == len(ins) - 2 else f"{name}.{i}"
        g.add(ir.Add(node), {"a": acc, "b": other})
        acc = node
    return acc


def _convert(ir: Any, key: str, name: str, node: Any, kind: str, dt: float) -> Any:
    if kind == "Affine":
        return ir.Linear(
            name, weight=_tensor(key, "weight", node.weight), bias=_tensor(key, "bias", node.bias)
        )
    if kind == "Linear":
        return ir.Linear(name, weight=_tensor(key, "weight", node.weight))
    if kind == "Conv2d":
        return ir.Conv2d(
            name,
            weight=_tensor(key, "weight", node.weight),
            bias=None if node.bias is None else _tensor(key, "bias", node.bias),
            stride=_pair(key, "stride", node.stride),
            padding=_pair(key, "padding", node.padding),
            dilation=_pair(key, "dilation", node.dilation),
            groups=int(np.asarray(node.groups).item()),
        )
    if kind == "Flatten":
        return ir.Flatten(name, start_dim=int(node.start_dim), end_dim=int(node.end_dim))
    # LIF
    # round away the float noise of tau_nir / dt (2e-4 / 1e-4 is 2.0000000000000004; float32
    # parameters, as snnTorch writes, only carry 6 digits: 4e-4 / 1e-4 is 3.9999999)
    tau = float(np.round(_uniform(key, "tau", node.tau) / dt, _digits(node.tau)))
    if not np.isfinite(tau) or tau <= 1.0:
        raise UnsupportedError(f"{key} (LIF): tau / dt = {tau} must be finite and > 1")
    r = _uniform(key, "r", node.r)
    if np.isclose(r, 1.0, rtol=1e-6):
        decay_input = True
    elif np.isclose(r, tau, rtol=1e-6):
        decay_input = False
    else:
        raise UnsupportedError(f"{key} (LIF): r = {r} must be 1 or tau / dt = {tau}")
    v_reset = 0.0 if node.v_reset is None else _uniform(key, "v_reset", node.v_reset)
    v_leak = _uniform(key, "v_leak", node.v_leak)
    if not np.isclose(v_leak, v_reset, rtol=1e-6, atol=1e-12):
        raise UnsupportedError(f"{key} (LIF): v_leak {v_leak} must equal v_reset {v_reset}")
    return ir.LIF(
        name,
        tau=tau,
        v_threshold=_uniform(key, "v_threshold", node.v_threshold),
        v_reset=v_reset,
        decay_input=decay_input,
    )


def _topological(nodes: dict, preds: dict[str, list[str]]) -> list[str]:
    order, done, visiting = [], set(), set()

    def visit(k: str) -> None:
        if k in done:
            return
        if k in visiting:
            raise UnsupportedError(f"NIR graph: recurrent connection through {k} (not supported)")
        visiting.add(k)
        for p in preds[k]:
            visit(p)
        visiting.discard(k)
        done.add(k)
        order.append(k)

    for k in nodes:
        visit(k)
    return order
