"""``digits``: the project's seeded split of scikit-learn's digits
(:func:`spikeport.models.digits.load_digits_split`, 1,437 train / 360 test 8x8 images,
pixels / 16, float32 ``[1, 8, 8]`` in [0, 1]; classes "0".."9"), as a :class:`Dataset`."""

from __future__ import annotations

from spikeport.data.dataset import ArrayDataset
from spikeport.data.preprocessing import Preprocessing
from spikeport.data.spec import DataSpec


class DigitsDataset(ArrayDataset):
    def __init__(self, spec: DataSpec, split: str, prep: Preprocessing) -> None:
        from spikeport.models.digits import NUM_CLASSES, load_digits_split

        data = load_digits_split()
        x, y = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
        classes = [str(i) for i in range(NUM_CLASSES)]
        super().__init__(x.numpy(), y.numpy(), f"digits ({split})", classes)
