"""Integer dendritic neuron of lowered LRF-Dyn (IR ``DendriticAttention``), int64, exact.

State X [..., D, k] (units of 2^-12) is charged token by token inside a timestep and
starts from zero at every timestep. One token step, per channel and compartment i:

    p_i = (4096 - decay_i) X_i + up_i X_{i+1} + down_{i-1} X_{i-1}
    X_i = trunc(p_i / 2^12) + gamma_i u_i          (Loihi's 12-bit decay, toward zero)
    y   = trunc((readout . X) / 2^12)

Unlike a LIF decay (``kernels.arith.decay_toward_zero``, one product rounded) the
tridiagonal row is summed first and rounded once, which is what the 12-bit fixed-point
matrix-vector product of the converter's integer LRF-Dyn formula does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikeport.hw_models.sim.kernels.arith import shift_floor
from spikeport.ir.dendritic_node import FRAC_BITS

ONE = 1 << FRAC_BITS


def trunc_shift(x: np.ndarray, bits: int = FRAC_BITS) -> np.ndarray:
    """x / 2^bits rounded toward zero (Loihi's decay rounding), int64."""
    return np.sign(x) * (np.abs(x) >> np.int64(bits))


def dendritic_step(
    x: np.ndarray,
    u: np.ndarray,
    decay: np.ndarray,
    up: np.ndarray,
    down: np.ndarray,
    gamma: np.ndarray,
) -> np.ndarray:
    """One token: X [..., D, k], drive u [..., D] (0/1 or counts) -> the next X."""
    p = (ONE - decay) * x
    p[..., :-1] += up * x[..., 1:]
    p[..., 1:] += down * x[..., :-1]
    return trunc_shift(p) + gamma * u[..., None]


def run_dendrites(
    u: np.ndarray,
    decay: np.ndarray,
    up: np.ndarray,
    down: np.ndarray,
    gamma: np.ndarray,
    readout: np.ndarray,
) -> tuple[np.ndarray, int]:
    """Soma readout y [..., N, D] (2^-12 units) for token drive u [..., N, D], X = 0 at
    token 0; also the largest |X| reached (to check the state register width)."""
    u = np.asarray(u, dtype=np.int64)
    *lead, n, d = u.shape
    x = np.zeros((*lead, d, decay.shape[-1]), dtype=np.int64)
    y = np.empty(u.shape, dtype=np.int64)
    peak = 0
    for i in range(n):
        x = dendritic_step(x, u[..., i, :], decay, up, down, gamma)
        peak = max(peak, int(np.abs(x).max(initial=0)))
        y[..., i, :] = trunc_shift((x * readout).sum(-1))
    return y, peak


def dendritic_attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, node: Any
) -> tuple[np.ndarray, int]:
    """The ``DendriticAttention`` node on spikes [..., N, D] -> activation a [..., N, D]
    (2^-count_shift counts) and the peak |X|."""
    u = v if node.input_mode == "v" else k * v
    y, peak = run_dendrites(u, node.decay, node.up, node.down, node.gamma, node.readout)
    a = shift_floor(y, node.count_shift - FRAC_BITS)
    return (q * a if node.input_mode == "kv_gate_q" else a), peak
