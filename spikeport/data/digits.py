"""``digits``: the project's one train/test split of scikit-learn's digits (1,797 real 8x8
images, bundled with scikit-learn), stratified by class and shuffled with seed 0: 1,437
train / 360 test images. Every part of spikeport (training, conversion, simulation, energy)
reads this split, so accuracies are always measured on the same 360 test images.

Scaling: sklearn stores pixels as integers 0..16; samples are float32 ``pixel / 16`` in
[0, 1] (exactly representable: multiples of 1/16), ``[1, 8, 8]``; a quantiser recovers the
integer pixels as ``round(x * 16)`` (5-bit unsigned). Classes "0".."9".
"""

from __future__ import annotations

import numpy as np

from spikeport.data.dataset import ArrayDataset
from spikeport.data.preprocessing import Preprocessing
from spikeport.data.spec import DataSpec

PIXEL_MAX = 16  # sklearn digits pixel range is 0..16
TEST_SIZE = 360
NUM_CLASSES = 10


def digits_arrays(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): float32 ``[n, 1, 8, 8]`` images, int64 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    images = (data.images.astype(np.float32) / PIXEL_MAX)[:, None, :, :]
    labels = data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=TEST_SIZE, random_state=seed, stratify=labels
    )
    return np.ascontiguousarray(x_tr), y_tr, np.ascontiguousarray(x_te), y_te


class DigitsDataset(ArrayDataset):
    def __init__(self, spec: DataSpec, split: str, prep: Preprocessing) -> None:
        x_tr, y_tr, x_te, y_te = digits_arrays()
        x, y = (x_tr, y_tr) if split == "train" else (x_te, y_te)
        classes = [str(i) for i in range(NUM_CLASSES)]
        super().__init__(x, y, f"digits ({split})", classes)
