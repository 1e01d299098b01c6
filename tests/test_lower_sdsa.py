"""lower-sdsa: SDSA IntAttention -> AND, token column sum, talking-heads LIF, AND; equals the
converter's integer formula ``hw_models.sim.int_attention.sdsa_int`` bit for bit."""

from __future__ import annotations

import numpy as np
from attention_graphs import lowered as lower_core
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeport.hw_models.sim import int_attention as ia
from spikeport.hw_models.sim.engine import Simulator
from spikeport.ir import Graph
from spikeport.ir.int_attention import IntAttention


def lowered(att: IntAttention, n: int) -> Graph:
    return lower_core(att, n, "lower-sdsa")


def test_sdsa_lowers_to_and_column_sum_lif_and():
    g = lowered(IntAttention("att", variant="sdsa", heads=2, head_dim=4, count_shift=2), 6)
    chain = ["att.kv", "att.kv_sum", "att.talking_lif", "att"]
    assert [type(g.node(n)).__name__ for n in chain] == [
        "SpikeAnd",
        "TokenSum",
        "CubaLIF",
        "SpikeAnd",
    ]
    assert g.inputs_of("att") == {"a": "q", "b": "att.talking_lif"}
    assert g.node("att.talking_lif").shape == (8,)
    assert "IntAttention" not in {type(r).__name__ for r in g}


@settings(max_examples=30, deadline=None)
@given(
    heads=st.integers(1, 3),
    d=st.sampled_from([1, 3, 8]),
    n=st.integers(1, 9),
    count_shift=st.integers(0, 8),
    vth=st.integers(0, 600),
    dv=st.sampled_from([0, 1024, 2048, 4096]),
    seed=st.integers(0, 2**32 - 1),
)
def test_lowered_sdsa_equals_converter_integer_formula(heads, d, n, count_shift, vth, dv, seed):
    rng = np.random.default_rng(seed)
    att = IntAttention(
        "att",
        variant="sdsa",
        heads=heads,
        head_dim=d,
        count_shift=count_shift,
        inner_vth=vth,
        inner_dv=dv,
    )
    x = {p: (rng.random((5, 3, n, heads * d)) < rng.random()).astype(np.int64) for p in "qkv"}
    res = Simulator(lowered(att, n)).run({p: np.moveaxis(a, 0, 1) for p, a in x.items()})
    want = ia.sdsa_int(x["q"], x["k"], x["v"], count_shift=count_shift, vth=vth, dv=dv)
    np.testing.assert_array_equal(res.outputs["att"], want)


def test_token_sum_width_holds_the_all_ones_column_sum():
    n, shift = 6, 2
    g = lowered(IntAttention("att", variant="sdsa", heads=1, head_dim=3, count_shift=shift), n)
    assert g.node("att.kv_sum").out_bits(n) == 3 + 2  # ceil(log2(6 + 1)) + shift
    ones = np.ones((1, 1, n, 3), dtype=np.int64)
    res = Simulator(g, probes=["att.kv_sum"]).run({p: ones for p in "qkv"})
    got = res.probes[("att.kv_sum", "out")]
    assert got.max() == 6 << 2 == 24  # fits 5 unsigned bits
