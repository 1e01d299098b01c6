"""`Builder`: accumulates the ONNX nodes, initializers, graph inputs/outputs and state table
of one export, plus the small op patterns several node emitters share (binarise, exact
shifts, one-step delay)."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

TIME_INPUT = "spikeport.t"
"""Scalar int64 graph input: the 1-based timestep being computed."""
OPSET = 17
"""Standard ONNX opset of the exported models."""
EXACT = 1 << 53
"""float64 holds every integer below this magnitude exactly (bound for Conv/MaxPool)."""
DOMAIN = "ai.spikeport"
"""Custom operator domain (see :mod:`spikeport.deploy.onnx.ops`)."""
CUSTOM = {
    "LIFStep",
    "DeltaStep",
    "SigmaDeltaStep",
    "AndPopcount",
    "XnorPopcount",
    "DendriticScan",
}
"""Operators of domain ``ai.spikeport``."""


class Builder:
    """Accumulates ONNX nodes, initializers, graph inputs/outputs and the state table.

    One-step mode declares each state as a graph input/output pair; unrolled mode
    (``unrolled=True``) instead chains it from step to step, starting from zeros."""

    def __init__(self, unrolled: bool = False) -> None:
        from onnx import TensorProto, helper

        self.h = helper
        self.tp = TensorProto
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self.states: list[tuple[str, str, tuple[int, ...]]] = []
        self.time = TIME_INPUT  # tensor holding the 1-based timestep (int64 scalar)
        self.carry: dict[str, str] | None = {} if unrolled else None
        self.batch: str | None = None  # [1] tensor holding B (unrolled mode)
        self._consts: dict[tuple[str, str, tuple[int, ...], bytes], str] = {}
        self._n = 0

    def fresh(self, base: str) -> str:
        self._n += 1
        return f"{base}#{self._n}"

    def const(self, base: str, value: np.ndarray) -> str:
        """An initializer holding `value` (shared by every request of equal base and value)."""
        from onnx import numpy_helper

        arr = np.asarray(value, order="C")  # keeps 0-d (ascontiguousarray makes it [1])
        key = (base, arr.dtype.str, arr.shape, hashlib.sha1(arr.tobytes()).digest())
        if key not in self._consts:
            name = self.fresh(base)
            self.inits.append(numpy_helper.from_array(arr, name))
            self._consts[key] = name
        return self._consts[key]

    def op(self, op_type: str, inputs: list[str], base: str, n_out: int = 1, **attrs: Any):
        outs = [self.fresh(f"{base}.{op_type}") for _ in range(n_out)]
        domain = DOMAIN if op_type in CUSTOM else ""
        self.nodes.append(
            self.h.make_node(op_type, inputs, outs, name=self.fresh(base), domain=domain, **attrs)
        )
        return outs[0] if n_out == 1 else outs

    def tensor_info(self, name: str, shape: tuple[int, ...], batch: bool = True) -> Any:
        dims: list[Any] = (["B"] if batch else []) + list(shape)
        return self.h.make_tensor_value_info(name, self.tp.INT64, dims)

    def state(self, node: str, var: str, shape: tuple[int, ...]) -> tuple[str, str]:
        """Declare state `var` of `node`: returns (current value, next value) tensor names."""
        key = f"{node}:{var}"
        if self.carry is not None:
            s_in = self.carry.get(key) or self.zeros(key, shape)
            self.carry[key] = s_out = self.fresh(f"{key}.next")
            return s_in, s_out
        s_in, s_out = key, f"{key}.next"
        self.inputs.append(self.tensor_info(s_in, shape))
        self.outputs.append(self.tensor_info(s_out, shape))
        self.states.append((s_in, s_out, tuple(shape)))
        return s_in, s_out

    def zeros(self, base: str, shape: tuple[int, ...]) -> str:
        """int64 zeros [B, *shape] (B read from the first graph input)."""
        assert self.batch is not None
        dims = self.const(f"{base}.shape", np.array(shape, np.int64))
        dims = self.op("Concat", [self.batch, dims], base, axis=0)
        return self.op("Expand", [self.const(f"{base}.zero", np.array(0, np.int64)), dims], base)

    def identity(self, src: str, dst: str) -> None:
        self.nodes.append(self.h.make_node("Identity", [src], [dst], name=self.fresh(dst)))

    # -- op patterns shared by the emitters -------------------------------------------------
    def binary(self, x: str, graded: bool, base: str) -> str:
        """x as 0/1 spikes (x != 0), or x itself when the message is graded."""
        if graded:
            return x
        zero = self.const(f"{base}.zero", np.array(0, dtype=np.int64))
        nz = self.op("Not", [self.op("Equal", [x, zero], base)], base)
        return self.op("Cast", [nz], base, to=self.tp.INT64)

    def shift(self, x: str, exp: int, base: str) -> str:
        """x * 2**exp, or floor(x / 2**-exp) exactly (arithmetic right shift)."""
        if exp == 0:
            return x
        if exp > 0:
            return self.op(
                "Mul", [x, self.const(f"{base}.scale", np.array(1 << exp, np.int64))], base
            )
        div = self.const(f"{base}.div", np.array(1 << -exp, np.int64))
        rem = self.op("Mod", [x, div], base, fmod=0)  # in 0..div-1 for a positive divisor
        return self.op("Div", [self.op("Sub", [x, rem], base), div], base)

    def delayed(self, node: str, acc: str, shape: tuple[int, ...]) -> str:
        """A synapse's one-step delay: this step's sum goes to state ``<node>:a``, last
        step's comes out."""
        s_in, s_out = self.state(node, "a", shape)
        self.identity(acc, s_out)
        return s_in
