"""lower-axnor: ssa / lrf_ssa / axnor IntAttention -> bit-packed AND/XNOR popcount primitives.

References: the float a-XNOR similarity sum_i [q_i k_i + a (1 - q_i)(1 - k_i)] (co-spike 1,
co-silence a, mismatch 0: the a-XNOR paper, CVPR 2025) evaluated elementwise in float64
(exact here: dyadic a, small sums), and the converter's integer formulas in
``hw_models.sim.int_attention``.
"""

from __future__ import annotations

import numpy as np
from attention_graphs import lowered as lower_core
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeport.hw_models.sim import int_attention as ia
from spikeport.hw_models.sim.engine import Simulator
from spikeport.ir import Graph, validate
from spikeport.ir.int_attention import IntAttention

HEAD_SIZES = [1, 7, 63, 64, 65, 130]


def lowered(att: IntAttention, n: int) -> Graph:
    out = lower_core(att, n, "lower-axnor")
    validate(out)
    return out


def spikes(rng: np.random.Generator, shape: tuple[int, ...], p: float) -> np.ndarray:
    return (rng.random(shape) < p).astype(np.int64)


def run(graph: Graph, data: dict[str, np.ndarray], probes=()) -> tuple[np.ndarray, dict]:
    """data: {port: [T, B, N, D]} -> (graph output [T, B, ...], probes)."""
    res = Simulator(graph, probes).run({k: np.moveaxis(v, 0, 1) for k, v in data.items()})
    return res.outputs["att"], res.probes


def float_similarity(q: np.ndarray, k: np.ndarray, a: np.ndarray) -> np.ndarray:
    """sum_i [q_i k_i + a (1-q_i)(1-k_i)] for q [..., h, N, d], k [..., h, M, d]; a [h]."""
    qq, kk = q[..., :, None, :], k[..., None, :, :]
    a = np.asarray(a, dtype=np.float64).reshape(-1, 1, 1, 1)
    return (qq * kk + a * (1 - qq) * (1 - kk)).sum(-1)


@settings(max_examples=40, deadline=None)
@given(
    d=st.sampled_from(HEAD_SIZES),
    heads=st.integers(1, 2),
    n=st.integers(1, 5),
    m=st.integers(0, 10),
    uniform=st.booleans(),
    density=st.sampled_from([0.1, 0.5, 0.9]),
    data=st.data(),
)
def test_lowered_axnor_scores_equal_float_similarity_times_2m(
    d, heads, n, m, uniform, density, data
):
    a_int = np.array(data.draw(st.lists(st.integers(0, 1 << m), min_size=heads, max_size=heads)))
    if uniform:
        a_int[:] = a_int[0]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    att = IntAttention(
        "att", variant="axnor", heads=heads, head_dim=d, count_shift=0, a_int=a_int, a_shift=m
    )
    g = lowered(att, n)
    score = "att.combine" if len(set(a_int.tolist())) > 1 else "att.xnor"
    assert score in g
    x = {p: spikes(rng, (1, 2, n, heads * d), density) for p in "qkv"}
    _, probes = run(g, x, [score])
    got = probes[(score, "out")]
    qh, kh = ia.split_heads(x["q"], heads), ia.split_heads(x["k"], heads)
    want = float_similarity(qh, kh, a_int / 2**m) * 2**m
    assert np.all(want == np.round(want))
    np.testing.assert_array_equal(got, want.astype(np.int64))


@settings(max_examples=30, deadline=None)
@given(
    d=st.sampled_from(HEAD_SIZES),
    heads=st.integers(1, 3),
    n=st.integers(1, 6),
    m=st.integers(0, 8),
    count_shift=st.integers(0, 10),
    variant=st.sampled_from(["ssa", "axnor"]),
    data=st.data(),
)
def test_lowered_attention_equals_converter_integer_formula(
    d, heads, n, m, count_shift, variant, data
):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    a_int = rng.integers(0, (1 << m) + 1, heads)
    params = dict(a_int=a_int, a_shift=m) if variant == "axnor" else {}
    att = IntAttention(
        "att", variant=variant, heads=heads, head_dim=d, count_shift=count_shift, **params
    )
    x = {p: spikes(rng, (3, 2, n, heads * d), rng.random()) for p in "qkv"}
    got, _ = run(lowered(att, n), x)
    if variant == "axnor":
        want = ia.axnor_int(x["q"], x["k"], x["v"], heads, a_int, m, count_shift)
    else:
        want = ia.ssa_int(x["q"], x["k"], x["v"], heads, count_shift)
    np.testing.assert_array_equal(got, want)


def test_ssa_lowers_to_and_popcount_only():
    g = lowered(IntAttention("att", variant="ssa", heads=2, head_dim=65, count_shift=3), 4)
    kinds = {type(r).__name__ for r in g}
    assert "AndPopcount" in kinds
    assert not kinds & {"XnorPopcount", "ScoreCombine", "IntAttention"}


def test_primitive_widths_hold_the_largest_scores():
    # q = k = 0 everywhere makes every XNOR bit count: the largest score 2^m d; v = 1
    # everywhere makes the accumulation its largest, N 2^m d, before the shifts.
    d, n, m, cs = 130, 5, 6, 4
    att = IntAttention(
        "att", variant="axnor", heads=1, head_dim=d, count_shift=cs, a_int=[1 << m], a_shift=m
    )
    g = lowered(att, n)
    xnor, acc = g.node("att.xnor"), g.node("att.accumulate")
    assert xnor.out_bits == 6 + 8  # m + ceil(log2(130 + 1))
    assert acc.sum_bits(n) == 14 + 3  # + ceil(log2(5 + 1))
    assert acc.out_bits(n) == 17 + cs - m
    zeros = np.zeros((1, 1, n, d), dtype=np.int64)
    got, probes = run(g, {"q": zeros, "k": zeros, "v": zeros + 1}, ["att.xnor"])
    assert probes[("att.xnor", "out")].max() == 8320  # 2^6 * 130
    assert got.max() == 5 * 8320 * 2**cs // 2**m == 10400
    assert int(got.max()).bit_length() <= acc.out_bits(n)


def test_local_term_width_holds_the_largest_tap_sum():
    # 11 x 11 grid: the centre token sees all 9 taps at dilations 3 and 5; weights -256
    # everywhere give the extreme sum -18 * 256 = -4608, inside int14 = 9 + ceil(log2(19)).
    dim = 2
    att = IntAttention(
        "att",
        variant="lrf_ssa",
        heads=1,
        head_dim=dim,
        count_shift=0,
        grid=(11, 11),
        local_weight=np.full((2, dim, 1, 3, 3), -256),
        local_shift=0,
    )
    g = lowered(att, 121)
    local = g.node("att.local")
    assert local.sum_bits == 14
    ones = np.ones((1, 1, 121, dim), dtype=np.int64)
    _, probes = run(g, {"q": ones * 0, "k": ones * 0, "v": ones}, ["att.local"])
    got = probes[("att.local", "out")]
    assert got.min() == -4608 == got[0, 0, 5 * 11 + 5, 0]
    assert -(1 << (local.sum_bits - 1)) <= got.min()
