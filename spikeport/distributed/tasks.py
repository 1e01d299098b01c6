"""Shard tasks: what a Dask worker runs for the samples ``[lo, hi)`` of a split. Each loads
the artifact (or receives the scattered model) once per worker process and returns integer
sums (a tally with an exact ``add``)."""

from __future__ import annotations

from typing import Any

from spikeport.distributed.cache import cached, file_identity
from spikeport.distributed.data import DataRef


def artifact_graph(artifact: str) -> Any:
    """The artifact's graph, retimed (as the commands run it), loaded once per process."""

    def load() -> Any:
        from spikeport.errors import SpikeportError
        from spikeport.report.energy_inputs import load_graph, retime

        graph = load_graph(artifact)
        try:
            return retime(graph)[0]
        except SpikeportError:  # as `spikeport energy`: measure the graph as stored
            return graph

    return cached(("graph", file_identity(artifact)), load)


def simulate_shard(
    artifact: str,
    data: DataRef,
    probes: tuple[str, ...],
    batch_size: int,
    windowed: bool,
    lo: int,
    hi: int,
) -> Any:
    """``classification.tally`` of samples ``[lo, hi)`` (the simulator built once)."""
    from spikeport.hw_models.sim.classification import classifier, tally

    sim = cached(
        ("classifier", file_identity(artifact), probes),
        lambda: classifier(artifact_graph(artifact), probes),
    )
    x, y = data.read(lo, hi)
    return tally(sim, x, y, batch_size=batch_size, windowed=windowed)


def energy_shard(
    artifact: str,
    kind: str,
    samples: int,
    steps: int | None,
    window: int | None,
    batch_size: int,
    lo: int,
    hi: int,
) -> Any:
    """``measured.measure_sums`` of the energy command's inputs ``[lo, hi)``."""
    from spikeport.hw_models.cost.measured import measure_sums, measured_run

    key = (file_identity(artifact), kind, samples, steps, window)
    graph = artifact_graph(artifact)
    feed, run_steps = cached(("energy-input", *key), lambda: _feed(graph, kind, samples, steps))
    run = cached(("energy-run", *key), lambda: measured_run(graph, run_steps, window=window))
    return measure_sums(run, feed[lo:hi], batch_size=batch_size)


def _feed(graph: Any, kind: str, samples: int, steps: int | None) -> tuple[Any, int]:
    from spikeport.report.energy_inputs import input_data

    data = input_data(graph, kind, samples, steps)
    return data.feed, data.steps


def fidelity_shard(bundle: tuple[Any, Any], data: DataRef, batch_size: int, lo: int, hi: int):
    """``pipeline.fidelity_tally`` of images ``[lo, hi)``; ``bundle`` = (conversion, model),
    scattered to every worker once."""
    import torch

    from spikeport.converters.pipeline import fidelity_tally

    torch.set_num_threads(1)
    conv, model = bundle
    x, y = data.read(lo, hi)
    return fidelity_tally(
        conv, model, torch.from_numpy(x), torch.from_numpy(y), batch_size=batch_size
    )
