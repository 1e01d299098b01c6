"""``cifar10:DIR`` / ``cifar100:DIR``: the official python batches, read safely and lazily."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from data_fixtures import CIFAR10_NAMES, dump_py2, write_cifar10, write_cifar100

from spikeport.data import open_dataset
from spikeport.errors import DataError

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def _to_tensor_normalize(images_hwc: np.ndarray, mean, std) -> np.ndarray:
    """torchvision's ToTensor + Normalize, written out in torch."""
    t = torch.from_numpy(images_hwc).permute(0, 3, 1, 2).float().div(255)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((t - m) / s).numpy()


@pytest.fixture()
def cifar10(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    return root, write_cifar10(root)


def test_cifar10_splits_labels_classes_and_pixels_match_the_files(cifar10):
    root, truth = cifar10
    for split in ("train", "test"):
        ds = open_dataset(f"cifar10:{root}", split, input_shape=(3, 32, 32))
        images, labels = truth[split]
        assert len(ds) == len(labels) and ds.classes == tuple(CIFAR10_NAMES)
        assert ds.sample_shape == (3, 32, 32) and ds.layout == "image"
        x, y = ds.arrays()
        assert x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(y, labels)
        np.testing.assert_array_equal(x, _to_tensor_normalize(images, CIFAR10_MEAN, CIFAR10_STD))


def test_cifar10_streams_in_batches_and_slices_across_batch_files(cifar10):
    root, truth = cifar10
    ds = open_dataset(f"cifar10:{root}", "train")
    sizes = [len(y) for _, y in ds.batches(7)]
    assert sizes == [7, 7, 7, 7, 7, 5]
    x_all, y_all = ds.arrays()
    x, y = ds[4:19].arrays()  # data_batch_1 rows 4-7, data_batch_2, data_batch_3 rows 0-2
    np.testing.assert_array_equal(x, x_all[4:19])
    np.testing.assert_array_equal(y, truth["train"][1][4:19])
    x2, y2 = ds[4:19][3:6].arrays()
    np.testing.assert_array_equal(y2, y_all[7:10])


def test_cifar10_length_comes_from_batches_meta_without_reading_batches(cifar10, monkeypatch):
    root, _ = cifar10
    import spikeport.data.cifar as cifar

    read = []
    real = cifar.load_batch
    monkeypatch.setattr(cifar, "load_batch", lambda p: read.append(p.name) or real(p))
    ds = open_dataset(f"cifar10:{root}", "train")
    assert len(ds) == 40 and ds.num_classes == 10 and read == ["batches.meta"]
    ds[17:18].arrays()
    assert read == ["batches.meta", "data_batch_3"]


def test_cifar100_uses_fine_labels_and_its_class_names(tmp_path):
    root = tmp_path / "cifar-100-python"
    truth = write_cifar100(root)
    ds = open_dataset(f"cifar100:{root}", "test", input_shape=(3, 32, 32))
    assert ds.num_classes == 100 and ds.classes[7] == "fine_07"
    x, y = ds.arrays()
    np.testing.assert_array_equal(y, truth["test"][1])
    mean, std = (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)
    np.testing.assert_array_equal(x, _to_tensor_normalize(truth["test"][0], mean, std))
    assert len(open_dataset(f"cifar100:{root}", "train")) == 12


def test_cifar_mean_std_options_replace_the_defaults(cifar10):
    root, truth = cifar10
    ds = open_dataset(f"cifar10:{root},mean=0.5,std=0.25/0.5/1", "test")
    want = _to_tensor_normalize(truth["test"][0][:3], (0.5,) * 3, (0.25, 0.5, 1.0))
    np.testing.assert_array_equal(ds[:3].arrays()[0], want)


class _Payload:
    def __init__(self, call, arg):
        self.call, self.arg = call, arg

    def __reduce__(self):
        return self.call, (self.arg,)


@pytest.mark.parametrize("target", ["os.system", "builtins.eval"])
def test_a_hostile_pickle_in_a_cifar_directory_is_refused_and_never_runs(cifar10, target):
    root, _ = cifar10
    marker = root.parent / "PWNED"
    call = os.system if target == "os.system" else eval
    arg = f"touch {marker}" if target == "os.system" else f"open({str(marker)!r}, 'w').close()"
    hostile = {b"data": _Payload(call, arg), b"labels": [0]}
    (root / "test_batch").write_bytes(pickle.dumps(hostile, protocol=2))
    ds = open_dataset(f"cifar10:{root}", "test")  # length from batches.meta: not read yet
    with pytest.raises(DataError) as err:
        ds.arrays()
    msg = str(err.value)
    assert "\n" not in msg and str(root / "test_batch") in msg
    name = target.split(".")[1]  # protocol 2 names them posix.system, __builtin__.eval
    assert "refusing to unpickle (it contains " in msg and f".{name})" in msg
    assert "arbitrary code" in msg
    assert not marker.exists()


def test_a_hostile_batches_meta_is_refused_when_the_directory_is_opened(cifar10):
    root, _ = cifar10
    marker = root.parent / "PWNED"
    (root / "batches.meta").write_bytes(pickle.dumps(_Payload(os.system, f"touch {marker}")))
    with pytest.raises(DataError, match="batches.meta: refusing to unpickle"):
        open_dataset(f"cifar10:{root}", "test")
    assert not marker.exists()


def test_python3_pickles_of_the_same_data_are_read_too(tmp_path):
    """Files re-saved by Python 3 (default protocol, or protocol 2 with latin-1 bytes)."""
    root = tmp_path / "c10"
    truth = write_cifar10(root)
    for protocol in (2, pickle.DEFAULT_PROTOCOL):
        obj = pickle.load((root / "test_batch").open("rb"), encoding="bytes")
        (root / "test_batch").write_bytes(pickle.dumps(obj, protocol=protocol))
        y = open_dataset(f"cifar10:{root}", "test").arrays()[1]
        np.testing.assert_array_equal(y, truth["test"][1])


@pytest.mark.parametrize(
    "damage, message",
    [
        ("no_dir", "no such directory"),
        ("no_file", "data_batch_3: missing cifar10 batch file"),
        ("no_key", "data_batch_1: no field 'data'"),
        ("bad_shape", "data_batch_1: field 'data' is uint8 [8, 100], expected uint8 [n, 3072]"),
        ("bad_labels", "data_batch_1: 7 labels for 8 images (field 'labels')"),
        ("bad_count", "data_batch_1: 4 images, but batches.meta says 8"),
        ("not_pickle", "data_batch_1: not a readable CIFAR batch"),
    ],
)
def test_broken_cifar_directories_give_one_line_errors_naming_file_and_field(
    tmp_path, damage, message
):
    root = tmp_path / "c10"
    write_cifar10(root)
    batch = root / "data_batch_1"
    good = pickle.load(batch.open("rb"), encoding="bytes")
    if damage == "no_dir":
        root = tmp_path / "absent"
    elif damage == "no_file":
        (root / "data_batch_3").unlink()
    elif damage == "no_key":
        dump_py2({b"labels": good[b"labels"], b"pixels": good[b"data"]}, batch)
    elif damage == "bad_shape":
        dump_py2({**good, b"data": np.zeros((8, 100), np.uint8)}, batch)
    elif damage == "bad_labels":
        dump_py2({**good, b"labels": good[b"labels"][:7]}, batch)
    elif damage == "bad_count":
        dump_py2({**good, b"data": good[b"data"][:4], b"labels": good[b"labels"][:4]}, batch)
    elif damage == "not_pickle":
        batch.write_bytes(b"\x80\x02garbage")
    with pytest.raises(DataError) as err:
        open_dataset(f"cifar10:{root}", "train").arrays()
    assert message in str(err.value) and "\n" not in str(err.value)


def _peak_rss_loading(path) -> tuple[str, float]:
    """Load ``path`` as a CIFAR batch in a fresh process: (error message, peak RSS in GB)."""
    import subprocess
    import sys

    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from spikeport.data.safe_pickle import load_batch\n"
        "from spikeport.errors import DataError\n"
        "try:\n"
        "    load_batch(Path(sys.argv[1])); msg = 'loaded'\n"
        "except DataError as e:\n"
        "    msg = str(e)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6)\n"
        "print(msg)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return out[1], float(out[0])


def test_a_memo_index_bomb_is_refused_before_the_unpickler_sizes_its_memo(tmp_path):
    """Found by fuzzing: 11 bytes (PROTO 2, EMPTY_DICT, LONG_BINPUT 175,726,962, STOP) made
    CPython's unpickler grow its memo table to 2.8 GB."""
    import struct

    bomb = tmp_path / "test_batch"
    bomb.write_bytes(b"\x80\x02}r" + struct.pack("<I", 175_726_962) + b".")
    msg, peak_gb = _peak_rss_loading(bomb)
    assert "\n" not in msg and str(bomb) in msg and "memo index 175726962" in msg
    assert peak_gb < 1.5


@pytest.mark.parametrize("via", ["ndarray", "_reconstruct"])
def test_an_array_a_pickle_declares_past_the_memory_budget_is_refused_before_allocation(
    tmp_path, via
):
    """``numpy.ndarray((10^6, 10^6))`` called by REDUCE, or numpy's reconstructor with that
    shape: 8 TB declared by a 60-byte file."""
    shape = b"J@B\x0f\x00J@B\x0f\x00\x86"  # (1000000, 1000000)
    if via == "ndarray":
        body = b"cnumpy\nndarray\n" + shape + b"\x85R."
    else:
        body = b"cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + shape
        body += b"U\x01b\x87R."
    bomb = tmp_path / "test_batch"
    bomb.write_bytes(b"\x80\x02" + body)
    msg, peak_gb = _peak_rss_loading(bomb)
    assert str(bomb) in msg and "over the memory budget" in msg and "declares" in msg
    assert peak_gb < 1.5
