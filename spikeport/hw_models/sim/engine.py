"""Bit-accurate simulator: executes a lowered (integer) IR graph over T timesteps.

Every lowered node runs the kernel that reproduces its Lava fixed-point ProcessModel
(``spikeport.hw_models.sim.kernels``; semantics in ``docs/semantics.md``): synapses deliver their
result one step later, neurons update every step. Values are exact integers: int64, or a
narrower signed type where they provably fit (int8 spikes, int32 synaptic activations, an
Add in the narrowest type holding its bound); cast before arithmetic that could overflow.
The batch is a leading axis of every array; samples never interact, so results do not
depend on the batch size (nor on BLAS threads: float products are only used where they are
exact, ``kernels.arith.exact_matmul``).

An Input node emits its data for each step; a neuron fed directly by an Input (netx's input
layer) or by another neuron sees the value of the same step, as in Lava. Because the graph is
a DAG, nodes run one after the other over all timesteps (synapses as one product over time,
neurons looping over time with the batch vectorised); this equals stepping the whole graph.

Per node and timestep the simulator counts (summed over the batch):

* ``synaptic_events``: non-zero input messages x their non-zero fan-out (synapses),
* ``dense_macs``: the multiply-accumulates a dense evaluation would do,
* ``weight_reads``: synaptic weights fetched (one per synaptic event),
* ``neuron_updates``: neurons updated (every neuron, every step),
* ``state_reads``: neuron state words read (neurons x state variables),
* ``spikes``: non-zero output messages of neurons,
* ``bitwise_words`` / ``popcount_words``: 64-bit AND / XNOR word operations and word
  popcounts of the bit-packed attention scores (XnorPopcount, AndPopcount).

New node types plug in with :func:`register_executor`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikeport.errors import SpikeportError, UnsupportedError
from spikeport.hw_models.sim.kernels import (
    ConvSynapse,
    CubaLifNeuron,
    DeltaEncoder,
    DenseSynapse,
    SigmaDecoder,
    SigmaDeltaNeuron,
    popcount,
)

COUNTERS = (
    "synaptic_events",
    "dense_macs",
    "weight_reads",
    "neuron_updates",
    "state_reads",
    "spikes",
    "bitwise_words",
    "popcount_words",
)


class Executor:
    """Runs one node. Subclasses implement :meth:`step`; ``probe`` names readable state."""

    state_vars: tuple[str, ...] = ()

    def __init__(self, node: Any, in_shapes: Mapping[str, tuple[int, ...]], out_shape: tuple):
        self.node = node
        self.in_shapes = dict(in_shapes)
        self.out_shape = tuple(out_shape)

    def reset(self, batch: int) -> None:
        """Clear all state for a new run of `batch` samples."""

    def release(self) -> None:
        """Drop the state a finished run left (the simulator calls it once a node ran; the
        next :meth:`reset` allocates afresh). The default holds nothing."""

    def step(self, inputs: Mapping[str, np.ndarray], counts: dict[str, int]) -> np.ndarray:
        """One timestep: inputs {port: [B, *shape]} -> output [B, *out_shape]."""
        raise NotImplementedError

    def probe(self, var: str) -> np.ndarray:
        raise SpikeportError(f"{self.node.name}: no state variable {var!r} to probe")

    def run_all(
        self,
        inputs: Mapping[str, np.ndarray],
        counts: dict[str, np.ndarray],
        probe_vars: Iterable[str] = (),
        reset: tuple[int, int] | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Every timestep at once: inputs {port: [T, B, *shape]} -> output [T, B, *out_shape].

        Fills `counts` ({counter: [T]}) and returns the probed state variables, [T, B, ...],
        read after each step (and after a `reset` = (interval, phase): state zeroed after
        step index t when t % interval == phase). This default steps through time; stateless
        or feed-forward executors override it with a vectorised form.
        """
        probe_vars = tuple(probe_vars)
        steps = len(next(iter(inputs.values()))) if inputs else len(counts[COUNTERS[0]])
        outs, probed = [], {v: [] for v in probe_vars}
        for t in range(steps):
            c = dict.fromkeys(COUNTERS, 0)
            outs.append(self.step({port: x[t] for port, x in inputs.items()}, c))
            for k, v in c.items():
                counts[k][t] = v
            if reset is not None and t % reset[0] == reset[1]:
                self.zero_state()
            for v in probe_vars:
                probed[v].append(self.probe(v))
        return np.stack(outs), {v: np.stack(a) for v, a in probed.items()}

    def zero_state(self) -> None:
        """Zero u/v-like state (emulates ``lava.proc.io.reset.Reset`` on every state Var)."""
        raise SpikeportError(f"{self.node.name}: has no state to reset")

    def set_window(self, start: int, period: int) -> None:
        """Retimed graphs: the node's data windows start at steps start + k * period.

        Stateful nodes without LIFReset fields of their own (the SDSA attention's inner
        neuron) restart there; the default does nothing."""

    def skip_to(self, step: int) -> None:
        """Windowed runs: the next step run_all sees is global step index `step` (stateful
        executors whose behaviour depends on absolute time adjust their clock)."""


