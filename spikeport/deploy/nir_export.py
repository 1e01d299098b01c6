"""Export the NIR-expressible part of an IR graph as a NIR graph (``nir`` 1.0, HDF5 ``.nir``).

NIR neurons are continuous-time; with timestep ``dt`` (seconds, default 1e-4 as in
SpikingJelly's and snnTorch's importers) the forward-Euler step of NIR's equations is
exactly the discrete neuron we run (docs/interchange.md has the derivations):

* float ``LIF`` (SpikingJelly LIFNode, hard reset): ``tau_nir = tau * dt``; decay_input=True
  -> ``r = 1``, False -> ``r = tau``; ``v_leak = v_reset``; ``v_threshold``, ``v_reset`` as is.
  Soft reset (v_reset None) has no NIR form and is refused.
* integer ``CubaLIF`` (Loihi): current decay (du + 1)/4096 per step ->
  ``tau_syn = dt * 4096 / (du + 1)``, ``w_in = tau_syn / dt``; voltage decay dv/4096 ->
  ``tau_mem = dt * 4096 / dv``, ``r = tau_mem / dt`` (a decay of 0 gives tau = inf).
  Values are in units of the synaptic activation a (Loihi's u, v are a << 6):
  ``v_threshold = vth + 1/128``, half a Loihi LSB above vth, so that NIR's strict ``v > thr``
  and SpikingJelly's ``v >= thr`` both equal Loihi's ``v > vth << 6`` on Loihi's grid;
  bias -> ``v_leak = bias / 64 * tau_mem / dt`` (refused when tau_mem is infinite).
  Loihi's 12-bit decay truncation, 24-bit wrap and the synapses' one-step latency have no
  NIR form: an integer graph's NIR export is the real-valued model of the same parameters.
  A CubaLIF with du = 4095 (no current memory), dv = 0 (no leak) and no bias is an
  integrate-and-fire neuron: ``IF`` with ``r = 1/dt`` (v += a per step, SpikingJelly's
  IFNode convention), the same ``v_threshold`` and ``v_reset = 0``.
* ``Linear`` -> ``Affine`` (``Linear`` without bias); ``Conv2d`` -> ``Conv2d``; a
  BatchNorm right after a Conv2d/Linear is folded into it first; ``Dense`` -> ``Affine``
  with Lava's effective weights * 2**weight_exp; ``Conv`` -> ``Conv2d``.
* ``Delay(steps)`` -> ``Delay(steps * dt)`` (NIR's y(t) = x(t - tau)).
* ``Flatten`` -> ``Flatten``; ``Add`` -> rewiring (NIR edges into one node sum);
  ``MaxPool2d`` of binary spikes (fed by a spiking neuron) -> ``SumPool2d`` + ``Threshold(0.5)``
  (max of 0/1 values is their OR).
* ``AndPopcount`` / ``XnorPopcount`` of binary q (N, d), k (M, d) -> a documented
  sub-graph: ``Affine`` copies q_i and k_j to one unit per (n, m, i) pair, ``Threshold(1.5)``
  makes q AND k (and ``Affine(-1, bias 0.5)`` + ``Threshold(0)`` makes NOR, for XNOR),
  ``Linear`` sums over i with the score weights. Inputs must be flat (N * d,) vectors.

Everything else (attention cores, token/time means, reshape/transpose, sigma-delta neurons)
is refused with one UnsupportedError naming every such node and why; ``partial=True`` exports
the expressible part from the inputs up to those nodes (the cut nodes' inputs become outputs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from spikeport.errors import SpikeportError, UnsupportedError

DEFAULT_DT = 1e-4
"""NIR timestep in seconds: SpikingJelly's and snnTorch's importer default."""
THRESHOLD_OFFSET = 1.0 / 128
"""Half of Loihi's v LSB (1/64 of an activation unit), added to an exported CubaLIF vth."""

