"""Class-folder layouts: ``DIR/<class>/<file>``, as torchvision's ``DatasetFolder`` reads them
(and spikingjelly writes its event and frame caches).

Classes are the sorted names of DIR's sub-directories, numbered 0.. in that order; the files
of a class are found by walking its directory (links followed) in sorted order, keeping
names that end (case-insensitively) with one of the extensions. A DIR whose sub-directories
include ``train`` and ``test`` (or ``val``) is a split root: the split picks one.
"""

from __future__ import annotations

import os
from pathlib import Path

from spikeport.errors import DataError

SPLIT_DIRS = {"train": ("train",), "test": ("test", "val")}


def split_dir(root: Path, split: str) -> Path:
    """``root/train`` or ``root/test`` (``root/val``) when root is a split root, else root."""
    if not root.is_dir():
        raise DataError(f"{root}: no such directory")
    if (root / "train").is_dir() and any((root / d).is_dir() for d in SPLIT_DIRS["test"]):
        for name in SPLIT_DIRS[split]:
            if (root / name).is_dir():
                return root / name
    return root


def scan(root: Path, extensions: tuple[str, ...]) -> tuple[list[str], list[Path], list[int]]:
    """(classes, files, labels) of the class folders under ``root``."""
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    if not classes:
        raise DataError(f"{root}: no class sub-directories (expected DIR/<class>/<file>)")
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        found = 0
        for folder, _, names in sorted(os.walk(root / name, followlinks=True)):
            for fname in sorted(names):
                if fname.lower().endswith(extensions):
                    files.append(Path(folder) / fname)
                    labels.append(label)
                    found += 1
        if not found:
            raise DataError(f"{root / name}: no {'/'.join(extensions)} files for class {name!r}")
    return classes, files, labels
