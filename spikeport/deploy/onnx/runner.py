"""Run an exported ONNX model with ``onnx.reference.ReferenceEvaluator`` and the custom
operators of :mod:`spikeport.deploy.onnx.ops` (a second implementation of the integer
semantics): a one-step model is stepped T times feeding its state back, an unrolled model
(T steps) is run once. Outputs come back as [T, B, *shape] int64, the simulator's layout."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from spikeport.deploy.onnx.builder import TIME_INPUT
from spikeport.errors import SpikeportError


def model_meta(model: Any) -> dict[str, Any]:
    """The spikeport metadata of an exported model (states, inputs, outputs; steps: T of an
    unrolled model, None for the one-step model)."""
    props = {p.key: p.value for p in model.metadata_props}
    if "spikeport.states" not in props:
        raise SpikeportError("ONNX model: no spikeport.states metadata (not exported by spikeport)")
    return {
        "states": [(i, o, tuple(s)) for i, o, s in json.loads(props["spikeport.states"])],
        "inputs": json.loads(props["spikeport.inputs"]),
        "outputs": json.loads(props["spikeport.outputs"]),
        "steps": int(props["spikeport.steps"]) if "spikeport.steps" in props else None,
    }


def run_onnx(
    model: Any, data: np.ndarray | Mapping[str, np.ndarray], steps: int | None = None
) -> dict[str, np.ndarray]:
    """Run an exported model with ``onnx.reference.ReferenceEvaluator`` + spikeport's ops:
    a one-step model is stepped `steps` times, an unrolled model (T steps) run once.

    data: [B, T, *shape] per graph input (an array when there is one input), zeros after T.
    Returns {output node: [steps, B, *shape]} int64, the layout of the simulator's outputs.
    """
    from onnx.reference import ReferenceEvaluator

    from spikeport.deploy.onnx.ops import CUSTOM_OPS

    meta = model_meta(model)
    if not isinstance(data, Mapping):
        if len(meta["inputs"]) != 1:
            raise SpikeportError(f"model has inputs {meta['inputs']}: pass {{name: array}}")
        data = {meta["inputs"][0]: data}
    missing = [n for n in meta["inputs"] if n not in data]
    if missing:
        raise SpikeportError(f"no data for ONNX input(s) {missing}")
    feeds = {n: np.asarray(data[n]).astype(np.int64) for n in meta["inputs"]}
    batch = next(iter(feeds.values())).shape[0]
    steps = steps if steps is not None else max(f.shape[1] for f in feeds.values())
    sess = ReferenceEvaluator(model, new_ops=list(CUSTOM_OPS))
    if meta["steps"] is not None:
        return _run_unrolled(sess, meta, feeds, steps)
    state = {i: np.zeros((batch, *s), np.int64) for i, _, s in meta["states"]}
    names = meta["outputs"] + [o for _, o, _ in meta["states"]]
    recorded: dict[str, list[np.ndarray]] = {n: [] for n in meta["outputs"]}
    for t in range(steps):
        feed: dict[str, np.ndarray] = {TIME_INPUT: np.array(t + 1, np.int64), **state}
        for n, f in feeds.items():
            feed[n] = f[:, t] if t < f.shape[1] else np.zeros_like(f[:, 0])
        got = dict(zip(names, sess.run(names, feed), strict=True))
        for n in meta["outputs"]:
            recorded[n].append(np.asarray(got[n], np.int64))
        state = {i: got[o] for i, o, _ in meta["states"]}
    return {n: np.stack(v) if v else np.zeros((0, batch)) for n, v in recorded.items()}


def _run_unrolled(
    sess: Any, meta: dict[str, Any], feeds: dict[str, np.ndarray], steps: int
) -> dict[str, np.ndarray]:
    total = meta["steps"]
    longest = max(f.shape[1] for f in feeds.values())
    if steps > total or longest > total:
        raise SpikeportError(
            f"ONNX model is unrolled for {total} steps: cannot run {max(steps, longest)}"
        )
    padded = {
        n: np.concatenate([f, np.zeros((f.shape[0], total - f.shape[1], *f.shape[2:]), f.dtype)], 1)
        for n, f in feeds.items()
    }
    got = sess.run(meta["outputs"], padded)
    return {
        n: np.moveaxis(np.asarray(v, np.int64), 1, 0)[:steps]
        for n, v in zip(meta["outputs"], got, strict=True)
    }


def onnx_summary(model: Any) -> dict[str, int]:
    """Node count per operator type (domain-qualified for custom ops)."""
    out: dict[str, int] = {}
    for n in model.graph.node:
        key = f"{n.domain}.{n.op_type}" if n.domain else n.op_type
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))