_SPIKING = ("LIF", "CubaLIF", "MaxPool2d", "Input")
_DIRECT = {"Input", "Linear", "Conv2d", "LIF", "Flatten", "Dense", "Conv", "CubaLIF", "Delay"}
_ATTENTION_WHY = (
    "an attention core multiplies two dynamic signals (scores x V), which no NIR 1.0 "
    "primitive does; only binary AND/XNOR popcount scores export, as a Threshold sub-graph"
)
_WHY = {
    "Reshape": "NIR 1.0 has no reshape node (only Flatten)",
    "Transpose": "NIR 1.0 has no transpose/permute node",
    "Attention": _ATTENTION_WHY,
    "IntAttention": _ATTENTION_WHY,
    "DendriticAttention": _ATTENTION_WHY,
    "SpikeAccumulate": _ATTENTION_WHY,
    "SpikeAnd": _ATTENTION_WHY,
    "ScoreCombine": "per-head score weights need a reshape NIR 1.0 lacks",
    "LocalTerm": "NIR 1.0 has no reshape to the token grid",
    "TokenMean": "NIR 1.0 has no reduction over tokens",
    "TokenSum": "NIR 1.0 has no reduction over tokens",
    "TimeMean": "NIR 1.0 has no reduction over time",
    "Delta": "NIR 1.0 has no sigma-delta neuron",
    "SigmaDelta": "NIR 1.0 has no sigma-delta neuron",
    "Sigma": "NIR 1.0 has no sigma-delta neuron",
}
"""Why a node type has no NIR form, added to the refusal message."""
_EXTRA = {"Add", "MaxPool2d", "AndPopcount", "XnorPopcount", "BatchNorm"}


def _kind(graph: Any, name: str) -> str:
    return type(graph.node(name)).__name__


def unsupported_nodes(graph: Any) -> list[str]:
    """'name (Type[: reason])' of every node that has no NIR form (after BN folding)."""
    return [f"{name} ({why})" for name, why in _refusals(graph).items()]


def _refusal_message(graph: Any, bad: dict[str, str]) -> str:
    """One line: every refused node as 'name (Type)', then why per node type."""
    kinds = sorted({k for k in bad.values() if k in _WHY})
    why = "; ".join(f"{k}: {_WHY[k]}" for k in kinds)
    nodes = ", ".join(f"{n} ({k})" for n, k in bad.items())
    return f"graph {graph.name}: no NIR form for {nodes}" + (f" ({why})" if why else "")


def _refusals(graph: Any) -> dict[str, str]:
    bad: dict[str, str] = {}
    for rec in graph:
        kind = type(rec).__name__
        if kind not in _DIRECT | _EXTRA:
            bad[rec.name] = kind
        elif kind == "BatchNorm":
            bad[rec.name] = "BatchNorm not right after a Conv2d/Linear"
        elif kind == "LIF" and rec.v_reset is None:
            bad[rec.name] = "LIF with soft reset"
        elif kind == "Dense" and rec.delay is not None and np.any(rec.delay):
            bad[rec.name] = "Dense with synaptic delays"
        elif kind == "CubaLIF" and rec.reset_interval is not None:
            bad[rec.name] = "CubaLIF with periodic state reset"
        elif kind == "CubaLIF" and rec.dv == 0 and np.any(rec.bias_mant):
            bad[rec.name] = "CubaLIF bias without voltage decay"
        elif kind == "MaxPool2d":
            src = graph.inputs_of(rec.name).get("in")
            if src is None or _kind(graph, src) not in _SPIKING[:2]:
                bad[rec.name] = "MaxPool2d of non-binary input"
        elif kind in ("AndPopcount", "XnorPopcount"):
            srcs = graph.inputs_of(rec.name)
            if any(_kind(graph, s) not in _SPIKING for s in srcs.values()):
                bad[rec.name] = f"{kind} of non-binary input"
    return bad


def expressible_part(graph: Any) -> tuple[Any, list[str]]:
    """The largest sub-graph reachable from the inputs through NIR-expressible nodes only, and
    the names of the nodes left out. Nodes whose values leave the part become its outputs."""
    bad = _refusals(graph)
    keep: list[str] = []
    for name in graph.topological_order():
        srcs = graph.inputs_of(name).values()
        if name not in bad and all(s in keep for s in srcs):
            keep.append(name)
    if all(_kind(graph, n) == "Input" for n in keep):
        raise UnsupportedError(
            f"graph {graph.name}: no NIR-expressible part "
            f"({', '.join(unsupported_nodes(graph)) or 'nothing after the inputs'})"
        )
    kept = set(keep)
    part = graph.copy()
    dropped = [n for n in graph.topological_order() if n not in kept]
    outs = [
        n
        for n in keep
        if _kind(graph, n) != "Input"
        and (n in graph.outputs or any(s not in kept for s in graph.successors(n)))
    ]
    for n in dropped:
        part.remove(n)
    part.set_outputs(outs)
    return part, dropped


