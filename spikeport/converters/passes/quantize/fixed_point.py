"""Lava's fixed-point number formats as quantisation targets: weight mantissas, biases,
decays, message widths (lava-nc 0.10.0 conventions, docs/semantics.md)."""

from __future__ import annotations

import numpy as np

from spikeport.ir.attention import relative_error
from spikeport.ir.int_nodes import BIAS_MANT, STATE, STATE_LIMIT, VTH_SHIFT

U_MAX = STATE_LIMIT - 1
"""Largest value of the 24-bit u / v registers."""
VTH_MAX = 1 << (STATE.bits - 1 - VTH_SHIFT)
"""Largest threshold mantissa (vth << 6 must fit the 24-bit v register)."""
BIAS_MANT_MAX = BIAS_MANT.max
W_MAX = 254
"""Largest even mantissa Lava keeps for mixed-sign weights."""


def even(x: np.ndarray) -> np.ndarray:
    """Dense weight mantissas: even values in [-256, 254] (Lava drops the LSB)."""
    return np.clip(2 * np.rint(x / 2.0), -256, W_MAX).astype(np.int64)


def mantissa(x: np.ndarray, conv: bool) -> np.ndarray:
    """Weight mantissas Lava keeps: Dense drops the LSB of mixed-sign weights (even values in
    [-256, 254]); fixed-point Conv neither clips nor truncates (all of [-256, 255])."""
    if conv:
        return np.clip(np.rint(x), -256, 255).astype(np.int64)
    return even(x)


def mantissa_float(x: np.ndarray, conv: bool) -> None:
    """:func:`mantissa` in place on float64 `x` (same values, kept as float64)."""
    if conv:
        np.rint(x, out=x)
    else:
        x /= 2.0
        np.rint(x, out=x)
        x *= 2.0
    np.clip(x, -256, 255 if conv else W_MAX, out=x)


def bias(b: np.ndarray) -> tuple[np.ndarray, int, int]:
    """(mantissa, exp, number saturated) for integer bias values b (added to v each step)."""
    big = float(np.abs(b).max(initial=0.0))
    exp = 0
    while exp < 7 and big / (1 << exp) > BIAS_MANT_MAX:
        exp += 1
    mant = np.rint(b / (1 << exp))
    sat = int(np.sum(np.abs(mant) > BIAS_MANT_MAX))
    return np.clip(mant, -BIAS_MANT_MAX - 1, BIAS_MANT_MAX).astype(np.int64), exp, sat


def floor_offset(weight_exp: int) -> float:
    """Mean error Lava's floor shift ``acc >> k`` (k = -weight_exp > 0) adds to u (<< 6),
    for uniformly distributed low bits: -(2^k - 1) / 2^(k+1) activation units. Returned
    negated, in u/v units, to be added to the bias (unbiased rounding on average)."""
    k = -weight_exp
    return 0.0 if k <= 0 else 64.0 * ((1 << k) - 1) / (1 << (k + 1))


def message_bits(bound: int) -> int:
    """num_message_bits of a graded message of magnitude <= bound (0: binary spikes)."""
    return 0 if bound <= 1 else int(bound).bit_length() + 1


def tau_decay(lif) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """(dv = round(4096 / tau), its rounding error) of a float LIF."""
    dv_f = 4096.0 / lif.tau
    return int(round(dv_f)), abs(round(dv_f) - dv_f)


def weight_stats(w: np.ndarray, w_int: np.ndarray, weight_exp: int) -> dict:
    """Report entries of a quantised weight: float range, exponent, mantissa range."""
    return {
        "weight_min": float(w.min()),
        "weight_max": float(w.max()),
        "weight_exp": weight_exp,
        "mantissa_min": int(w_int.min()),
        "mantissa_max": int(w_int.max()),
    }


def weight_errors(w_back: np.ndarray, w: np.ndarray) -> dict:
    """Report entries of a weight's quantisation error (w_back: the integers in float units)."""
    return {
        "weight_rel_error": relative_error(w_back, w),
        "weight_max_abs_error": float(np.abs(w_back - w).max(initial=0.0)),
    }
