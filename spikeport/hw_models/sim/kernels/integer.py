"""Integer-spike arithmetic (SDT-V3): the I-LIF's rounding division, the virtual-timestep
windows and the exact integer ``(Q K^T) V``. int64 throughout; spikeport's own processes
(no Lava model), defined by ``spikeport.ir.integer_nodes``."""

from __future__ import annotations

import numpy as np

from spikeport.hw_models.sim.kernels.arith import exact_matmul


def rint_div(x: np.ndarray, vth: int) -> np.ndarray:
    """Nearest integer of the exact rational ``x / vth`` (int64 x, vth >= 1), ties to even
    (as ``numpy.rint`` / ``torch.round`` round a real number)."""
    q, r = np.divmod(np.asarray(x, dtype=np.int64), np.int64(vth))
    twice = 2 * r
    return q + ((twice > vth) | ((twice == vth) & (q % 2 == 1)))


def graded_spikes(a: np.ndarray, vth: int, bias: np.ndarray | None, max_value: int) -> np.ndarray:
    """``clamp(rint((a + bias) / vth), 0, max_value)`` as int8 (max_value <= 127) or int16."""
    x = np.asarray(a, dtype=np.int64)
    if bias is not None:
        x = x + bias
    dtype = np.int8 if max_value <= np.iinfo(np.int8).max else np.int16
    return np.clip(rint_div(x, vth), 0, max_value).astype(dtype)


def window_sums(x: np.ndarray, steps: int) -> np.ndarray:
    """[T, ...] -> [T / steps, ...]: the sum of each window of `steps` steps (int64)."""
    if len(x) % steps:
        raise ValueError(f"{len(x)} steps are not whole windows of {steps} virtual steps")
    return x.reshape(len(x) // steps, steps, *x.shape[1:]).sum(axis=1, dtype=np.int64)


def expand(s: np.ndarray, steps: int) -> np.ndarray:
    """Integer spikes s [W, ...] -> binary [W * steps, ...], window w's step j = [j < s[w]]."""
    j = np.arange(steps).reshape(1, steps, *([1] * (s.ndim - 1)))
    out = (j < s[:, None]).astype(np.int8)
    return out.reshape(len(s) * steps, *s.shape[1:])


def first_steps(x: np.ndarray, steps: int) -> np.ndarray:
    """[W, ...] -> [W * steps, ...]: window w's value on its first step, zeros elsewhere."""
    out = np.zeros((len(x), steps, *x.shape[1:]), dtype=x.dtype)
    out[:, 0] = x
    return out.reshape(len(x) * steps, *x.shape[1:])


def linear_attention_int(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, heads: int, shift: int
) -> np.ndarray:
    """Per head ``((q k^T) v) << shift`` on [..., N, heads * d] q, k and [..., N, heads * d_v] v
    (non-negative integers), exact: computed as ``q (k^T v)`` with BLAS only where exact."""
    *lead, n, c = q.shape
    cv = v.shape[-1]
    d, dv = c // heads, cv // heads
    qh = q.reshape(-1, n, heads, d).transpose(0, 2, 1, 3)  # [L, h, N, d]
    kh = k.reshape(-1, n, heads, d).transpose(0, 2, 3, 1)  # [L, h, d, N]
    vh = v.reshape(-1, n, heads, dv).transpose(0, 2, 1, 3)  # [L, h, N, dv]
    out = np.empty((qh.shape[0], heads, n, dv), dtype=np.int64)
    for i in range(qh.shape[0]):
        for h in range(heads):
            kv = exact_matmul(kh[i, h], vh[i, h])  # [d, dv]
            out[i, h] = exact_matmul(qh[i, h], kv)
    out = out.transpose(0, 2, 1, 3).reshape(*lead, n, cv)
    return out << np.int64(shift) if shift else out
