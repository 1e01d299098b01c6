"""Small synthetic data sets in the exact on-disk formats that ``spikeport.data`` reads.

* :func:`write_cifar10` / :func:`write_cifar100`: pickled dicts with bytes keys, written the
  way the official files were (Python 2 cPickle, protocol 2: bytes as str opcodes, numpy's
  reconstructor as ``numpy.core.multiarray._reconstruct``);
* :func:`write_imagefolder`: ``DIR/<class>/<image>`` PNG and JPEG files of assorted sizes;
* :func:`write_events`: ``DIR/<class>/<sample>.npz`` with ``t, x, y, p`` (spikingjelly's
  ``events_np`` layout);
* :func:`spikingjelly_utils`: spikingjelly 2.0.0's ``datasets/utils.py`` (the independent
  reference for event integration), loaded with a stub for its unused torchvision import.
"""

from __future__ import annotations

import importlib.util
import pickle
import struct
import sys
import types
from pathlib import Path

import numpy as np

CIFAR10_NAMES = [f"c10_{i}" for i in range(10)]


class _Py2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2's cPickle wrote it: str and bytes alike as (SHORT_)BINSTRING
    (Python 2 str; read back as bytes with encoding="bytes")."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    def save_str(self, obj: str) -> None:
        self.save_bytes(obj.encode("latin1"))

    dispatch[bytes] = save_bytes
    dispatch[str] = save_str


def dump_py2(obj: object, path: Path) -> None:
    import io

    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    raw = buf.getvalue().replace(
        b"cnumpy._core.multiarray\n_reconstruct\n", b"cnumpy.core.multiarray\n_reconstruct\n"
    )
    assert b"numpy.core.multiarray" in raw or b"ndarray" not in raw
    path.write_bytes(raw)


def cifar_images(n: int, seed: int) -> np.ndarray:
    """``n`` random uint8 images, HWC ``[n, 32, 32, 3]``."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def cifar_rows(images: np.ndarray) -> np.ndarray:
    """HWC images -> the official row layout: 1,024 red, 1,024 green, 1,024 blue values."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # [n, C, H, W] row-major


def write_cifar10(root: Path, per_batch: int = 8) -> dict:
    """A fake ``cifar-10-batches-py`` (``per_batch`` images in each of the six batch files,
    as the official 10,000); returns {"train"/"test": (images HWC, labels)}."""
    root.mkdir(parents=True, exist_ok=True)
    dump_py2(
        {
            b"num_cases_per_batch": per_batch,
            b"label_names": [n.encode() for n in CIFAR10_NAMES],
            b"num_vis": 3072,
        },
        root / "batches.meta",
    )
    out = {}
    files = [(f"data_batch_{i}", per_batch, i) for i in range(1, 7)]
    files[-1] = ("test_batch", per_batch, 9)
    train_imgs, train_lab = [], []
    for name, n, seed in files:
        imgs = cifar_images(n, seed)
        labels = [int(v) for v in np.random.default_rng(seed + 100).integers(0, 10, n)]
        dump_py2(
            {
                b"batch_label": f"{name} of 5".encode(),
                b"labels": labels,
                b"data": cifar_rows(imgs),
                b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
            },
            root / name,
        )
        if name == "test_batch":
            out["test"] = (imgs, np.asarray(labels))
        else:
            train_imgs.append(imgs)
            train_lab += labels
    out["train"] = (np.concatenate(train_imgs), np.asarray(train_lab))
    return out


def write_cifar100(root: Path, n_train: int = 12, n_test: int = 9) -> dict:
    """A fake ``cifar-100-python`` (train, test, meta; fine and coarse labels)."""
    root.mkdir(parents=True, exist_ok=True)
    dump_py2(
        {
            b"fine_label_names": [f"fine_{i:02d}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse_{i:02d}".encode() for i in range(20)],
        },
        root / "meta",
    )
    out = {}
    for name, n, seed in (("train", n_train, 3), ("test", n_test, 4)):
        imgs = cifar_images(n, seed)
        fine = [int(v) for v in np.random.default_rng(seed).integers(0, 100, n)]
        dump_py2(
            {
                b"filenames": [f"f{i}.png".encode() for i in range(n)],
                b"batch_label": name.encode(),
                b"fine_labels": fine,
                b"coarse_labels": [f // 5 for f in fine],
                b"data": cifar_rows(imgs),
            },
            root / name,
        )
        out[name] = (imgs, np.asarray(fine))
    return out


IMAGE_SIZES = [(50, 40), (40, 30), (33, 47), (64, 64)]  # (width, height)


def write_imagefolder(root: Path, classes=("n02", "n01", "b_cls"), per_class: int = 2) -> None:
    """``root/<class>/<image>``: per class PNGs and a JPEG, sizes from IMAGE_SIZES."""
    from PIL import Image

    rng = np.random.default_rng(0)
    k = 0
    for cls in classes:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            w, h = IMAGE_SIZES[k % len(IMAGE_SIZES)]
            k += 1
            pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            ext = "JPEG" if i == 1 else "png"
            Image.fromarray(pixels).save(root / cls / f"img_{i}.{ext}")
        (root / cls / "notes.txt").write_text("not an image")


def random_events(n: int, height: int, width: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "t": np.sort(rng.integers(0, 10**6, n)).astype(np.int64),
        "x": rng.integers(0, width, n).astype(np.uint16),
        "y": rng.integers(0, height, n).astype(np.uint16),
        "p": rng.integers(0, 2, n).astype(np.uint8),
    }


def write_events(root: Path, height: int, width: int, classes=("b", "a"), per_class=3) -> None:
    """``root/<class>/<sample>.npz`` event files (t, x, y, p) of 40..200 events."""
    seed = 0
    for cls in classes:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            seed += 1
            n = int(np.random.default_rng(seed).integers(40, 200))
            np.savez(root / cls / f"s{i}.npz", **random_events(n, height, width, seed))


def spikingjelly_utils() -> types.ModuleType:
    """spikingjelly.datasets.utils (2.0.0). Its module imports torchvision.transforms (not
    used by the event functions; torchvision cannot be installed here), so a stub stands in
    for torchvision while the module loads."""
    import spikingjelly

    path = Path(spikingjelly.__path__[0]) / "datasets" / "utils.py"
    stub = types.ModuleType("torchvision")
    stub.transforms = types.ModuleType("torchvision.transforms")
    saved = sys.modules.get("torchvision")
    sys.modules["torchvision"] = stub
    try:
        spec = importlib.util.spec_from_file_location("spikingjelly_dataset_utils", path)
        module = importlib.util.module_from_spec(spec)
        module.__package__ = "spikingjelly.datasets"
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            sys.modules.pop("torchvision", None)
        else:
            sys.modules["torchvision"] = saved
    return module
