"""PyTorch side: LIF neuron, attention variants, Spikformer / SDT builders, training.

Public entry points (imported lazily, so ``import spikeport.models`` does not import torch):
``from_checkpoint``, ``build_model``, ``default_config``, ``ModelConfig``, ``save_model``,
``load_digits_split``, ``digits_config``, ``train_digits``.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "from_checkpoint": "spikeport.models.checkpoint",
    "save_model": "spikeport.models.checkpoint",
    "build_model": "spikeport.models.registry",
    "default_config": "spikeport.models.registry",
    "ModelConfig": "spikeport.models.registry",
    "ARCHS": "spikeport.models.registry",
    "load_digits_split": "spikeport.models.digits",
    "digits_config": "spikeport.models.train",
    "train_digits": "spikeport.models.train",
    "TrainSettings": "spikeport.models.train",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'spikeport.models' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = sorted(_EXPORTS)
