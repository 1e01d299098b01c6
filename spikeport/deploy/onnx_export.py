"""Export a lowered (integer) IR graph as an ONNX model, one timestep or T unrolled, and run it.

Default (``steps=None``): the model computes one Lava timestep of the whole graph, with every
piece of state as a graph input and its next value as a graph output; :func:`run_onnx` steps
it T times with ``onnx.reference.ReferenceEvaluator`` and the custom operators of
:mod:`spikeport.deploy.onnx_ops`. ``steps=T``: one model with the step subgraph repeated T
times (tensor names suffixed ``@t<k>``), inputs and outputs [B, T, *shape], the state
starting from zeros inside the graph and the timestep a constant per step; one evaluator
run computes all T steps. Tensors are int64 with a leading batch axis ``B``.

Mapping (standard ONNX where it is exact in integers, domain ``ai.spikeport`` otherwise):

* Input -> graph input ``<name>`` [B, *shape] (spikes or graded integers).
* Dense -> (binary: ``Cast(Not(Equal(x, 0)))``) ``MatMul`` with Lava's effective (clipped,
  LSB-truncated) int64 weights, ``Mul`` by 2**weight_exp or an exact floor division
  (``Sub(x, Mod(x, 2**k))`` then ``Div``), and the one-step synaptic delay as state
  ``<name>:a``. Per-synapse delays are refused.
* Conv -> ``Conv`` in float64 (exact: every partial sum is bounded below 2**53, checked at
  export), ``Cast`` back to int64, 24-bit wrap with ``Add``/``Mod``/``Sub``, state ``<name>:a``.
* CubaLIF -> ``ai.spikeport.LIFStep`` (state ``:u``, ``:v``); Delta -> ``DeltaStep``;
  SigmaDelta -> ``SigmaDeltaStep`` (state ``:act``, ``:residue``, ``:error`` [, ``:sigma``]);
  Sigma -> ``Add`` (state ``:sigma``).
* AndPopcount / XnorPopcount -> the custom operators of the same name.
* IntAttention (ssa, axnor, lrf_ssa, lrf_dyn): heads split with ``Reshape``/``Transpose``;
  ``AndPopcount`` (+ ``XnorPopcount`` with a_int 1 = the XNOR count) and per-head weights
  with ``Mul``/``Add``; ``MatMul`` with V, shifts as for Dense; lrf_dyn through the custom
  ``DendriticScan``; the local term as depth-wise float64 ``Conv`` (exact). TokenMean ->
  ``ReduceSum`` over tokens (the integer graph's readout sum, as the simulator). SDSA:
  ``ReduceSum(k * v)`` over tokens, ``LIFStep`` (du 4095, state ``:u``, ``:v``, restarted at
  each data window of a retimed graph), gated by q.
* Flatten/Reshape -> ``Reshape``; Transpose -> ``Transpose``; Add -> ``Add``;
  MaxPool2d -> ``MaxPool`` in float64; Delay -> a ring of ``steps`` frames (state ``:ring``,
  ``Slice``/``Squeeze``/``Concat``).

The 1-based timestep is the scalar input ``spikeport.t`` (read by LIFStep with reset_interval;
a constant per step when unrolled). Model metadata ``spikeport.states`` lists every (state
input, state output, per-sample shape) (empty when unrolled; ``spikeport.steps`` is T then).
* Lowered attention primitives (``convert --lower``): ScoreCombine -> ``Mul``/``Add``;
  SpikeAccumulate -> ``MatMul`` + shifts; LocalTerm -> float64 depth-wise ``Conv``; SpikeAnd
  -> binarised ``Mul``; TokenSum -> ``ReduceSum`` + shift; DendriticAttention ->
  ``DendriticScan`` with its tridiagonal as a full matrix.

Anything else (float-level nodes, TimeMean, delayed Dense) is refused with one
UnsupportedError naming every offending node.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spikeport.errors import SpikeportError, UnsupportedError

TIME_INPUT = "spikeport.t"
"""Scalar int64 graph input: the 1-based timestep being computed."""
OPSET = 17
"""Standard ONNX opset of the exported models."""
EXACT = 1 << 53
"""float64 holds every integer below this magnitude exactly (bound for Conv/MaxPool)."""

_SUPPORTED = (
    "Input",
    "Dense",
    "Conv",
    "CubaLIF",
    "Delta",
    "SigmaDelta",
    "Sigma",
    "AndPopcount",
    "XnorPopcount",
    "Flatten",
    "Reshape",
    "Transpose",
    "Add",
    "MaxPool2d",
    "Delay",
    "TokenMean",
    "IntAttention",
    "ScoreCombine",
    "SpikeAccumulate",
    "LocalTerm",
    "SpikeAnd",
    "TokenSum",
    "DendriticAttention",
)


class _Builder:
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
        import hashlib

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
        domain = "ai.spikeport" if op_type in _CUSTOM else ""
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


_CUSTOM = {
    "LIFStep",
    "DeltaStep",
    "SigmaDeltaStep",
    "AndPopcount",
    "XnorPopcount",
    "DendriticScan",
}


def unsupported_nodes(graph: Any) -> list[str]:
    """'name (Type)' of every node the ONNX export cannot express."""
    bad = []
    for rec in graph:
        kind = type(rec).__name__
        if kind not in _SUPPORTED:
            bad.append(f"{rec.name} ({kind})")
        elif kind == "Dense" and rec.delay is not None and np.any(rec.delay):
            bad.append(f"{rec.name} (Dense with synaptic delays)")
    return bad


def export_onnx(graph: Any, path: str | Path | None = None, steps: int | None = None) -> Any:
    """The ONNX model (``onnx.ModelProto``) of lowered `graph`; saved to `path` when given.

    steps None: one timestep, state as graph inputs/outputs, timestep input ``spikeport.t``.
    steps T: the T-step unrolled model: inputs [B, T, *shape], outputs [B, T, *shape] (step k
    at index k - 1), state from zeros. Raises UnsupportedError naming every node that has no
    ONNX form."""
    import onnx

    from spikeport import ir

    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise SpikeportError(f"steps must be a positive number of timesteps, got {steps!r}")
    bad = unsupported_nodes(graph)
    if bad:
        raise UnsupportedError(
            f"graph {graph.name}: no ONNX export for {', '.join(bad)} "
            "(ONNX export takes lowered integer graphs)"
        )
    try:
        shapes = {k: tuple(v) for k, v in ir.infer_shapes(graph).items()}
    except ir.GraphError as exc:
        raise SpikeportError(f"graph {graph.name}: {exc}") from None
    for name in graph.outputs:
        if type(graph.node(name)).__name__ == "Input":
            raise UnsupportedError(f"{name} (Input): an Input node cannot be a graph output")
    b = _Builder(unrolled=steps is not None)
    outputs = list(graph.outputs)
    if steps is None:
        b.inputs.append(b.h.make_tensor_value_info(TIME_INPUT, b.tp.INT64, []))
        for name in graph.input_names:
            b.inputs.append(b.tensor_info(name, shapes[name]))
        _emit_step(b, graph, shapes, {n: n for n in graph.input_names}, "")
        b.outputs[:0] = [b.tensor_info(n, shapes[n]) for n in outputs]
        doc = "One timestep of a Loihi fixed-point graph; state as inputs/outputs."
    else:
        _unroll(b, graph, shapes, steps)
        doc = (
            f"{steps} unrolled timesteps of a Loihi fixed-point graph; inputs and outputs "
            "[B, T, ...]; state starts at zero."
        )
    g = b.h.make_graph(b.nodes, graph.name, b.inputs, b.outputs, b.inits)
    model = b.h.make_model(
        g,
        opset_imports=[b.h.make_opsetid("", OPSET), b.h.make_opsetid("ai.spikeport", 1)],
        producer_name="spikeport",
        doc_string=doc,
    )
    meta = {
        "spikeport.states": json.dumps([[i, o, list(s)] for i, o, s in b.states]),
        "spikeport.inputs": json.dumps(graph.input_names),
        "spikeport.outputs": json.dumps(outputs),
    }
    if steps is None:
        meta["spikeport.time_input"] = TIME_INPUT
    else:
        meta["spikeport.steps"] = str(steps)
        meta["spikeport.layout"] = "B,T"
    b.h.set_model_props(model, meta)
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, str(path))
    return model


def _emit_step(
    b: _Builder, graph: Any, shapes: dict, frames: dict[str, str], suffix: str
) -> dict[str, str]:
    """Emit one timestep of every non-Input node; frames maps each Input to its tensor.
    Returns {IR node: tensor}; each node's value is also named ``<node><suffix>``."""
    value = dict(frames)
    for rec in graph:
        name, kind = rec.name, type(rec).__name__
        if kind == "Input":
            continue
        ins = {p: value[s] for p, s in graph.inputs_of(name).items()}
        out = _EMITTERS[kind](b, rec, ins, ins.get("in"), shapes, graph)
        value[name] = f"{name}{suffix}"
        b.identity(out, value[name])
    return value


