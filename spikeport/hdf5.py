"""Opening HDF5 input files (IR tensors.h5, netx ``.net``, NIR ``.nir``) safely, and output
files with one-line errors (:func:`create`).

:func:`open_checked` opens a file read-only and refuses, before any data is read:

* soft and external links (an external link makes a dataset read from another file, a soft
  link makes one key alias another), virtual datasets and datasets whose raw data lives in
  external files: every value must come from this file's own storage;
* datasets whose declared sizes add up to more than the memory budget
  (:mod:`spikeport.budget`): a small file can declare a huge, sparsely stored dataset;
* object names that are not UTF-8, and structures h5py cannot walk (damaged files);
* variable-length data (strings) that the HDF5 library cannot read within
  :data:`VLEN_SECONDS`: a damaged global heap makes HDF5 itself loop forever (found by
  fuzzing a ``.nir``), which no Python code can interrupt; so those datasets are first read
  in a forked child process (memory limited to the budget) that is killed at the deadline.

:func:`read` reads one dataset as a numpy array, numeric dtypes only (:func:`value`: any
dtype), with h5py's errors on damaged storage turned into one line naming the file and key.
"""

from __future__ import annotations

import os
import resource
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from spikeport import budget
from spikeport.errors import SpikeportError, first_line

NUMERIC_KINDS = "biuf"
"""numpy dtype kinds accepted as numbers: bool, signed, unsigned, float."""
_H5_ERRORS = (OSError, RuntimeError, ValueError, KeyError, TypeError, IndexError)
"""What h5py raises on damaged files (checked by the fuzz tests)."""


VLEN_SECONDS = 10.0
"""Time the forked probe may take to read a file's variable-length datasets."""


class HDF5Error(SpikeportError):
    """An HDF5 input that is unreadable, damaged, or refers outside itself."""


def open_checked(path: str | Path, what: str = "an HDF5 file") -> h5py.File:
    """``h5py.File(path, "r")`` after the checks in the module docstring; the caller closes it."""
    p = Path(path)
    try:
        f = h5py.File(p, "r")
    except _H5_ERRORS as exc:
        raise HDF5Error(f"{p}: not an HDF5 file ({what} expected; {first_line(exc)})") from None
    try:
        size, variable = check_structure(f, p)
        budget.require(f"{p} ({what}: datasets as declared)", size)
        probe_variable_length(p, variable)
    except BaseException:
        f.close()
        raise
    return f


def create(path: Path) -> h5py.File:
    """``h5py.File(path, "w")``; an OSError (no such directory, no permission) as one line
    naming the file. The caller closes it."""
    try:
        return h5py.File(path, "w")
    except OSError as exc:
        raise HDF5Error(f"{path}: cannot write ({exc.strerror or exc})") from None


def check_structure(f: h5py.File, path: Path) -> tuple[int, list[bytes]]:
    """Walk every link and object of ``f`` (names as bytes: h5py's high-level visitors fail
    on names that are not UTF-8); refuse what the module docstring lists, and names that
    are not UTF-8. Returns the datasets' declared size in bytes (exact) and the names of
    the variable-length datasets."""
    total = 0
    variable: list[bytes] = []

    def link(name: bytes, info: Any) -> str | None:
        text = name.decode("utf-8")  # UnicodeDecodeError: reported as a damaged name
        if info.type != h5py.h5l.TYPE_HARD:
            kind = _LINK_KINDS.get(info.type, "user-defined link")
            return f"{text!r} is a {kind} (only plain datasets are accepted)"
        return None

    def obj(name: bytes, info: Any) -> str | None:
        nonlocal total
        if info.type != h5py.h5o.TYPE_DATASET:
            return None
        ds = h5py.h5d.open(f.id, name)
        plist = ds.get_create_plist()
        if plist.get_layout() == h5py.h5d.VIRTUAL or plist.get_external_count() > 0:
            return f"dataset {name.decode()!r} takes its data from another file"
        space, dtype = ds.get_space(), ds.get_type()
        if space.get_simple_extent_type() == h5py.h5s.SIMPLE:
            total += budget.nbytes(space.shape, dtype.get_size())
        kind = dtype.get_class()
        if kind == h5py.h5t.VLEN or (kind == h5py.h5t.STRING and dtype.is_variable_str()):
            variable.append(name)
        return None

    for visit, check in ((f.id.links.visit, link), (_visit_objects(f), obj)):
        problem = _walk(visit, check)
        if problem:
            raise HDF5Error(f"{path}: {problem}")
    return total, variable


def probe_variable_length(path: Path, names: list[bytes]) -> None:
    """Read datasets ``names`` of ``path`` in a forked child, killed after VLEN_SECONDS;
    HDF5Error when it does not finish (read errors are left to the caller's own reads)."""
    if not names or not hasattr(os, "fork"):
        return
    limit = budget.budget_bytes()
    pid = os.fork()
    if pid == 0:  # the child: read, then leave without running any Python cleanup
        code = 1
        try:
            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            soft = _vm_size() + limit
            if hard != resource.RLIM_INFINITY:
                soft = min(soft, hard)
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
            with h5py.File(path, "r") as g:
                for name in names:
                    g[name.decode()][()]
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + VLEN_SECONDS
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise HDF5Error(
        f"{path}: reading its variable-length data did not finish in {VLEN_SECONDS:.0f} s "
        "(a damaged heap; the HDF5 library loops on it)"
    )


def _vm_size() -> int:
    """This process's virtual memory size in bytes (Linux), else 0."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


_LINK_KINDS = {h5py.h5l.TYPE_SOFT: "SoftLink", h5py.h5l.TYPE_EXTERNAL: "ExternalLink"}


def _visit_objects(f: h5py.File) -> Callable[..., Any]:
    return lambda func, info: h5py.h5o.visit(f.id, func, info=info)


def _walk(visit: Callable[..., Any], check: Callable[[bytes, Any], str | None]) -> str | None:
    """``visit(check, info=True)``; the first problem found, or None. h5py's visit callbacks
    must not raise (h5py turns that into a SystemError): exceptions of damaged objects are
    caught inside the callback and returned as problems too."""

    def guarded(name: bytes, info: Any) -> str | None:
        try:
            return check(name, info)
        except (*_H5_ERRORS, UnicodeDecodeError) as exc:
            return f"damaged HDF5 object {name!r} ({first_line(exc)})"

    try:
        return visit(guarded, info=True)
    except _H5_ERRORS as exc:
        return f"damaged HDF5 structure ({first_line(exc)})"


def check_numeric(ds: h5py.Dataset, where: str) -> None:
    """HDF5Error unless the dataset holds numbers (bool, int, uint, float)."""
    if ds.dtype.kind not in NUMERIC_KINDS:
        raise HDF5Error(f"{where}: dtype {ds.dtype} is not numeric")


def read(ds: h5py.Dataset, where: str) -> np.ndarray:
    """The dataset's values (numeric dtypes only); ``where`` names it in errors."""
    check_numeric(ds, where)
    return np.asarray(value(ds, where))


def value(ds: h5py.Dataset, where: str) -> Any:
    """``ds[()]`` of any dtype (strings included), its declared size checked first and
    h5py's errors on damaged storage as one line naming ``where``."""
    if ds.shape is None:
        raise HDF5Error(f"{where}: empty dataspace (no values)")
    budget.require(where, budget.nbytes(ds.shape, ds.dtype.itemsize))
    try:
        return ds[()]
    except _H5_ERRORS as exc:
        raise HDF5Error(f"{where}: unreadable data ({first_line(exc)})") from None
