"""Preprocessing settings, their defaults, and the image transforms (Pillow + numpy).

:class:`Preprocessing` is what ``spikeport convert`` records in ``data.json`` so that
``simulate``, ``energy`` and ``lava`` feed the artifact exactly what it was calibrated on.

Image transforms follow torchvision's documented semantics for PIL images (torchvision
itself cannot be installed beside this torch build):

* ``Resize(int)``: the shorter side becomes ``resize`` pixels, the longer
  ``int(resize * long / short)``, with PIL's BILINEAR (or BICUBIC) filter; an image already
  that size is left alone;
* ``CenterCrop(int)``: top/left ``int(round((side - crop) / 2))`` (Python's round, half to
  even), zero padding first when the crop is larger than the image;
* ``ToTensor``: uint8 HWC -> float32 CHW divided by 255; ``Normalize``: ``(x - mean) / std``
  per channel, in float32.

Defaults: CIFAR-10 / CIFAR-100 are normalised with the mean/std of the official Spikformer
CIFAR configuration (``cifar10.yml``; CIFAR-100's standard statistics), images are not
resized; ImageFolder images are center-cropped to the model's input size after resizing the
shorter side to ``floor(size / 0.875)`` (timm's default crop_pct) and normalised with the
ImageNet mean/std. Raw events are integrated into the model's T frames by event count at the
model's input height and width.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikeport.data.spec import DataSpec
from spikeport.errors import DataError

MEAN_STD: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
    "imagefolder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
CROP_PCT = 0.875
INTERPOLATIONS = ("bilinear", "bicubic")
SPLIT_BY = ("number",)


@dataclass(frozen=True)
class Preprocessing:
    """How raw samples become model inputs. Images: ``resize`` (shorter side, pixels),
    ``crop`` (square center crop, pixels), ``interpolation``, per-channel ``mean``/``std``
    (after /255). Events: ``frames`` (T), ``split_by`` and ``size`` (H, W of a frame)."""

    layout: str = "image"
    resize: int | None = None
    crop: int | None = None
    interpolation: str = "bilinear"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    frames: int | None = None
    split_by: str | None = None
    size: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.as_items()}

    def as_items(self) -> list[tuple[str, Any]]:
        return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)]

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "data.json") -> Preprocessing:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise DataError(f"{source}: unknown preprocessing field(s) {unknown}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _positive(spec: DataSpec, key: str) -> int | None:
    raw = spec.options.get(key)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise DataError(f"--data {spec}: {key}={raw!r} must be a positive integer")
    return int(raw)


def _floats(spec: DataSpec, key: str, channels: int) -> tuple[float, ...] | None:
    raw = spec.options.get(key)
    if raw is None:
        return None
    try:
        values = tuple(float(v) for v in raw.split("/"))
    except ValueError:
        raise DataError(f"--data {spec}: {key}={raw!r} is not numbers joined by '/'") from None
    if len(values) not in (1, channels) or (key == "std" and min(values) <= 0):
        raise DataError(
            f"--data {spec}: {key}={raw!r} needs 1 or {channels} values"
            + (" > 0" if key == "std" else "")
        )
    return values * (channels // len(values)) if len(values) == 1 else values


def _size(spec: DataSpec) -> tuple[int, int] | None:
    raw = spec.options.get("size")
    if raw is None:
        return None
    parts = raw.lower().split("x")
    if len(parts) not in (1, 2) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise DataError(f"--data {spec}: size={raw!r} must be HxW or H (positive integers)")
    h, w = int(parts[0]), int(parts[-1])
    return h, w


def resolve(spec: DataSpec, input_shape: tuple[int, ...] | None, T: int | None) -> Preprocessing:
    """The preprocessing for ``spec`` feeding a model with per-step input ``input_shape``
    ``(C, H, W)`` and ``T`` steps (either may be None when unknown): defaults from the
    module docstring, overridden by the spec's options."""
    kind = spec.kind
    layout = spec.info.layout
    if kind in ("digits", "npz", "dvs-frames"):  # no settings (npz's layout comes from x)
        return Preprocessing(layout="time-major" if kind == "dvs-frames" else "image")
    channels = input_shape[0] if input_shape else 3
    side = input_shape[-1] if input_shape else None
    if kind == "dvs-events":
        frames = _positive(spec, "T") or T
        size = _size(spec) or (tuple(input_shape[-2:]) if input_shape else None)
        split_by = spec.options.get("split_by", "number")
        if split_by not in SPLIT_BY:
            raise DataError(f"--data {spec}: split_by={split_by!r} (supported: number)")
        if frames is None or size is None:
            raise DataError(f"--data {spec}: give T= and size=HxW (no model to take them from)")
        return Preprocessing(layout=layout, frames=frames, split_by=split_by, size=size)
    interpolation = spec.options.get("interpolation", "bilinear")
    if interpolation not in INTERPOLATIONS:
        raise DataError(
            f"--data {spec}: interpolation={interpolation!r} (known: {', '.join(INTERPOLATIONS)})"
        )
    resize, crop = _positive(spec, "resize"), _positive(spec, "crop")
    if kind == "imagefolder":
        crop = crop or side
        if crop is None:
            raise DataError(f"--data {spec}: give crop= (no model to take the input size from)")
        resize = resize or math.floor(crop / CROP_PCT)
    mean, std = _floats(spec, "mean", channels), _floats(spec, "std", channels)
    if (mean is None or std is None) and channels != len(MEAN_STD[kind][0]):
        raise DataError(f"--data {spec}: give mean= and std= for a {channels}-channel model")
    return Preprocessing(
        layout=layout,
        resize=resize,
        crop=crop,
        interpolation=interpolation,
        mean=mean or MEAN_STD[kind][0],
        std=std or MEAN_STD[kind][1],
    )


