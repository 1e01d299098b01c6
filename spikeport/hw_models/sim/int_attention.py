"""Integer formulas of the quantised attention cores (`spikeport.ir.int_attention.IntAttention`).

Plain numpy int64, exact. Spike inputs q, k, v are 0/1 arrays [..., N, D] (D = heads *
head_dim, head-major channels). The lowering passes (bit-packed AND/XNOR + popcount) must
reproduce these functions bit for bit; they are the reference.
"""

from __future__ import annotations

import numpy as np

from spikeport.hw_models.sim.kernels.arith import FLOAT32_EXACT, FLOAT_EXACT, abs_max, shift_floor
from spikeport.hw_models.sim.kernels.conv import conv2d_int
from spikeport.hw_models.sim.kernels.dendritic import FRAC_BITS, trunc_shift
from spikeport.hw_models.sim.kernels.lif import CubaLifNeuron
from spikeport.ir.int_nodes import DU_FULL


def split_heads(x: np.ndarray, heads: int) -> np.ndarray:
    """[..., N, D] -> [..., heads, N, head_dim]."""
    *lead, n, d = x.shape
    return np.moveaxis(x.reshape(*lead, n, heads, d // heads), -2, -3)


def merge_heads(x: np.ndarray) -> np.ndarray:
    """[..., heads, N, head_dim] -> [..., N, D]."""
    x = np.moveaxis(x, -3, -2)
    return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


def _bmm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact batched integer matmul [..., n, k] @ [..., k, m] -> int64, one stacked product.

    The bound of :func:`exact_matmul` taken over the whole stack (max|a| times the largest
    column sum of |b| of any matrix) bounds every partial sum of every product: below 2**24
    float32, below 2**53 float64, else int64 give the same integers in any summation order.
    """
    b_colsum = int(np.abs(b, dtype=np.int64).sum(axis=-2).max()) if b.size else 0
    bound = abs_max(a) * b_colsum
    if bound < FLOAT32_EXACT:
        out = np.matmul(a, b, dtype=np.float32)
    elif bound < FLOAT_EXACT:
        out = np.rint(np.matmul(a, b, dtype=np.float64))
    else:
        return np.matmul(a.astype(np.int64), b.astype(np.int64))
    return out.astype(np.int64)  # exact integers: the cast does not round


def and_counts(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """popcount(q_i AND k_j) per head: [..., h, N, d] x [..., h, M, d] -> [..., h, N, M]."""
    return _bmm(q, np.swapaxes(k, -1, -2))


def xnor_counts(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """popcount(NOT (q_i XOR k_j)) = d - |q_i| - |k_j| + 2 (q_i . k_j)."""
    d = q.shape[-1]
    c_and = and_counts(q, k)
    return d - q.sum(-1)[..., :, None] - k.sum(-1)[..., None, :] + 2 * c_and


def score_combine(
    c_and: np.ndarray, c_xnor: np.ndarray, a_int: np.ndarray, a_shift: int
) -> np.ndarray:
    """The integer a-XNOR combine ``(2^p - a_int[h]) c_and + a_int[h] c_xnor`` on
    [..., h, N, M] counts: 2^p times the a-XNOR similarity."""
    a = np.asarray(a_int, dtype=np.int64).reshape(-1, 1, 1)
    return ((1 << a_shift) - a) * c_and + a * c_xnor


def ssa_int(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, heads: int, count_shift: int
) -> np.ndarray:
    """a = ((Q K^T) V) << m per head, [..., N, D]."""
    qh, kh, vh = (split_heads(x, heads) for x in (q, k, v))
    return merge_heads(_bmm(and_counts(qh, kh), vh)) << count_shift


def axnor_int(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    heads: int,
    a_int: np.ndarray,
    a_shift: int,
    count_shift: int,
) -> np.ndarray:
    """a = ((((2^p - a_int) C_and + a_int C_xnor) V) << m) >> p (floor), per head a_int."""
    qh, kh, vh = (split_heads(x, heads) for x in (q, k, v))
    sim = score_combine(and_counts(qh, kh), xnor_counts(qh, kh), a_int, a_shift)
    return merge_heads(shift_floor(_bmm(sim, vh) << count_shift, -a_shift))


def local_int(
    v: np.ndarray,
    weight: np.ndarray,
    grid: tuple[int, int],
    dilations: tuple[int, int],
    shift: int,
) -> np.ndarray:
    """Integer local term: sum_r depth-wise 3x3 (dilation r, zero padding r) over the token
    grid of each channel, then << shift (>> -shift, floor). v [..., N, D] -> [..., N, D]."""
    *lead, n, d = v.shape
    hh, ww = grid
    img = np.moveaxis(v.reshape(-1, n, d), 1, 2).reshape(-1, d, hh, ww)
    total = np.zeros_like(img, dtype=np.int64)
    for i, r in enumerate(dilations):
        total += conv2d_int(img, weight[i], padding=(r, r), dilation=(r, r), groups=d)
    out = np.moveaxis(total.reshape(-1, d, n), 1, 2).reshape(*lead, n, d)
    return shift_floor(out, shift)


def dyn_int(u: np.ndarray, a: np.ndarray, gamma: np.ndarray, c: np.ndarray) -> np.ndarray:
    """LRF-Dyn dendrites in fixed point, causal over tokens.

    u [..., N, D] 0/1 token drive; a [D, k, k], gamma [D, k], c [D, k]: integers with 12
    fractional bits. State X [..., D, k] in units of 2^-12:
    X_n = trunc(A X_{n-1} / 2^12) + gamma u_n; y_n = trunc(c . X_n / 2^12). Returns y [..., N, D]
    in units of 2^-12.
    """
    *lead, n, d = u.shape
    k = gamma.shape[-1]
    x = np.zeros((*lead, d, k), dtype=np.int64)
    ys = np.empty(u.shape, dtype=np.int64)
    for i in range(n):
        x = trunc_shift(np.einsum("dij,...dj->...di", a, x), FRAC_BITS)
        x = x + gamma * u[..., i, :, None]
        ys[..., i, :] = trunc_shift((x * c).sum(-1), FRAC_BITS)
    return ys


def lrf_dyn_int(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    *,
    dyn_a: np.ndarray,
    dyn_gamma: np.ndarray,
    dyn_c: np.ndarray,
    input_mode: str,
    count_shift: int,
) -> np.ndarray:
    """a = gate * (y >> (12 - m)) (floor), u = k*v ('kv', 'kv_gate_q') or v ('v')."""
    u = v if input_mode == "v" else k * v
    y = shift_floor(dyn_int(u, dyn_a, dyn_gamma, dyn_c), count_shift - FRAC_BITS)
    return q * y if input_mode == "kv_gate_q" else y


def sdsa_int(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, *, count_shift: int, vth: int, dv: int
) -> np.ndarray:
    """SDSA over time: q, k, v [T, B, N, D]; kv_t = sum_n k v (count); s = CubaLIF(kv << m);
    out = q * s (broadcast over tokens). The inner neuron: du 4095 (u = a << 6), dv, vth."""
    t_steps, batch = q.shape[:2]
    kv = (k * v).sum(axis=2)  # [T, B, D]
    neuron = CubaLifNeuron(kv.shape[2:], du=DU_FULL, dv=dv, vth=vth)
    neuron.reset(batch)
    out = np.empty_like(q)
    for t in range(t_steps):
        s = neuron.step(kv[t] << count_shift)
        out[t] = q[t] * s[:, None, :]
    return out
