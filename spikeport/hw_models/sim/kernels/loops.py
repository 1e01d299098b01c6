"""Compiled time loops (numba) of the kernels whose state carries from step to step.

A neuron's update depends on its previous state, so its time loop cannot be one numpy call;
stepping it from Python costs several numpy calls per step, which dominates on long runs of
small layers (lava-dl's ntidigits: 3,000 steps of 256 neurons). These loops do the same
integer arithmetic per element, in int64, with Lava's int32 wraps written out; they are
single-threaded, so their results do not depend on the thread count. The numpy ``step``
methods of the kernels are the readable reference they are tested against (and both against
Lava itself: tests/test_sim_kernels_vs_lava.py).

Compiled code is cached on disk beside this file (numba ``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikeport.ir.int_nodes import ACT_SHIFT, DECAY_BITS, STATE_LIMIT


@njit(cache=True, inline="always")
def _wrap32(x: int) -> int:
    """Two's-complement wrap of an int64 to 32 bits (numpy's int32 overflow)."""
    return ((x + 0x80000000) & 0xFFFFFFFF) - 0x80000000


@njit(cache=True, inline="always")
def _decay(x: int, k: int) -> int:
    """``trunc(x * k / 4096)`` toward zero (Lava's 12-bit decay with k = 4096 - decay)."""
    p = x * k
    return -((-p) >> DECAY_BITS) if p < 0 else p >> DECAY_BITS


@njit(cache=True)
def lif_loop(
    a: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    bias: np.ndarray,
    params: np.ndarray,
    spikes: np.ndarray,
    rec_u: np.ndarray,
    rec_v: np.ndarray,
) -> None:
    """Loihi CUBA LIF over T steps, in place (docs/semantics.md, kernels/lif.py).

    a: [T, B, N] integer activations; u, v: [B, N] int64 state (updated); bias: [B, N] or
    [1, N] (shared) int64 (``bias_mant << bias_exp``, int32-wrapped); spikes: [T, B, N]
    int8 out; rec_u, rec_v: [T, B, N] int64 or [0, 0, 0] when not recorded. params (int64):
    ku = 4096 - du - 1, kv = 4096 - dv, vth << 6, t0 (steps already run), reset interval
    (0 = none), reset phase, state-reset interval (0 = none), state-reset phase.
    """
    ku, kv, vth, t0 = params[0], params[1], params[2], params[3]
    r_int, r_phase, s_int, s_phase = params[4], params[5], params[6], params[7]
    steps, batch, n = a.shape
    lim, two = STATE_LIMIT, 2 * STATE_LIMIT
    keep_u, keep_v = rec_u.shape[0] > 0, rec_v.shape[0] > 0
    shared = bias.shape[0] == 1
    for t in range(steps):
        lif_reset = r_int > 0 and (t0 + t + 1) % r_int == r_phase
        state_reset = s_int > 0 and t % s_int == s_phase
        for b in range(batch):
            bb = 0 if shared else b
            for i in range(n):
                if lif_reset:
                    u[b, i] = 0
                    v[b, i] = 0
                uu = _wrap32(_decay(u[b, i], ku) + (np.int64(a[t, b, i]) << ACT_SHIFT))
                if uu > lim:  # Lava's one fold of 2**24 (np.where twice)
                    w = uu - two
                else:
                    w = uu
                if w <= -lim:
                    uu = uu + two
                else:
                    uu = w
                vv = _wrap32(_decay(v[b, i], kv) + uu + bias[bb, i])
                if vv > lim - 1:
                    vv = lim - 1
                elif vv < -(lim - 1):
                    vv = -(lim - 1)
                if vv > vth:
                    spikes[t, b, i] = 1
                    vv = 0
                if state_reset:
                    uu = 0
                    vv = 0
                u[b, i] = uu
                v[b, i] = vv
                if keep_u:
                    rec_u[t, b, i] = uu
                if keep_v:
                    rec_v[t, b, i] = vv


@njit(cache=True)
def delayed_scatter(
    x: np.ndarray,
    syn_start: np.ndarray,
    syn_out: np.ndarray,
    syn_w: np.ndarray,
    syn_d: np.ndarray,
    acc: np.ndarray,
) -> None:
    """Event-driven Dense with per-synapse delays, accumulated in place (exact int64).

    x: [S, L, n_in] integer messages of S sending steps (L leading positions); synapses of
    input j are ``syn_start[j]:syn_start[j+1]`` with target ``syn_out``, weight ``syn_w`` and
    delay ``syn_d``; acc: [S + 1 + max_delay, L, n_out] int64 receives the message of step s
    through a synapse of delay d at slot s + 1 + d (Lava's one-step synaptic latency).
    """
    steps, lead, n_in = x.shape
    for s in range(steps):
        for le in range(lead):
            for j in range(n_in):
                m = np.int64(x[s, le, j])
                if m == 0:
                    continue
                for k in range(syn_start[j], syn_start[j + 1]):
                    acc[s + 1 + syn_d[k], le, syn_out[k]] += m * syn_w[k]


_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


@njit(cache=True, inline="always")
def _popcount64(x: np.uint64) -> np.uint64:
    """Bits set in a 64-bit word (the SWAR sum; LLVM turns it into one popcnt instruction)."""
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return (x * _H01) >> np.uint64(56)


@njit(cache=True)
def popcount_scores(
    qw: np.ndarray, kw: np.ndarray, valid: np.ndarray, w_and: int, w_xnor: int, out: np.ndarray
) -> None:
    """``out[g, n, m] = w_and * popcount(q & k) + w_xnor * popcount(~(q ^ k) & valid)``
    summed over the words of bit-packed rows q = qw[g, n], k = kw[g, m] (uint64 [G, N, W],
    [G, M, W]; valid: uint64 [W] masks the padding bits). out: int64 [G, N, M], written."""
    groups, n_q, n_w = qw.shape
    n_k = kw.shape[1]
    for g in range(groups):
        for n in range(n_q):
            for m in range(n_k):
                c_and = np.uint64(0)
                c_xnor = np.uint64(0)
                for w in range(n_w):
                    a, b = qw[g, n, w], kw[g, m, w]
                    c_and += _popcount64(a & b)
                    if w_xnor != 0:
                        c_xnor += _popcount64(~(a ^ b) & valid[w])
                out[g, n, m] = w_and * np.int64(c_and) + w_xnor * np.int64(c_xnor)
