"""The range of numbers spikeport accepts in weights and parameters read from files.

A checkpoint, ``.net``, NIR graph or IR artifact value that is NaN, infinite or beyond
+-:data:`LIMIT` is refused naming the tensor: such a value is never a trained weight, and
passed on it either crashes a later stage or silently wipes out the layer (quantising a
layer whose largest weight is 1e30 rounds every other weight to zero).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikeport.errors import SpikeportError

LIMIT = float(1 << 31)
"""Largest magnitude accepted (2^31): beyond any fixed-point field spikeport targets (Loihi
weights are 8-bit mantissas, states 24-bit) and beyond any trained weight or statistic."""


class ValueRangeError(SpikeportError):
    """A tensor holding NaN, infinity, or a value beyond +-LIMIT."""


def check_values(values: Any, what: str) -> None:
    """ValueRangeError naming ``what`` unless every entry is finite and within +-LIMIT.

    ``values``: a numpy array, torch tensor or scalar of a real (or bool) dtype."""
    if hasattr(values, "detach"):  # torch: checked with torch (bfloat16 has no numpy dtype)
        t = values.detach()
        if t.numel() == 0 or str(t.dtype) == "torch.bool":
            return
        if t.is_complex():
            raise ValueRangeError(f"{what}: dtype {t.dtype} is not a real number type")
        floating = t.is_floating_point()
        finite = bool(t.isfinite().all()) if floating else True
        has_nan = floating and bool(t.isnan().any())
        peak = float((t if floating else t.double()).abs().max()) if finite else 0.0
    else:
        arr = np.asarray(values)
        if arr.size == 0 or arr.dtype.kind == "b":
            return
        if arr.dtype.kind not in "iuf":
            raise ValueRangeError(f"{what}: dtype {arr.dtype} is not a real number type")
        floating = arr.dtype.kind == "f"
        finite = bool(np.all(np.isfinite(arr))) if floating else True
        has_nan = floating and bool(np.isnan(arr).any())
        peak = float(np.max(np.abs(arr if floating else arr.astype(np.float64)))) if finite else 0.0
    if not finite:
        raise ValueRangeError(f"{what}: holds {'NaN' if has_nan else 'infinite'} values")
    if peak >= LIMIT:
        raise ValueRangeError(f"{what}: holds {peak:.3g}, beyond +-2^31")
