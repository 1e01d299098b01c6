"""The conversion pipeline: trace -> float IR -> passes -> quantised IR, and its fidelity check.

:func:`convert_model` returns both graphs; :func:`measure_fidelity` runs the PyTorch model,
the traced float graph and the quantised graph on the same images and reports accuracies,
whether the float graph reproduces the model exactly, and per-neuron spike agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from spikeport.converters.passes import (
    AbsorbTransposeBatchNorm,
    FoldBatchNorm,
    FoldInputScale,
    MergeAttentionScale,
    PassManager,
    QuantConfig,
    Quantize,
    SimplifyLayout,
    SinkLayoutBelowLIF,
)
from spikeport.converters.passes.lower_attention import lowering_passes
from spikeport.converters.torch_fx import to_ir
from spikeport.ir import Graph

NEURONS = ("LIF", "IntegerSpike"), ("CubaLIF", "GradedSpike")
"""Float neuron node types and their quantised counterparts (compared by the fidelity check)."""
EXAMPLE_BATCH = 7
"""Batch size of the tracing example: differs from T and from feature sizes, so the
[T, B, ...] axes can be told from sample axes. Only its shape matters: the trace propagates
it as a FakeTensor (no data, no activations), so its size costs nothing."""


def default_passes(
    config: QuantConfig | None = None,
    input_means: dict[str, np.ndarray] | None = None,
    lower: bool = False,
) -> PassManager:
    """The standard pass order (``spikeport convert --list-passes`` prints it); `lower` adds
    the attention lowering passes after quantisation (docs/lowering.md). A variant the
    backends cannot run unlowered (``AttentionVariant.fused`` False) is always lowered."""
    passes = [
        AbsorbTransposeBatchNorm(),
        SinkLayoutBelowLIF(),
        SimplifyLayout(),
        FoldBatchNorm(),
        FoldInputScale(),
        MergeAttentionScale(),
        Quantize(config, input_means),
    ]
    passes += lowering_passes(lower)
    return PassManager(passes)


@dataclass
class Conversion:
    float_graph: Graph
    quantized: Graph
    pass_log: list[tuple[str, int]]


def convert_model(
    model: nn.Module,
    sample_shape: tuple[int, ...],
    *,
    T: int | None = None,
    config: QuantConfig | None = None,
    name: str | None = None,
    calibration: Any = None,
    lower: bool = False,
    time_major: bool = False,
) -> Conversion:
    """Trace `model` (inputs [B, *sample_shape], or [T, B, *sample_shape] frames when
    `time_major`) and run the default passes.

    `calibration` (e.g. training images, batch first: anything sliced ``[i:j]`` into arrays
    or tensors, such as a ``spikeport.data`` Dataset's ``samples()``): measure each synapse's
    mean input on the folded float graph and let quantisation correct the bias shift of
    weight rounding. `lower`: also run the attention lowering passes (IntAttention ->
    hardware primitives)."""
    steps = int(T if T is not None else getattr(model, "T", 1))
    lead = (steps, EXAMPLE_BATCH) if time_major else (EXAMPLE_BATCH,)
    example = torch.zeros(*lead, *sample_shape)
    float_graph = to_ir(model, example, T=T, time_major=time_major, name=name)
    means = None
    if calibration is not None:
        folded = default_passes(config).run(float_graph, until="merge-attention-scale")
        means = synapse_input_means(folded, calibration)
    manager = default_passes(config, means, lower=lower)
    quantized = manager.run(float_graph)
    return Conversion(float_graph, quantized, manager.log)


@torch.no_grad()
def model_input(x: Any, graph: Graph) -> torch.Tensor:
    """A batch (array or tensor, batch first) as `graph` and its model take it: time-major
    frames ``[B, T, ...]`` become ``[T, B, ...]`` (``spikeport.data.model_layout``)."""
    from spikeport.data import model_layout

    layout = "time-major" if graph.meta.get("time_major") else "image"
    return model_layout(torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x), layout)


def synapse_input_means(graph: Graph, images: Any, batch_size: int = 120) -> dict[str, np.ndarray]:
    """Mean input of every Conv2d (per input channel) and Linear (per input feature) over
    `images` (batch first, see :func:`convert_model`)."""
    from spikeport.converters.float_eval import run_float

    feeds = {}
    for n in graph.topological_order():
        k = type(graph.node(n)).__name__
        if k in ("Conv2d", "Linear"):
            feeds.setdefault(graph.inputs_of(n)["in"], []).append((n, k))
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}

    def observe(name: str, value: torch.Tensor) -> None:
        for syn, k in feeds.get(name, ()):
            v = value.double()
            flat = v.flatten(0, 1).movedim(1, -1) if k == "Conv2d" else v
            flat = flat.reshape(-1, flat.shape[-1])
            sums[syn] = sums.get(syn, 0) + flat.sum(0).numpy()
            counts[syn] = counts.get(syn, 0) + flat.shape[0]

    for start in range(0, len(images), batch_size):
        run_float(graph, model_input(images[start : start + batch_size], graph), observe=observe)
    return {k: sums[k] / counts[k] for k in sums}


def _layout_chain(graph: Graph, name: str) -> list[str]:
    """``name`` and the layout nodes (Reshape/Flatten/Transpose) that follow it one by one,
    each the single consumer of the one before (SinkLayoutBelowLIF moves a LIF's input
    layout there, so the float graph's LIF output appears at one of them)."""
    from spikeport.converters.passes.graph_edit import single_consumer
    from spikeport.converters.passes.layout import LAYOUT

    chain = [name]
    while (nxt := single_consumer(graph, chain[-1])) is not None:
        if type(graph.node(nxt)).__name__ not in LAYOUT:
            break
        chain.append(nxt)
    return chain


def _lif_modules(model: nn.Module, names: set[str]) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if n in names}


def _recorder(store: dict, name: str):
    def hook(_module, _inputs, output):
        store[name] = output

    return hook


def _keeper(store: dict, names: set[str]):
    def observe(name: str, value) -> None:
        if name in names:
            store[name] = value

    return observe


@dataclass
class FidelityTally:
    """Integer sums of the fidelity check over some images; :meth:`add` merges runs of
    disjoint images exactly (``stats``: per quantised neuron the largest |u|, |v|, |a| seen).
    ``agree[name]``: [equal spikes, spike elements compared (0 when the layouts differ),
    float-graph spikes, quantised spikes, spike elements]."""

    images: int
    correct: dict[str, int]
    logit_mismatches: int
    spike_mismatches: int
    agree: dict[str, list[int]]
    stats: dict[str, dict[str, int]]
    lifs_checked: int

    def add(self, other: FidelityTally) -> FidelityTally:
        stats = {n: dict(s) for n, s in self.stats.items()}
        for n, s in other.stats.items():
            mine = stats.setdefault(n, dict.fromkeys(s, 0))
            for k, v in s.items():
                mine[k] = max(mine[k], v)
        return FidelityTally(
            images=self.images + other.images,
            correct={k: v + other.correct[k] for k, v in self.correct.items()},
            logit_mismatches=self.logit_mismatches + other.logit_mismatches,
            spike_mismatches=self.spike_mismatches + other.spike_mismatches,
            agree={
                n: [a + b for a, b in zip(v, other.agree[n], strict=True)]
                for n, v in self.agree.items()
            },
            stats=stats,
            lifs_checked=self.lifs_checked,
        )


@torch.no_grad()
def fidelity_tally(
    conv: Conversion,
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int = 60,
    progress: bool = False,
) -> FidelityTally:
    """Run the model, the traced float graph and the quantised graph on ``images`` in batches
    and count what :func:`measure_fidelity` reports."""
    from tqdm.auto import tqdm

    from spikeport.converters.float_eval import run_float
    from spikeport.hw_models.sim.int_eval import run_int

    model.eval()
    fg, qg = conv.float_graph, conv.quantized
    lif_names = [n for n in fg.topological_order() if type(fg.node(n)).__name__ in NEURONS[0]]
    int_names = {n for n in qg.topological_order() if type(qg.node(n)).__name__ in NEURONS[1]}
    # integer spikes (I-LIF) are compared as integers: the float graph's s / norm times norm
    norms = {n: getattr(fg.node(n), "norm", 1.0) for n in lif_names}
    mods = _lif_modules(model, set(lif_names))
    correct = {"model": 0, "float_graph": 0, "quantized": 0}
    logit_mismatch = 0
    model_spike_mismatch = 0
    # equal, compared elements, float spikes, quantised spikes, elements
    agree = {n: [0, 0, 0, 0, 0] for n in lif_names if n in int_names}
    below = {n: _layout_chain(qg, n) for n in agree}
    stats: dict[str, dict[str, int]] = {}
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc="evaluate", unit="batch", disable=not progress):
        x = model_input(images[start : start + batch_size], fg)
        y = torch.as_tensor(np.asarray(labels[start : start + batch_size]))
        ref: dict[str, torch.Tensor] = {}
        hooks = [m.register_forward_hook(_recorder(ref, n)) for n, m in mods.items()]
        try:
            logits = model(x)
        finally:
            for h in hooks:
                h.remove()
        got_f: dict[str, torch.Tensor] = {}
        zf = run_float(fg, x, observe=_keeper(got_f, set(agree) | set(ref)))
        got_q: dict[str, np.ndarray] = {}
        kept = {m for chain in below.values() for m in chain}
        zq = run_int(qg, x, observe=_keeper(got_q, kept), stats=stats)
        logit_mismatch += int((zf != logits).sum())
        model_spike_mismatch += sum(int((got_f[n] != ref[n]).sum()) for n in ref)
        correct["model"] += int((logits.argmax(-1) == y).sum())
        correct["float_graph"] += int((zf.argmax(-1) == y).sum())
        correct["quantized"] += int((torch.from_numpy(np.asarray(zq)).argmax(-1) == y).sum())
        for n, acc in agree.items():
            f = np.rint(got_f[n].numpy() * norms[n]).astype(np.int64)
            # a LIF that layout nodes were sunk below: its spikes in the float graph's layout;
            # a LIF whose layout conversion changed otherwise is compared by rates only
            q = next((got_q[m] for m in below[n] if got_q[m].shape == f.shape), got_q[n])
            if q.shape == f.shape:
                acc[0] += int((f == q).sum())
                acc[1] += f.size
            acc[2] += int(f.sum())
            acc[3] += int(q.sum())
            acc[4] += f.size
    return FidelityTally(
        images=len(images),
        correct=correct,
        logit_mismatches=logit_mismatch,
        spike_mismatches=model_spike_mismatch,
        agree=agree,
        stats=stats,
        lifs_checked=len(mods),
    )


