"""The integer-spike nodes in the simulator (SDT-V3's I-LIF and its attention product).

References, independent of the code under test: Python's ``round`` of an exact
``fractions.Fraction`` (nearest integer, ties to even) for the I-LIF, ``torch.round`` of
the same value where float64 holds it exactly, and a plain Python-integer triple loop for
``(Q K^T) V``. The virtual-timestep forms are checked against the graded forms.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from spikeport import ir
from spikeport.errors import UnsupportedError
from spikeport.hw_models.sim.engine import Simulator


def _run(graph: ir.Graph, feed: dict, steps: int | None = None, schedule: str = "layer"):
    sim = Simulator(graph, list(graph.nx.nodes), schedule=schedule)
    return sim.run(feed, steps)


def _neuron_graph(shape, **fields) -> ir.Graph:
    g = ir.Graph("ilif")
    g.add(ir.Input("a", shape=shape, kind="graded"))
    g.add(ir.GradedSpike("s", shape=shape, **fields), "a")
    return g


def _fraction_reference(a: np.ndarray, bias: np.ndarray, vth: int, top: int) -> np.ndarray:
    flat = [
        min(top, max(0, round(Fraction(int(x) + int(b), vth))))
        for x, b in zip(a.ravel(), np.broadcast_to(bias, a.shape).ravel(), strict=True)
    ]
    return np.array(flat, dtype=np.int64).reshape(a.shape)


@pytest.mark.parametrize("vth", [1, 2, 7, 8, 128, 1001])
def test_graded_spike_rounds_the_exact_ratio_to_nearest_with_ties_to_even(vth: int) -> None:
    rng = np.random.default_rng(vth)
    a = rng.integers(-3 * vth, 7 * vth, size=(5, 3, 4, 6))  # [T, B, C, W]
    bias = rng.integers(-vth, vth, size=(4, 1))
    g = _neuron_graph((4, 6), vth=vth, bias=bias, max_value=4)
    got = _run(g, {"a": np.moveaxis(a, 0, 1)}).outputs["s"]
    assert np.array_equal(got, _fraction_reference(a, bias, vth, 4))
    assert got.min() == 0 and got.max() == 4  # both clamps are exercised


def test_graded_spike_ties_round_to_even_like_torch_round() -> None:
    vth = 4
    a = np.array([-2, 2, 6, 10, 14, 18, 30], dtype=np.int64)  # x / 4 = -.5, .5, 1.5, ..., 7.5
    g = _neuron_graph((7,), vth=vth, max_value=7)
    got = _run(g, {"a": a[None, None]}).outputs["s"][0, 0]
    by_hand = [0, 0, 2, 2, 4, 4, 7]  # half to even, then clamp to 0..7
    assert got.tolist() == by_hand
    ref = torch.round(torch.clamp(torch.tensor(a / vth), 0, 7)).to(torch.int64)
    assert got.tolist() == ref.tolist()


def test_graded_spike_virtual_steps_send_the_same_count_as_binary_spikes() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(-40, 90, size=(2, 8, 5))  # [B, T = 2 windows x 4 steps, 5]
    bias = rng.integers(-9, 9, size=(5,))
    graded = _neuron_graph((5,), vth=9, bias=bias, max_value=4)
    expanded = _neuron_graph((5,), vth=9, bias=bias, max_value=4, virtual_steps=4)
    b = _run(expanded, {"a": a}).outputs["s"]  # [8, 2, 5]
    assert set(np.unique(b)) <= {0, 1}
    window_sum = a.reshape(2, 2, 4, 5).sum(2)  # the input summed per window
    s = _run(graded, {"a": np.moveaxis(window_sum, 1, 1)}).outputs["s"]  # [2, 2, 5]
    assert np.array_equal(b.reshape(2, 4, 2, 5).sum(1), s)
    # b_j = 1 exactly for the first s steps of the window
    for w in range(2):
        for j in range(4):
            assert np.array_equal(b[4 * w + j], (j < s[w]).astype(b.dtype))


def test_virtual_steps_are_refused_under_lava_timing() -> None:
    g = _neuron_graph((3,), vth=2, max_value=4, virtual_steps=4)
    with pytest.raises(UnsupportedError, match="layer-synchronously"):
        _run(g, {"a": np.zeros((1, 4, 3), dtype=np.int64)}, schedule="lava")


def _attention_graph(n: int, c: int, cv: int, **fields) -> ir.Graph:
    g = ir.Graph("att")
    for p, w in (("q", c), ("k", c), ("v", cv)):
        g.add(ir.Input(p, shape=(n, w), kind="graded"))
    g.add(ir.IntLinearAttention("y", **fields), {"q": "q", "k": "k", "v": "v"})
    return g


def _loop_reference(q, k, v, heads: int, shift: int) -> np.ndarray:
    n, c = q.shape
    d, dv = c // heads, v.shape[1] // heads
    out = np.zeros(v.shape, dtype=object)
    for h in range(heads):
        for i in range(n):
            for j in range(dv):
                total = 0
                for m in range(n):
                    score = sum(int(q[i, h * d + e]) * int(k[m, h * d + e]) for e in range(d))
                    total += score * int(v[m, h * dv + j])
                out[i, h * dv + j] = total << shift
    return out.astype(np.int64)


@pytest.mark.parametrize(
    ("n", "c", "cv", "heads", "shift"), [(5, 4, 16, 2, 0), (9, 6, 6, 1, 3), (3, 8, 32, 4, 2)]
)
def test_linear_attention_equals_a_python_integer_loop(n, c, cv, heads, shift) -> None:
    rng = np.random.default_rng(n * c)
    q, k, v = (rng.integers(0, 5, size=(2, n, w)) for w in (c, c, cv))
    g = _attention_graph(n, c, cv, heads=heads, shift=shift, max_value=4)
    got = _run(g, {"q": q[:, None], "k": k[:, None], "v": v[:, None]}).outputs["y"][0]
    for b in range(2):
        assert np.array_equal(got[b], _loop_reference(q[b], k[b], v[b], heads, shift))


def test_linear_attention_is_exact_where_float32_is_not_and_refuses_too_narrow_outputs() -> None:
    """Sums past 2**24 (float32 inexact: the float64 path) equal the Python-integer loop."""
    n, c = 4, 2
    q = np.full((1, n, c), 255)
    k = np.full((1, n, c), 255)
    v = np.full((1, n, c), 255)
    g = _attention_graph(n, c, c, heads=1, shift=20, max_value=255, out_bits=32)
    with pytest.raises(ir.GraphError, match="out_bits"):
        ir.validate(g)  # the largest output (2^20 x 4 x 2 x 255^3) does not fit 32 bits
    g = _attention_graph(n, c, c, heads=1, shift=0, max_value=255, out_bits=32)
    got = _run(g, {"q": q[:, None], "k": k[:, None], "v": v[:, None]}).outputs["y"][0, 0]
    assert np.array_equal(got, _loop_reference(q[0], k[0], v[0], 1, 0))


def test_linear_attention_virtual_steps_multiply_the_window_sums() -> None:
    rng = np.random.default_rng(7)
    n, c, cv = 4, 4, 8
    counts = {p: rng.integers(0, 5, size=(1, n, w)) for p, w in (("q", c), ("k", c), ("v", cv))}
    steps = 4
    binary = {}
    for p, s in counts.items():  # the binary trains of the counts, in a scrambled order
        j = rng.permuted(np.arange(steps)[:, None, None, None] < s[None], axis=0)
        binary[p] = np.moveaxis(j.astype(np.int64), 0, 1)  # [B, steps, N, C]
    g1 = _attention_graph(n, c, cv, heads=2, shift=1, max_value=4)
    g4 = _attention_graph(n, c, cv, heads=2, shift=1, max_value=4, virtual_steps=steps)
    graded = _run(g1, {p: s[:, None] for p, s in counts.items()}).outputs["y"]
    expanded = _run(g4, binary).outputs["y"]
    assert np.array_equal(expanded[0], graded[0]) and not expanded[1:].any()
