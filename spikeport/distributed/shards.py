"""Shards: consecutive index ranges of a dataset, evaluated as Dask tasks, merged exactly.

A shard task returns a tally (integer sums with an ``add`` method, e.g.
``classification.Tally``); :func:`map_shards` runs one task per range, shows a progress bar
over shards and returns the tallies in shard order; :func:`merge` adds them up. Integer
addition is exact and the order is fixed, so the merged tally equals a single-process run's.
"""

from __future__ import annotations

import math
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from spikeport.errors import SpikeportError

SHARDS_PER_THREAD = 4
"""Default shards per worker thread: enough to balance uneven shards and to lose little when
one shard is rerun after a worker died, few enough that per-task overhead stays small."""


class Tally(Protocol):
    def add(self, other: Any) -> Any: ...


T = TypeVar("T", bound=Tally)


def shard_ranges(total: int, size: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges of at most ``size`` samples covering ``range(total)`` in order."""
    if size < 1:
        raise SpikeportError(f"--shard-size must be >= 1, got {size}")
    return [(lo, min(lo + size, total)) for lo in range(0, total, size)]


def default_ranges(total: int, threads: int, align: int = 1) -> list[tuple[int, int]]:
    """About :data:`SHARDS_PER_THREAD` shards per worker thread, as equal as whole units of
    ``align`` samples allow. ``align`` = the batch size keeps every batch a shard runs equal
    to one a single process runs (needed where a float model runs: its rounding may depend
    on the batch size); the simulator's integers do not depend on it (``align`` = 1)."""
    units = math.ceil(total / align)
    count = max(1, min(units, SHARDS_PER_THREAD * max(1, threads)))
    cuts = [round(i * units / count) * align for i in range(count + 1)]
    return [(lo, min(hi, total)) for lo, hi in zip(cuts, cuts[1:], strict=False) if lo < total]


def map_shards(
    client: Any,
    task: Callable[..., T],
    ranges: Sequence[tuple[int, int]],
    *args: Any,
    desc: str = "shards",
    progress: bool = True,
    on_done: Callable[[int], Any] | None = None,
    **kwargs: Any,
) -> list[T]:
    """Run ``task(*args, lo, hi, **kwargs)`` for every range on ``client``'s cluster and return
    the results in range order. ``on_done(i)`` is called after each finished shard (tests
    use it to kill a worker mid-run). A task that raises cancels the rest and re-raises."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    run = uuid.uuid4().hex[:12]  # keys unique per call: a shared scheduler never reuses them
    futures = [
        client.submit(task, *args, lo, hi, key=f"{desc}-{run}-{i}", **kwargs)
        for i, (lo, hi) in enumerate(ranges)
    ]
    index = {f.key: i for i, f in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    bar = tqdm(total=len(futures), unit="shard", desc=desc, disable=not progress, file=sys.stderr)
    try:
        for fut in as_completed(futures):
            i = index[fut.key]
            results[i] = fut.result()
            bar.update(1)
            if on_done is not None:
                on_done(i)
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        bar.close()
    return results


def merge(tallies: Sequence[T]) -> T:
    """The exact sum of the shards' tallies, in shard order, added pairwise as a tree
    (concatenated per-sample arrays are copied log2(shards) times, not once per shard)."""
    if not tallies:
        raise SpikeportError("no shards to merge (empty dataset)")
    level = list(tallies)
    while len(level) > 1:
        pairs = [level[i].add(level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = pairs + level[len(level) - len(level) % 2 :]
    return level[0]