def _unroll(b: _Builder, graph: Any, shapes: dict, steps: int) -> None:
    """Graph inputs [B, T, *shape] -> T step subgraphs -> graph outputs [B, T, *shape]."""
    for name in graph.input_names:
        b.inputs.append(b.tensor_info(name, (steps, *shapes[name])))
    first = graph.input_names[0]
    b.batch = b.op(
        "Slice",
        [
            b.op("Shape", [first], "batch"),
            b.const("batch.start", np.array([0], np.int64)),
            b.const("batch.end", np.array([1], np.int64)),
        ],
        "batch",
    )
    per_step: dict[str, list[str]] = {n: [] for n in graph.outputs}
    axis = b.const("time.axis", np.array([1], np.int64))
    for t in range(1, steps + 1):
        b.time = b.const(TIME_INPUT, np.array(t, np.int64))
        index = b.const("time.index", np.array(t - 1, np.int64))
        frames = {n: b.op("Gather", [n, index], f"{n}@t{t}", axis=1) for n in graph.input_names}
        value = _emit_step(b, graph, shapes, frames, f"@t{t}")
        for n in per_step:
            per_step[n].append(b.op("Unsqueeze", [value[n], axis], f"{n}@t{t}"))
    for n, frames_out in per_step.items():
        b.nodes.append(b.h.make_node("Concat", frames_out, [n], name=b.fresh(n), axis=1))
        b.outputs.append(b.tensor_info(n, (steps, *shapes[n])))


