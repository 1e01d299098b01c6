"""``--data SPEC`` grammar, the npz and digits loaders, views, and the data.json record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_fixtures import write_cifar10

from spikeport.data import open_dataset, parse_spec, read_record, write_record
from spikeport.data.spec import spec_table
from spikeport.errors import DataError


def test_spec_grammar_kind_path_and_options():
    s = parse_spec("imagefolder:/data/imagenet/val,resize=256,crop=224")
    assert (s.kind, s.path, s.options) == (
        "imagefolder",
        Path("/data/imagenet/val"),
        {"resize": "256", "crop": "224"},
    )
    assert str(s) == "imagefolder:/data/imagenet/val,resize=256,crop=224"
    assert parse_spec(str(s)) == s
    assert parse_spec("digits").path is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("mnist:/x", "unknown kind 'mnist' (known: digits, cifar10, cifar100, imagefolder"),
        ("cifar10", "cifar10 needs a path (cifar10:PATH)"),
        ("digits:/x", "digits takes no path"),
        ("npz:/x.npz,scale", "option 'scale' is not KEY=VALUE"),
        ("npz:/x.npz,scale=2", "unknown option 'scale' for npz (known: none)"),
        ("dvs-events:/d,T=4,T=8", "option 'T' given twice"),
    ],
)
def test_malformed_specs_are_one_line_errors(text, message):
    with pytest.raises(DataError) as err:
        parse_spec(text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_digits_dataset_is_the_projects_seeded_split(digits_split):
    ds = open_dataset("digits", "test", input_shape=(1, 8, 8), T=4)
    x, y = ds.arrays()
    np.testing.assert_array_equal(x, digits_split.x_test.numpy())
    np.testing.assert_array_equal(y, digits_split.y_test.numpy())
    assert len(open_dataset("digits", "train")) == len(digits_split.y_train) == 1437


def test_views_select_by_range_and_index_and_spread_evenly(digits_split):
    ds = open_dataset("digits", "train")
    y_all = digits_split.y_train.numpy()
    np.testing.assert_array_equal(ds[100:110].arrays()[1], y_all[100:110])
    np.testing.assert_array_equal(ds[100:110][2:4].arrays()[1], y_all[102:104])
    np.testing.assert_array_equal(ds.take([5, 1, 5]).arrays()[1], y_all[[5, 1, 5]])
    spread = ds.spaced(5)
    np.testing.assert_array_equal(spread.arrays()[1], y_all[[0, 359, 718, 1077, 1436]])
    assert ds.spaced(None) is ds and ds.spaced(10**6) is ds
    np.testing.assert_array_equal(ds[100:110].labels(), y_all[100:110])
    lazy = ds[100:110].samples()  # an array-like read on slicing
    assert len(lazy) == 10 and lazy.shape == (10, 1, 8, 8)
    np.testing.assert_array_equal(lazy[2:4], digits_split.x_train.numpy()[102:104])
    with pytest.raises(DataError, match="index out of range"):
        ds.take([1437])


def test_npz_images_and_time_major_frames(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 3, 4, 4)).astype(np.float64)
    y = rng.integers(0, 3, 9)
    np.savez(tmp_path / "img.npz", x=x, y=y)
    ds = open_dataset(f"npz:{tmp_path / 'img.npz'}", input_shape=(3, 4, 4))
    assert (ds.layout, ds.sample_shape, ds.num_classes) == ("image", (3, 4, 4), int(y.max()) + 1)
    got_x, got_y = ds[2:7].arrays()
    np.testing.assert_array_equal(got_x, x[2:7].astype(np.float32))
    np.testing.assert_array_equal(got_y, y[2:7])
    np.savez_compressed(tmp_path / "ev.npz", x=np.ones((5, 4, 2, 3, 3)), y=np.arange(5))
    ev = open_dataset(f"npz:{tmp_path / 'ev.npz'}", input_shape=(2, 3, 3), T=4)
    assert ev.layout == "time-major" and ev.sample_shape == (4, 2, 3, 3)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"y": np.zeros(3, int)}, "no array 'x' (has ['y'])"),
        ({"x": np.zeros((3, 4)), "y": np.zeros(3, int)}, "x is float64 [3, 4], expected"),
        ({"x": np.zeros((3, 1, 2, 2)), "y": np.zeros(4, int)}, "y is int64 [4], expected"),
        ({"x": np.zeros((3, 1, 2, 2)), "y": np.zeros(3)}, "y is float64 [3], expected integers"),
    ],
)
def test_bad_npz_is_one_line_naming_the_field(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError) as err:
        open_dataset(f"npz:{tmp_path / 'd.npz'}")
    assert message in str(err.value) and "d.npz" in str(err.value)
    with pytest.raises(DataError, match="absent.npz: no such file"):
        open_dataset(f"npz:{tmp_path / 'absent.npz'}")


def test_recorded_preprocessing_is_reused_and_conflicting_options_refused(tmp_path):
    root = tmp_path / "c10"
    write_cifar10(root)
    spec = f"cifar10:{root},mean=0.5,std=0.25"
    calibrated = open_dataset(spec, "train", input_shape=(3, 32, 32))
    write_record(tmp_path, calibrated, spec, calibration={"split": "train", "samples": 40})
    recorded = read_record(tmp_path)
    assert recorded == (spec, calibrated.preprocessing)
    # the same kind without options gets the recorded mean/std, not the CIFAR-10 defaults
    test = open_dataset(f"cifar10:{root}", "test", input_shape=(3, 32, 32), recorded=recorded)
    assert test.preprocessing == calibrated.preprocessing
    with pytest.raises(DataError, match="mean differs from the artifact's recorded mean"):
        open_dataset(f"cifar10:{root},mean=0.4", recorded=recorded)
    assert read_record(tmp_path / "elsewhere") is None
    (tmp_path / "data.json").write_text("{")
    with pytest.raises(DataError, match="data.json: unreadable data record"):
        read_record(tmp_path)


def test_readme_spec_table_matches_the_registry(repo_root):
    assert spec_table() in (repo_root / "README.md").read_text()
