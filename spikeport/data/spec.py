"""``--data SPEC``: what a data specification names, and the registry of kinds.

Grammar (one command-line word)::

    SPEC    := KIND [ ":" PATH ] { "," KEY "=" VALUE }
    KIND    := digits | cifar10 | cifar100 | imagefolder | npz | dvs-frames | dvs-events

``digits`` takes no PATH; every other kind needs one. PATH runs up to the first comma, so a
path that contains a comma cannot be named. Options (KEY=VALUE) set preprocessing; each
kind accepts the keys listed in :data:`KINDS` (see ``spikeport.data.preprocessing``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from spikeport.errors import DataError


@dataclass(frozen=True)
class Kind:
    """A data format: its loader (``module:Class`` in ``spikeport.data``), whether it needs
    a PATH, its option keys, its sample layout and a one-line description."""

    loader: str
    needs_path: bool
    options: tuple[str, ...]
    layout: str  # "image" (a sample is [C, H, W]) or "time-major" ([T, C, H, W] frames)
    description: str


IMAGE_OPTIONS = ("resize", "crop", "interpolation", "mean", "std")

KINDS: dict[str, Kind] = {
    "digits": Kind(
        "digits:DigitsDataset",
        False,
        (),
        "image",
        "scikit-learn digits, bundled (seeded 1,437/360 split)",
    ),
    "cifar10": Kind(
        "cifar:CifarDataset",
        True,
        IMAGE_OPTIONS,
        "image",
        "CIFAR-10 python batches: data_batch_1..5, test_batch, batches.meta",
    ),
    "cifar100": Kind(
        "cifar:CifarDataset",
        True,
        IMAGE_OPTIONS,
        "image",
        "CIFAR-100 python batches: train, test, meta",
    ),
    "imagefolder": Kind(
        "imagefolder:ImageFolderDataset",
        True,
        IMAGE_OPTIONS,
        "image",
        "DIR/CLASS/IMAGE (torchvision ImageFolder layout, e.g. ImageNet val/nXXXXXXXX/*.JPEG)",
    ),
    "npz": Kind(
        "arrays:NpzDataset",
        True,
        (),
        "image or time-major",
        "one .npz: x [n, C, H, W] (or [n, T, C, H, W]) in model units, y [n] labels",
    ),
    "dvs-frames": Kind(
        "events:DvsFramesDataset",
        True,
        (),
        "time-major",
        "spikingjelly's cached frames: DIR/CLASS/SAMPLE.npz, key frames [T, 2, H, W]",
    ),
    "dvs-events": Kind(
        "events:DvsEventsDataset",
        True,
        ("T", "size", "split_by"),
        "time-major",
        "raw events: DIR/CLASS/SAMPLE.npz with t, x, y, p, integrated into T frames by count",
    ),
}


@dataclass(frozen=True)
class DataSpec:
    """A parsed ``--data`` value: ``kind``, ``path`` (None for digits), ``options``."""

    kind: str
    path: Path | None = None
    options: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        head = self.kind if self.path is None else f"{self.kind}:{self.path}"
        return ",".join([head, *(f"{k}={v}" for k, v in self.options.items())])

    @property
    def info(self) -> Kind:
        return KINDS[self.kind]

    def resolved(self) -> DataSpec:
        """The same spec with an absolute path (what artifacts and model.pt record)."""
        if self.path is None:
            return self
        return DataSpec(self.kind, self.path.resolve(), dict(self.options))


def parse_spec(text: str | DataSpec) -> DataSpec:
    """``"cifar10:/data/cifar-10-batches-py"`` -> DataSpec; one-line DataError if malformed."""
    if isinstance(text, DataSpec):
        return text
    head, *opts = str(text).split(",")
    kind, sep, path = head.partition(":")
    if kind not in KINDS:
        raise DataError(f"--data {text!r}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
    info = KINDS[kind]
    if info.needs_path and not path:
        raise DataError(f"--data {text!r}: {kind} needs a path ({kind}:PATH)")
    if sep and not info.needs_path:
        raise DataError(f"--data {text!r}: {kind} takes no path")
    options: dict[str, str] = {}
    for item in opts:
        key, eq, value = item.partition("=")
        if not eq or not key or not value:
            raise DataError(f"--data {text!r}: option {item!r} is not KEY=VALUE")
        if key not in info.options:
            known = ", ".join(info.options) or "none"
            raise DataError(f"--data {text!r}: unknown option {key!r} for {kind} (known: {known})")
        if key in options:
            raise DataError(f"--data {text!r}: option {key!r} given twice")
        options[key] = value
    return DataSpec(kind, Path(path) if path else None, options)


def spec_table() -> str:
    """Markdown table of the kinds (README's "Bring your own data")."""
    rows = ["| spec | layout | options | reads |", "|---|---|---|---|"]
    for name, k in KINDS.items():
        spec = name if not k.needs_path else f"{name}:{'FILE' if name == 'npz' else 'DIR'}"
        rows.append(f"| `{spec}` | {k.layout} | {', '.join(k.options) or '-'} | {k.description} |")
    return "\n".join(rows)
