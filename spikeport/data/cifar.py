"""CIFAR-10 / CIFAR-100, the official "python version" directories.

* ``cifar-10-batches-py/``: ``data_batch_1`` .. ``data_batch_5`` (train), ``test_batch``,
  ``batches.meta`` (``label_names``, ``num_cases_per_batch``);
* ``cifar-100-python/``: ``train``, ``test``, ``meta`` (``fine_label_names``).

Each batch is a pickled dict with bytes keys: ``b'data'`` uint8 ``[n, 3072]`` (the 1,024 red,
then green, then blue values of a 32x32 image, row-major) and ``b'labels'`` (CIFAR-10) or
``b'fine_labels'`` (CIFAR-100). Files are read with the restricted unpickler
(``safe_pickle``), each once, when a sample in it is first needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from spikeport.data.dataset import Dataset
from spikeport.data.preprocessing import Preprocessing, normalise, transform_image
from spikeport.data.safe_pickle import load_batch
from spikeport.data.spec import DataSpec
from spikeport.errors import DataError, first_line

SIDE = 32
LAYOUT = {  # kind -> (train files, test files, meta file, label key, class-name key)
    "cifar10": (
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        "batches.meta",
        b"labels",
        b"label_names",
    ),
    "cifar100": (("train",), ("test",), "meta", b"fine_labels", b"fine_label_names"),
}


def _field(obj: Any, key: bytes, path: Path) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        have = (
            sorted(k.decode(errors="replace") if isinstance(k, bytes) else str(k) for k in obj)
            if isinstance(obj, dict)
            else type(obj).__name__
        )
        raise DataError(f"{path}: no field {key.decode()!r} (has {have})")
    return obj[key]


def _array(obj: Any, key: bytes, path: Path) -> np.ndarray:
    """Field ``key`` as a numpy array (a damaged batch can hold anything there)."""
    value = _field(obj, key, path)
    try:
        return np.asarray(value)
    except (ValueError, TypeError, OverflowError) as exc:
        what = f"field {key.decode()!r} is not an array"
        raise DataError(f"{path}: {what} ({first_line(exc)})") from None


class CifarDataset(Dataset):
    """One split of a CIFAR directory; samples float32 ``[3, 32, 32]`` after preprocessing."""

    def __init__(self, spec: DataSpec, split: str, prep: Preprocessing) -> None:
        root = spec.path
        assert root is not None
        if not root.is_dir():
            raise DataError(f"{root}: no such directory ({spec.kind} needs the python batches)")
        train, test, meta_name, self._label_key, names_key = LAYOUT[spec.kind]
        self._files = [root / f for f in (train if split == "train" else test)]
        for f in self._files:
            if not f.is_file():
                raise DataError(f"{f}: missing {spec.kind} batch file")
        meta_path = root / meta_name
        meta = load_batch(meta_path)
        listed = _field(meta, names_key, meta_path)
        if not isinstance(listed, list | tuple):
            raise DataError(f"{meta_path}: field {names_key.decode()!r} is not a list of names")
        names = [n.decode(errors="replace") if isinstance(n, bytes) else str(n) for n in listed]
        per_file = meta.get(b"num_cases_per_batch") if spec.kind == "cifar10" else None
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if isinstance(per_file, int) and per_file > 0:
            self._counts = [per_file] * len(self._files)
        else:
            self._counts = [len(self._load(i)[1]) for i in range(len(self._files))]
        self._starts = np.cumsum([0, *self._counts])
        side = prep.crop or prep.resize or SIDE
        super().__init__(
            f"{spec} ({split})", int(self._starts[-1]), names, (3, side, side), "image", prep
        )

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i not in self._cache:
            path = self._files[i]
            obj = load_batch(path)
            data = _array(obj, b"data", path)
            labels = _array(obj, self._label_key, path)
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * SIDE * SIDE:
                raise DataError(
                    f"{path}: field 'data' is {data.dtype} {list(data.shape)}, "
                    f"expected uint8 [n, {3 * SIDE * SIDE}]"
                )
            if labels.ndim != 1 or len(labels) != len(data):
                raise DataError(
                    f"{path}: {len(labels)} labels for {len(data)} images "
                    f"(field {self._label_key.decode()!r})"
                )
            if labels.dtype.kind not in "iu":
                key = self._label_key.decode()
                raise DataError(f"{path}: field {key!r} holds {labels.dtype}, not integer labels")
            if hasattr(self, "_counts") and len(data) != self._counts[i]:
                raise DataError(
                    f"{path}: {len(data)} images, but batches.meta says {self._counts[i]}"
                )
            self._cache[i] = (data.reshape(-1, 3, SIDE, SIDE), labels.astype(np.int64))
        return self._cache[i]

    def _labels_at(self, rows: np.ndarray) -> np.ndarray:
        return self._gather(rows)[1]

    def _gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 pixels ``[n, 3, 32, 32]`` and labels at ``rows``, from their batch files."""
        file_of = np.searchsorted(self._starts, rows, side="right") - 1
        pixels = np.empty((len(rows), 3, SIDE, SIDE), dtype=np.uint8)
        labels = np.empty(len(rows), dtype=np.int64)
        for i in np.unique(file_of):
            data, y = self._load(int(i))
            sel = file_of == i
            local = rows[sel] - self._starts[i]
            pixels[sel], labels[sel] = data[local], y[local]
        bad = (labels < 0) | (labels >= self.num_classes)
        if bad.any():
            raise DataError(
                f"{self.source}: label {int(labels[bad][0])} outside 0..{self.num_classes - 1}"
            )
        return pixels, labels

    def _read(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pixels, labels = self._gather(rows)
        prep = self.preprocessing
        if prep.resize is None and prep.crop is None:
            return normalise(pixels, prep), labels
        from PIL import Image

        x = [transform_image(Image.fromarray(p.transpose(1, 2, 0)), prep) for p in pixels]
        return np.stack(x) if x else np.zeros((0, *self.sample_shape), np.float32), labels
