"""Per-process cache of what a worker loads once and reuses for every shard it runs
(artifact graphs, simulators, datasets), keyed by the files' identity so that a rewritten
artifact is loaded afresh."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

KEEP = 4
"""Entries kept per process (least recently used dropped first): a long-lived worker of a
shared cluster serving several artifacts does not accumulate them all."""

V = TypeVar("V")
_ENTRIES: OrderedDict[Hashable, Any] = OrderedDict()


def file_identity(path: str | os.PathLike) -> tuple:
    """(absolute path, and (name, size, mtime in ns) of every file directly in it, or of the
    file itself): changes whenever the artifact is rewritten."""
    p = Path(path).resolve()
    files = sorted(q for q in p.iterdir() if q.is_file()) if p.is_dir() else [p]
    stats = tuple((q.name, q.stat().st_size, q.stat().st_mtime_ns) for q in files if q.exists())
    return (str(p), stats)


def cached(key: Hashable, load: Callable[[], V]) -> V:
    """``load()`` once per process and ``key``; later calls return the same object."""
    if key in _ENTRIES:
        _ENTRIES.move_to_end(key)
        return _ENTRIES[key]
    value = load()
    _ENTRIES[key] = value
    while len(_ENTRIES) > KEEP:
        _ENTRIES.popitem(last=False)
    return value


def clear() -> None:
    """Forget every entry (tests)."""
    _ENTRIES.clear()
