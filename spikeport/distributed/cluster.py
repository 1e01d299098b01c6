"""Connecting to Dask: a local cluster started (and shut down) for one command, or an
existing scheduler. ``distributed`` is imported only when connecting."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from spikeport.errors import SpikeportError

SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}
"""Environment of each local worker process: one thread for numpy's BLAS, torch (OpenMP)
and numba, so N workers on N cores do not oversubscribe them."""

CONNECT_TIMEOUT_S = 10


class ClusterError(SpikeportError):
    """The cluster named by ``--scheduler`` / ``--workers`` could not be used."""


@contextmanager
def connect(
    workers: int | None = None, scheduler: str | None = None, *, client: Any = None
) -> Iterator[Any]:
    """A ``distributed.Client``: ``client`` itself when given (left open), else one connected
    to ``scheduler`` (an existing cluster; left running), else to a local cluster of
    ``workers`` processes with one thread each (closed on exit)."""
    from distributed import Client, LocalCluster

    if client is not None:
        yield client
        return
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"--scheduler {scheduler}: cannot connect ({exc})") from exc
        try:
            yield client
        finally:
            client.close()
        return
    if workers is None or workers < 1:
        raise ClusterError(f"--workers must be >= 1, got {workers}")
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # any free port (Dask's HTTP routes; no dashboard installed)
        silence_logs=logging.ERROR,
        env=dict(SINGLE_THREAD_ENV),
    )
    try:
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def worker_threads(client: Any) -> int:
    """Threads the cluster offers now (at least 1)."""
    return max(1, sum(client.nthreads().values()))