# -- emitters: (builder, node, {port: tensor}, in tensor, shapes, graph) -> output tensor ----
def _binary(b: _Builder, x: str, graded: bool, base: str) -> str:
    if graded:
        return x
    zero = b.const(f"{base}.zero", np.array(0, dtype=np.int64))
    nz = b.op("Not", [b.op("Equal", [x, zero], base)], base)
    return b.op("Cast", [nz], base, to=b.tp.INT64)


def _shift(b: _Builder, x: str, exp: int, base: str) -> str:
    """x * 2**exp, or floor(x / 2**-exp) exactly (arithmetic right shift)."""
    if exp == 0:
        return x
    if exp > 0:
        return b.op("Mul", [x, b.const(f"{base}.scale", np.array(1 << exp, np.int64))], base)
    div = b.const(f"{base}.div", np.array(1 << -exp, np.int64))
    rem = b.op("Mod", [x, div], base, fmod=0)  # in 0..div-1 for a positive divisor
    return b.op("Div", [b.op("Sub", [x, rem], base), div], base)


def _delayed(b: _Builder, rec: Any, acc: str, shape: tuple[int, ...]) -> str:
    s_in, s_out = b.state(rec.name, "a", shape)
    b.identity(acc, s_out)
    return s_in


def _dense(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    from spikeport.hw_models.sim.kernels.dense import effective_weights

    w = effective_weights(rec.weight, rec.num_weight_bits, rec.sign_mode)
    xb = _binary(b, x, rec.num_message_bits > 0, rec.name)
    acc = b.op("MatMul", [xb, b.const(f"{rec.name}.weight", w.T.astype(np.int64))], rec.name)
    acc = _shift(b, acc, rec.weight_exp, rec.name)
    return _delayed(b, rec, acc, shapes[rec.name])


def _message_bound(rec: Any) -> int:
    return 1 if rec.num_message_bits == 0 else 1 << rec.num_message_bits


def _conv(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    w = np.asarray(rec.weight, dtype=np.int64)
    bound = _message_bound(rec) * int(np.abs(w).reshape(len(w), -1).sum(1).max(initial=0))
    if bound >= EXACT:
        raise UnsupportedError(f"{rec.name} (Conv): partial sums may exceed 2**53 in float64")
    xb = _binary(b, x, rec.num_message_bits > 0, rec.name)
    xf = b.op("Cast", [xb], rec.name, to=b.tp.DOUBLE)
    ph, pw = rec.padding
    y = b.op(
        "Conv",
        [xf, b.const(f"{rec.name}.weight", w.astype(np.float64))],
        rec.name,
        kernel_shape=list(w.shape[2:]),
        strides=list(rec.stride),
        dilations=list(rec.dilation),
        pads=[ph, pw, ph, pw],
        group=rec.groups,
    )
    yi = b.op("Cast", [y], rec.name, to=b.tp.INT64)
    half = b.const(f"{rec.name}.half", np.array(1 << 23, np.int64))
    full = b.const(f"{rec.name}.full", np.array(1 << 24, np.int64))
    wrapped = b.op("Sub", [b.op("Mod", [b.op("Add", [yi, half], rec.name), full], rec.name,
                                fmod=0), half], rec.name)  # fmt: skip
    return _delayed(b, rec, wrapped, shapes[rec.name])


def _zeros_like(b: _Builder, ref: str, base: str) -> str:
    return b.op("Mul", [ref, b.const(f"{base}.zero", np.array(0, np.int64))], base)


def _lif(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    shape = shapes[rec.name]
    u_in, u_out = b.state(rec.name, "u", shape)
    v_in, v_out = b.state(rec.name, "v", shape)
    a = x if x is not None else _zeros_like(b, u_in, rec.name)
    mant = np.broadcast_to(np.asarray(rec.bias_mant, np.int64), shape).copy()
    s, u, v = b.op(
        "LIFStep",
        [a, u_in, v_in, b.const(f"{rec.name}.bias_mant", mant), b.time],
        rec.name,
        n_out=3,
        du=rec.du,
        dv=rec.dv,
        vth=rec.vth,
        bias_exp=rec.bias_exp,
        reset_interval=rec.reset_interval or 0,
        reset_offset=rec.reset_offset,
    )
    b.identity(u, u_out)
    b.identity(v, v_out)
    return s


def _sdn_states(b: _Builder, rec: Any, shape: tuple[int, ...]) -> list[tuple[str, str]]:
    return [b.state(rec.name, var, shape) for var in ("act", "residue", "error")]


def _delta(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    st = _sdn_states(b, rec, shapes[rec.name])
    s, *new = b.op(
        "DeltaStep",
        [x, *(i for i, _ in st)],
        rec.name,
        n_out=4,
        vth=rec.vth,
        spike_exp=rec.spike_exp,
        state_exp=rec.state_exp,
        cum_error=int(rec.cum_error),
    )
    for (_, o), t in zip(st, new, strict=True):
        b.identity(t, o)
    return s


def _sigma_delta(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    shape = shapes[rec.name]
    sig_in, sig_out = b.state(rec.name, "sigma", shape)
    st = _sdn_states(b, rec, shape)
    bias = np.broadcast_to(np.asarray(rec.bias, np.int64), shape).copy()
    s, *new = b.op(
        "SigmaDeltaStep",
        [x, sig_in, *(i for i, _ in st), b.const(f"{rec.name}.bias", bias)],
        rec.name,
        n_out=5,
        vth=rec.vth,
        spike_exp=rec.spike_exp,
        state_exp=rec.state_exp,
        cum_error=int(rec.cum_error),
        relu=int(rec.act_mode == "relu"),
    )
    for o, t in zip([sig_out, *(o for _, o in st)], new, strict=True):
        b.identity(t, o)
    return s


def _sigma(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    sig_in, sig_out = b.state(rec.name, "sigma", shapes[rec.name])
    total = b.op("Add", [sig_in, x], rec.name)
    b.identity(total, sig_out)
    return total


def _popcount(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    attrs = {}
    if type(rec).__name__ == "XnorPopcount":
        attrs = {"a_int": rec.a_int, "a_shift": rec.a_shift}
    return b.op(type(rec).__name__, [ins["q"], ins["k"]], rec.name, **attrs)


def _reshape(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    target = b.const(f"{rec.name}.shape", np.array([0, *shapes[rec.name]], np.int64))
    return b.op("Reshape", [x, target], rec.name)


def _transpose(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    return b.op("Transpose", [x], rec.name, perm=[0, *(p + 1 for p in rec.perm)])


def _add(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    return b.op("Add", [ins["a"], ins["b"]], rec.name)


def _maxpool(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    xf = b.op("Cast", [x], rec.name, to=b.tp.DOUBLE)
    ph, pw = rec.padding
    y = b.op(
        "MaxPool",
        [xf],
        rec.name,
        kernel_shape=list(rec.kernel_size),
        strides=list(rec.stride),
        pads=[ph, pw, ph, pw],
    )
    return b.op("Cast", [y], rec.name, to=b.tp.INT64)


def _delay(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    if rec.steps == 0:
        return x
    shape = shapes[rec.name]
    r_in, r_out = b.state(rec.name, "ring", (rec.steps, *shape))
    zero = b.const(f"{rec.name}.zero", np.array([0], np.int64))
    one = b.const(f"{rec.name}.one", np.array([1], np.int64))
    end = b.const(f"{rec.name}.end", np.array([rec.steps], np.int64))
    axis = b.const(f"{rec.name}.axis", np.array([1], np.int64))
    out = b.op("Squeeze", [b.op("Slice", [r_in, zero, one, axis], rec.name), axis], rec.name)
    rest = b.op("Slice", [r_in, one, end, axis], rec.name)
    new = b.op("Concat", [rest, b.op("Unsqueeze", [x, axis], rec.name)], rec.name, axis=1)
    b.identity(new, r_out)
    return out


def _token_mean(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    """The simulator's integer TokenMean: the sum over the token axis (no division)."""
    nd = len(shapes[graph.inputs_of(rec.name)["in"]])
    axis = b.const(f"{rec.name}.axis", np.array([rec.axis % nd + 1], np.int64))
    return b.op("ReduceSum", [x, axis], rec.name, keepdims=0)


def _heads(b: _Builder, x: str, n: int, heads: int, hd: int, base: str) -> str:
    """[B, N, D] -> [B, heads, N, head_dim]."""
    shape = b.const(f"{base}.split", np.array([0, n, heads, hd], np.int64))
    return b.op("Transpose", [b.op("Reshape", [x, shape], base)], base, perm=[0, 2, 1, 3])


def _merge(b: _Builder, x: str, n: int, d: int, base: str) -> str:
    shape = b.const(f"{base}.merge", np.array([0, n, d], np.int64))
    return b.op("Reshape", [b.op("Transpose", [x], base, perm=[0, 2, 1, 3]), shape], base)


def _local_term(b: _Builder, rec: Any, v: str, n: int, d: int) -> str:
    params = (rec.grid, rec.local_dilation, rec.local_weight, rec.local_shift)
    return _local(b, f"{rec.name}.local", v, n, d, *params)


def _local(
    b: _Builder,
    base: str,
    v: str,
    n: int,
    d: int,
    grid: tuple[int, int],
    dilations: tuple[int, ...],
    weight: np.ndarray,
    shift: int,
) -> str:
    """Sum over dilations r of depth-wise 3x3 convs (padding r) over the token grid."""
    hh, ww = grid
    img = b.op("Transpose", [v], base, perm=[0, 2, 1])
    img = b.op("Reshape", [img, b.const(f"{base}.grid", np.array([0, d, hh, ww], np.int64))], base)
    img = b.op("Cast", [img], base, to=b.tp.DOUBLE)
    total = None
    for i, r in enumerate(dilations):
        w = np.asarray(weight[i], dtype=np.float64)
        y = b.op(
            "Conv",
            [img, b.const(f"{base}.w{i}", w)],
            base,
            kernel_shape=[3, 3],
            dilations=[r, r],
            pads=[r, r, r, r],
            group=d,
        )
        total = y if total is None else b.op("Add", [total, y], base)
    flat = b.const(f"{base}.flat", np.array([0, d, n], np.int64))
    out = b.op("Reshape", [b.op("Cast", [total], base, to=b.tp.INT64), flat], base)
    return _shift(b, b.op("Transpose", [out], base, perm=[0, 2, 1]), shift, base)


def _sdsa(b: _Builder, rec: Any, q: str, k: str, v: str, d: int, graph: Any) -> str:
    """q * SN(sum_n k v << m): the inner neuron is a LIFStep (du 4095) whose state restarts
    at the first step of each of the node's data windows (retimed graphs), as the simulator."""
    from spikeport.ir.timing import Timing

    name = rec.name
    axis = b.const(f"{name}.tokens", np.array([1], np.int64))
    kv = b.op("ReduceSum", [b.op("Mul", [k, v], name), axis], name, keepdims=0)  # [B, D]
    u_in, u_out = b.state(name, "u", (d,))
    v_in, v_out = b.state(name, "v", (d,))
    timing = Timing.from_meta(graph.meta)
    interval, offset = 0, 0
    if timing is not None and name in timing.node_latency:
        interval, offset = timing.T, (timing.node_latency[name] + 1) % timing.T
    s, u, vv = b.op(
        "LIFStep",
        [
            _shift(b, kv, rec.count_shift, name),
            u_in,
            v_in,
            b.const(f"{name}.bias", np.zeros(d, np.int64)),
            b.time,
        ],
        name,
        n_out=3,
        du=4095,
        dv=rec.inner_dv,
        vth=rec.inner_vth,
        bias_exp=0,
        reset_interval=interval,
        reset_offset=offset,
    )
    b.identity(u, u_out)
    b.identity(vv, v_out)
    return b.op("Mul", [q, b.op("Unsqueeze", [s, axis], name)], name)


def _int_attention(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    n, d = shapes[rec.name]
    h, hd, name = rec.heads, rec.head_dim, rec.name
    q, k, v = ins["q"], ins["k"], ins["v"]
    if rec.variant == "sdsa":
        return _sdsa(b, rec, q, k, v, d, graph)
    if rec.variant == "lrf_dyn":
        u = v if rec.input_mode == "v" else b.op("Mul", [k, v], name)
        y = b.op(
            "DendriticScan",
            [
                u,
                b.const(f"{name}.dyn_a", np.asarray(rec.dyn_a, np.int64)),
                b.const(f"{name}.dyn_gamma", np.asarray(rec.dyn_gamma, np.int64)),
                b.const(f"{name}.dyn_c", np.asarray(rec.dyn_c, np.int64)),
            ],
            name,
        )
        out = _shift(b, y, rec.count_shift - 12, name)
        if rec.input_mode == "kv_gate_q":
            out = b.op("Mul", [q, out], name)
    else:
        qh, kh, vh = (
            _heads(b, t, n, h, hd, f"{name}.{p}") for p, t in zip("qkv", (q, k, v), strict=True)
        )
        c_and = b.op("AndPopcount", [qh, kh], name)
        if rec.variant == "axnor":
            a = np.asarray(rec.a_int, np.int64).reshape(h, 1, 1)
            c_xnor = b.op("XnorPopcount", [qh, kh], name, a_int=1, a_shift=0)
            keep = b.const(f"{name}.and_weight", (1 << rec.a_shift) - a)
            scores = b.op(
                "Add",
                [
                    b.op("Mul", [c_and, keep], name),
                    b.op("Mul", [c_xnor, b.const(f"{name}.a_int", a)], name),
                ],
                name,
            )
        else:
            scores = c_and
        acc = _shift(b, b.op("MatMul", [scores, vh], name), rec.count_shift, name)
        if rec.variant == "axnor":
            acc = _shift(b, acc, -rec.a_shift, name)
        out = _merge(b, acc, n, d, name)
    if rec.local_weight is not None:
        out = b.op("Add", [out, _local_term(b, rec, v, n, d)], name)
    return out


# -- lowered attention primitives (``convert --lower``) ---------------------------------------
def _score_combine(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    a = np.asarray(rec.a_int, np.int64).reshape(-1, 1, 1)
    keep = b.const(f"{rec.name}.and_weight", (1 << rec.a_shift) - a)
    both = b.op("Mul", [ins["c_and"], keep], rec.name)
    same = b.op("Mul", [ins["c_xnor"], b.const(f"{rec.name}.a_int", a)], rec.name)
    return b.op("Add", [both, same], rec.name)


def _spike_accumulate(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    acc = _shift(b, b.op("MatMul", [ins["scores"], ins["v"]], rec.name), rec.count_shift, rec.name)
    return _shift(b, acc, -rec.score_shift, rec.name)


def _local_node(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    n, d = shapes[rec.name]
    return _local(b, rec.name, x, n, d, rec.grid, rec.dilation, rec.weight, rec.shift)


def _spike_and(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    a = _binary(b, ins["a"], False, rec.name)
    other = _binary(b, ins["b"], False, rec.name)
    src = graph.inputs_of(rec.name)
    if len(shapes[src["b"]]) < len(shapes[src["a"]]):  # (D,) broadcast over tokens
        axis = b.const(f"{rec.name}.tokens", np.array([1], np.int64))
        other = b.op("Unsqueeze", [other, axis], rec.name)
    return b.op("Mul", [a, other], rec.name)


def _token_sum(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    axis = b.const(f"{rec.name}.tokens", np.array([1], np.int64))
    return _shift(b, b.op("ReduceSum", [x, axis], rec.name, keepdims=0), rec.shift, rec.name)


def _dendritic(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    """The node's tridiagonal (decay, up, down) as the full A of ``DendriticScan``."""
    decay = np.asarray(rec.decay, np.int64)
    d, k = decay.shape
    a = np.zeros((d, k, k), np.int64)
    idx = np.arange(k)
    a[:, idx, idx] = (1 << 12) - decay
    a[:, idx[:-1], idx[1:]] = np.asarray(rec.up, np.int64)
    a[:, idx[1:], idx[:-1]] = np.asarray(rec.down, np.int64)
    q, kk, v = ins["q"], ins["k"], ins["v"]
    u = v if rec.input_mode == "v" else b.op("Mul", [kk, v], rec.name)
    y = b.op(
        "DendriticScan",
        [
            u,
            b.const(f"{rec.name}.A", a),
            b.const(f"{rec.name}.gamma", np.asarray(rec.gamma, np.int64)),
            b.const(f"{rec.name}.readout", np.asarray(rec.readout, np.int64)),
        ],
        rec.name,
    )
    out = _shift(b, y, rec.count_shift - 12, rec.name)
    return b.op("Mul", [q, out], rec.name) if rec.input_mode == "kv_gate_q" else out


_EMITTERS = {
    "ScoreCombine": _score_combine,
    "SpikeAccumulate": _spike_accumulate,
    "LocalTerm": _local_node,
    "SpikeAnd": _spike_and,
    "TokenSum": _token_sum,
    "DendriticAttention": _dendritic,
    "TokenMean": _token_mean,
    "IntAttention": _int_attention,
    "Dense": _dense,
    "Conv": _conv,
    "CubaLIF": _lif,
    "Delta": _delta,
    "SigmaDelta": _sigma_delta,
    "Sigma": _sigma,
    "AndPopcount": _popcount,
    "XnorPopcount": _popcount,
    "Flatten": _reshape,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Add": _add,
    "MaxPool2d": _maxpool,
    "Delay": _delay,
}


# -- running ------------------------------------------------------------------------------
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

    from spikeport.deploy.onnx_ops import CUSTOM_OPS

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


__all__ = ["export_onnx", "run_onnx", "model_meta", "onnx_summary", "unsupported_nodes"]
