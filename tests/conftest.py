"""Shared pytest fixtures.

No __init__.py in tests/: lava-dl installs a top-level package named `tests`, so helper
modules here (digits_models.py) are imported by putting this directory on sys.path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import digits_models as _digits  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
    _digits.use_cache(cache.mkdir("spikeport-digits-trained") if cache is not None else None)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def digits_models() -> _digits.DigitsModels:
    """Trained digits Spikformers (``.path/.model/.metrics(attention, kind)``), each trained
    once per pytest cache directory and shared by all tests and xdist workers."""
    return _digits.shared()


@pytest.fixture(scope="session")
def digits_split():  # noqa: ANN201  (DigitsSplit)
    """The seeded 1,437 / 360 digits split (load_digits_split(seed=0))."""
    from spikeport.models.digits import load_digits_split

    return load_digits_split()