ExecutorFactory = Callable[[Any, Mapping[str, tuple[int, ...]], tuple[int, ...]], Executor]
_EXECUTORS: dict[str, ExecutorFactory] = {}


def register_executor(node_type: str) -> Callable[[ExecutorFactory], ExecutorFactory]:
    """Class decorator: run IR nodes of class name `node_type` with this executor."""

    def deco(factory: ExecutorFactory) -> ExecutorFactory:
        _EXECUTORS[node_type] = factory
        return factory

    return deco


def _only(inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    return next(iter(inputs.values()))


# -- layout ----------------------------------------------------------------------------------
@register_executor("Flatten")
@register_executor("Reshape")
class _ReshapeExecutor(Executor):
    def step(self, inputs: Mapping[str, np.ndarray], counts: dict[str, int]) -> np.ndarray:
        x = _only(inputs)
        return x.reshape(x.shape[0], *self.out_shape)

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        x = _only(inputs)
        return x.reshape(x.shape[0], x.shape[1], *self.out_shape), {}


@register_executor("Transpose")
class _TransposeExecutor(Executor):
    def step(self, inputs: Mapping[str, np.ndarray], counts: dict[str, int]) -> np.ndarray:
        return np.transpose(_only(inputs), (0, *(p + 1 for p in self.node.perm)))

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        return np.transpose(_only(inputs), (0, 1, *(p + 2 for p in self.node.perm))), {}


@register_executor("Delay")
class _DelayExecutor(Executor):
    ring: np.ndarray | None = None

    def reset(self, batch: int) -> None:
        self.ring = None  # sized by the first step: run_all never needs it
        self.t = 0

    def release(self) -> None:
        self.ring = None

    def step(self, inputs: Mapping[str, np.ndarray], counts: dict[str, int]) -> np.ndarray:
        x = _only(inputs)
        if self.ring is None:
            self.ring = np.zeros((self.node.steps + 1, *x.shape), dtype=np.int64)
        slots = self.ring.shape[0]
        self.ring[self.t % slots] = x
        out = self.ring[(self.t - self.node.steps) % slots].copy()
        if self.t < self.node.steps:
            out[...] = 0
        self.t += 1
        return out

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        x = _only(inputs)
        out = np.zeros_like(x)
        d = self.node.steps
        if d < len(x):
            out[d:] = x[: len(x) - d]
        return out, {}


# -- synapses --------------------------------------------------------------------------------
@register_executor("Dense")
class _DenseExecutor(Executor):
    def __init__(self, node: Any, in_shapes: Mapping[str, tuple[int, ...]], out_shape: tuple):
        super().__init__(node, in_shapes, out_shape)
        self.kernel = DenseSynapse(
            node.weight,
            weight_exp=node.weight_exp,
            num_weight_bits=node.num_weight_bits,
            num_message_bits=node.num_message_bits,
            delay=node.delay,
        )
        n_out, n_in = self.kernel.weight.shape
        lead = math.prod(next(iter(self.in_shapes.values()))[:-1])
        self.macs = lead * n_in * n_out
        w = np.abs(self.kernel.weight)
        self.row_bound = int(w.sum(axis=1).max()) if w.size else 0
        """max over outputs of sum |w|: |W @ s| <= max|s| * this."""

    def reset(self, batch: int) -> None:
        self.kernel.reset((0,))  # step() sizes the pipeline on its first input; run_all needs none

    def release(self) -> None:
        self.kernel.reset((0,))

    def step(self, inputs: Mapping[str, np.ndarray], counts: dict[str, int]) -> np.ndarray:
        x = _only(inputs)
        events = int(((x != 0) * self.kernel.nonzero_fanout).sum())
        counts["synaptic_events"] += events
        counts["weight_reads"] += events
        counts["dense_macs"] += self.macs * x.shape[0]
        return self.kernel.step(x)

    def run_window(self, x: np.ndarray, counts: dict[str, np.ndarray]) -> np.ndarray | None:
        """Windowed runs of a delay-free synapse: output window step t = a_out of input window
        step t ([T, B, ..., n_out]), computed in row chunks straight into an int32 array when
        |a_out| < 2**31 (else int64). None with delays (the caller then pads and runs
        :meth:`run_all`)."""
        k = self.kernel
        if k.max_delay:
            return None
        steps, n_in = x.shape[0], x.shape[-1]
        events = np.zeros(steps, dtype=np.int64)
        for t in range(steps):  # per step: no [T, B, ..., n_in] int64 temporary
            active = (x[t] != 0).reshape(-1, n_in).sum(axis=0)
            events[t] = int(np.dot(active, k.nonzero_fanout))
        counts["synaptic_events"][:] = events
        counts["weight_reads"][:] = events
        counts["dense_macs"][:] = self.macs * x.shape[1]
        x_max = 1 if not k.graded else max(int(x.max()), -int(x.min())) if x.size else 0
        bound = (x_max * self.row_bound) << max(k.weight_exp, 0)  # a floor shift only shrinks
        out = np.zeros((*x.shape[:-1], k.n_out), dtype=np.int32 if bound < 1 << 31 else np.int64)
        rows, flat = x.reshape(-1, n_in), out.reshape(-1, k.n_out)
        chunk = max(1, DENSE_CHUNK_ELEMENTS // max(1, k.n_out))
        for i in range(0, len(rows), chunk):
            part = rows[i : i + chunk]
            live = np.flatnonzero(part.any(axis=1))  # all-zero inputs give all-zero outputs
            if len(live) == len(part):
                flat[i : i + chunk] = k.compute(part)[0][1]
            elif len(live):
                flat[i + live] = k.compute(part[live])[0][1]
        return out

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        x = _only(inputs)  # [T, B, ..., n_in]
        steps = x.shape[0]
        events = ((x != 0) * self.kernel.nonzero_fanout).reshape(steps, -1).sum(axis=1)
        counts["synaptic_events"][:] = events
        counts["weight_reads"][:] = events
        counts["dense_macs"][:] = self.macs * x.shape[1]
        return self.kernel.run_sequence(x), {}


@register_executor("Conv")
class _ConvExecutor(Executor):
    def __init__(self, node: Any, in_shapes: Mapping[str, tuple[int, ...]], out_shape: tuple):
        super().__init__(node, in_shapes, out_shape)
        self.kernel = ConvSynapse(
            node.weight,
            stride=node.stride,
            padding=node.padding,
            dilation=node.dilation,
            groups=node.groups,
            num_message_bits=node.num_message_bits,
        )
        in_shape = next(iter(self.in_shapes.values()))
        self.fanout = conv_fanout(
            in_shape, node.weight, node.stride, node.padding, node.dilation, node.groups
        )
        c_out, c_in_g, kh, kw = node.weight.shape
        self.macs = math.prod(self.out_shape) * c_in_g * kh * kw

    def reset(self, batch: int) -> None:
        self.kernel.reset(batch)

    def release(self) -> None:
        self.kernel.reset()

    def step(self, inputs: Mapping[str, np.ndarray], counts: dict[str, int]) -> np.ndarray:
        x = _only(inputs)
        events = int(((x != 0) * self.fanout).sum())
        counts["synaptic_events"] += events
        counts["weight_reads"] += events
        counts["dense_macs"] += self.macs * x.shape[0]
        return self.kernel.step(x)

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        x = _only(inputs)  # [T, B, C, H, W]
        steps, batch = x.shape[:2]
        out = np.zeros((steps, batch, *self.out_shape), dtype=np.int32)
        if steps > 1:  # the last step's result is never sent
            self.convolve(x[:-1], out=out[1:])
        self._count(x, counts)
        return out, {}

    def run_window(self, x: np.ndarray, counts: dict[str, np.ndarray]) -> np.ndarray:
        """Windowed runs: output window step t = a_out of input window step t, [T, B, ...]."""
        self._count(x, counts)
        return self.convolve(x)

    def _count(self, x: np.ndarray, counts: dict[str, np.ndarray]) -> None:
        steps, batch = x.shape[:2]
        events = np.zeros(steps, dtype=np.int64)
        for t in range(steps):  # per step: no [T, B, C, H, W] int64 temporary
            events[t] = int(np.dot((x[t] != 0).reshape(batch, -1).sum(0), self.fanout.ravel()))
        counts["synaptic_events"][:] = events
        counts["weight_reads"][:] = events
        counts["dense_macs"][:] = self.macs * batch

    def convolve(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The wrapped 24-bit a_out of every frame of `x` [T, B, C, H, W], no latency, as int32
        (it holds signed 24 bits exactly at half int64's memory; written into `out` if given);
        evaluated in chunks."""
        if out is None:
            out = np.empty((*x.shape[:2], *self.out_shape), dtype=np.int32)
        frames = x.reshape(-1, *x.shape[2:])
        flat_out = out.reshape(-1, *self.out_shape)
        chunk = max(1, CONV_CHUNK_ELEMENTS // max(1, math.prod(self.out_shape)))
        for i in range(0, len(frames), chunk):
            flat_out[i : i + chunk] = self.kernel.compute(frames[i : i + chunk])
        return out


CONV_CHUNK_ELEMENTS = 1 << 20
"""Conv frames are evaluated together in chunks of about this many output elements."""
DENSE_CHUNK_ELEMENTS = 1 << 20
"""Windowed Dense rows are evaluated together in chunks of about this many outputs."""


def conv_fanout(
    in_shape: tuple[int, ...],
    weight: np.ndarray,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> np.ndarray:
    """Non-zero synapses leaving each input position, [C_in, H, W] (padding excluded)."""
    c_in, h, w = in_shape
    c_out, c_in_g, kh, kw = weight.shape
    co_g = c_out // groups
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    nz = (np.asarray(weight) != 0).reshape(groups, co_g, c_in_g, kh, kw).sum(axis=1)
    fan = np.zeros((c_in, h, w), dtype=np.int64)
    rows = np.arange(ho) * stride[0] - padding[0]
    cols = np.arange(wo) * stride[1] - padding[1]
    for i in range(kh):
        r = rows + i * dilation[0]
        r = r[(r >= 0) & (r < h)]
        for j in range(kw):
            c = cols + j * dilation[1]
            c = c[(c >= 0) & (c < w)]
            hits = nz[:, :, i, j].reshape(c_in)  # [groups * c_in_g] = [C_in]
            fan[:, r[:, None], c[None, :]] += hits[:, None, None]
    return fan


# -- bit-packed attention scores -------------------------------------------------------------
@register_executor("AndPopcount")
@register_executor("XnorPopcount")
class _PopcountExecutor(Executor):
    """Stateless: each step's scores from that step's q and k (no synaptic latency)."""

    def step(self, inputs: Mapping[str, np.ndarray], counts: dict[str, int]) -> np.ndarray:
        q, k = inputs["q"], inputs["k"]
        xnor = type(self.node).__name__ == "XnorPopcount" and self.node.a_int != 0
        if type(self.node).__name__ == "XnorPopcount":
            out = popcount.axnor_scores(q, k, self.node.a_int, self.node.a_shift)
        else:
            out = popcount.and_popcount(q, k)
        pairs = math.prod(out.shape)  # batch x ... x N x M
        ops = pairs * popcount.words(self.node.head_dim) * (2 if xnor else 1)
        counts["bitwise_words"] += ops
        counts["popcount_words"] += ops
        return out

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        steps = len(inputs["q"])
        c = dict.fromkeys(COUNTERS, 0)
        out = self.step(inputs, c)  # time is one more leading axis
        for key, value in c.items():
            counts[key][:] = value // steps
        return out, {}


# -- neurons ---------------------------------------------------------------------------------
@register_executor("CubaLIF")
class _LifExecutor(Executor):
    state_vars = ("u", "v")

    def __init__(self, node: Any, in_shapes: Mapping[str, tuple[int, ...]], out_shape: tuple):
        super().__init__(node, in_shapes, out_shape)
        self.kernel = CubaLifNeuron(
            node.shape,
            du=node.du,
            dv=node.dv,
            vth=node.vth,
            bias_mant=node.bias_mant,
            bias_exp=node.bias_exp,
            reset_interval=node.reset_interval,
            reset_offset=node.reset_offset,
        )
        self.n = math.prod(node.shape)

    def reset(self, batch: int) -> None:
        self.kernel.reset(batch)
        self.kernel.set_bias(self.node.bias_mant)  # drop a previous run's bias override

    def release(self) -> None:
        self.kernel.reset(0)
        self.kernel.set_bias(self.node.bias_mant)

    def step(self, inputs: Mapping[str, np.ndarray], counts: dict[str, int]) -> np.ndarray:
        a = _only(inputs) if inputs else 0
        s = self.kernel.step(np.broadcast_to(a, self.kernel.u.shape))
        b = s.shape[0]
        counts["neuron_updates"] += self.n * b
        counts["state_reads"] += 2 * self.n * b
        counts["spikes"] += int(np.count_nonzero(s))
        return s

    def probe(self, var: str) -> np.ndarray:
        if var in ("u", "v"):
            return getattr(self.kernel, var).copy()
        return super().probe(var)

    def zero_state(self) -> None:
        self.kernel.u[...] = 0
        self.kernel.v[...] = 0

    def skip_to(self, step: int) -> None:
        self.kernel.t = int(step)  # LIFReset phases follow Lava's clock

    def run_all(self, inputs, counts, probe_vars=(), reset=None):  # type: ignore[no-untyped-def]
        u = self.kernel.u
        a = _only(inputs) if inputs else np.zeros((len(counts["spikes"]), *u.shape), np.int64)
        a = np.broadcast_to(a, (a.shape[0], *u.shape))
        spikes, rec = self.kernel.run_sequence(a, state_reset=reset, record=tuple(probe_vars))
        b = u.shape[0]
        counts["neuron_updates"][:] = self.n * b
        counts["state_reads"][:] = 2 * self.n * b
        counts["spikes"][:] = spikes.reshape(len(spikes), -1).sum(axis=1)
        return spikes, rec


class _SdnExecutor(Executor):
    n_state = 3

    def reset(self, batch: int) -> None:
        self.kernel.reset(batch)

    def release(self) -> None:
        self.kernel.reset(0)

    def step(self, inputs: Mapping[str, np.ndarray], counts: dict[str, int]) -> np.ndarray:
        x = _only(inputs)
        s = self.kernel.step(x)
        n = math.prod(self.node.shape) * x.shape[0]
        counts["neuron_updates"] += n
        counts["state_reads"] += self.n_state * n
        counts["spikes"] += int(np.count_nonzero(s))
        return s

    def probe(self, var: str) -> np.ndarray:
        if var in self.state_vars:
            return getattr(self.kernel, var).copy()
        return super().probe(var)


@register_executor("Delta")
class _DeltaExecutor(_SdnExecutor):
    state_vars = ("act", "residue", "error")
    n_state = 2

    def __init__(self, node: Any, in_shapes: Mapping[str, tuple[int, ...]], out_shape: tuple):
        super().__init__(node, in_shapes, out_shape)
        self.kernel = DeltaEncoder(
            node.shape,
            vth=node.vth,
            spike_exp=node.spike_exp,
            state_exp=node.state_exp,
            cum_error=node.cum_error,
        )


@register_executor("SigmaDelta")
class _SigmaDeltaExecutor(_SdnExecutor):
    state_vars = ("sigma", "act", "residue", "error")

    def __init__(self, node: Any, in_shapes: Mapping[str, tuple[int, ...]], out_shape: tuple):
        super().__init__(node, in_shapes, out_shape)
        self.kernel = SigmaDeltaNeuron(
            node.shape,
            vth=node.vth,
            bias=node.bias,
            spike_exp=node.spike_exp,
            state_exp=node.state_exp,
            act_mode=node.act_mode,
            cum_error=node.cum_error,
        )


@register_executor("Sigma")
class _SigmaExecutor(_SdnExecutor):
    state_vars = ("sigma",)
    n_state = 1

    def __init__(self, node: Any, in_shapes: Mapping[str, tuple[int, ...]], out_shape: tuple):
        super().__init__(node, in_shapes, out_shape)
        self.kernel = SigmaDecoder(node.shape)


# -- the simulator ---------------------------------------------------------------------------
@dataclass
class SimResult:
    """What a run produced. Arrays are [T, B, *shape]; counts are [T] per node, batch-summed."""

    outputs: dict[str, np.ndarray]
    probes: dict[tuple[str, str], np.ndarray]
    counts: dict[str, dict[str, np.ndarray]]
    steps: int
    batch: int
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)

    def totals(self) -> dict[str, int]:
        """Every counter summed over nodes and timesteps."""
        out = dict.fromkeys(COUNTERS, 0)
        for per_node in self.counts.values():
            for k, v in per_node.items():
                out[k] += int(v.sum())
        return out


ProbeSpec = str | tuple[str, str]


class Simulator:
    """Executes a lowered IR graph (see module docstring).

    probes: node names (record the node's output) or (name, var) pairs / "name:var" strings
    (record a state variable after each step, e.g. ("layer1.neuron", "u")).
    """

    def __init__(self, graph: Any, probes: Iterable[ProbeSpec] = ()) -> None:
        from spikeport import ir
        from spikeport.hw_models.sim import transformer_executors  # noqa: F401  (registers)
        from spikeport.ir.timing import Timing

        _register_lowered_attention()
        self.graph = graph
        self.timing = Timing.from_meta(graph.meta)
        try:
            shapes = ir.infer_shapes(graph)
        except ir.GraphError as exc:
            raise SpikeportError(f"graph {graph.name}: {exc}") from None
        self.order = graph.topological_order()
        self.inputs = graph.input_names
        self.executors: dict[str, Executor] = {}
        for name in self.order:
            node = graph.node(name)
            kind = type(node).__name__
            if kind == "Input":
                continue
            if getattr(node, "level", "int") == "float":
                raise UnsupportedError(
                    f"{name} ({kind}): float node in a lowered graph; run the lowering passes first"
                )
            factory = _EXECUTORS.get(kind)
            if factory is None:
                raise UnsupportedError(f"{name} ({kind}): the simulator has no executor for it")
            wiring = graph.inputs_of(name)
            in_shapes = {port: tuple(shapes[src]) for port, src in wiring.items()}
            self.executors[name] = factory(node, in_shapes, tuple(shapes[name]))
            if self.timing is not None and name in self.timing.node_latency:
                self.executors[name].set_window(self.timing.node_latency[name], self.timing.T)
        self.shapes = {k: tuple(v) for k, v in shapes.items()}
        self.probes = [self._parse_probe(p) for p in probes]

    def _parse_probe(self, spec: ProbeSpec) -> tuple[str, str]:
        if isinstance(spec, tuple):
            name, var = spec
        elif ":" in spec:
            name, var = spec.rsplit(":", 1)
        else:
            name, var = spec, "out"
        if name not in self.graph:
            raise SpikeportError(f"probe {spec!r}: no node {name!r} in graph {self.graph.name}")
        if var != "out":
            ex = self.executors.get(name)
            if ex is None or var not in ex.state_vars:
                have = () if ex is None else ex.state_vars
                raise SpikeportError(f"probe {spec!r}: {name} has no state {var!r} (has {have})")
        return name, var

    def run(
        self,
        data: np.ndarray | Mapping[str, np.ndarray],
        steps: int | None = None,
        *,
        bias: Mapping[str, np.ndarray] | None = None,
        state_resets: Mapping[str, tuple[int, int]] | None = None,
        windowed: bool = False,
    ) -> SimResult:
        """Run `steps` timesteps on `data` [B, T, *shape] per Input node (zeros after T).

        steps: default T, or T + latency for a retimed graph (``graph.meta["timing"]``), so
            that the last node's window ends.

        bias: {LIF node: bias_mant} replacing the node's bias, [*shape] or [B, *shape]
            (how netx feeds images through an input layer).
        state_resets: {neuron node: (interval, offset)}: zero its state after step t when
            (t - 1) % interval == offset % interval, as ``lava.proc.io.reset.Reset`` does.
        windowed: retimed graphs only: compute each node only over its T-step data window
            (``Timing.window``); every array (outputs, probes, counts) then has T steps, step
            i being the node's window step i. The values are those of the full run (nothing
            outside a node's window reaches another node's window: the LIFReset gates discard
            it), at (T + L) / T times less work; what a full run computes outside windows is
            not produced.

        Node state exists only while its node runs (``Executor.reset`` just before,
        ``Executor.release`` just after) and a node's output is dropped once its last
        consumer ran, unless it is a graph output or probed.
        """
        feeds = self._feeds(data)
        batch = next(iter(feeds.values())).shape[0]
        if windowed:
            if self.timing is None:
                raise SpikeportError(
                    f"graph {self.graph.name}: windowed runs need a retimed graph (no timing)"
                )
            if steps not in (None, self.timing.T):
                raise SpikeportError(f"windowed runs have T = {self.timing.T} steps, not {steps}")
            steps = self.timing.T
        if steps is None:
            steps = max(f.shape[1] for f in feeds.values())
            if self.timing is not None:
                steps += self.timing.latency
        for name in bias or {}:
            if not isinstance(self.executors.get(name), _LifExecutor):
                raise SpikeportError(f"bias override {name!r}: not a CubaLIF node of the graph")
        resets = {}
        for name, (interval, offset) in (state_resets or {}).items():
            if name not in self.executors:
                raise SpikeportError(f"state reset {name!r}: not a node of the graph")
            resets[name] = (int(interval), int(offset) % int(interval))
        counts = {n: {k: np.zeros(steps, dtype=np.int64) for k in COUNTERS} for n in self.executors}
        keep = set(self.graph.outputs) | {n for n, v in self.probes if v == "out"}
        pending = dict.fromkeys(self.order, 0)  # uses of each node's output still to come
        for src, _, _ in self.graph.edges():
            pending[src] += 1
        vars_of: dict[str, list[str]] = {}
        for name, var in self.probes:
            if var != "out":
                vars_of.setdefault(name, []).append(var)
        seqs: dict[str, np.ndarray] = {}
        probed: dict[tuple[str, str], np.ndarray] = {}
        start = time.perf_counter()
        # A DAG: every node's output sequence depends only on its inputs' sequences, so nodes
        # run one after the other over all timesteps (identical to stepping the whole graph).
        for name in self.order:
            if name in feeds:
                f = feeds[name]
                seq = np.zeros((steps, batch, *f.shape[2:]), dtype=np.int64)
                n = min(steps, f.shape[1])
                seq[:n] = np.moveaxis(f[:, :n], 1, 0)
                seqs[name] = seq
            else:
                wiring = self.graph.inputs_of(name)
                ins = {port: seqs[src] for port, src in wiring.items()}
                ex = self.executors[name]
                ex.reset(batch)  # state lives only while its node runs
                if bias and name in bias and isinstance(ex, _LifExecutor):
                    ex.kernel.set_bias(np.asarray(bias[name]))
                run = self._run_windowed if windowed else self._run_node
                seqs[name], states = run(name, ins, counts[name], vars_of.get(name, ()), resets)
                ex.release()
                for var, arr in states.items():
                    probed[(name, var)] = arr
                for src in wiring.values():
                    pending[src] -= 1
                    if pending[src] == 0 and src not in keep:
                        del seqs[src]
        for name, var in self.probes:
            if var == "out":
                probed[(name, var)] = seqs[name]
        seconds = time.perf_counter() - start
        return SimResult(
            outputs={k: seqs[k] for k in self.graph.outputs},
            probes={p: probed[p] for p in self.probes},
            counts=counts,
            steps=steps,
            batch=batch,
            seconds=seconds,
            meta={"windowed": windowed},
        )

    def _run_node(self, name, ins, counts, probe_vars, resets):  # type: ignore[no-untyped-def]
        return self.executors[name].run_all(ins, counts, probe_vars, resets.get(name))

    def _run_windowed(self, name, ins, counts, probe_vars, resets):  # type: ignore[no-untyped-def]
        """One node over its data window; `ins` are its inputs' output windows, which all
        start at this node's window start (the retime pass balanced them)."""
        ex = self.executors[name]
        kind = type(ex.node).__name__
        if kind == "Delay":  # its output window is its input window, later
            return next(iter(ins.values())), {}
        if isinstance(ex, _ConvExecutor):
            return ex.run_window(next(iter(ins.values())), counts), {}
        if isinstance(ex, _DenseExecutor):
            out = ex.run_window(next(iter(ins.values())), counts)
            if out is not None:
                return out, {}
        if kind == "Dense":  # sends one step later: output window = f(input window)
            padded = {p: np.concatenate([x, np.zeros_like(x[:1])]) for p, x in ins.items()}
            tmp = {k: np.zeros(len(counts[k]) + 1, dtype=np.int64) for k in counts}
            out, states = ex.run_all(padded, tmp, probe_vars, resets.get(name))
            for k in counts:
                counts[k][:] = tmp[k][:-1]
            return out[1:], {v: a[1:] for v, a in states.items()}
        ex.skip_to(self.timing.node_latency[name])
        return ex.run_all(ins, counts, probe_vars, resets.get(name))

    def _feeds(self, data: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not isinstance(data, Mapping):
            if len(self.inputs) != 1:
                raise SpikeportError(
                    f"graph {self.graph.name} has inputs {self.inputs}: pass {{name: array}}"
                )
            data = {self.inputs[0]: data}
        feeds = {}
        batch = None
        for name in self.inputs:
            if name not in data:
                raise SpikeportError(f"no data for input node {name!r}")
            arr = np.asarray(data[name])
            want = self.shapes[name]
            if arr.ndim != len(want) + 2 or tuple(arr.shape[2:]) != want:
                raise SpikeportError(
                    f"input {name!r}: data shape {arr.shape}, expected [batch, T, *{want}]"
                )
            if not np.issubdtype(arr.dtype, np.integer) and not np.issubdtype(arr.dtype, bool):
                if not np.array_equal(arr, np.round(arr)):
                    raise SpikeportError(
                        f"input {name!r}: data must be integers (spikes or messages)"
                    )
            if batch is not None and arr.shape[0] != batch:
                raise SpikeportError(f"input {name!r}: batch {arr.shape[0]} != {batch}")
            batch = arr.shape[0]
            feeds[name] = arr.astype(np.int64)
        extra = set(data) - set(self.inputs)
        if extra:
            raise SpikeportError(f"data for unknown input node(s) {sorted(extra)}")
        return feeds


def _register_lowered_attention() -> None:
    """Import the lowered attention primitives' executors when that module exists."""
    import importlib.util

    if importlib.util.find_spec("spikeport.hw_models.sim.lowered_attention") is not None:
        importlib.import_module("spikeport.hw_models.sim.lowered_attention")


def simulate(graph: Any, data: np.ndarray, steps: int | None = None, **kwargs: Any) -> SimResult:
    """Convenience: ``Simulator(graph, probes).run(data, steps, ...)``."""
    probes = kwargs.pop("probes", ())
    return Simulator(graph, probes).run(data, steps, **kwargs)
