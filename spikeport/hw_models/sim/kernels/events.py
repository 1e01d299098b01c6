"""Event-driven synapses: the weight rows of the active inputs only, gathered and added.

Spiking inputs are sparse (5-30 % of a Spikformer's synapse inputs are non-zero, 1-5 %
behind a LIF), so instead of a dense product ``W @ s`` over every input the compiled loops
here visit each non-zero input once and add its weight row (binary messages: the row;
graded: message x row) into the outputs. The sums are exact integers in the output's own
type (int32 where ``max|s| * max_i sum_j |W[i, j]| < 2**31``, which the callers check, else
int64), so the result equals the dense product bit for bit, in any order.

Both loops also count, per row (Dense: one input vector; Conv: one frame), the non-zero
inputs and the synaptic events (the non-zero fan-out of each active input), the simulator's
``synaptic_events`` counter, so the counting pass costs nothing extra.

Zero inputs are skipped 8 bytes at a time: each row is also read as uint64 words
(:func:`words`), and only non-zero words are inspected element by element.

Rows (frames) are independent, so large inputs run in parallel (numba ``prange``, numba's
thread count; small ones in one thread, :func:`parallel`); every output element is written
by one thread in a fixed order, so results do not depend on the thread count. Compiled code
is cached on disk beside this file.

Whether the event path or the dense product (float BLAS, ``arith.exact_matmul``) is used is
decided per call from the measured input rate (:func:`use_events`); the thresholds were
measured by ``benchmarks/event_threshold.py`` (docs/benchmarks.md).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

DENSE_EVENT_RATE = 0.1
"""Dense: gather-add when at most this fraction of the input is non-zero (measured
crossover with the float32 BLAS product, ``benchmarks/event_threshold.py``: 30 % for
384 -> 384, about 60 % for 384 -> 1536)."""
DENSE_GRADED_EVENT_RATE = 0.1
"""Dense with graded messages (a residual stream's spike counts): gather-add when at most
this fraction is non-zero and :data:`DENSE_EVENT_RATE` allows it too (each row is also
multiplied by its message, and the float32 BLAS product is exact for these small
integers; measured crossover ``benchmarks/event_threshold.py``)."""
CONV_EVENT_RATE = 0.5
"""Conv: scatter-add when at most this fraction of the input is non-zero (measured
crossover with the im2col + float32 BLAS product: 40-60 % for Spikformer's 3 x 3 convs)."""
CONV_SHALLOW = 64
"""Conv: scatter-add at any rate when a product's inner dimension (C_in/groups x kH x kW)
is below this: im2col then costs more than the products (measured on Spikformer's image
conv, 3 x 3 x 3 = 27 over 224 x 224 graded pixels: 0.5 s scatter-add, 1.5 s im2col + BLAS)."""
PARALLEL_ELEMENTS = 1 << 18
"""Inputs of at least this many elements are processed by numba's threads; smaller ones in
one thread (a parallel region costs more than it saves there, most on a busy machine)."""


def parallel(elements: int) -> bool:
    """Whether work over `elements` input elements runs on numba's threads."""
    return elements >= PARALLEL_ELEMENTS


def dense_rate(graded: bool) -> float:
    """The Dense input rate up to which the event path is taken (graded: the lower of the two
    thresholds, so that a negative DENSE_EVENT_RATE switches every event path off)."""
    return min(DENSE_EVENT_RATE, DENSE_GRADED_EVENT_RATE) if graded else DENSE_EVENT_RATE


def use_events(nonzero: int, size: int, threshold: float) -> bool:
    """Whether an input with `nonzero` of `size` elements non-zero takes the event path."""
    return nonzero <= threshold * size


def row_counts(rows: int, synaptic: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Arrays the loops write their per-row counts into: non-zero inputs (int64 [rows]) and
    synaptic events (`synaptic` when given, else a new int64 [rows])."""
    ev = np.empty(rows, dtype=np.int64) if synaptic is None else synaptic
    return np.empty(rows, dtype=np.int64), ev


def count_into(x2: np.ndarray, fanout: np.ndarray, synaptic: np.ndarray) -> np.ndarray:
    """Synaptic events of each row of C-contiguous `x2` [rows, n] (non-zero elements x their
    `fanout` [n], int64), written into `synaptic` [rows] (int64) and returned."""
    nonzero, _ = row_counts(len(x2), synaptic)
    count_events(x2, words(x2), np.ascontiguousarray(fanout, dtype=np.int64), nonzero, synaptic)
    return synaptic


def shift_in_place(acc: np.ndarray, exp: int) -> None:
    """``acc << exp`` (exp > 0) or the floor shift ``acc >> -exp``, in place."""
    if exp > 0:
        np.left_shift(acc, exp, out=acc)
    elif exp < 0:
        np.right_shift(acc, -exp, out=acc)


def words(x2: np.ndarray) -> np.ndarray:
    """The rows of C-contiguous `x2` [rows, n] read as uint64 words [rows, n * itemsize / 8],
    or [rows, 0] (no word skipping) when a row is not a whole number of words."""
    row_bytes = x2.shape[1] * x2.itemsize
    if row_bytes % 8 or not x2.flags.c_contiguous:
        return np.zeros((x2.shape[0], 0), dtype=np.uint64)
    return x2.view(np.uint64)


@njit(cache=True, inline="always")
def _active(xr: np.ndarray, xwr: np.ndarray, idx: np.ndarray) -> int:
    """Write the positions of the non-zero elements of row `xr` into `idx`; return how many.
    `xwr` is the same row as uint64 words (empty: scan element by element)."""
    n = 0
    if xwr.size:
        per_word = xr.size // xwr.size
        for q in range(xwr.size):
            if xwr[q] != 0:
                for j in range(q * per_word, (q + 1) * per_word):
                    if xr[j] != 0:
                        idx[n] = j
                        n += 1
    else:
        for j in range(xr.size):
            if xr[j] != 0:
                idx[n] = j
                n += 1
    return n


@njit(cache=True, inline="always")
def _dense_row(x, xw, wt, fanout, binary, out, nonzero, events, m):  # type: ignore[no-untyped-def]
    """Row m of :func:`dense_events`."""
    idx = np.empty(x.shape[1], dtype=np.int64)
    n = _active(x[m], xw[m], idx)
    row = out[m]
    row[:] = 0
    ev = 0
    for a in range(n):
        ev += fanout[idx[a]]
    a = 0
    while binary and a + 4 <= n:  # four rows per pass: a quarter of the accumulator traffic
        w0, w1, w2, w3 = wt[idx[a]], wt[idx[a + 1]], wt[idx[a + 2]], wt[idx[a + 3]]
        for k in range(row.size):
            row[k] += (np.int32(w0[k]) + np.int32(w1[k])) + (np.int32(w2[k]) + np.int32(w3[k]))
        a += 4
    while not binary and a + 4 <= n:  # graded messages: the same, each row times its message
        j0, j1, j2, j3 = idx[a], idx[a + 1], idx[a + 2], idx[a + 3]
        s0, s1 = np.int64(x[m, j0]), np.int64(x[m, j1])
        s2, s3 = np.int64(x[m, j2]), np.int64(x[m, j3])
        w0, w1, w2, w3 = wt[j0], wt[j1], wt[j2], wt[j3]
        for k in range(row.size):
            row[k] += (s0 * w0[k] + s1 * w1[k]) + (s2 * w2[k] + s3 * w3[k])
        a += 4
    for rest in range(a, n):
        j = idx[rest]
        s = np.int64(x[m, j]) if not binary else 1
        wj = wt[j]
        for k in range(row.size):
            row[k] += s * wj[k]
    nonzero[m] = n
    events[m] = ev


@njit(cache=True, parallel=True)
def _dense_parallel(x, xw, wt, fanout, binary, out, nonzero, events):  # type: ignore[no-untyped-def]
    for m in prange(x.shape[0]):
        _dense_row(x, xw, wt, fanout, binary, out, nonzero, events, m)


@njit(cache=True)
def _dense_serial(x, xw, wt, fanout, binary, out, nonzero, events):  # type: ignore[no-untyped-def]
    for m in range(x.shape[0]):
        _dense_row(x, xw, wt, fanout, binary, out, nonzero, events, m)


def dense_events(
    x: np.ndarray,
    xw: np.ndarray,
    wt: np.ndarray,
    fanout: np.ndarray,
    binary: bool,
    out: np.ndarray,
    nonzero: np.ndarray,
    events: np.ndarray,
) -> None:
    """``out[m] = sum_j s[m, j] * wt[j]`` over the non-zero inputs j of each row m.

    x: [rows, n_in] integer messages (binary: any non-zero counts as 1); xw: :func:`words`
    of x; wt: [n_in, n_out] effective weights, transposed (int16); fanout: [n_in] int64
    non-zero synapses of each input; out: [rows, n_out] int32 or int64, written (exact
    while the caller's bound holds). nonzero, events: [rows] int64, written:
    non-zero inputs and synaptic events (sum of their fan-out) of each row.
    """
    run = _dense_parallel if parallel(x.size) else _dense_serial
    run(x, xw, wt, fanout, binary, out, nonzero, events)


@njit(cache=True, inline="always")
def _tap(y: int, pad: int, i: int, dil: int, stride: int, size: int) -> int:
    """Along one axis: the output position input position `y` reaches through kernel tap
    `i` (``p * stride - pad + i * dil = y``), -1 when none, -2 when none for this tap or any
    later one (the taps run past the input's start)."""
    t = y + pad - i * dil
    if t < 0:
        return -2
    if stride == 1:  # no integer division (the common case; it is slow)
        p = t
    elif t % stride:
        return -1
    else:
        p = t // stride
    return p if p < size else -1


@njit(cache=True, inline="always")
def _conv_frame(x, xw, wk, fanout, geometry, binary, out, nonzero, events, f):  # type: ignore[no-untyped-def]
    """Frame f of :func:`conv_events`."""
    w, c_in, c_out, ho, wo = geometry[1], geometry[2], geometry[3], geometry[4], geometry[5]
    sh, sw, ph, pw = geometry[6], geometry[7], geometry[8], geometry[9]
    dh, dw, c_in_g = geometry[10], geometry[11], geometry[12]
    kh, kw, co_g = wk.shape[1], wk.shape[2], wk.shape[3]
    acc = np.zeros((ho, wo, c_out), dtype=out.dtype)
    idx = np.empty(x.shape[1], dtype=np.int64)
    n = _active(x[f], xw[f], idx)
    blocked = binary and c_in_g == c_in  # one group: every channel adds to the same outputs
    ev = 0
    a = 0
    while a < n:  # the active inputs of one position (channel-last: consecutive) at a time
        pos = idx[a] // c_in
        end = a + 1
        while end < n and idx[end] // c_in == pos:
            end += 1
        for r in range(a, end):
            ev += fanout[idx[r]]
        y = pos // w
        xx = pos - y * w
        for i in range(kh):
            p = _tap(y, ph, i, dh, sh, ho)
            if p == -2:
                break
            if p < 0:
                continue
            for j in range(kw):
                q = _tap(xx, pw, j, dw, sw, wo)
                if q == -2:
                    break
                if q < 0:
                    continue
                r = a
                if blocked:  # four channels per pass: a quarter of the accumulator traffic
                    dst = acc[p, q]
                    base = pos * c_in
                    while r + 4 <= end:
                        w0, w1 = wk[idx[r] - base, i, j], wk[idx[r + 1] - base, i, j]
                        w2, w3 = wk[idx[r + 2] - base, i, j], wk[idx[r + 3] - base, i, j]
                        for k in range(co_g):
                            dst[k] += (np.int32(w0[k]) + np.int32(w1[k])) + (
                                np.int32(w2[k]) + np.int32(w3[k])
                            )
                        r += 4
                for rest in range(r, end):
                    e = idx[rest]
                    c = e - pos * c_in
                    base = (c // c_in_g) * co_g
                    wv = wk[c, i, j]
                    dst = acc[p, q, base : base + co_g]  # sliced: an offset index blocks SIMD
                    if binary:
                        for k in range(co_g):
                            dst[k] += wv[k]
                    else:
                        s = np.int64(x[f, e])
                        for k in range(co_g):
                            dst[k] += s * wv[k]
        a = end
    nonzero[f] = n
    events[f] = ev
    of = out[f]
    for o in range(c_out):
        for p in range(ho):
            for q in range(wo):
                of[(o * ho + p) * wo + q] = acc[p, q, o]


@njit(cache=True, parallel=True)
def _conv_parallel(x, xw, wk, fanout, geometry, binary, out, nonzero, events):  # type: ignore[no-untyped-def]
    for f in prange(x.shape[0]):
        _conv_frame(x, xw, wk, fanout, geometry, binary, out, nonzero, events, f)


@njit(cache=True)
def _conv_serial(x, xw, wk, fanout, geometry, binary, out, nonzero, events):  # type: ignore[no-untyped-def]
    for f in range(x.shape[0]):
        _conv_frame(x, xw, wk, fanout, geometry, binary, out, nonzero, events, f)


def conv_events(
    x: np.ndarray,
    xw: np.ndarray,
    wk: np.ndarray,
    fanout: np.ndarray,
    geometry: np.ndarray,
    binary: bool,
    out: np.ndarray,
    nonzero: np.ndarray,
    events: np.ndarray,
) -> None:
    """Cross-correlation of each frame by scattering its non-zero inputs.

    x: [frames, H * W * C_in] integer messages, channel-last (a frame's (H, W, C)
    flattened; binary: any non-zero counts as 1); xw: :func:`words` of x; wk: [C_in, kH, kW,
    C_out/groups] weights (int16), ``wk[c, i, j] = W[g * C_out/groups : (g + 1) *
    C_out/groups, c % (C_in/groups), i, j]`` for input channel c of group g; fanout:
    [H * W * C_in] int64 (channel-last); geometry: int64 [H, W, C_in, C_out, H_out, W_out,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, C_in/groups]; out: [frames, C_out *
    H_out * W_out] (int32 or int64, channel-first), written (exact while the caller's bound
    holds). nonzero, events: [frames] int64, written.

    Input (y, x, c) reaches output (p, q, o) through tap (i, j) where
    ``p * stride_h - pad_h + i * dil_h = y`` (and the same for q, x); its weight vector over
    the group's output channels is added at (p, q) of a channel-last accumulator (inputs
    are visited in spatial order, so the accumulator rows in use stay in cache), which is
    then transposed into `out`.
    """
    run = _conv_parallel if parallel(x.size) else _conv_serial
    run(x, xw, wk, fanout, geometry, binary, out, nonzero, events)


@njit(cache=True, inline="always")
def _count_row(x, xw, fanout, nonzero, events, m):  # type: ignore[no-untyped-def]
    """Row m of :func:`count_events`."""
    idx = np.empty(x.shape[1], dtype=np.int64)
    k = _active(x[m], xw[m], idx)
    ev = 0
    for a in range(k):
        ev += fanout[idx[a]]
    nonzero[m] = k
    events[m] = ev


@njit(cache=True, parallel=True)
def _count_parallel(x, xw, fanout, nonzero, events):  # type: ignore[no-untyped-def]
    for m in prange(x.shape[0]):
        _count_row(x, xw, fanout, nonzero, events, m)


@njit(cache=True)
def _count_serial(x, xw, fanout, nonzero, events):  # type: ignore[no-untyped-def]
    for m in range(x.shape[0]):
        _count_row(x, xw, fanout, nonzero, events, m)


def count_events(
    x: np.ndarray, xw: np.ndarray, fanout: np.ndarray, nonzero: np.ndarray, events: np.ndarray
) -> None:
    """Per row of `x` [rows, n] (xw: its :func:`words`): the non-zero elements and the sum of
    their `fanout` [n] (int64), written into `nonzero`, `events` [rows] (int64)."""
    run = _count_parallel if parallel(x.size) else _count_serial
    run(x, xw, fanout, nonzero, events)
