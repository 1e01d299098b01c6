"""The project's one train/test split of scikit-learn's digits (1,797 real 8x8 images).

Every part of spikeport (training, conversion, simulation, energy) uses this function, so
accuracies are always measured on the same 360 test images.

Scaling: sklearn stores pixels as integers 0..16; images are returned as float32
``pixel / 16`` in [0, 1] (exactly representable: multiples of 1/16), shape ``[n, 1, 8, 8]``.
A quantiser can recover the integer pixels as ``round(x * 16)`` (5-bit unsigned).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

PIXEL_MAX = 16  # sklearn digits pixel range is 0..16
TEST_SIZE = 360
NUM_CLASSES = 10


@dataclass(frozen=True)
class DigitsSplit:
    """Stratified seeded split; images float32 ``[n, 1, 8, 8]`` in [0, 1], labels int64 ``[n]``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    seed: int


def load_digits_split(seed: int = 0) -> DigitsSplit:
    """1,437 train / 360 test images, stratified by class, shuffled with ``seed``."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    images = (data.images.astype(np.float32) / PIXEL_MAX)[:, None, :, :]
    labels = data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=TEST_SIZE, random_state=seed, stratify=labels
    )
    return DigitsSplit(
        x_train=torch.from_numpy(np.ascontiguousarray(x_tr)),
        y_train=torch.from_numpy(y_tr),
        x_test=torch.from_numpy(np.ascontiguousarray(x_te)),
        y_test=torch.from_numpy(y_te),
        seed=seed,
    )
