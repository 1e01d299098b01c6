"""Event data: integration into frames by event count against spikingjelly 2.0.0's own
``integrate_events_by_fixed_frames_number(split_by='number')``, and its frame cache read as
``dvs-frames:DIR``."""

from __future__ import annotations

import numpy as np
import pytest
from data_fixtures import random_events, spikingjelly_utils, write_events

from spikeport.data import open_dataset
from spikeport.data.events import integrate_by_count
from spikeport.errors import DataError

H, W = 6, 5


@pytest.fixture(scope="module")
def sj():
    return spikingjelly_utils()


@pytest.mark.parametrize("n, frames", [(1003, 4), (17, 16), (3, 4), (64, 1)])
def test_integration_by_count_equals_spikingjelly_split_by_number(sj, n, frames):
    ev = random_events(n, H, W, seed=n)
    ev["p"] = np.where(ev["p"] > 0, 1, -1).astype(np.int8)  # signed polarity as some sets
    ours = integrate_by_count(ev, frames, H, W)
    ref = sj.integrate_events_by_fixed_frames_number(ev, "number", frames, H, W)
    assert ours.shape == (frames, 2, H, W) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, ref)
    assert ours.sum() == n


def test_dvs_events_folder_gives_time_major_frames_per_sample(sj, tmp_path):
    root = tmp_path / "events_np"
    write_events(root, H, W, classes=("b", "a"), per_class=3)
    ds = open_dataset(f"dvs-events:{root},T=4,size={H}x{W}", input_shape=(2, H, W), T=4)
    assert ds.layout == "time-major" and ds.sample_shape == (4, 2, H, W)
    assert ds.classes == ("a", "b") and len(ds) == 6
    x, y = ds.arrays()
    np.testing.assert_array_equal(y, [0, 0, 0, 1, 1, 1])
    files = sorted((root / "a").glob("*.npz")) + sorted((root / "b").glob("*.npz"))
    for i, path in enumerate(files):
        with np.load(path) as z:
            ref = sj.integrate_events_by_fixed_frames_number(dict(z), "number", 4, H, W)
        np.testing.assert_array_equal(x[i], ref)
    np.testing.assert_array_equal(ds[2:5].arrays()[0], x[2:5])


def test_dvs_events_take_T_and_frame_size_from_the_model_by_default(tmp_path):
    root = tmp_path / "ev"
    write_events(root, H, W, classes=("a",), per_class=1)
    ds = open_dataset(f"dvs-events:{root}", input_shape=(2, H, W), T=3)
    assert ds.sample_shape == (3, 2, H, W)
    assert ds.preprocessing.frames == 3 and ds.preprocessing.size == (H, W)
    assert ds.preprocessing.split_by == "number"


def test_spikingjelly_frame_cache_reads_as_dvs_frames(sj, tmp_path):
    events, frames = tmp_path / "events_np", tmp_path / "frames_number_4_split_by_number"
    write_events(events, H, W, classes=("b", "a"), per_class=2)
    for cls in ("a", "b"):
        (frames / cls).mkdir(parents=True)
        for f in sorted((events / cls).glob("*.npz")):
            sj.integrate_events_file_to_frames_file_by_fixed_frames_number(
                lambda p: dict(np.load(p)), str(f), str(frames / cls), "number", 4, H, W
            )
    cached = open_dataset(f"dvs-frames:{frames}", input_shape=(2, H, W), T=4)
    direct = open_dataset(f"dvs-events:{events},T=4,size={H}x{W}")
    assert cached.layout == "time-major" and cached.sample_shape == (4, 2, H, W)
    assert cached.preprocessing.frames == 4
    xc, yc = cached.arrays()
    xd, yd = direct.arrays()
    np.testing.assert_array_equal(yc, yd)
    np.testing.assert_array_equal(xc, xd)


@pytest.mark.parametrize(
    "setup, message",
    [
        ("missing_key", "s0.npz: no array(s) ['p']"),
        ("ragged", "s0.npz: y has shape [3], expected"),
        ("outside", "s0.npz: x must be integers in 0..4 (frame 6x5"),
        ("frames_key", "f.npz: no array 'frames'"),
        ("frames_shape", "f.npz: frames is float64 [4, 3, 6, 5], expected [T, 2, H, W]"),
        ("frames_T", "samples are [4, 2, 6, 5] (time-major) but the model takes [8, 2, 6, 5]"),
        ("frames_mixed", "g.npz: frames [2, 2, 6, 5], expected [4, 2, 6, 5] like f.npz"),
    ],
)
def test_bad_event_input_is_one_line_naming_file_and_field(tmp_path, setup, message):
    root = tmp_path / "d"
    (root / "a").mkdir(parents=True)
    ev = random_events(10, H, W, seed=1)
    spec = f"dvs-events:{root},T=2,size={H}x{W}"
    T = None
    if setup == "missing_key":
        ev.pop("p")
    elif setup == "ragged":
        ev["y"] = ev["y"][:3]
    elif setup == "outside":
        ev["x"][4] = W
    if setup.startswith("frames"):
        spec = f"dvs-frames:{root}"
        shape = (4, 3, H, W) if setup == "frames_shape" else (4, 2, H, W)
        key = "frame" if setup == "frames_key" else "frames"
        np.savez(root / "a" / "f.npz", **{key: np.zeros(shape)})
        if setup == "frames_mixed":
            np.savez(root / "a" / "g.npz", frames=np.zeros((2, 2, H, W)))
        T = 8 if setup == "frames_T" else None
    else:
        np.savez(root / "a" / "s0.npz", **ev)
    with pytest.raises(DataError) as err:
        open_dataset(spec, input_shape=(2, H, W), T=T).arrays()
    assert message in str(err.value) and "\n" not in str(err.value)
