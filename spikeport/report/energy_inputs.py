"""What ``spikeport energy`` measures on: the artifact's graph, its input data, its float model.

* :func:`load_graph`: an artifact directory (``graph.json`` + ``tensors.h5`` from ``spikeport
  convert``) or a lava-dl netx ``.net`` file.
* :func:`input_data`: a ``--data SPEC`` test split (``spikeport.data``; default: the
  artifact's ``data.json``, else digits for a converted graph), scaled by the graph's
  ``meta['input_scale']`` and rounded (``sim.classification.direct_input``: images presented
  for ``meta['T']`` steps, event frames one per step), or ``random`` (Bernoulli spikes, a
  fixed seed; the default for a netx file), as simulator feeds ``[B, steps, *shape]`` plus
  the float samples the analytical mode runs the PyTorch model on.
* :func:`float_model`: the checkpoint named by ``--checkpoint`` or by the artifact's
  ``report.json`` ``source``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spikeport.errors import SpikeportError

RANDOM_RATE = 0.2


@dataclass(frozen=True)
class InputData:
    """Simulator feed ``spikes`` [B, T_in, *shape] (int64), run for ``steps`` steps;
    ``images``: float tensor of the samples, batch first, ``layout`` "image" or
    "time-major" (None for random spikes); ``kind``: the data's spec or "random"."""

    feed: np.ndarray
    steps: int
    images: Any
    timesteps: int
    description: str
    kind: str = "random"
    layout: str = "image"


def load_graph(path: str | Path) -> Any:
    """Read an artifact directory or a netx ``.net`` file into an IR graph."""
    p = Path(path)
    if p.is_file() and p.suffix in (".net", ".h5", ".hdf5"):
        from spikeport.converters.netx_import import load_netx

        return load_netx(p)
    if p.is_dir() and (p / "graph.json").is_file():
        from spikeport import ir

        return ir.load(p)
    raise SpikeportError(
        f"{p}: not an artifact directory (graph.json + tensors.h5 from `spikeport convert`) "
        "nor a netx .net file"
    )


def retime(graph: Any) -> tuple[Any, str]:
    """The graph retimed for Lava's timing (``passes.retime``: Delays on shorter branches of
    joins, LIFReset windows) when it has timesteps and is not retimed yet; and a note."""
    try:
        from spikeport.converters.passes.retime import Retime
        from spikeport.ir.timing import META_KEY
    except ImportError:  # a checkout without the retime pass
        return graph, "graph as stored (no retime pass available)"
    from spikeport.converters.passes import PassManager

    if META_KEY in graph.meta:
        return graph, "retimed graph (T + latency steps)"
    if "T" not in graph.meta:
        return graph, "graph as stored"

    return PassManager([Retime()]).run(graph), "retimed for Lava timing (T + latency steps)"


def input_data(
    graph: Any,
    data: Any,
    samples: int,
    steps: int | None,
    seed: int = 0,
    artifact: str | Path | None = None,
) -> InputData:
    """Inputs for the measured run; ``data``: a spec, ``"random"``, or None (the artifact's
    data.json spec, else digits for a converted graph, else random). See the module
    docstring."""
    if samples < 1:
        raise SpikeportError(f"--samples must be >= 1, got {samples}")
    if len(graph.input_names) != 1:
        raise SpikeportError(f"graph {graph.name}: {len(graph.input_names)} inputs, expected 1")
    shape = tuple(graph.node(graph.input_names[0]).shape)
    t_model = int(graph.meta.get("T") or steps or 16)
    has_record = artifact is not None and (Path(artifact) / "data.json").is_file()
    if data is None and not has_record and "input_scale" not in graph.meta:
        data = "random"
    if data != "random":
        from spikeport.data import open_for_artifact
        from spikeport.hw_models.sim.classification import direct_input

        scale = graph.meta.get("input_scale")
        if scale is None:
            raise SpikeportError(
                f"graph {graph.name}: no meta 'input_scale' (not a converted artifact); "
                "use --data random"
            )
        ds = open_for_artifact(artifact, data, shape, t_model)[:samples]
        x, _ = ds.arrays()
        run = _run_steps(graph, steps, t_model)
        how = "one frame per step" if ds.layout == "time-major" else f"for {t_model} steps"
        desc = (
            f"{ds.source}, first {len(x)} samples x {float(scale):g} (rounded), presented "
            f"{how}, run {run} steps"
        )
        import torch

        images = torch.from_numpy(x)
        return InputData(direct_input(graph, x), run, images, t_model, desc, ds.spec, ds.layout)
    rng = np.random.default_rng(seed)
    feed = (rng.random((samples, t_model, *shape)) < RANDOM_RATE).astype(np.int64)
    run = _run_steps(graph, steps, t_model)
    desc = (
        f"random Bernoulli({RANDOM_RATE}) spikes, seed {seed}, {samples} samples x "
        f"{t_model} steps, run {run} steps"
    )
    amp = _injection_amplitude(graph)
    if amp > 1:
        feed *= amp
        desc += f"; each event injected as a current of {amp} (input neurons fire on it)"
    return InputData(feed, run, None, t_model, desc)


def _injection_amplitude(graph: Any) -> int:
    """For an Input wired straight into CubaLIF neurons (netx's input layer): the current
    ``max(vth) + 1`` that makes an input neuron cross its threshold (v > vth << 6) in one
    step; else 1 (spikes into synapses)."""
    src = graph.input_names[0]
    dsts = [graph.node(d) for s, d, _ in graph.edges() if s == src]
    if dsts and all(type(d).__name__ == "CubaLIF" for d in dsts):
        return int(max(int(np.max(d.vth)) for d in dsts)) + 1
    return 1


def _run_steps(graph: Any, steps: int | None, t_model: int) -> int:
    """Steps to simulate: given, or T + the retimed latency, or T + synaptic depth."""
    from spikeport.hw_models.cost.measured import synaptic_depth

    if steps:
        return steps
    timing = graph.meta.get("timing")
    if timing is not None:
        return int(timing["T"]) + int(timing["latency"])
    return t_model + synaptic_depth(graph)


def checkpoint_path(artifact: str | Path, override: str | None) -> Path | None:
    """The float model's checkpoint: ``override`` or the artifact report's ``source``
    (``converters.quant_report.source_checkpoint``: relative to the artifact)."""
    if override:
        p = Path(override)
        if not p.is_file():
            raise SpikeportError(f"--checkpoint {p}: no such file")
        return p
    from spikeport.converters.quant_report import source_checkpoint

    return source_checkpoint(artifact)