def to_nir(graph: Any, dt: float = DEFAULT_DT, partial: bool = False) -> Any:
    """The ``nir.NIRGraph`` of `graph` (node names kept; Add nodes become wiring).

    partial: export only :func:`expressible_part` (from the inputs up to the first node NIR
    cannot express), listing the nodes left out in ``metadata["dropped"]`` (comma-separated)
    instead of refusing the graph."""
    import nir

    from spikeport import ir
    from spikeport.converters.passes.fold_batchnorm import FoldBatchNorm

    if not dt > 0:
        raise SpikeportError(f"dt must be positive seconds, got {dt}")
    graph = graph.copy()
    FoldBatchNorm().run(graph)
    dropped: list[str] = []
    if partial:
        graph, dropped = expressible_part(graph)
    bad = _refusals(graph)
    if bad:
        raise UnsupportedError(_refusal_message(graph, bad))
    try:
        shapes = {k: tuple(int(d) for d in v) for k, v in ir.infer_shapes(graph).items()}
    except ir.GraphError as exc:
        raise SpikeportError(f"graph {graph.name}: {exc}") from None
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    # NIR endpoints carrying each IR node's value: several for an Add (fan-in sums)
    ends: dict[str, list[str]] = {}
    for rec in graph:
        name, kind = rec.name, type(rec).__name__
        srcs = graph.inputs_of(name)
        if kind == "Add":
            ends[name] = ends[srcs["a"]] + ends[srcs["b"]]
            if srcs["a"] == srcs["b"]:  # x + x: a doubling, not a second wire
                nodes[name] = nir.Scale(np.full(shapes[name], 2.0))
                edges += [(e, name) for e in ends[srcs["a"]]]
                ends[name] = [name]
            continue
        if kind in ("AndPopcount", "XnorPopcount"):
            _popcount(nir, rec, {p: ends[s] for p, s in srcs.items()}, shapes, srcs, nodes, edges)
            ends[name] = [name]
            continue
        if kind == "MaxPool2d":
            pool = f"{name}.sum"
            nodes[pool] = nir.SumPool2d(
                np.array(rec.kernel_size), np.array(rec.stride), np.array(rec.padding)
            )
            nodes[name] = nir.Threshold(np.full(shapes[name], 0.5))
            edges += [(e, pool) for e in ends[srcs["in"]]] + [(pool, name)]
            ends[name] = [name]
            continue
        nodes[name] = _node(nir, rec, shapes, srcs, dt)
        edges += [(e, name) for s in srcs.values() for e in ends[s]]
        ends[name] = [name]
    for out in graph.outputs:
        key = f"{out}.output" if out in nodes else out
        flat = _kind(graph, out) in ("AndPopcount", "XnorPopcount")  # NIR scores are flat
        shape = (int(np.prod(shapes[out])),) if flat else shapes[out]
        nodes[key] = nir.Output({"output": np.array(shape)})
        edges += [(e, key) for e in ends[out]]
    meta = {"producer": "spikeport", "dt": float(dt), "source_graph": graph.name}
    if dropped:
        meta["dropped"] = ",".join(dropped)
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)
    except ValueError as exc:  # NIR's own type inference, e.g. Affine on a token sequence
        raise UnsupportedError(f"graph {graph.name}: NIR rejects the graph: {exc}") from None


def export_nir(graph: Any, path: str | Path, dt: float = DEFAULT_DT, partial: bool = False) -> Any:
    """Write `graph`'s NIR form to `path` (HDF5, ``nir.write``); returns the NIRGraph."""
    import nir

    g = to_nir(graph, dt, partial)
    nir.write(str(path), g)
    return g


def _full(shape: tuple[int, ...], value: float) -> np.ndarray:
    return np.full(shape, float(value), dtype=np.float64)