# ----------------------------------------------------------------------- image transforms ---
def resized_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) after torchvision's ``Resize(size)``: shorter side -> ``size``."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def center_crop_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """PIL crop box (left, top, right, bottom) of torchvision's ``CenterCrop(size)``; a box
    reaching outside the image reads zeros, as torchvision's zero padding does."""
    pad_left = (size - width) // 2 if size > width else 0
    pad_top = (size - height) // 2 if size > height else 0
    width, height = max(width, size), max(height, size)
    left = int(round((width - size) / 2.0)) - pad_left
    top = int(round((height - size) / 2.0)) - pad_top
    return left, top, left + size, top + size


def transform_image(image: Any, prep: Preprocessing) -> np.ndarray:
    """A PIL image -> float32 ``[C, H, W]``: resize, center crop, /255, normalise."""
    from PIL import Image

    if prep.resize is not None:
        size = resized_size(image.width, image.height, prep.resize)
        if size != (image.width, image.height):
            resample = Image.Resampling.BILINEAR
            if prep.interpolation == "bicubic":
                resample = Image.Resampling.BICUBIC
            image = image.resize(size, resample)
    if prep.crop is not None:
        box = center_crop_box(image.width, image.height, prep.crop)
        if box != (0, 0, image.width, image.height):
            image = image.crop(box)
    pixels = np.asarray(image, dtype=np.uint8)
    pixels = pixels[:, :, None] if pixels.ndim == 2 else pixels
    return normalise(pixels.transpose(2, 0, 1)[None], prep)[0]


def normalise(pixels: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """uint8 ``[B, C, H, W]`` -> float32 ``(pixels / 255 - mean) / std`` per channel."""
    x = pixels.astype(np.float32) / np.float32(255)
    if prep.mean is not None and prep.std is not None:
        c = x.shape[1]
        if len(prep.mean) != c or len(prep.std) != c:
            raise DataError(f"images have {c} channel(s); mean/std have {len(prep.mean)}")
        x = x - np.asarray(prep.mean, dtype=np.float32).reshape(1, c, 1, 1)
        x = x / np.asarray(prep.std, dtype=np.float32).reshape(1, c, 1, 1)
    return x
