"""Spiking-Transformer nodes in Lava: the custom processes (and SDSA's built-in LIFReset)
compute what the simulator computes, and digits-trained models of every attention variant
give identical integers and predictions in Lava and in the simulator.

References: the simulator's executors, whose attention integers come from
``hw_models.sim.int_attention`` (written independently of the Lava process models here, which
recompute AND/XNOR counts, head splits, the local convolution and the dendrite recurrence
on their own).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lava.magma")

from spikeport import ir  # noqa: E402
from spikeport.deploy.lava.runner import compare, default_probes, run_lava  # noqa: E402
from spikeport.ir.int_attention import IntAttention  # noqa: E402

pytestmark = pytest.mark.lava

N_TOK, GRID, HEADS, HEAD_DIM = 9, (3, 3), 2, 4
DIM = HEADS * HEAD_DIM


def _attention(variant: str, rng: np.random.Generator, **extra) -> IntAttention:  # noqa: ANN003
    fields: dict = {"variant": variant, "heads": HEADS, "head_dim": HEAD_DIM, "count_shift": 3}
    if variant == "axnor":
        fields.update(a_int=rng.integers(0, 17, HEADS), a_shift=4)
    if variant in ("lrf_ssa", "lrf_dyn"):
        fields.update(
            grid=GRID, local_weight=rng.integers(-256, 256, (2, DIM, 1, 3, 3)), local_shift=-2
        )
    if variant == "lrf_dyn":
        k = 3
        a = np.zeros((DIM, k, k), dtype=np.int64)
        for i in range(k):  # tridiagonal transition, 12 fractional bits
            a[:, i, i] = rng.integers(2000, 4000, DIM)
            if i + 1 < k:
                a[:, i, i + 1] = rng.integers(-600, 600, DIM)
                a[:, i + 1, i] = rng.integers(-600, 600, DIM)
        fields.update(
            dyn_a=a,
            dyn_gamma=rng.integers(-4096, 4096, (DIM, k)),
            dyn_c=rng.integers(-4096, 4096, (DIM, k)),
            count_shift=6,
        )
    if variant == "sdsa":
        fields.update(inner_vth=3, inner_dv=1024, count_shift=4)
    fields.update(extra)
    return IntAttention("attn", **fields)


def _qkv_graph(core: IntAttention) -> ir.Graph:
    g = ir.Graph("core")
    for p in ("q", "k", "v"):
        g.add(ir.Input(p, shape=(N_TOK, DIM)))
    g.add(core, {"q": "q", "k": "k", "v": "v"})
    return g


@pytest.mark.parametrize(
    ("variant", "extra"),
    [
        ("ssa", {}),
        ("axnor", {}),
        ("lrf_ssa", {}),
        ("lrf_dyn", {}),
        ("lrf_dyn", {"input_mode": "v", "local_weight": None}),
        ("sdsa", {}),
    ],
)
def test_attention_core_in_lava_equals_simulator(variant: str, extra: dict) -> None:
    rng = np.random.default_rng(7)
    graph = _qkv_graph(_attention(variant, rng, **extra))
    data = {p: (rng.random((1, 5, N_TOK, DIM)) < 0.5).astype(np.int64) for p in "qkv"}
    result = compare(graph, data, 5, probes=["attn"])
    assert result.identical, [(r.node, r.mismatches) for r in result.rows]
    lava = run_lava(graph, data, 5, probes=["attn"])
    out = lava.probes[("attn", "out")]
    assert np.count_nonzero(out) > out.size // 10  # the comparison is not vacuous
    if variant != "sdsa":
        assert len(np.unique(out)) > 3


def test_lowered_score_primitives_in_lava_equal_simulator() -> None:
    """convert --lower-attention primitives on head-split (h, N, d) spikes."""
    from spikeport.ir.attention_nodes import ScoreCombine, SpikeAccumulate

    g = ir.Graph("lowered")
    for p in ("q", "k", "v"):
        g.add(ir.Input(p, shape=(HEADS, N_TOK, HEAD_DIM)))
    g.add(ir.AndPopcount("and", head_dim=HEAD_DIM, out_bits=3), {"q": "q", "k": "k"})
    g.add(
        ir.XnorPopcount("xnor", head_dim=HEAD_DIM, a_int=1, a_shift=0, out_bits=3),
        {"q": "q", "k": "k"},
    )
    g.add(
        ScoreCombine("combine", heads=HEADS, head_dim=HEAD_DIM, a_int=[5, 11], a_shift=4),
        {"c_and": "and", "c_xnor": "xnor"},
    )
    g.add(
        SpikeAccumulate("acc", score_bits=7, count_shift=2, score_shift=4),
        {"scores": "combine", "v": "v"},
    )
    rng = np.random.default_rng(5)
    data = {p: (rng.random((1, 4, HEADS, N_TOK, HEAD_DIM)) < 0.5).astype(np.int64) for p in "qkv"}
    result = compare(g, data, 4, probes=["and", "xnor", "combine", "acc"])
    assert result.identical, [(r.node, r.mismatches) for r in result.rows]
    assert len(np.unique(result.lava_probes[("acc", "out")])) > 3


def test_attention_core_is_one_hierarchical_process() -> None:
    from spikeport.deploy.lava.emitter import emit

    rng = np.random.default_rng(0)
    graph = _qkv_graph(_attention("lrf_ssa", rng))
    data = {p: np.zeros((2, N_TOK, DIM), dtype=np.int64) for p in "qkv"}
    emitted = emit(graph, data, 2)
    assert type(emitted.procs["attn"]).__name__ == "SpikingAttention"


def test_delay_add_maxpool_token_mean_in_lava_equal_simulator() -> None:
    g = ir.Graph("misc")
    g.add(ir.Input("x", shape=(2, 4, 4)))
    g.add(ir.Delay("late", steps=2), "x")
    g.add(ir.Add("res"), {"a": "x", "b": "late"})
    g.add(ir.MaxPool2d("pool", kernel_size=(3, 3), stride=(2, 2), padding=(1, 1)), "res")
    g.add(ir.Reshape("tok", shape=(2, 4)), "pool")
    g.add(ir.Transpose("tokT", perm=(1, 0)), "tok")
    g.add(ir.TokenMean("mean", axis=0), "tokT")
    g.add(ir.Dense("fc", weight=np.array([[3, -5], [7, 2], [-9, 4]]), num_message_bits=8), "mean")
    rng = np.random.default_rng(1)
    x = (rng.random((1, 6, 2, 4, 4)) < 0.4).astype(np.int64)
    result = compare(g, x, 7, probes=default_probes(g))
    assert result.identical, [(r.node, r.mismatches) for r in result.rows if r.mismatches]
    lava = run_lava(g, x, 7, probes=["late", "res", "mean", "fc"])
    assert np.array_equal(lava.probes[("late", "out")][2:, 0], x[0, :5])  # hand: 2 steps late
    assert lava.probes[("res", "out")].max() == 2
    assert np.any(lava.probes[("fc", "out")] != 0)


# -- digits-trained models, every attention variant -----------------------------------------
VARIANTS = ("ssa", "axnor", "lrf_ssa", "lrf_dyn", "sdsa")


@pytest.fixture(scope="module")
def digits_artifacts(digits_models, tmp_path_factory):  # noqa: ANN001, ANN201
    """{variant: artifact dir}: small digits Spikformers (the shared ``digits_models``)
    converted with `spikeport convert` (quantised + retimed for Lava timing)."""
    from spikeport.cli import main

    out = {}
    for variant in VARIANTS:
        ckpt = digits_models.path(variant, "small")
        for lowered in (False, True):
            art = tmp_path_factory.mktemp(f"art_{variant}{'_lowered' if lowered else ''}")
            argv = ["convert", str(ckpt), "-o", str(art), "--no-progress", "--no-eval"]
            assert main(argv + (["--lower-attention"] if lowered else [])) == 0
            out[(variant, lowered)] = art
    return out


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_digits_model_in_lava_equals_simulator_and_predicts_the_same(
    variant: str, digits_artifacts
) -> None:  # noqa: ANN001
    """Quantised + retimed IntAttention graph: 2 test images, every node output and step."""
    from spikeport.ir.timing import Timing
    from spikeport.report.energy_inputs import input_data, load_graph

    graph = load_graph(digits_artifacts[(variant, False)])
    timing = Timing.from_meta(graph.meta)
    assert timing is not None and timing.latency > 0  # retimed: Delay nodes, LIFReset windows
    data = input_data(graph, "digits", 2, None)
    attn = [n.name for n in graph if type(n).__name__ == "IntAttention"]
    assert [graph.node(a).variant for a in attn] == [variant]
    after = graph.successors(attn[0])[0]  # the attention LIF (SDSA: its output is spikes)
    if type(graph.node(after)).__name__ != "CubaLIF":
        after = graph.inputs_of(attn[0])["q"]
    attn_lif = after
    readout = graph.meta["readout"]
    states = [(attn_lif, "u"), (attn_lif, "v"), (readout, "v")]
    probes = default_probes(graph) + states
    result = compare(graph, data.feed, data.steps, probes=probes)
    bad = [
        (r.node, r.var, r.mismatches, r.first_mismatch_step) for r in result.rows if r.mismatches
    ]
    assert result.identical, bad
    assert result.samples == 2 and result.steps == timing.steps
    lava = run_lava(graph, data.feed, data.steps, probes=[(attn[0], "out"), (readout, "v")])
    assert np.any(lava.probes[(attn[0], "out")] != 0), "attention never produced anything"
    v_final = lava.probes[(readout, "v")][timing.readout_step]  # [B, classes]
    from spikeport.hw_models.sim.engine import Simulator

    sim = Simulator(graph, [(readout, "v")]).run(data.feed, data.steps)
    sim_pred = sim.probes[(readout, "v")][timing.readout_step].argmax(axis=1)
    assert np.array_equal(v_final.argmax(axis=1), sim_pred)
    assert len(np.unique(v_final)) > 2


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_lowered_digits_model_in_lava_equals_simulator(variant: str, digits_artifacts) -> None:  # noqa: ANN001
    """`convert --lower-attention` (bit-packed scores, dendritic node, SDSA primitives):
    1 test image, every node output at every step and the readout v."""
    from spikeport.report.energy_inputs import input_data, load_graph

    graph = load_graph(digits_artifacts[(variant, True)])
    kinds = {type(n).__name__ for n in graph}
    assert "IntAttention" not in kinds
    data = input_data(graph, "digits", 1, None)
    probes = default_probes(graph) + [(graph.meta["readout"], "v")]
    result = compare(graph, data.feed, data.steps, probes=probes)
    assert result.identical, [(r.node, r.var, r.mismatches) for r in result.rows if r.mismatches]