def _node(nir: Any, rec: Any, shapes: dict, srcs: dict, dt: float) -> Any:
    kind, shape = type(rec).__name__, shapes[rec.name]
    if kind == "Input":
        return nir.Input({"input": np.array(shape)})
    if kind == "Linear":
        w = np.asarray(rec.weight, dtype=np.float32)
        if rec.bias is None:
            return nir.Linear(w)
        return nir.Affine(w, np.asarray(rec.bias, dtype=np.float32))
    if kind in ("Conv2d", "Conv"):
        in_shape = shapes[srcs["in"]]
        w = np.asarray(rec.weight, dtype=np.float32)
        bias = getattr(rec, "bias", None)
        b = np.zeros(w.shape[0], np.float32) if bias is None else np.asarray(bias, np.float32)
        return nir.Conv2d(
            input_shape=tuple(in_shape[1:]),
            weight=w,
            stride=tuple(rec.stride),
            padding=tuple(rec.padding),
            dilation=tuple(rec.dilation),
            groups=rec.groups,
            bias=b,
        )
    if kind == "Dense":
        from spikeport.hw_models.sim.kernels.dense import effective_weights

        w = effective_weights(rec.weight, rec.num_weight_bits, rec.sign_mode) * 2.0**rec.weight_exp
        return nir.Affine(w.astype(np.float32), np.zeros(w.shape[0], np.float32))
    if kind == "Flatten":
        return nir.Flatten({"input": np.array(shapes[srcs["in"]])}, rec.start_dim, rec.end_dim)
    if kind == "LIF":
        r = 1.0 if rec.decay_input else rec.tau
        return nir.LIF(
            tau=_full(shape, rec.tau * dt),
            r=_full(shape, r),
            v_leak=_full(shape, rec.v_reset),
            v_threshold=_full(shape, rec.v_threshold),
            v_reset=_full(shape, rec.v_reset),
        )
    if kind == "CubaLIF":
        return _cuba_lif(nir, rec, shape, dt)
    if kind == "Delay":
        return nir.Delay(_full(shape, rec.steps * dt))
    raise UnsupportedError(f"{rec.name} ({kind}): no NIR form")  # pragma: no cover


def _cuba_lif(nir: Any, rec: Any, shape: tuple[int, ...], dt: float) -> Any:
    if rec.reset_interval is not None:
        raise UnsupportedError(f"{rec.name} (CubaLIF): periodic state reset has no NIR form")
    if rec.du == 4095 and rec.dv == 0 and not np.any(rec.bias_mant):
        return nir.IF(  # v += a each step: SpikingJelly's IFNode, r = 1/dt
            r=_full(shape, 1.0 / dt),
            v_threshold=_full(shape, rec.vth + THRESHOLD_OFFSET),
            v_reset=_full(shape, 0.0),
        )
    tau_syn = np.inf if rec.du + 1 == 0 else dt * 4096.0 / (rec.du + 1)
    tau_mem = np.inf if rec.dv == 0 else dt * 4096.0 / rec.dv
    mant = np.asarray(rec.bias_mant, dtype=np.float64)
    bias = np.broadcast_to(mant * 2.0**rec.bias_exp / 64.0, shape)
    if np.any(bias != 0) and not np.isfinite(tau_mem):
        raise UnsupportedError(
            f"{rec.name} (CubaLIF): a bias without voltage decay (dv = 0) has no NIR form"
        )
    v_leak = bias * (tau_mem / dt) if np.isfinite(tau_mem) else np.zeros(shape)
    return nir.CubaLIF(
        tau_syn=_full(shape, tau_syn),
        tau_mem=_full(shape, tau_mem),
        r=_full(shape, tau_mem / dt),
        v_leak=np.array(v_leak, dtype=np.float64),
        v_threshold=_full(shape, rec.vth + THRESHOLD_OFFSET),
        v_reset=_full(shape, 0.0),
        w_in=_full(shape, tau_syn / dt),
    )


