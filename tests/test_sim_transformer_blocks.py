"""A spiking attention block (q/k/v Dense + biased LIFs, attention core, attention LIF,
projection, residual Add), for all five attention variants, as IntAttention and lowered to
its primitives: retimed and run under Lava's timing, the simulator equals the
layer-synchronous integer reference (`run_int` on the un-retimed, un-lowered graph) at
every LIF after the latency shift, in full and windowed runs, for any batch split."""

from __future__ import annotations

import numpy as np
import pytest
from attention_graphs import random_core

from spikeport.converters.passes import PassManager
from spikeport.converters.passes.retime import Retime
from spikeport.hw_models.sim.engine import Simulator
from spikeport.hw_models.sim.int_eval import run_int
from spikeport.ir import Add, CubaLIF, Dense, Graph, Input
from spikeport.ir.timing import Timing

VARIANTS = ["ssa", "axnor", "lrf_ssa", "lrf_dyn", "sdsa"]
GRID, HEADS, HEAD_DIM, T = (3, 4), 2, 5, 4
DIM, N = HEADS * HEAD_DIM, GRID[0] * GRID[1]


def block(variant: str, seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    g = Graph(f"block_{variant}")
    g.add(Input("x", shape=(N, DIM), kind="graded"))
    g.add(Dense("embed", weight=rng.integers(-90, 160, (DIM, DIM)), num_message_bits=3), "x")
    g.add(
        CubaLIF("embed.lif", shape=(N, DIM), dv=2048, vth=300, bias_mant=700, bias_exp=3), "embed"
    )
    for p in "qkv":
        w = rng.integers(-120, 200, (DIM, DIM))
        g.add(Dense(f"attn.{p}", weight=w), "embed.lif")
        bias = rng.integers(-200, 1500, (DIM,))
        g.add(
            CubaLIF(f"attn.{p}_lif", shape=(N, DIM), dv=2048, vth=250, bias_mant=bias, bias_exp=3),
            f"attn.{p}",
        )
    core = random_core(
        variant, rng, "attn.core", DIM, GRID, dyn_k=3, dyn_off=900, dyn_lower=False, inner_vth=10
    )
    g.add(core, {p: f"attn.{p}_lif" for p in "qkv"})
    vth = 1 if variant == "sdsa" else 40  # sdsa's core sends spikes, the others counts
    g.add(CubaLIF("attn.lif", shape=(N, DIM), dv=2048, vth=vth, bias_mant=0), "attn.core")
    g.add(Dense("attn.proj", weight=rng.integers(-100, 220, (DIM, DIM))), "attn.lif")
    g.add(
        CubaLIF("attn.proj_lif", shape=(N, DIM), dv=2048, vth=200, bias_mant=900, bias_exp=3),
        "attn.proj",
    )
    g.add(Add("res"), {"a": "embed.lif", "b": "attn.proj_lif"})
    g.add(Dense("head", weight=rng.integers(-200, 200, (3, DIM)), num_message_bits=2), "res")
    g.add(CubaLIF("readout", shape=(N, 3), dv=0, vth=1 << 17, bias_mant=30, bias_exp=1), "head")
    g.meta.update(T=T, readout="readout", input_scale=1.0)
    return g


def lowered(g: Graph) -> Graph:
    from spikeport.converters.passes.lower_attention import lowering_passes

    return PassManager(lowering_passes(lower=True)).run(g)


@pytest.mark.parametrize("lower", [False, True], ids=["IntAttention", "lowered"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_attention_block_under_lava_timing_equals_layer_synchronous_reference(variant, lower):
    g = block(variant)
    x = np.random.default_rng(5).integers(0, 4, (6, N, DIM)).astype(np.float64)
    lifs = [n for n in g.topological_order() if type(g.node(n)).__name__ == "CubaLIF"]
    ref: dict[str, np.ndarray] = {}
    ref_v = run_int(g, x, observe=lambda n, v: ref.__setitem__(n, v) if n in lifs else None)
    assert ref["attn.lif"].any() and ref["attn.proj_lif"].any()  # the core did something
    rg = PassManager([Retime()]).run(lowered(g) if lower else g)
    timing = Timing.from_meta(rg.meta)
    assert rg.node(timing.delays[0]).steps == 2  # the residual skips q/k/v + proj
    sim = Simulator(rg, probes=[*lifs, ("readout", "v")])
    feed = np.repeat(x[:, None].astype(np.int64), T, axis=1)
    full = sim.run(feed)
    for name in lifs:
        lo, hi = timing.window(name)
        assert np.array_equal(full.probes[(name, "out")][lo:hi], ref[name]), name
    assert np.array_equal(full.probes[("readout", "v")][timing.readout_step], ref_v)
    parts = [sim.run(feed[i : i + 4], windowed=True) for i in (0, 4)]
    for name in lifs:
        got = np.concatenate([p.probes[(name, "out")] for p in parts], axis=1)
        assert np.array_equal(got, ref[name]), name
