"""Float passes, each alone: BN folding (vs torch conv+BN), 1/tau folding and attention-scale
merging (same spikes: the factors are powers of two, so exact), layout simplification, and
the PassManager's ordering/listing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from spikeport.converters.float_eval import run_float
from spikeport.converters.passes import (
    AbsorbTransposeBatchNorm,
    FoldBatchNorm,
    FoldInputScale,
    MergeAttentionScale,
    PassManager,
    SimplifyLayout,
    SinkLayoutBelowLIF,
)
from spikeport.errors import SpikeportError
from spikeport.ir import (
    LIF,
    Attention,
    BatchNorm,
    Conv2d,
    Graph,
    Input,
    Linear,
    Reshape,
    Transpose,
    validate,
)


def _graph(*nodes_and_inputs, T=3) -> Graph:
    g = Graph("t")
    g.meta["T"] = T
    for rec, ins in nodes_and_inputs:
        g.add(rec, ins)
    return g


def test_fold_batchnorm_matches_torch_conv_then_bn():
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.2, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    ref_model = nn.Sequential(conv, bn).eval()
    g = _graph(
        (Input("x", shape=(3, 6, 6), kind="float"), None),
        (
            Conv2d(
                "c", weight=conv.weight.detach().numpy(), bias=conv.bias.detach().numpy(), padding=1
            ),
            "x",
        ),
        (
            BatchNorm(
                "bn",
                mean=bn.running_mean.numpy(),
                var=bn.running_var.numpy(),
                weight=bn.weight.detach().numpy(),
                bias=bn.bias.detach().numpy(),
            ),
            "c",
        ),
    )
    assert FoldBatchNorm().run(g) == 1
    assert [type(n).__name__ for n in g] == ["Input", "Conv2d"]
    x = torch.randn(4, 3, 6, 6)
    with torch.no_grad():
        ref = ref_model(x)
    out = run_float(g, x)  # [T, B, ...]; every step sees the same image
    assert torch.allclose(out[0], ref, atol=1e-5)


def test_fold_batchnorm_requires_channel_axis():
    w = np.ones((4, 4), np.float32)
    g = _graph(
        (Input("x", shape=(3, 4), kind="float"), None),
        (Linear("l", weight=w), "x"),
        (BatchNorm("bn", mean=np.zeros(3), var=np.ones(3), axis=0), "l"),  # token axis
    )
    assert FoldBatchNorm().run(g) == 0


def _lif_chain(decay_input=True):
    rng = np.random.default_rng(1)
    return _graph(
        (Input("x", shape=(6,), kind="float"), None),
        (
            Linear(
                "l",
                weight=rng.normal(size=(8, 6)).astype(np.float32),
                bias=rng.normal(size=8).astype(np.float32),
            ),
            "x",
        ),
        (LIF("n", tau=2.0, v_threshold=0.7, decay_input=decay_input), "l"),
        T=6,
    )


def test_fold_input_scale_keeps_every_spike():
    g = _lif_chain()
    x = torch.randn(50, 6)
    before = run_float(g, x)
    assert FoldInputScale().run(g) == 1
    assert not g.node("n").decay_input
    np.testing.assert_allclose(g.node("l").weight, _lif_chain().node("l").weight / 2)
    after = run_float(g, x)
    assert before.sum() > 0 and torch.equal(before, after)


def _attention_graph():
    rng = np.random.default_rng(2)
    g = _graph((Input("x", shape=(6, 8), kind="float"), None), T=4)
    for name, th in (("q", 0.2), ("k", 0.3), ("v", 0.25)):
        g.add(Linear(f"{name}_l", weight=rng.normal(size=(8, 8)).astype(np.float32)), "x")
        g.add(LIF(name, v_threshold=th), f"{name}_l")
    g.add(
        Attention("att", variant="ssa", heads=2, head_dim=4, scale=0.125),
        {"q": "q", "k": "k", "v": "v"},
    )
    g.add(LIF("attn_lif", v_threshold=0.5), "att")
    return g


def test_merge_attention_scale_gives_integer_threshold_and_same_spikes():
    g = _attention_graph()
    x = torch.rand(40, 6, 8)
    before = run_float(g, x)
    assert FoldInputScale().run(g) == 4  # three q/k/v synapses and the attention
    assert g.node("att").scale == 0.0625
    assert MergeAttentionScale().run(g) == 1
    assert g.node("att").scale == 1.0 and g.node("attn_lif").v_threshold == 8.0
    after = run_float(g, x)
    assert before.sum() > 0 and torch.equal(before, after)


def test_simplify_layout_cancels_inverse_chains():
    g = _graph(
        (Input("x", shape=(6, 8), kind="float"), None),
        (Reshape("r1", shape=(6, 2, 4)), "x"),
        (Transpose("t1", perm=(1, 0, 2)), "r1"),
        (Transpose("t2", perm=(1, 0, 2)), "t1"),
        (Reshape("r2", shape=(6, 8)), "t2"),
        (LIF("n"), "r2"),
    )
    g2 = g.copy()
    assert SimplifyLayout().run(g2) == 1
    assert [n.name for n in g2] == ["x", "n"]
    x = torch.rand(5, 6, 8) * 2
    assert torch.equal(run_float(g, x), run_float(g2, x))


def test_simplify_layout_merges_reshapes_but_keeps_real_transposes():
    g = _graph(
        (Input("x", shape=(4, 2, 3), kind="float"), None),
        (Reshape("r1", shape=(8, 3)), "x"),
        (Reshape("r2", shape=(24,)), "r1"),
        (Transpose("t", perm=(1, 0, 2)), "x"),
    )
    g.set_outputs(["r2", "t"])
    SimplifyLayout().run(g)
    assert type(g.node("r2")).__name__ == "Reshape" and "r1" not in g
    assert g.node("r2").shape == (24,) and "t" in g


def test_absorb_transpose_batchnorm_moves_axis():
    g = _graph(
        (Input("x", shape=(5, 3), kind="float"), None),
        (Transpose("t1", perm=(1, 0)), "x"),
        (BatchNorm("bn", mean=np.arange(3.0), var=np.ones(3) * 2, axis=0), "t1"),
        (Transpose("t2", perm=(1, 0)), "bn"),
    )
    x = torch.randn(4, 5, 3)
    before = run_float(g, x)
    assert AbsorbTransposeBatchNorm().run(g) == 1
    assert [n.name for n in g][:2] == ["x", "bn"] and g.node("bn").axis == 1
    assert SimplifyLayout().run(g) == 1  # the two transposes now meet and cancel
    assert [n.name for n in g] == ["x", "bn"]
    validate(g)
    assert torch.allclose(before, run_float(g, x))


def test_sink_layout_below_lif_keeps_spikes():
    g = _graph(
        (Input("x", shape=(4, 6), kind="float"), None),
        (Transpose("t", perm=(1, 0)), "x"),
        (Reshape("r", shape=(24,)), "t"),
        (LIF("n", v_threshold=0.3), "r"),
    )
    x = torch.rand(5, 4, 6)
    before = run_float(g, x)
    assert SinkLayoutBelowLIF().run(g) == 2
    assert [n.name for n in g] == ["x", "n", "t", "r"]
    assert g.outputs == ["r"] and torch.equal(before, run_float(g, x))


def test_simplify_layout_merges_a_permuting_chain_into_one_transpose():
    g = _graph(
        (Input("x", shape=(2, 3, 4), kind="float"), None),
        (Transpose("t1", perm=(1, 0, 2)), "x"),
        (Transpose("t2", perm=(0, 2, 1)), "t1"),
    )
    x = torch.rand(2, 2, 3, 4)
    before = run_float(g, x)
    SimplifyLayout().run(g)
    assert [type(n).__name__ for n in g] == ["Input", "Transpose"]
    assert torch.equal(before, run_float(g, x))


def test_pass_manager_runs_named_passes_in_order_and_lists_them():
    pm = PassManager([FoldBatchNorm(), FoldInputScale(), MergeAttentionScale()])
    assert pm.names() == ["fold-batchnorm", "fold-input-scale", "merge-attention-scale"]
    g = _attention_graph()
    out = pm.run(g, until="fold-input-scale")
    assert [n for n, _ in pm.log] == ["fold-batchnorm", "fold-input-scale"]
    assert out.node("att").scale == 0.0625 and g.node("att").scale == 0.125  # input untouched
    assert out.meta["passes"] == ["fold-batchnorm", "fold-input-scale"]
    with pytest.raises(SpikeportError, match="unknown pass"):
        pm.run(g, until="nope")
    with pytest.raises(SpikeportError, match="unique"):
        PassManager([FoldBatchNorm(), FoldBatchNorm()])
