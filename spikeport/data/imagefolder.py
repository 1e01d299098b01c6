"""``imagefolder:DIR``: torchvision's ImageFolder layout (``DIR/<class>/<image>``), e.g.
ImageNet's ``val/nXXXXXXXX/*.JPEG``. Images are opened one at a time, converted to RGB
(grey for a 1-channel model) and resized / center-cropped / normalised
(``preprocessing.transform_image``), so a split of any size streams in batches."""

from __future__ import annotations

import numpy as np

from spikeport.data.dataset import Dataset
from spikeport.data.folder import scan, split_dir
from spikeport.data.preprocessing import Preprocessing, transform_image
from spikeport.data.spec import DataSpec
from spikeport.errors import DataError, first_line

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class ImageFolderDataset(Dataset):
    """Samples float32 ``[C, crop, crop]``; ``C`` is 3 (RGB) unless ``channels=1``."""

    def __init__(self, spec: DataSpec, split: str, prep: Preprocessing, channels: int = 3) -> None:
        assert spec.path is not None and prep.crop is not None
        root = split_dir(spec.path, split)
        classes, self._files, labels = scan(root, IMG_EXTENSIONS)
        self._labels = np.asarray(labels, dtype=np.int64)
        self._mode = "L" if channels == 1 else "RGB"
        shape = (channels, prep.crop, prep.crop)
        super().__init__(f"{spec} ({split})", len(self._files), classes, shape, "image", prep)

    def _labels_at(self, rows: np.ndarray) -> np.ndarray:
        return self._labels[rows]

    def _read(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from PIL import Image

        from spikeport import budget

        x = np.empty((len(rows), *self.sample_shape), dtype=np.float32)
        for i, row in enumerate(rows):
            path = self._files[row]
            try:
                with Image.open(path) as img:
                    width, height = img.size  # from the header: checked before decoding
                    budget.require(f"{path} ({width}x{height} image)", 4 * 4 * width * height)
                    x[i] = transform_image(img.convert(self._mode), self.preprocessing)
            except budget.BudgetError:
                raise
            except Exception as exc:  # Pillow's decoders raise many types on damaged files
                # (OSError, ValueError "Truncated IHDR chunk", SyntaxError...: found by fuzzing)
                raise DataError(f"{path}: not a readable image ({first_line(exc)})") from None
        return x, self._labels[rows]
