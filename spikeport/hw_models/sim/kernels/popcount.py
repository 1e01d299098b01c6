"""Bit-packed spike similarity: AND / XNOR of 64-bit words, then popcount.

The a-XNOR and SSA score primitives (IR ``XnorPopcount`` / ``AndPopcount``): binary q and k
rows of `head_dim` bits are packed into ceil(head_dim / 64) uint64 words; the padding bits of
the last word are masked out of the XNOR count.

* ``c_and[n, m] = popcount(q_n & k_m)``
* ``c_xnor[n, m] = popcount(~(q_n ^ k_m) & valid)``
* a-XNOR: ``score = (2^a_shift - a_int) * c_and + a_int * c_xnor`` (unsigned, exact).

Packing is numpy; the word loop is compiled (``kernels.loops.popcount_scores``), so no
[N, M, words] temporary is materialised.
"""

from __future__ import annotations

import numpy as np

from spikeport.hw_models.sim.kernels.loops import popcount_scores

WORD_BITS = 64


def words(head_dim: int) -> int:
    """uint64 words holding `head_dim` bits."""
    return -(-head_dim // WORD_BITS)


def pack_bits(x: np.ndarray) -> np.ndarray:
    """Binary [..., d] (non-zero = 1) -> uint64 words [..., ceil(d / 64)], bit i of the row at
    bit i % 64 of word i // 64."""
    x = np.asarray(x) != 0
    d = x.shape[-1]
    pad = words(d) * WORD_BITS - d
    if pad:
        x = np.concatenate([x, np.zeros((*x.shape[:-1], pad), dtype=bool)], axis=-1)
    packed = np.packbits(x, axis=-1, bitorder="little")  # [..., 8 * words] bytes
    return np.ascontiguousarray(packed).view("<u8")


def _valid_mask(head_dim: int) -> np.ndarray:
    mask = np.full(words(head_dim), np.iinfo(np.uint64).max, dtype=np.uint64)
    rest = head_dim % WORD_BITS
    if rest:
        mask[-1] = np.uint64((1 << rest) - 1)
    return mask


def _scores(q: np.ndarray, k: np.ndarray, w_and: int, w_xnor: int) -> np.ndarray:
    """``w_and * popcount(q & k) + w_xnor * popcount(xnor(q, k))`` for q [..., N, d],
    k [..., M, d] binary -> int64 [..., N, M] (one compiled pass over the packed words)."""
    qw, kw = pack_bits(q), pack_bits(k)
    lead = np.broadcast_shapes(qw.shape[:-2], kw.shape[:-2])
    qw = np.broadcast_to(qw, (*lead, *qw.shape[-2:])).reshape(-1, *qw.shape[-2:])
    kw = np.broadcast_to(kw, (*lead, *kw.shape[-2:])).reshape(-1, *kw.shape[-2:])
    out = np.empty((qw.shape[0], qw.shape[1], kw.shape[1]), dtype=np.int64)
    popcount_scores(qw, kw, _valid_mask(np.shape(q)[-1]), w_and, w_xnor, out)
    return out.reshape(*lead, qw.shape[1], kw.shape[1])


def and_popcount(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """popcount(q & k) for q [..., N, d], k [..., M, d] binary -> int64 [..., N, M]."""
    return _scores(q, k, 1, 0)


def xnor_popcount(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """popcount(~(q ^ k)) over the d valid bits -> int64 [..., N, M]."""
    return _scores(q, k, 0, 1)


def axnor_scores(q: np.ndarray, k: np.ndarray, a_int: int, a_shift: int) -> np.ndarray:
    """``(2^a_shift - a_int) * popcount(q & k) + a_int * popcount(xnor(q, k))``, int64."""
    return _scores(q, k, (1 << a_shift) - a_int, a_int)
