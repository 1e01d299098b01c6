"""``digits``: the project's seeded split of scikit-learn's digits
(:func:`spikeport.models.digits.load_digits_split`, 1,437 train / 360 test 8x8 images,
pixels / 16), as a :class:`Dataset`."""

from __future__ import annotations

import numpy as np

from spikeport.data.dataset import Dataset
from spikeport.data.preprocessing import Preprocessing
from spikeport.data.spec import DataSpec


class DigitsDataset(Dataset):
    """Samples float32 ``[1, 8, 8]`` in [0, 1]; classes "0".."9"."""

    def __init__(self, spec: DataSpec, split: str, prep: Preprocessing) -> None:
        from spikeport.models.digits import NUM_CLASSES, load_digits_split

        data = load_digits_split()
        x, y = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
        self._x, self._y = x.numpy(), y.numpy()
        classes = [str(i) for i in range(NUM_CLASSES)]
        super().__init__(
            f"digits ({split})", len(self._y), classes, self._x.shape[1:], "image", prep
        )

    def _read(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._x[rows], self._y[rows]