def popcount_matrices(
    n: int, m: int, d: int, a_int: int = 0, a_shift: int = 0, xnor: bool = False
) -> dict[str, np.ndarray]:
    """Weights of the AND/XNOR popcount sub-graph for flat q (n*d,), k (m*d,).

    Pair unit p = (i, j, c) (row-major over n, m, d) receives q[i, c] and k[j, c];
    ``copy_q`` [n*m*d, n*d] and ``copy_k`` [n*m*d, m*d] are 0/1 selection matrices;
    ``score_and`` / ``score_nor`` [n*m, n*m*d] sum a pair's d units with the score weights:
    and-count weight 2**a_shift (for AND only: 1), nor-count weight a_int (XNOR = AND + NOR).
    """
    pairs = n * m * d
    i, j, c = np.unravel_index(np.arange(pairs), (n, m, d))
    copy_q = np.zeros((pairs, n * d))
    copy_q[np.arange(pairs), i * d + c] = 1.0
    copy_k = np.zeros((pairs, m * d))
    copy_k[np.arange(pairs), j * d + c] = 1.0
    total = np.zeros((n * m, pairs))
    total[i * m + j, np.arange(pairs)] = 1.0
    out = {"copy_q": copy_q, "copy_k": copy_k}
    if xnor:
        out["score_and"] = total * float(1 << a_shift)
        out["score_nor"] = total * float(a_int)
    else:
        out["score_and"] = total
    return out


def _popcount(
    nir: Any, rec: Any, ends: dict, shapes: dict, srcs: dict, nodes: dict, edges: list
) -> None:
    q_shape, k_shape = shapes[srcs["q"]], shapes[srcs["k"]]
    if len(q_shape) != 2 or len(k_shape) != 2:
        raise UnsupportedError(
            f"{rec.name} ({type(rec).__name__}): NIR sub-graph needs (N, d) and (M, d) inputs, "
            f"got {q_shape} and {k_shape}"
        )
    (n, d), (m, _) = q_shape, k_shape
    xnor = type(rec).__name__ == "XnorPopcount"
    mats = popcount_matrices(
        n, m, d, getattr(rec, "a_int", 0), getattr(rec, "a_shift", 0), xnor=xnor
    )
    name = rec.name
    flat_q, flat_k = f"{name}.flat_q", f"{name}.flat_k"
    nodes[flat_q] = nir.Flatten({"input": np.array(q_shape)}, 0, -1)
    nodes[flat_k] = nir.Flatten({"input": np.array(k_shape)}, 0, -1)
    edges += [(e, flat_q) for e in ends["q"]] + [(e, flat_k) for e in ends["k"]]
    pairs = n * m * d
    nodes[f"{name}.copy_q"] = nir.Linear(mats["copy_q"])
    nodes[f"{name}.copy_k"] = nir.Linear(mats["copy_k"])
    nodes[f"{name}.and"] = nir.Threshold(np.full(pairs, 1.5))
    edges += [
        (flat_q, f"{name}.copy_q"),
        (flat_k, f"{name}.copy_k"),
        (f"{name}.copy_q", f"{name}.and"),
        (f"{name}.copy_k", f"{name}.and"),
    ]
    nodes[f"{name}.score_and"] = nir.Linear(mats["score_and"])
    edges.append((f"{name}.and", f"{name}.score_and"))
    score_edges = [f"{name}.score_and"]
    if xnor:
        # NOR(q, k) = H(0.5 - q - k): negated copies with bias 0.5 into a zero threshold
        nodes[f"{name}.neg_q"] = nir.Affine(-mats["copy_q"], np.full(pairs, 0.5))
        nodes[f"{name}.neg_k"] = nir.Linear(-mats["copy_k"])
        nodes[f"{name}.nor"] = nir.Threshold(np.zeros(pairs))
        nodes[f"{name}.score_nor"] = nir.Linear(mats["score_nor"])
        edges += [
            (flat_q, f"{name}.neg_q"),
            (flat_k, f"{name}.neg_k"),
            (f"{name}.neg_q", f"{name}.nor"),
            (f"{name}.neg_k", f"{name}.nor"),
            (f"{name}.nor", f"{name}.score_nor"),
        ]
        score_edges.append(f"{name}.score_nor")
    # the two score Linears sum into one Reshape-free output: an identity Scale node
    nodes[name] = nir.Scale(np.ones(n * m))
    edges += [(s, name) for s in score_edges]
