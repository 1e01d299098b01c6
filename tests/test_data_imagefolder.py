"""``imagefolder:DIR`` and the image transforms (torchvision's Resize / CenterCrop /
ToTensor / Normalize semantics for PIL images), checked against PIL-only computations whose
sizes and crop boxes are worked out by hand in the tests."""

from __future__ import annotations

import numpy as np
import pytest
from data_fixtures import write_imagefolder
from PIL import Image

from spikeport.data import open_dataset
from spikeport.data.preprocessing import Preprocessing, transform_image
from spikeport.errors import DataError

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def _expected(img: Image.Image, size: tuple[int, int], box, mean, std, resample=None):
    """PIL resize to `size`, crop `box`, /255, normalise: each step spelled out."""
    img = img.resize(size, resample or Image.Resampling.BILINEAR).crop(box)
    x = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / np.float32(255)
    m = np.asarray(mean, np.float32)[:, None, None]
    s = np.asarray(std, np.float32)[:, None, None]
    return (x - m) / s


def _image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "width, height, resize, crop, size, box",
    [
        # shorter side 30 -> 20, longer int(20 * 40 / 30) = 26; left round(10/2)=5, top 2
        (40, 30, 20, 16, (26, 20), (5, 2, 21, 18)),
        # 50x40 -> 25x20; left round(4.5) = 4 (half to even, as Python's round), top 2
        (50, 40, 20, 16, (25, 20), (4, 2, 20, 18)),
        # portrait 33x47 -> 20x28 (int(20 * 47 / 33) = 28); left 2, top round(6) = 6
        (33, 47, 20, 16, (20, 28), (2, 6, 18, 22)),
    ],
)
def test_resize_and_center_crop_follow_torchvision_pil_semantics(
    width, height, resize, crop, size, box
):
    img = _image(width, height)
    prep = Preprocessing(resize=resize, crop=crop, mean=IMAGENET[0], std=IMAGENET[1])
    got = transform_image(img, prep)
    np.testing.assert_array_equal(got, _expected(img, size, box, *IMAGENET))


def test_bicubic_interpolation_option_uses_pil_bicubic():
    img = _image(40, 30, seed=1)
    prep = Preprocessing(
        resize=20, crop=16, interpolation="bicubic", mean=IMAGENET[0], std=IMAGENET[1]
    )
    want = _expected(img, (26, 20), (5, 2, 21, 18), *IMAGENET, Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(transform_image(img, prep), want)


def test_a_crop_larger_than_the_image_pads_with_zeros_around_it():
    img = _image(6, 8, seed=2)
    got = transform_image(img, Preprocessing(crop=10))  # no resize, no normalisation
    # torchvision pads left/right (10-6)//2 = 2, (10-6+1)//2 = 2; top/bottom 1, 1
    raw = np.asarray(img).transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    want = np.pad(raw, ((0, 0), (1, 1), (2, 2)))
    np.testing.assert_array_equal(got, want)


def test_imagefolder_classes_are_sorted_dirs_and_files_stream_in_order(tmp_path):
    root = tmp_path / "val"
    write_imagefolder(root, classes=("n02", "n01", "b_cls"), per_class=2)
    ds = open_dataset(f"imagefolder:{root},resize=20,crop=16", input_shape=(3, 16, 16))
    assert ds.classes == ("b_cls", "n01", "n02") and len(ds) == 6
    assert ds.sample_shape == (3, 16, 16) and ds.layout == "image"
    x, y = ds.arrays()
    np.testing.assert_array_equal(y, [0, 0, 1, 1, 2, 2])
    # b_cls/img_0.png is the 5th image written (IMAGE_SIZES[4 % 4] = 50x40): 25x20, box above
    with Image.open(root / "b_cls" / "img_0.png") as img:
        want = _expected(img.convert("RGB"), (25, 20), (4, 2, 20, 18), *IMAGENET)
    np.testing.assert_array_equal(x[0], want)
    batches = list(ds.batches(4))
    assert [len(b[1]) for b in batches] == [4, 2]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x)
    np.testing.assert_array_equal(ds[3:5].arrays()[0], x[3:5])


def test_imagefolder_defaults_take_the_crop_from_the_model_and_resize_crop_over_0875(tmp_path):
    root = tmp_path / "val"
    write_imagefolder(root, classes=("a",), per_class=1)
    ds = open_dataset(f"imagefolder:{root}", input_shape=(3, 14, 14))
    assert (ds.preprocessing.crop, ds.preprocessing.resize) == (14, 16)  # floor(14 / 0.875)
    assert ds.preprocessing.mean == IMAGENET[0] and ds.preprocessing.std == IMAGENET[1]
    # a/img_0.png is 50x40: 20x16, left round((20 - 14) / 2) = 3, top 1
    with Image.open(root / "a" / "img_0.png") as img:
        want = _expected(img.convert("RGB"), (20, 16), (3, 1, 17, 15), *IMAGENET)
    np.testing.assert_array_equal(ds.arrays()[0][0], want)


def test_imagefolder_split_root_picks_train_or_val(tmp_path):
    write_imagefolder(tmp_path / "train", classes=("a", "b"), per_class=2)
    write_imagefolder(tmp_path / "val", classes=("a", "b"), per_class=1)
    spec = f"imagefolder:{tmp_path},crop=8"
    assert len(open_dataset(spec, "train")) == 4 and len(open_dataset(spec, "test")) == 2


@pytest.mark.parametrize(
    "setup, message",
    [
        ("missing", "no such directory"),
        ("no_classes", "no class sub-directories"),
        ("empty_class", "no .jpg/.jpeg/.png"),
        ("bad_image", "img_0.png: not a readable image"),
        ("bad_option", "unknown option 'zoom' for imagefolder"),
        ("bad_value", "resize='-3' must be a positive integer"),
        ("wrong_size", "samples are [3, 16, 16] (image) but the model takes [3, 32, 32]"),
    ],
)
def test_bad_imagefolder_input_is_one_line_naming_the_fault(tmp_path, setup, message):
    root = tmp_path / "val"
    write_imagefolder(root, classes=("a", "b"), per_class=1)
    spec, shape = f"imagefolder:{root},crop=16", None
    if setup == "missing":
        spec = f"imagefolder:{tmp_path / 'nowhere'},crop=16"
    elif setup == "no_classes":
        spec = f"imagefolder:{root / 'a'},crop=16"
    elif setup == "empty_class":
        (root / "c").mkdir()
    elif setup == "bad_image":
        (root / "a" / "img_0.png").write_bytes(b"not a png")
    elif setup == "bad_option":
        spec += ",zoom=2"
    elif setup == "bad_value":
        spec += ",resize=-3"
    elif setup == "wrong_size":
        shape = (3, 32, 32)
    with pytest.raises(DataError) as err:
        open_dataset(spec, input_shape=shape).arrays()
    assert message in str(err.value) and "\n" not in str(err.value)
