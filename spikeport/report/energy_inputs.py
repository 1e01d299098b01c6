"""What ``spikeport energy`` measures on: the artifact's graph, its input data, its float model.

* :func:`load_graph`: an artifact directory (``graph.json`` + ``tensors.h5`` from ``spikeport
  convert``) or a lava-dl netx ``.net`` file.
* :func:`input_data`: ``digits`` (the digits test split, scaled by the graph's
  ``meta['input_scale']``, rounded, presented for ``meta['T']`` steps) or ``random``
  (Bernoulli spikes, a fixed seed), as simulator feeds ``[B, steps, *shape]`` plus the float
  images the analytical mode runs the PyTorch model on.
* :func:`float_model`: the checkpoint named by ``--checkpoint`` or by the artifact's
  ``report.json`` ``source``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spikeport.errors import SpikeportError

DATA_KINDS = ("digits", "random")
RANDOM_RATE = 0.2


@dataclass(frozen=True)
class InputData:
    """Simulator feed ``spikes`` [B, T_in, *shape] (int64), run for ``steps`` steps;
    ``images``: float tensor for the PyTorch model (digits only); ``description``."""

    feed: np.ndarray
    steps: int
    images: Any
    timesteps: int
    description: str


def load_graph(path: str | Path) -> Any:
    """Read an artifact directory or a netx ``.net`` file into an IR graph."""
    p = Path(path)
    if p.is_file() and p.suffix in (".net", ".h5", ".hdf5"):
        from spikeport.converters.netx_import import load_netx

        return load_netx(p)
    if p.is_dir() and (p / "graph.json").is_file():
        import spikeport.hw_models.sim.lowered_attention  # noqa: F401  (simulator executors)
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


def input_data(graph: Any, kind: str, samples: int, steps: int | None, seed: int = 0) -> InputData:
    """Inputs for the measured run; see the module docstring."""
    if kind not in DATA_KINDS:
        raise SpikeportError(f"--data {kind!r}: unknown; choose from {', '.join(DATA_KINDS)}")
    if samples < 1:
        raise SpikeportError(f"--samples must be >= 1, got {samples}")
    if len(graph.input_names) != 1:
        raise SpikeportError(f"graph {graph.name}: {len(graph.input_names)} inputs, expected 1")
    shape = tuple(graph.node(graph.input_names[0]).shape)
    t_model = int(graph.meta.get("T") or steps or 16)
    if kind == "digits":
        from spikeport.models.digits import load_digits_split

        scale = graph.meta.get("input_scale")
        if scale is None:
            raise SpikeportError(
                f"graph {graph.name}: no meta 'input_scale'; --data digits needs a converted "
                "digits artifact"
            )
        x = load_digits_split().x_test[:samples]
        if tuple(x.shape[1:]) != shape:
            raise SpikeportError(
                f"--data digits: images {tuple(x.shape[1:])} do not fit input {shape} "
                f"of graph {graph.name}"
            )
        ints = np.rint(x.numpy().astype(np.float64) * float(scale)).astype(np.int64)
        feed = np.repeat(ints[:, None], t_model, axis=1)
        run = _run_steps(graph, steps, t_model)
        desc = (
            f"digits test split, first {len(x)} images x {float(scale):g} (rounded), "
            f"presented for {t_model} steps, run {run} steps"
        )
        return InputData(feed, run, x, t_model, desc)
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
