"""The project's digits split as torch tensors (the split itself, its scaling and seed live
in :mod:`spikeport.data.digits`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from spikeport.data.digits import (  # noqa: F401  (re-exported)
    NUM_CLASSES,
    PIXEL_MAX,
    TEST_SIZE,
    digits_arrays,
)


@dataclass(frozen=True)
class DigitsSplit:
    """Stratified seeded split; images float32 ``[n, 1, 8, 8]`` in [0, 1], labels int64 ``[n]``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    seed: int


def load_digits_split(seed: int = 0) -> DigitsSplit:
    """1,437 train / 360 test images, stratified by class, shuffled with ``seed``
    (:func:`spikeport.data.digits.digits_arrays` as torch tensors)."""
    x_tr, y_tr, x_te, y_te = digits_arrays(seed)
    return DigitsSplit(
        x_train=torch.from_numpy(x_tr),
        y_train=torch.from_numpy(y_tr),
        x_test=torch.from_numpy(x_te),
        y_test=torch.from_numpy(y_te),
        seed=seed,
    )
