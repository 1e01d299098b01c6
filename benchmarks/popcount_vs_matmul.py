"""Bit-packed AND/XNOR-popcount vs float matmul for spiking attention scores.

Random binary spike Q, K (8 heads x N=196 tokens x d, firing rate 0.25) for head dims
16, 32, 64, 128, 256. Three implementations compute the same a-XNOR scores
``(2^s - a) * c_and + a * c_xnor`` (a = 77, s = 8; a = 0 gives SSA's ``2^s * Q K^T``):

* packed: ``spikeport.hw_models.sim.kernels.popcount.axnor_scores`` (packs into uint64 words,
  AND / XNOR, ``np.bitwise_count``; packing included in the time);
* torch: float32 ``c_and = Q @ K^T``, ``c_xnor = c_and + (1 - Q) @ (1 - K)^T``;
* numpy: the same with float32 ``np.matmul``.

All three must agree exactly (float32 is exact here: every score < 2^24). Times are the
fastest of repeated runs in this process, everything single-threaded (torch,
OpenBLAS), as the packed kernel is. The printed/recorded ratio is
float-matmul seconds / packed seconds (> 1: the packed kernel is faster) for torch and numpy.

Run: .venv/bin/python benchmarks/popcount_vs_matmul.py
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # single-threaded like the packed kernel
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import record  # noqa: E402

from spikeport.hw_models.sim.kernels.popcount import axnor_scores  # noqa: E402

HEADS, TOKENS, RATE = 8, 196, 0.25
HEAD_DIMS = (16, 32, 64, 128, 256)
A_INT, A_SHIFT = 77, 8


def timed(fn: Callable[[], np.ndarray], budget_s: float = 1.5) -> tuple[np.ndarray, float]:
    """Result and the fastest of up to 15 runs within about `budget_s` seconds (the minimum,
    not the median: on a shared machine the slow runs measure the other jobs)."""
    out = fn()
    times: list[float] = []
    total = 0.0
    while len(times) < 15 and (len(times) < 3 or total < budget_s):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        total += times[-1]
    return out, min(times)


BIG, SMALL = float((1 << A_SHIFT) - A_INT), float(A_INT)


def torch_scores(q, k):  # noqa: ANN001, ANN201  (float32 torch tensors [H, N, d])
    c_and = q @ k.transpose(-1, -2)
    c_xnor = c_and + (1 - q) @ (1 - k).transpose(-1, -2)
    return (BIG * c_and + SMALL * c_xnor).numpy()


def numpy_scores(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    c_and = q @ k.swapaxes(-1, -2)
    c_xnor = c_and + (1 - q) @ (1 - k).swapaxes(-1, -2)
    return BIG * c_and + SMALL * c_xnor


def main() -> int:
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    all_identical = True
    load = os.getloadavg()[0]
    for d in HEAD_DIMS:
        q = (rng.random((HEADS, TOKENS, d)) < RATE).astype(np.uint8)
        k = (rng.random((HEADS, TOKENS, d)) < RATE).astype(np.uint8)
        qt, kt = torch.from_numpy(q).float(), torch.from_numpy(k).float()
        qn, kn = q.astype(np.float32), k.astype(np.float32)

        packed, packed_s = timed(partial(axnor_scores, q, k, A_INT, A_SHIFT))
        ref_t, torch_s = timed(partial(torch_scores, qt, kt))
        ref_n, numpy_s = timed(partial(numpy_scores, qn, kn))
        # independent check of the AND part against an integer einsum
        c_and = np.einsum("hnd,hmd->hnm", q.astype(np.int64), k.astype(np.int64))
        identical = (
            np.array_equal(packed, ref_t.astype(np.int64))
            and np.array_equal(packed, ref_n.astype(np.int64))
            and np.array_equal(axnor_scores(q, k, 0, A_SHIFT), (1 << A_SHIFT) * c_and)
        )
        all_identical &= identical
        rows.append((d, packed_s, torch_s, numpy_s, identical))
        record(
            f"popcount_vs_matmul_d{d}",
            ratio=torch_s / packed_s,
            target="report (torch float32 matmul seconds / packed popcount seconds); identical",
            met=bool(identical),
            identical_outputs=bool(identical),
            head_dim=d,
            heads=HEADS,
            tokens=TOKENS,
            packed_ms=round(packed_s * 1e3, 3),
            torch_ms=round(torch_s * 1e3, 3),
            numpy_ms=round(numpy_s * 1e3, 3),
            numpy_ratio=round(numpy_s / packed_s, 4),
            load_average=round(load, 1),
        )
    print(f"a-XNOR scores, {HEADS} heads x {TOKENS} x {TOKENS} tokens, spike rate {RATE}")
    print(
        f"{'d':>4} {'packed ms':>10} {'torch ms':>9} {'numpy ms':>9} "
        f"{'torch/packed':>13} {'numpy/packed':>13} identical"
    )
    for d, p, t, n, same in rows:
        print(
            f"{d:4d} {p * 1e3:10.3f} {t * 1e3:9.3f} {n * 1e3:9.3f} {t / p:13.2f} "
            f"{n / p:13.2f} {same}"
        )
    print(f"load avg {load:.1f} (1 min; {os.cpu_count()} cores)")
    return 0 if all_identical else 1


if __name__ == "__main__":
    sys.exit(main())
