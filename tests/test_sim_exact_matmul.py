"""exact_matmul / conv2d_int: the float32 and float64 BLAS paths equal numpy's int64 product
on both sides of their exactness bounds (2**24, 2**53), including worst-case sums."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spikeport.hw_models.sim.kernels.arith import exact_matmul
from spikeport.hw_models.sim.kernels.conv import conv2d_int


@pytest.mark.parametrize("a_max", [1, 7, 255, 4095, 1 << 20])
def test_exact_matmul_equals_int64_product(a_max):
    rng = np.random.default_rng(a_max)
    a = rng.integers(-a_max, a_max + 1, (70, 300))
    b = rng.integers(-256, 256, (300, 40))
    assert np.array_equal(exact_matmul(a, b), a @ b)


def test_exact_matmul_worst_case_sums_just_below_and_above_float32_bound():
    # a column of 255s with a = 1: the sum 255 * n crosses 2**24 at n = 65794
    for n in (65793, 65795):
        a = np.ones((3, n), dtype=np.int64)
        b = np.full((n, 2), 255, dtype=np.int64)
        b[-1, 1] = 254  # an odd total: float32 would round it beyond 2**24
        assert np.array_equal(exact_matmul(a, b), a @ b)


def test_conv2d_int_equals_torch_float64_conv():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (3, 6, 9, 8))
    for groups, shape, pad, dil in (
        (1, (5, 6, 3, 3), (1, 1), (1, 1)),
        (2, (6, 3, 3, 3), (2, 1), (2, 1)),
    ):
        w = rng.integers(-256, 256, shape)
        got = conv2d_int(x, w, (1, 1), pad, dil, groups)
        want = F.conv2d(
            torch.from_numpy(x).double(), torch.from_numpy(w).double(), None, 1, pad, dil, groups
        )
        assert np.array_equal(got, want.numpy().astype(np.int64))
