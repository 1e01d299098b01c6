"""Opening a ``--data SPEC`` for a model: the loader for its kind, the preprocessing, checks.

:func:`open_dataset` resolves the preprocessing from the model's input (``input_shape``
``(C, H, W)`` per step and ``T``) and the spec's options, or takes the one recorded in an
artifact's ``data.json`` (``recorded``), opens the split with the kind's loader and checks
that its samples fit the model.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from spikeport.data.dataset import Dataset
from spikeport.data.preprocessing import Preprocessing, resolve
from spikeport.data.record import read_record
from spikeport.data.spec import DataSpec, parse_spec
from spikeport.errors import DataError

SPLITS = ("train", "test")
OPTION_FIELDS = {"T": "frames"}  # spec option -> Preprocessing field where the names differ


def open_dataset(
    spec: str | DataSpec,
    split: str = "test",
    *,
    input_shape: tuple[int, ...] | None = None,
    T: int | None = None,
    recorded: tuple[str, Preprocessing] | None = None,
) -> Dataset:
    """The ``split`` ("train" or "test") of ``spec`` as a lazy :class:`Dataset`.

    ``recorded``: (spec, preprocessing) from an artifact's ``data.json``; used when ``spec``
    is of the recorded kind (the spec's own options must then agree with it), otherwise the
    defaults apply. Kinds with a single split (folders
    without train/test sub-directories, npz) give the same samples for both splits."""
    spec = parse_spec(spec)
    if split not in SPLITS:
        raise DataError(f"split {split!r}: expected one of {', '.join(SPLITS)}")
    prep = resolve(spec, input_shape, T)
    if recorded is not None and parse_spec(recorded[0]).kind == spec.kind:
        prep = _agreed(spec, prep, recorded[1])
    module, cls = spec.info.loader.split(":")
    loader: Any = getattr(importlib.import_module(f"spikeport.data.{module}"), cls)
    extra = {"channels": input_shape[0]} if spec.kind == "imagefolder" and input_shape else {}
    ds = loader(spec, split, prep, **extra)
    ds.spec = str(spec)
    if input_shape is not None:
        check_fits(ds, tuple(input_shape), T)
    return ds


def _agreed(spec: DataSpec, given: Preprocessing, prep: Preprocessing) -> Preprocessing:
    """``prep`` (recorded), after checking that the options ``spec`` sets agree with it."""
    for key in spec.options:
        name = OPTION_FIELDS.get(key, key)
        if getattr(given, name) != getattr(prep, name):
            raise DataError(
                f"--data {spec}: {key} differs from the artifact's recorded "
                f"{name}={getattr(prep, name)!r} (data.json)"
            )
    return prep


def check_fits(ds: Dataset, input_shape: tuple[int, ...], T: int | None) -> None:
    """One-line DataError unless the samples are the model's input ([C, H, W] images, or
    [T, C, H, W] frames with the model's T)."""
    want = input_shape if ds.layout == "image" else (T, *input_shape)
    if T is None and ds.layout == "time-major":
        want = (ds.sample_shape[0], *input_shape)
    if tuple(ds.sample_shape) != tuple(want):
        raise DataError(
            f"--data {ds.source}: samples are {list(ds.sample_shape)} ({ds.layout}) but the "
            f"model takes {list(want)}"
        )


def open_for_artifact(
    artifact: str | Path | None,
    spec: str | DataSpec | None,
    input_shape: tuple[int, ...],
    T: int | None,
    split: str = "test",
) -> Dataset:
    """The data to run an artifact on: ``spec``, else the spec in its ``data.json``, else
    digits; with the recorded preprocessing when the kinds match (``open_dataset``)."""
    recorded = None
    if artifact is not None and Path(artifact).is_dir():
        recorded = read_record(artifact)
    if spec is None:
        spec = recorded[0] if recorded is not None else "digits"
    return open_dataset(spec, split, input_shape=input_shape, T=T, recorded=recorded)
