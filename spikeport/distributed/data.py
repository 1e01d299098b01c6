"""A reference to a data split that every worker opens itself (``--data SPEC``), so a shard
task carries a spec and an index range, never the samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spikeport.distributed.cache import cached


@dataclass(frozen=True)
class DataRef:
    """``open_dataset(spec, split, **options)``, ``spaced`` samples evenly spread over it
    (``Dataset.spaced``; all when None), then the first ``limit`` (all when None)."""

    spec: str
    split: str = "test"
    options: tuple[tuple[str, Any], ...] = ()
    limit: int | None = None
    spaced: int | None = None

    def open(self) -> Any:
        """The (cached) :class:`spikeport.data.Dataset` view this reference names."""

        def load() -> Any:
            from spikeport.data import open_dataset

            ds = open_dataset(self.spec, self.split, **dict(self.options)).spaced(self.spaced)
            return ds if self.limit is None else ds[: self.limit]

        return cached(("dataset", self), load)

    def __len__(self) -> int:
        return len(self.open())

    def read(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Samples ``[lo, hi)``: x float32 ``[b, *sample_shape]``, y int64 ``[b]``."""
        return self.open()[lo:hi].arrays()
