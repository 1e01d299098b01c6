"""Compiled time loops (numba) of the kernels whose state carries from step to step.

A neuron's update depends on its previous state, so its time loop cannot be one numpy call;
stepping it from Python costs several numpy calls per step, which dominates on long runs of
small layers (lava-dl's ntidigits: 3,000 steps of 256 neurons). These loops do the same
integer arithmetic per element, in int64, with Lava's int32 wraps written out; each element
is computed by one thread in a fixed order, so their results do not depend on the thread
count. The numpy ``step``
methods of the kernels are the readable reference they are tested against (and both against
Lava itself: tests/test_sim_kernels_vs_lava.py).

Compiled code is cached on disk beside this file (numba ``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from spikeport.hw_models.sim.kernels.events import parallel
from spikeport.ir.int_nodes import ACT_SHIFT, DECAY_BITS, STATE_LIMIT


@njit(cache=True, inline="always")
def _wrap32(x: int) -> int:
    """Two's-complement wrap of an int64 to 32 bits (numpy's int32 overflow)."""
    return ((x + 0x80000000) & 0xFFFFFFFF) - 0x80000000


@njit(cache=True, inline="always")
def _trunc12(p: int) -> int:
    """``trunc(p / 4096)`` toward zero (Lava's 12-bit decay of ``p = x * (4096 - decay)``),
    branch-free: negative p is offset by 4095 before the floor shift."""
    return (p + ((p >> 63) & ((1 << DECAY_BITS) - 1))) >> DECAY_BITS


LIF_BLOCK = 512
"""lif_loop steps blocks of this many neurons of one sample through all steps at a time
(their int32 u and v stay in the L1 cache across the steps; measured on the Spikformer shapes,
benchmarks/lif_kernel.py: 512 ran 2-3x faster than 4096 on the large layers)."""


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

    a: [T, B, N] integer activations (int8/int32/int64; only their low 32 bits matter, as in
    Lava's int32 ``a_in << 6``); u, v: [B, N] int32 state (updated); bias: [B, N] or [1, N]
    (shared) int32 (``bias_mant << bias_exp``, int32-wrapped); spikes: [T, B, N] int8 out;
    rec_u, rec_v: [T, B, N] int64 or [0, 0, 0] when not recorded. params (int64):
    ku = 4096 - du - 1, kv = 4096 - dv, vth << 6, t0 (steps already run), reset interval
    (0 = none), reset phase, state-reset interval (0 = none), state-reset phase, and
    ``12 - log2(kv)`` when ku = 0 and kv is a power of two (the converted models' du = 4095,
    dv = 2048 or 0), else -1.

    Bit widths: u is int32-wrapped, then folded toward zero once (Lava's ``wrap_current``),
    so it stays in int32 (-2**31 + 2**24 <= u <= 2**31 - 2**24; within +-2**23 whenever
    |decay(u) + (a << 6)| <= 3 * 2**23); v saturates at +-(2**23 - 1). Both are stored as
    int32 and widened to int64 in registers for the products ``u * ku`` (< 2**43) and
    ``v * kv`` (< 2**35).

    Neurons are independent: blocks of :data:`LIF_BLOCK` neurons of one sample step through
    time with their state in cache, in parallel (numba ``prange``) when the run is large
    (:func:`events.parallel`) and has more than one block; every element is computed by one
    thread in the same order, so the result does not depend on the thread count.
    """
    blocks = (a.shape[2] + LIF_BLOCK - 1) // LIF_BLOCK
    jobs = a.shape[1] * blocks
    run = _lif_parallel if parallel(a.size) and jobs > 1 else _lif_serial
    run(a, u, v, bias, params, spikes, rec_u, rec_v, blocks)


@njit(cache=True, parallel=True)
def _lif_parallel(a, u, v, bias, params, spikes, rec_u, rec_v, blocks):  # type: ignore[no-untyped-def]
    for job in prange(a.shape[1] * blocks):
        _lif_block(a, u, v, bias, params, spikes, rec_u, rec_v, blocks, job)


@njit(cache=True)
def _lif_serial(a, u, v, bias, params, spikes, rec_u, rec_v, blocks):  # type: ignore[no-untyped-def]
    for job in range(a.shape[1] * blocks):
        _lif_block(a, u, v, bias, params, spikes, rec_u, rec_v, blocks, job)


@njit(cache=True, inline="always")
def _lif_block(a, u, v, bias, params, spikes, rec_u, rec_v, blocks, job):  # type: ignore[no-untyped-def]
    """Block `job` (sample job // blocks, neurons LIF_BLOCK * (job % blocks) onwards) of
    :func:`lif_loop` over every step."""
    ku, kv, vth, t0 = params[0], params[1], params[2], params[3]
    r_int, r_phase, s_int, s_phase = params[4], params[5], params[6], params[7]
    v_shift = params[8]
    # v <= 2**23 - 1 always, so a threshold beyond +-2**23 decides as +-2**23 does (int32).
    vth32 = np.int32(max(-STATE_LIMIT, min(STATE_LIMIT, vth)))
    steps, n = a.shape[0], a.shape[2]
    b = job // blocks
    lo = (job - b * blocks) * LIF_BLOCK
    hi = min(n, lo + LIF_BLOCK)
    ur, vr, br = u[b, lo:hi], v[b, lo:hi], bias[0 if bias.shape[0] == 1 else b, lo:hi]
    for t in range(steps):
        if r_int > 0 and (t0 + t + 1) % r_int == r_phase:  # LIFReset
            ur[:] = 0
            vr[:] = 0
        ar, sr = a[t, b, lo:hi], spikes[t, b, lo:hi]
        if v_shift >= 0:
            _lif_row_shift(ar, ur, vr, br, sr, v_shift, vth32)
        else:
            _lif_row(ar, ur, vr, br, sr, ku, kv, vth32)
        if s_int > 0 and t % s_int == s_phase:  # lava.proc.io.reset.Reset
            ur[:] = 0
            vr[:] = 0
        if rec_u.shape[0] > 0:
            rec_u[t, b, lo:hi] = ur
        if rec_v.shape[0] > 0:
            rec_v[t, b, lo:hi] = vr


@njit(cache=True, inline="always")
def _fold24(x: int) -> int:
    """Lava's 24-bit current wrap (``wrap_current``): one fold of 2**24 each way, +2**23 kept,
    -2**23 -> +2**23 (Lava's second ``np.where`` adds 2**24 to the unfolded u; it fires only
    where the first did not, so folding the folded value is the same)."""
    w = x - 2 * STATE_LIMIT if x > STATE_LIMIT else x
    return w + 2 * STATE_LIMIT if w <= -STATE_LIMIT else w


@njit(cache=True, inline="always")
def _settle(uu, vv, i, ur, vr, sr, vth):  # type: ignore[no-untyped-def]
    """Saturate v at +-(2**23 - 1), spike where v > vth and zero v there; store neuron i's
    u, v (int32) and spike (int8)."""
    lim = STATE_LIMIT
    vv = lim - 1 if vv > lim - 1 else vv  # ternaries, not min/max: they vectorise
    vv = 1 - lim if vv < 1 - lim else vv
    fired = vv > vth
    sr[i] = np.int8(1) if fired else np.int8(0)
    ur[i] = np.int32(uu)
    vr[i] = np.int32(0) if fired else np.int32(vv)


@njit(cache=True, inline="always")
def _lif_row(ar, ur, vr, br, sr, ku, kv, vth):  # type: ignore[no-untyped-def]
    """One step of one block, any du and dv: the decays as int64 products."""
    for i in range(sr.size):  # branch-free, so that it vectorises
        uu = _fold24(_wrap32(_trunc12(np.int64(ur[i]) * ku) + (np.int64(ar[i]) << ACT_SHIFT)))
        vv = _wrap32(_trunc12(np.int64(vr[i]) * kv) + uu + br[i])
        _settle(uu, vv, i, ur, vr, sr, vth)


@njit(cache=True, inline="always")
def _lif_row_shift(ar, ur, vr, br, sr, s, vth):  # type: ignore[no-untyped-def]
    """One step of one block when ku = 0 and kv = 2**(12 - s): u is the step's input alone
    (``trunc(u * 0 / 4096) = 0``) and ``trunc(v * kv / 4096) = trunc(v / 2**s)``, a shift of
    v offset by 2**s - 1 when negative; the same integers as :func:`_lif_row`."""
    m = (1 << s) - 1
    for i in range(sr.size):
        uu = _fold24(_wrap32(np.int64(ar[i]) << ACT_SHIFT))
        v0 = np.int64(vr[i])
        vv = _wrap32(((v0 + ((v0 >> 63) & m)) >> s) + uu + br[i])
        _settle(uu, vv, i, ur, vr, sr, vth)


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
