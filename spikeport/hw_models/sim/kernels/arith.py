"""Integer arithmetic helpers with Lava's exact rounding, wrapping and saturation.

All arrays are int64. Where Lava computes in int32 and lets numpy wrap, we wrap explicitly
with :func:`wrap_signed` (``bits=32``) at the same point.
"""

from __future__ import annotations

import numpy as np

from spikeport.ir.int_nodes import DECAY_BITS

FLOAT_EXACT = 1 << 53
"""float64 represents every integer of magnitude <= 2**53 exactly."""


def wrap_signed(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap to `bits` bits: ``(x + 2**(b-1)) mod 2**b - 2**(b-1)``."""
    half = np.int64(1) << np.int64(bits - 1)
    return (x + half) % (half << np.int64(1)) - half


def shift_floor(x: np.ndarray, exp: int) -> np.ndarray:
    """``x << exp`` for exp > 0, else arithmetic ``x >> -exp`` (floor toward -inf)."""
    if exp == 0 and isinstance(x, np.ndarray):
        return x
    return np.left_shift(x, exp) if exp > 0 else np.right_shift(x, -exp)


def decay_toward_zero(x: np.ndarray, decay: int | np.ndarray) -> np.ndarray:
    """``sign(p) * (|p| >> 12)`` with ``p = x * (4096 - decay)``: Loihi's 12-bit decay,
    truncated toward zero (Lava ``subthr_dynamics``)."""
    p = x * (np.int64(1 << DECAY_BITS) - decay)
    return np.sign(p) * (np.abs(p) >> np.int64(DECAY_BITS))


def abs_max(x: np.ndarray) -> int:
    """max |x| (0 for an empty array), without an |x| copy."""
    return max(int(x.max()), -int(x.min())) if x.size else 0


FLOAT32_EXACT = 1 << 24
"""float32 represents every integer of magnitude <= 2**24 exactly."""


def exact_matmul(
    a: np.ndarray,
    b: np.ndarray,
    b_abs_colsum_max: int | None = None,
    b_float: np.ndarray | None = None,
) -> np.ndarray:
    """Integer ``a @ b`` as int64, using float BLAS when the result is provably exact.

    Every partial sum is bounded by ``max|a| * max_j sum_i |b[i, j]|``; while that is below
    2**24 (float32) or 2**53 (float64) every partial sum, in any order, is an exactly
    represented integer, so the float product equals the integer product bit for bit (and
    does not depend on the summation order or thread count). float32 is used when its bound
    holds (half the memory traffic of float64), else float64; beyond 2**53 numpy's int64
    matmul. `b_float` may pass a cached ``b.astype(float64)`` or ``b.astype(float32)``
    (used where its type is the one chosen). `a` may already be float (holding integers).
    """
    if b_abs_colsum_max is None:
        b_abs_colsum_max = int(np.abs(b).sum(axis=0).max()) if b.size else 0
    bound = abs_max(a) * b_abs_colsum_max
    if bound < FLOAT32_EXACT:
        bf = b_float if b_float is not None and b_float.dtype == np.float32 else None
        prod = a.astype(np.float32, copy=False) @ (b.astype(np.float32) if bf is None else bf)
        return prod.astype(np.int64)  # exact integers: the cast does not round
    if bound < FLOAT_EXACT:
        bf = b_float if b_float is not None and b_float.dtype == np.float64 else None
        bf = b.astype(np.float64) if bf is None else bf
        return np.rint(a.astype(np.float64, copy=False) @ bf).astype(np.int64)
    return a.astype(np.int64) @ b.astype(np.int64)
