"""Client side of distributed evaluation: shard the split, run the shard tasks on the
cluster, merge the tallies and derive the result with the single-process code."""

from __future__ import annotations

import pickle
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from spikeport.distributed import tasks
from spikeport.distributed.cluster import connect, worker_threads
from spikeport.distributed.data import DataRef
from spikeport.distributed.shards import default_ranges, map_shards, merge, shard_ranges


@dataclass(frozen=True)
class Cluster:
    """Where to run: a local cluster of ``workers`` processes or an existing ``scheduler``;
    ``shard_size`` samples per shard (None: :func:`shards.default_ranges`)."""

    workers: int | None = None
    scheduler: str | None = None
    shard_size: int | None = None
    progress: bool = True
    client: Any = None  # an open distributed.Client to use instead (left open)

    @classmethod
    def from_args(cls, args: Any, progress: bool = True) -> Cluster:
        return cls(args.workers, args.scheduler, args.shard_size, progress)


def _run(
    cluster: Cluster,
    task: Any,
    total: int,
    align: int,
    *args: Any,
    desc: str,
    shared: Any = None,
) -> tuple[Any, float]:
    """(merged tally, wall seconds) of ``task(*args, lo, hi)`` over ``range(total)`` cut
    into shards of whole multiples of ``align`` samples (unless ``--shard-size``); a
    ``shared`` object is pickled here, sent to every worker once and passed to the task as
    (run token, pickle), which :func:`tasks.unpickled` turns back into one object per
    worker (Dask's own serialisation of torch modules loses their hook dictionaries)."""
    with connect(cluster.workers, cluster.scheduler, client=cluster.client) as client:
        if cluster.shard_size is not None:
            ranges = shard_ranges(total, cluster.shard_size)
        else:
            ranges = default_ranges(total, worker_threads(client), align)
        t0 = time.perf_counter()
        if shared is not None:
            blob = client.scatter([pickle.dumps(shared)], broadcast=True, hash=False)[0]
            args = (uuid.uuid4().hex, blob, *args)
        tallies = map_shards(client, task, ranges, *args, desc=desc, progress=cluster.progress)
        seconds = time.perf_counter() - t0
    return merge(tallies), seconds


def classify(
    cluster: Cluster,
    artifact: str,
    data: DataRef,
    *,
    batch_size: int = 60,
    probes: Sequence[str] = (),
    windowed: bool = True,
) -> Any:
    """``classification.classify`` of the split ``data`` on ``cluster``; ``seconds`` is the
    wall time of the distributed evaluation (the shards' simulator seconds are not added)."""
    from spikeport.hw_models.sim.classification import classifier, summarize

    sim = classifier(tasks.artifact_graph(artifact), probes)  # checks before any work
    total = len(data)
    probes = tuple(probes)
    merged, seconds = _run(
        cluster,
        tasks.simulate_shard,
        total,
        1,  # integer results do not depend on how samples are batched
        artifact,
        data,
        probes,
        batch_size,
        windowed,
        desc="simulate",
    )
    merged.seconds = seconds
    return summarize(merged, sim.timing, windowed)


def measure(
    cluster: Cluster,
    artifact: str,
    graph: Any,
    data: str | None,
    samples: int,
    steps: int | None,
    inputs: Any,
    *,
    window: int | None,
    graded_events: str = "ac",
    batch_size: int = 64,
) -> Any:
    """``measured.run_measured``'s count of ``spikeport energy``'s inputs on ``cluster``:
    ``inputs`` is the command's ``input_data(graph, data, samples, steps, ...)``, which every
    worker rebuilds for itself; ``graph`` the artifact's graph as the command runs it."""
    from spikeport.hw_models.cost.measured import measured_count, measured_run

    run = measured_run(graph, inputs.steps, window=window)
    merged, _ = _run(
        cluster,
        tasks.energy_shard,
        len(inputs.feed),
        1,
        artifact,
        data,
        samples,
        steps,
        window,
        batch_size,
        desc="energy",
    )
    return measured_count(run, merged, graded_events)


def fidelity(
    cluster: Cluster, conv: Any, model: Any, data: DataRef, *, batch_size: int = 60
) -> dict[str, Any]:
    """``pipeline.measure_fidelity`` of the split ``data`` on ``cluster``: the conversion and
    the model are sent to every worker once."""
    from spikeport.converters.pipeline import fidelity_summary

    merged, _ = _run(
        cluster,
        tasks.fidelity_shard,
        len(data),
        batch_size,  # the float model's batches as in one process (rounding may differ)
        data,
        batch_size,
        desc="evaluate",
        shared=(conv, model),
    )
    return fidelity_summary(merged)
