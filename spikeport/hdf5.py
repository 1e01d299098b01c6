"""Opening HDF5 input files (IR tensors.h5, netx ``.net``, NIR ``.nir``) safely.

:func:`open_checked` opens a file read-only and refuses, before any data is read:

* soft and external links (an external link makes a dataset read from another file, a soft
  link makes one key alias another), virtual datasets and datasets whose raw data lives in
  external files: every value must come from this file's own storage;
* datasets whose declared sizes add up to more than the memory budget
  (:mod:`spikeport.budget`): a small file can declare a huge, sparsely stored dataset.

:func:`read` reads one dataset as a numpy array, numeric dtypes only, with h5py's errors
on damaged storage turned into one line naming the file and key.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from spikeport import budget
from spikeport.errors import SpikeportError, first_line

NUMERIC_KINDS = "biuf"
"""numpy dtype kinds accepted as numbers: bool, signed, unsigned, float."""
_H5_ERRORS = (OSError, RuntimeError, ValueError, KeyError, TypeError, IndexError)
"""What h5py raises on damaged files (checked by the fuzz tests)."""


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
        check_self_contained(f, p)
        budget.require(f"{p} ({what}: datasets as declared)", declared_bytes(f, p))
    except BaseException:
        f.close()
        raise
    return f


def check_self_contained(f: h5py.File, path: Path) -> None:
    """Refuse soft/external links, virtual datasets and external raw storage anywhere."""

    # h5py's visit callbacks must not raise: they return the problem, which stops the visit
    def link(name: str, lnk: object) -> str | None:
        if isinstance(lnk, h5py.HardLink):
            return None
        return f"{name!r} is a {type(lnk).__name__} (only plain datasets are accepted)"

    def obj(name: str, o: object) -> str | None:
        if isinstance(o, h5py.Dataset) and (o.is_virtual or o.external):
            return f"dataset {name!r} takes its data from another file"
        return None

    try:
        problem = f.visititems_links(link) or f.visititems(obj)
    except _H5_ERRORS as exc:
        raise HDF5Error(f"{path}: damaged HDF5 structure ({first_line(exc)})") from None
    if problem:
        raise HDF5Error(f"{path}: {problem}")


def declared_bytes(f: h5py.File, path: Path) -> int:
    """Sum of every dataset's declared size (shape x item size), exact."""
    total = 0

    def obj(_: str, o: object) -> None:
        nonlocal total
        if isinstance(o, h5py.Dataset) and o.shape is not None:
            total += budget.nbytes(o.shape, o.dtype.itemsize)

    try:
        f.visititems(obj)
    except _H5_ERRORS as exc:
        raise HDF5Error(f"{path}: damaged HDF5 structure ({first_line(exc)})") from None
    return total


def check_numeric(ds: h5py.Dataset, where: str) -> None:
    """HDF5Error unless the dataset holds numbers (bool, int, uint, float)."""
    if ds.dtype.kind not in NUMERIC_KINDS:
        raise HDF5Error(f"{where}: dtype {ds.dtype} is not numeric")


def read(ds: h5py.Dataset, where: str) -> np.ndarray:
    """The dataset's values (numeric dtypes only); ``where`` names it in errors."""
    check_numeric(ds, where)
    if ds.shape is None:
        raise HDF5Error(f"{where}: empty dataspace (no values)")
    budget.require(where, budget.nbytes(ds.shape, ds.dtype.itemsize))
    try:
        return np.asarray(ds[()])
    except _H5_ERRORS as exc:
        raise HDF5Error(f"{where}: unreadable data ({first_line(exc)})") from None
