"""The memory budget: sizes an input declares are checked against it BEFORE allocation.

A file can declare far more than it holds (an HDF5 dataset of 149 GiB stored as a few
compressed chunks, a ``meta.T`` of 10^7, ``--steps 10000000``): every reader and runner asks
:func:`require` first, so such input is a one-line :class:`BudgetError` naming the input and
the size, never an out-of-memory kill.

The budget is ``SPIKEPORT_MEMORY_BUDGET`` (bytes, or with a K/M/G/T suffix, powers of 1024:
``512M``, ``8G``) when set, else half of the machine's physical memory. Timestep counts are
also bounded outright (:data:`MAX_T` for a model's T, :data:`MAX_STEPS` for a run), since a
huge T costs time even where it costs little memory.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Iterable, Sequence

from spikeport.errors import SpikeportError

ENV = "SPIKEPORT_MEMORY_BUDGET"
DEFAULT_FRACTION = 0.5
"""Share of physical memory used as the budget when ``SPIKEPORT_MEMORY_BUDGET`` is unset."""
FALLBACK_BYTES = 4 << 30
"""Budget when the machine's memory cannot be read (4 GiB)."""
MAX_T = 4096
"""Largest model T (timesteps per sample) accepted anywhere: tracing costs ~T x layers."""
MAX_STEPS = 1 << 20
"""Largest number of simulated steps of one run (``--steps``; T + latency)."""
RUN_COPIES = 3
"""A run holds about this many [steps, batch, *shape] arrays of its largest node at once
(the node's input and output sequences and one working copy)."""
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class BudgetError(SpikeportError):
    """An input declares more memory (or timesteps) than the budget allows."""


def parse_size(text: str) -> int:
    """Bytes in ``text``: an integer with an optional K/M/G/T (KiB...) suffix, e.g. ``8G``."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
    if m is None:
        raise BudgetError(f"{ENV}={text!r}: expected bytes, e.g. 8G, 512M or 1000000")
    value = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if not math.isfinite(value) or value < 1:
        raise BudgetError(f"{ENV}={text!r}: must be at least 1 byte")
    return int(value)


def physical_memory() -> int | None:
    """Bytes of physical memory, or None where the OS does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def budget_bytes() -> int:
    """The memory budget in bytes (see the module docstring)."""
    text = os.environ.get(ENV)
    if text:
        return parse_size(text)
    total = physical_memory()
    return int(total * DEFAULT_FRACTION) if total else FALLBACK_BYTES


def human(nbytes: float) -> str:
    """``1.5 GiB``-style size."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def nbytes(shape: tuple[int, ...] | list[int], itemsize: int) -> int:
    """Bytes of an array of ``shape`` (exact Python integers: no overflow)."""
    return math.prod(int(d) for d in shape) * int(itemsize)


def require(what: str, size: int) -> None:
    """Raise BudgetError unless ``size`` bytes fit the budget; ``what`` names the input."""
    limit = budget_bytes()
    if size > limit:
        raise BudgetError(
            f"{what}: needs {human(size)}, over the memory budget of {human(limit)} "
            f"(set {ENV} to change it)"
        )


def require_T(what: str, T: object) -> int:
    """``T`` as an int in 1..MAX_T, else BudgetError (bools and non-integers are refused)."""
    return _bounded_int(what, T, MAX_T, "timesteps")


def require_steps(what: str, steps: object) -> int:
    """A run's step count as an int in 1..MAX_STEPS, else BudgetError."""
    return _bounded_int(what, steps, MAX_STEPS, "steps")


def _bounded_int(what: str, value: object, limit: int, unit: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BudgetError(f"{what} = {value!r}: must be a whole number of {unit}")
    if not 1 <= value <= limit:
        raise BudgetError(f"{what} = {int(value)}: must be 1..{limit} {unit}")
    return int(value)


def require_run(
    what: str,
    shapes: Iterable[Sequence[int]],
    steps: int,
    batch: int,
    itemsize: int,
    *,
    holds_all: bool = False,
) -> None:
    """Check a run of ``steps`` x ``batch`` over nodes of per-sample ``shapes`` (elements of
    ``itemsize`` bytes): RUN_COPIES arrays [steps, batch, *shape] of the largest node, or
    with ``holds_all`` (a run keeping every node's value) one array of every node."""
    require_steps(f"{what}: steps", steps)
    sizes = [math.prod(int(d) for d in s) for s in shapes]
    elements = sum(sizes) if holds_all else RUN_COPIES * max(sizes, default=0)
    size = int(steps) * int(batch) * elements * int(itemsize)
    require(f"{what} ({steps} steps x batch {batch})", size)
