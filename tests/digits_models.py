"""Trained digits Spikformers shared by the tests: each (config, settings) is trained once per
pytest cache directory and reused by every test and every xdist worker.

A file lock per model makes a second worker wait for the first one's training instead of
training the same model again; files are written to a temporary name and renamed, so a
killed run never leaves a half-written checkpoint behind.

Two kinds of model:

* ``"full"``: what ``spikeport train`` builds (default config and schedule) but on one
  thread — for tests that check accuracy or claim to run "the digits models". One thread
  because ``pytest -n 2`` runs two workers on two cores: two 2-thread trainings side by side
  cost ~10x the CPU time of two 1-thread ones (measured on the shared 2-core machine).
* ``"small"``: width 32, 1 block, 2 heads, 4 quick epochs — for tests that check equality of
  two implementations (trace, Lava, ONNX, CLI) and only need some trained model.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

FULL_SETTINGS: dict[str, Any] = dict(threads=1)  # else TrainSettings() defaults
SMALL_CONFIG: dict[str, int] = dict(embed_dim=32, depth=1, num_heads=2)
SMALL_SETTINGS: dict[str, Any] = dict(epochs=4, lr=5e-3, threads=1)
KINDS = ("full", "small")


def spec(attention: str, kind: str):  # noqa: ANN201  (ModelConfig, TrainSettings)
    """The training config and settings of one ``kind`` of model."""
    from spikeport.models.train import TrainSettings, digits_config

    if kind == "full":
        return digits_config(attention), TrainSettings(**FULL_SETTINGS)
    if kind == "small":
        return digits_config(attention, **SMALL_CONFIG), TrainSettings(**SMALL_SETTINGS)
    raise ValueError(f"unknown digits model kind {kind!r}; expected one of {KINDS}")


@dataclass(frozen=True)
class DigitsModels:
    """Trained digits models under ``cache`` (a directory inside pytest's cache dir)."""

    cache: Path

    def path(self, attention: str, kind: str = "full") -> Path:
        """The spikeport ``model.pt`` of ``attention``/``kind``, training it on first use."""
        from spikeport.models.train import run_key

        cfg, settings = spec(attention, kind)
        stem = self.cache / f"{attention}-{kind}-{run_key(cfg, settings)}"
        ckpt, metrics = stem.with_suffix(".pt"), stem.with_suffix(".json")
        if ckpt.is_file() and metrics.is_file():
            return ckpt
        with FileLock(str(stem) + ".lock"):
            if not (ckpt.is_file() and metrics.is_file()):
                self._train(cfg, settings, ckpt, metrics)
        return ckpt

    def model(self, attention: str, kind: str = "full"):  # noqa: ANN201  (nn.Module)
        """A freshly loaded eval-mode model (callers may modify it)."""
        from spikeport.models.checkpoint import from_checkpoint

        return from_checkpoint(self.path(attention, kind))

    def metrics(self, attention: str, kind: str = "full") -> dict[str, Any]:
        """``train_digits``'s metrics of that training run (test accuracy etc.)."""
        ckpt = self.path(attention, kind)
        return json.loads(ckpt.with_suffix(".json").read_text())

    @staticmethod
    def _train(cfg, settings, ckpt: Path, metrics: Path) -> None:  # noqa: ANN001
        from spikeport.models.checkpoint import save_model
        from spikeport.models.digits import load_digits_split
        from spikeport.models.train import train_digits

        model, m = train_digits(cfg, settings, data=load_digits_split(), progress=False)
        tmp = ckpt.with_name(f"{ckpt.name}.{os.getpid()}.tmp")
        save_model(model, tmp)
        os.replace(tmp, ckpt)
        tmp = metrics.with_name(f"{metrics.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(m, indent=2) + "\n")
        os.replace(tmp, metrics)


_shared: DigitsModels | None = None


def use_cache(cache: Path | None) -> None:
    """Set the directory :func:`shared` keeps its models in (conftest: pytest's cache dir)."""
    global _shared
    _shared = DigitsModels(Path(cache)) if cache is not None else None


def shared() -> DigitsModels:
    """The session's models; without pytest's cache (``-p no:cacheprovider``) a temporary
    directory, so each process then trains what it uses once."""
    global _shared
    if _shared is None:
        _shared = DigitsModels(Path(tempfile.mkdtemp(prefix="spikeport-digits-")))
    return _shared
