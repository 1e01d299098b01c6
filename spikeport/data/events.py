"""Event-camera data (CIFAR10-DVS, DVS128 Gesture, ...) in spikingjelly's folder layouts.

* ``dvs-frames:DIR``: spikingjelly's cached frames (``frames_number_<T>_split_by_<how>/``):
  ``DIR/<class>/<sample>.npz``, key ``frames``, ``[T, 2, H, W]`` event counts.
* ``dvs-events:DIR``: raw events, ``DIR/<class>/<sample>.npz`` with 1-D ``t, x, y, p`` (as
  spikingjelly's ``events_np/``), integrated into ``T`` frames of ``H x W`` on reading by
  :func:`integrate_by_count`.

A sample is time-major: float32 ``[T, 2, H, W]``, frame t fed at step t. Only the first
file's header is read when a folder is opened; every sample must have its shape.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikeport.data.arrays import npz_header, read_npz
from spikeport.data.dataset import Dataset
from spikeport.data.folder import scan, split_dir
from spikeport.data.preprocessing import Preprocessing
from spikeport.data.spec import DataSpec
from spikeport.errors import DataError

EVENT_KEYS = ("t", "x", "y", "p")


def integrate_by_count(
    events: dict[str, np.ndarray], frames: int, height: int, width: int
) -> np.ndarray:
    """Events -> ``[frames, 2, height, width]`` counts, split by number of events: with N
    events, frame j sums events ``[j * (N // frames), (j + 1) * (N // frames))``, the last
    frame up to N (spikingjelly's ``split_by='number'``). Channel 0 counts ``p == 0``
    events, channel 1 the others. float32 (counts are exact below 2**24)."""
    x = np.asarray(events["x"]).astype(np.int64)
    y = np.asarray(events["y"]).astype(np.int64)
    p = np.asarray(events["p"]) != 0
    n = len(x)
    step = n // frames
    bounds = [j * step for j in range(frames)] + [n]
    position = p.astype(np.int64) * (height * width) + y * width + x
    out = np.empty((frames, 2, height, width), dtype=np.float32)
    for j in range(frames):
        seg = position[bounds[j] : bounds[j + 1]]
        out[j] = np.bincount(seg, minlength=2 * height * width).reshape(2, height, width)
    return out


def read_events(path: Path, height: int, width: int) -> dict[str, np.ndarray]:
    """The ``t, x, y, p`` arrays of one events file, checked (1-D, equal lengths, integer
    coordinates inside ``height x width``)."""
    ev = read_npz(path, EVENT_KEYS)
    n = len(ev["t"])
    for k, a in ev.items():
        if a.ndim != 1 or len(a) != n:
            raise DataError(f"{path}: {k} has shape {list(a.shape)}, expected [{n}] like t")
    for k, side in (("x", width), ("y", height)):
        a = ev[k]
        if n and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= side):
            raise DataError(
                f"{path}: {k} must be integers in 0..{side - 1} (frame {height}x{width}; set "
                "size=HxW in --data)"
            )
    return ev


class _EventFolder(Dataset):
    def __init__(self, spec: DataSpec, split: str, prep: Preprocessing, shape: tuple) -> None:
        super().__init__(
            f"{spec} ({split})", len(self._files), self._classes, shape, "time-major", prep
        )

    def _labels_at(self, rows: np.ndarray) -> np.ndarray:
        return self._labels[rows]

    def _read(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.empty((len(rows), *self.sample_shape), dtype=np.float32)
        for i, row in enumerate(rows):
            x[i] = self._sample(self._files[row])
        return x, self._labels[rows]

    def _scan(self, spec: DataSpec, split: str) -> None:
        assert spec.path is not None
        self._classes, self._files, labels = scan(split_dir(spec.path, split), (".npz",))
        self._labels = np.asarray(labels, dtype=np.int64)

    def _sample(self, path: Path) -> np.ndarray:
        raise NotImplementedError


class DvsFramesDataset(_EventFolder):
    """spikingjelly frames: T, H, W come from the first file; every file must match."""

    def __init__(self, spec: DataSpec, split: str, prep: Preprocessing) -> None:
        self._scan(spec, split)
        shape, dtype = npz_header(self._files[0], "frames")
        if len(shape) != 4 or shape[1] != 2 or not np.issubdtype(dtype, np.number):
            raise DataError(
                f"{self._files[0]}: frames is {dtype} {list(shape)}, expected [T, 2, H, W]"
            )
        super().__init__(spec, split, Preprocessing(layout="time-major", frames=shape[0]), shape)

    def _sample(self, path: Path) -> np.ndarray:
        frames = read_npz(path, ("frames",))["frames"]
        if frames.shape != self.sample_shape:
            raise DataError(
                f"{path}: frames {list(frames.shape)}, expected {list(self.sample_shape)} "
                f"like {self._files[0].name}"
            )
        return frames


class DvsEventsDataset(_EventFolder):
    """Raw events integrated into ``prep.frames`` frames of ``prep.size`` on reading."""

    def __init__(self, spec: DataSpec, split: str, prep: Preprocessing) -> None:
        assert prep.frames is not None and prep.size is not None
        self._scan(spec, split)
        super().__init__(spec, split, prep, (prep.frames, 2, *prep.size))

    def _sample(self, path: Path) -> np.ndarray:
        h, w = self.sample_shape[2:]
        return integrate_by_count(read_events(path, h, w), self.sample_shape[0], h, w)
