"""Shard tasks: what a Dask worker runs for the samples ``[lo, hi)`` of a split. Each loads
the artifact (or receives the scattered model) once per worker process and returns integer
sums (a tally with an exact ``add``)."""

from __future__ import annotations

import pickle
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
    return tally(sim, x, y, batch_size=batch_size, windowed=windowed, keep_readout=False)


def energy_shard(
    artifact: str,
    data: str | None,
    samples: int,
    steps: int | None,
    window: int | None,
    batch_size: int,
    lo: int,
    hi: int,
) -> Any:
    """``measured.measure_sums`` of ``spikeport energy``'s inputs ``[lo, hi)`` (``data``,
    ``samples``, ``steps``: its options; the inputs are built once per worker)."""
    from spikeport.hw_models.cost.measured import measure_sums, measured_run
    from spikeport.report.energy_inputs import input_data

    key = (file_identity(artifact), data, samples, steps, window)
    graph = artifact_graph(artifact)
    inputs = cached(
        ("energy-input", *key),
        lambda: input_data(graph, data, samples, steps, artifact=artifact),
    )
    run = cached(("energy-run", *key), lambda: measured_run(graph, inputs.steps, window=window))
    return measure_sums(run, inputs.feed[lo:hi], batch_size=batch_size)


def unpickled(token: str, blob: bytes) -> Any:
    """The object the client pickled for this run (``token``), unpickled once per worker.
    Only the command's own client sends it: the same trust as Dask's own task pickles."""
    return cached(("shared", token), lambda: pickle.loads(blob))


def fidelity_shard(
    token: str, blob: bytes, data: DataRef, batch_size: int, lo: int, hi: int
) -> Any:
    """``pipeline.fidelity_tally`` of images ``[lo, hi)``; (token, blob): the pickled
    (conversion, model) sent to every worker once."""
    import torch

    from spikeport.converters.pipeline import fidelity_tally

    torch.set_num_threads(1)
    conv, model = unpickled(token, blob)
    x, y = data.read(lo, hi)
    return fidelity_tally(
        conv, model, torch.from_numpy(x), torch.from_numpy(y), batch_size=batch_size
    )
