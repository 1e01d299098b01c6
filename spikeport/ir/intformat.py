"""Integer format annotation: a fixed-point number is `mantissa * 2**exp`, mantissa `bits` wide."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IntFormat:
    """`bits`-wide integer mantissa (two's complement when `signed`), value = mantissa * 2**exp.

    `bits` counts the sign bit: IntFormat(9, True) is Loihi's "8 bits + sign" weight
    (-256..255); IntFormat(24, True) is the u/v state register (-2**23..2**23-1).
    """

    bits: int
    signed: bool = True
    exp: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.bits, int) or not 1 <= self.bits <= 64:
            raise ValueError(f"IntFormat.bits must be an int in 1..64, got {self.bits!r}")

    @property
    def min(self) -> int:
        """Smallest representable mantissa."""
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        """Largest representable mantissa."""
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def contains(self, values: np.ndarray | int) -> bool:
        """True when every value is an integer inside [min, max]."""
        arr = np.asarray(values)
        if arr.size == 0:
            return True
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                return False
        return bool(arr.min() >= self.min and arr.max() <= self.max)

    def __str__(self) -> str:
        kind = "int" if self.signed else "uint"
        return f"{kind}{self.bits}" + (f"*2^{self.exp}" if self.exp else "")