def fidelity_summary(t: FidelityTally) -> dict[str, Any]:
    """The fidelity report of a (merged) tally: fractions derived once from the counts."""
    total = t.images
    layers = {
        n: {
            **({"spike_agreement": a[0] / a[1]} if a[1] else {}),
            "float_rate": a[2] / a[4],
            "quantized_rate": a[3] / a[4],
            **t.stats.get(n, {}),
        }
        for n, a in t.agree.items()
    }
    return {
        "n_images": total,
        "float_accuracy": t.correct["model"] / total,
        "float_graph_accuracy": t.correct["float_graph"] / total,
        "quantized_accuracy": t.correct["quantized"] / total,
        "float_graph_exact": t.logit_mismatches == 0 and t.spike_mismatches == 0,
        "float_graph_logit_mismatches": t.logit_mismatches,
        "float_graph_spike_mismatches": t.spike_mismatches,
        "lifs_checked_against_model": t.lifs_checked,
        "layers": layers,
    }


def measure_fidelity(conv: Conversion, model: nn.Module, *data: Any, **options: Any) -> dict:
    """Accuracies (fractions) of the model, the traced float graph and the quantised graph,
    exactness of the float graph against the model (logits and every LIF's spikes), and per
    neuron: spike agreement float graph vs quantised graph, firing rates, max |u|, |v|.
    ``data``: images, labels; ``options``: ``batch_size``, ``progress``
    (:func:`fidelity_tally`, then :func:`fidelity_summary`; tallies of shards merge exactly)."""
    return fidelity_summary(fidelity_tally(conv, model, *data, **options))
