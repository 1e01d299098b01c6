"""Bit-packed a-XNOR / SSA scores equal the seed paper's formula, for any head size."""

from __future__ import annotations

import numpy as np
import pytest

from spikeport import ir
from spikeport.hw_models.sim.engine import Simulator
from spikeport.hw_models.sim.kernels.popcount import and_popcount, axnor_scores, words


def _formula(q: np.ndarray, k: np.ndarray, a_int: int, a_shift: int) -> np.ndarray:
    """2^m * sum_i [q_i k_i + a (1 - q_i)(1 - k_i)] with a = a_int / 2^m (integer dot products)."""
    q, k = q.astype(np.int64), k.astype(np.int64)
    both = q @ np.swapaxes(k, -1, -2)
    neither = (1 - q) @ np.swapaxes(1 - k, -1, -2)
    return (1 << a_shift) * both + a_int * neither


@pytest.mark.parametrize("head_dim", [1, 5, 63, 64, 65, 130])
@pytest.mark.parametrize(("a_int", "a_shift"), [(0, 0), (3, 3), (11, 4), (16, 4)])
def test_packed_scores_equal_the_formula(head_dim: int, a_int: int, a_shift: int) -> None:
    rng = np.random.default_rng(head_dim * 100 + a_int)
    q = rng.random((2, 3, 7, head_dim)) < 0.4
    k = rng.random((2, 3, 5, head_dim)) < 0.6
    assert np.array_equal(axnor_scores(q, k, a_int, a_shift), _formula(q, k, a_int, a_shift))
    assert np.array_equal(and_popcount(q, k), _formula(q, k, 0, 0))


def test_simulator_runs_xnor_scores_and_counts_words() -> None:
    rng = np.random.default_rng(0)
    n, d, steps, batch = 6, 70, 4, 2
    g = ir.Graph("att")
    g.add(ir.Input("q", shape=(2, n, d)))
    g.add(ir.Input("k", shape=(2, n, d)))
    g.add(
        ir.XnorPopcount("xnor", head_dim=d, a_int=5, a_shift=4, out_bits=12), {"q": "q", "k": "k"}
    )
    q = (rng.random((batch, steps, 2, n, d)) < 0.5).astype(np.int64)
    k = (rng.random((batch, steps, 2, n, d)) < 0.5).astype(np.int64)
    res = Simulator(g).run({"q": q, "k": k})
    want = _formula(np.moveaxis(q, 1, 0), np.moveaxis(k, 1, 0), 5, 4)
    assert np.array_equal(res.outputs["xnor"], want)
    per_step = batch * 2 * n * n * words(d) * 2  # AND and XNOR words per score
    assert (res.counts["xnor"]["bitwise_words"] == per_step).all()
    assert (res.counts["xnor"]["popcount_words"] == per_step).all()
