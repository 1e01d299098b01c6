"""The one interface every loader implements: a labelled split read lazily, in batches.

A :class:`Dataset` knows its length, classes and per-sample shape without reading the
samples; ``ds[i:j]`` and ``ds.take(indices)`` are views (nothing is read), so a split can be
sharded by index; ``ds.batches(n)`` yields numpy ``(x, y)`` batches, ``x`` float32
``[b, *sample_shape]`` in model units (preprocessing applied), ``y`` int64 ``[b]``.

Layouts: ``"image"`` (a sample is ``[C, H, W]``, presented for T steps) or ``"time-major"``
(a sample is ``[T, C, H, W]``, frame t fed at step t).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from spikeport.errors import DataError

LAYOUTS = ("image", "time-major")


class Dataset:
    """Base: subclasses set the fields in ``__init__`` and implement :meth:`_read`;
    ``spec`` is the ``--data`` value it was opened from (set by ``open_dataset``)."""

    spec: str = ""

    def __init__(
        self,
        source: str,
        size: int,
        classes: Sequence[str],
        sample_shape: tuple[int, ...],
        layout: str,
        preprocessing: Any = None,
    ) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.source = source  # e.g. "cifar10:/data/cifar-10-batches-py (test)"
        self.classes = tuple(classes)
        self.sample_shape = tuple(int(d) for d in sample_shape)
        self.layout = layout
        self.preprocessing = preprocessing
        self._index = np.arange(size, dtype=np.int64)

    # -- what subclasses provide ----------------------------------------------------------
    def _read(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Samples at ``rows`` (positions in the whole split): x float32, y int64."""
        raise NotImplementedError

    # -- the interface --------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._index)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __getitem__(self, key: slice) -> Dataset:
        if not isinstance(key, slice):
            raise TypeError("index a Dataset with a slice (ds[i:j]); use read() for samples")
        return self._view(self._index[key])

    def take(self, positions: Sequence[int] | np.ndarray) -> Dataset:
        """A view of the samples at ``positions`` (positions in this view, in that order)."""
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        if len(pos) and (pos.min() < -len(self) or pos.max() >= len(self)):
            raise DataError(f"{self.source}: index out of range for {len(self)} samples")
        return self._view(self._index[pos])

    def spaced(self, count: int | None) -> Dataset:
        """``count`` samples evenly spread over the split (all when None or >= len)."""
        if count is None or count >= len(self):
            return self
        return self.take(np.linspace(0, len(self) - 1, count).round().astype(np.int64))

    def read(self, positions: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The samples at ``positions`` of this view: (x float32, y int64)."""
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        x, y = self._read(self._index[pos])
        return np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Consecutive ``(x, y)`` batches of at most ``batch_size`` samples, in order."""
        if batch_size < 1:
            raise DataError(f"batch size must be >= 1, got {batch_size}")
        for lo in range(0, len(self), batch_size):
            yield self.read(np.arange(lo, min(lo + batch_size, len(self))))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Every sample of this view at once (small splits only)."""
        return self.read(np.arange(len(self)))

    def labels(self) -> np.ndarray:
        """Every label of this view (int64), without preprocessing any sample."""
        return np.asarray(self._labels_at(self._index), dtype=np.int64)

    def samples(self) -> Samples:
        """The inputs of this view as a lazy array: ``len()`` and ``[i:j]`` (read then)."""
        return Samples(self)

    def _labels_at(self, rows: np.ndarray) -> np.ndarray:
        """Labels at ``rows``; loaders that know them without reading samples override."""
        return self._read(rows)[1]

    def _view(self, index: np.ndarray) -> Dataset:
        view = copy.copy(self)  # shares the loader's caches; only the index differs
        view._index = index
        return view

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.source!r}, {len(self)} samples, "
            f"{self.num_classes} classes, sample {self.sample_shape}, {self.layout})"
        )


class Samples:
    """A Dataset's inputs as an array-like for code that slices arrays: ``len(s)``,
    ``s[i:j]`` -> float32 numpy (read on demand), ``s.shape``."""

    def __init__(self, ds: Dataset) -> None:
        self._ds = ds
        self.shape = (len(ds), *ds.sample_shape)

    def __len__(self) -> int:
        return len(self._ds)

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("Samples supports slices only")
        return self._ds[key].arrays()[0]


def model_layout(x: Any, layout: str) -> Any:
    """A batch (numpy array or torch tensor) as the model takes it: images
    ``[B, C, H, W]`` as they are, time-major samples ``[B, T, C, H, W]`` as ``[T, B, C, H, W]``."""
    if layout != "time-major":
        return x
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(np.moveaxis(x, 1, 0))
    return x.movedim(1, 0).contiguous()


class ArrayDataset(Dataset):
    """Samples already in memory: ``x`` ``[n, *sample_shape]`` (model units), ``y`` ``[n]``."""

    def __init__(
        self, x: Any, y: Any, source: str, classes: Sequence[str], layout: str = "image"
    ) -> None:
        from spikeport.data.preprocessing import Preprocessing

        self._x, self._y = np.asarray(x), np.asarray(y, dtype=np.int64)
        if len(self._x) != len(self._y):
            raise DataError(f"{source}: {len(self._y)} labels for {len(self._x)} samples")
        shape = self._x.shape[1:]
        super().__init__(source, len(self._y), classes, shape, layout, Preprocessing(layout))

    def _read(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._x[rows], self._y[rows]

    def _labels_at(self, rows: np.ndarray) -> np.ndarray:
        return self._y[rows]
