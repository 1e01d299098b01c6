"""``npz:FILE``: one ``.npz`` with ``x`` (float, model units, ``[n, C, H, W]`` images or
``[n, T, C, H, W]`` time-major frames) and ``y`` (integer labels ``[n]``).

Opening reads ``x``'s header and the labels ``y``; ``x`` itself is loaded the first time a
sample is needed. Read with ``allow_pickle=False``, each array's declared size checked
against the memory budget (:mod:`spikeport.budget`) before it is read."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from spikeport.data.dataset import Dataset
from spikeport.data.preprocessing import Preprocessing
from spikeport.data.spec import DataSpec
from spikeport.errors import DataError, first_line

NPZ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    ValueError,
    OSError,
    EOFError,
    KeyError,
    NotImplementedError,
    RuntimeError,
)
"""What zipfile / numpy raise on a damaged .npz (found by fuzzing)."""


def npz_header(path: Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of array ``key`` in the npz ``path``, from its header only."""
    try:
        with zipfile.ZipFile(path) as zf:
            if f"{key}.npy" not in zf.namelist():
                have = sorted(n.removesuffix(".npy") for n in zf.namelist())
                raise DataError(f"{path}: no array {key!r} (has {have})")
            with zf.open(f"{key}.npy") as f:
                major, _ = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0
                if major != 1:
                    read = np.lib.format.read_array_header_2_0
                shape, _, dtype = read(f)
    except NPZ_ERRORS as exc:
        raise DataError(f"{path}: not a readable .npz ({first_line(exc)})") from None
    return tuple(shape), np.dtype(dtype)


def read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Arrays ``keys`` of the npz ``path``, their declared sizes checked first."""
    from spikeport import budget

    try:
        with zipfile.ZipFile(path) as zf:
            have = sorted(n.removesuffix(".npy") for n in zf.namelist())
    except NPZ_ERRORS as exc:
        raise DataError(f"{path}: not a readable .npz ({first_line(exc)})") from None
    missing = [k for k in keys if k not in have]
    if missing:
        raise DataError(f"{path}: no array(s) {missing} (has {have})")
    for key in keys:
        shape, dtype = npz_header(path, key)
        budget.require(f"{path}: array {key!r}", budget.nbytes(shape, dtype.itemsize))
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in keys}
    except NPZ_ERRORS as exc:
        raise DataError(f"{path}: not a readable .npz ({first_line(exc)})") from None


class NpzDataset(Dataset):
    """Samples float32 ``x[i]``; the layout is time-major when ``x`` has 5 dimensions."""

    def __init__(self, spec: DataSpec, split: str, prep: Preprocessing) -> None:
        path = spec.path
        assert path is not None
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        (xs, xd), (ys, yd) = npz_header(path, "x"), npz_header(path, "y")
        if len(xs) not in (4, 5) or not np.issubdtype(xd, np.number):
            raise DataError(
                f"{path}: x is {xd} {list(xs)}, expected numbers [n, C, H, W] or [n, T, C, H, W]"
            )
        if ys != (xs[0],) or not np.issubdtype(yd, np.integer):
            raise DataError(f"{path}: y is {yd} {list(ys)}, expected integers [{xs[0]}]")
        self._path = path
        self._x: np.ndarray | None = None
        layout = "time-major" if len(xs) == 5 else "image"
        self._y = y = read_npz(path, ("y",))["y"].astype(np.int64)
        n_classes = int(y.max()) + 1 if len(y) else 0
        if len(y) and y.min() < 0:
            raise DataError(f"{path}: y has negative label {int(y.min())}")
        prep = Preprocessing(layout=layout)
        classes = [str(i) for i in range(n_classes)]
        super().__init__(f"{spec}", xs[0], classes, xs[1:], layout, prep)

    def _labels_at(self, rows: np.ndarray) -> np.ndarray:
        return self._y[rows]

    def _read(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._x is None:
            self._x = read_npz(self._path, ("x",))["x"]
        return self._x[rows].astype(np.float32), self._y[rows]
