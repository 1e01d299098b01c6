"""QKFormer through the converter: its Q-K token attention (stages 1-2) becomes a count
synapse (the per-head channel sum of Q, Dense of ones) + CubaLIF whose ties with the 0.5
threshold are exact, and a ``SpikeAnd`` of the token mask with K; its pool-before-LIF patch
embeddings become current groups (integer Conv currents max-pooled as signed integers before
their CubaLIF); stage 3's SSA is the integer attention core.

References, independent of the code under test: the float PyTorch model's forward (its
logits, and every LIF's spikes captured by hooks); a float64 loop of SpikingJelly's LIF
(``H = V + (X - V) / tau``, spike at ``H >= 0.5``, reset to 0) on the quantised Q spikes'
head sums, and ``torch``'s max-pool on the integer currents, for the integer values the
count synapse, the token mask and the max-pool produce; ``int_eval.run_int``
(layer-synchronous) for the simulator under Lava's pipelined timing; Lava's own process
models for the simulator.
"""

from __future__ import annotations

import conversion_checks as cc
import numpy as np
import pytest
import torch
from model_references import randomise, tiny_config

from spikeport.models.registry import build_model

SHAPE = (3, 16, 16)
HEADS = 4
TOKEN_STAGES = ("stage1.0.tssa", "stage2.0.tssa")
"""The Token_QK_Attention blocks of a CIFAR QKFormer with depth 3 (1, 1, 1 blocks)."""
POOLED = ("patch_embed2.proj4", "patch_embed3.proj4")
"""conv -> BN -> max-pool -> LIF units (the pool before the LIF: a pool of currents)."""


def _config():  # noqa: ANN202
    return tiny_config("qkformer-cifar", img_size=SHAPE[-1], depth=3, num_heads=HEADS)


def _tiny_qkformer() -> torch.nn.Module:
    torch.manual_seed(0)
    return randomise(build_model(_config()), seed=3).float()


@pytest.fixture(scope="module")
def converted():
    """A tiny model (random BN), its conversion, 6 images, the integer reference's values of
    every node and its readout v."""
    return cc.converted(_tiny_qkformer(), SHAPE)


def _heads(tokens_first: np.ndarray) -> np.ndarray:
    """[T, B, N, C] (the graph's token layout) -> [T, B, h, d, N] (the model's head split)."""
    t, b, n, c = tokens_first.shape
    return np.swapaxes(tokens_first, 2, 3).reshape(t, b, HEADS, c // HEADS, n)


def _lif_loop(x: np.ndarray, threshold: float, tau: float = 2.0) -> tuple[np.ndarray, int]:
    """SpikingJelly's multi-step LIF (decay_input, hard reset to 0) over axis 0 in float64;
    returns the spikes and how many steps met the threshold exactly."""
    v = np.zeros(x.shape[1:])
    out, ties = [], 0
    for xt in x.astype(np.float64):
        h = v + (xt - v) / tau
        s = h >= threshold
        ties += int(np.sum(h == threshold))
        out.append(s.astype(np.int64))
        v = np.where(s, 0.0, h)
    return np.stack(out), ties


def test_traced_float_graph_reproduces_qkformer_bit_for_bit(converted):
    model, conv, x, _, _ = converted
    assert cc.float_graph_is_model(conv, model, x)


def test_token_attention_is_a_count_synapse_and_an_and_of_spikes(converted):
    _, conv, _, _, _ = converted
    q = conv.quantized
    rows = q.meta["quantization"]["layers"]
    counts = [r for r in rows if r["kind"] == "Dense (count)"]
    assert [r["neuron"] for r in counts] == [f"{s}.attn_lif" for s in TOKEN_STAGES]
    assert all(r["exact_ties"] and not r["wrap_risk"] for r in counts)
    for r in counts:  # a row of ones over each head's d channels, times 2^m
        w = q.node(r["layer"]).weight
        assert w.shape == (1, 8 * (1 + TOKEN_STAGES.index(r["neuron"][:13])) // HEADS)
        assert len(np.unique(w)) == 1 and w[0, 0] > 0
    assert len(cc.of_kind(q, "SpikeAnd")) == len(TOKEN_STAGES)
    assert [q.node(n).variant for n in cc.of_kind(q, "IntAttention")] == ["ssa"]  # stage 3


def test_token_mask_and_its_product_equal_a_float_lif_loop_on_the_quantised_q(converted):
    """Given the quantised Q spikes, the integer mask is SpikingJelly's float LIF exactly,
    ties at the 0.5 threshold included, and the SpikeAnd is mask x K."""
    _, conv, _, ref, _ = converted
    q = conv.quantized
    ands = cc.of_kind(q, "SpikeAnd")
    all_ties = 0
    for stage, and_node in zip(TOKEN_STAGES, ands, strict=True):
        sums = _heads(ref[f"{stage}.q_lif"]).sum(axis=3)  # [T, B, h, N]
        mask, ties = _lif_loop(sums, 0.5)
        all_ties += ties
        assert np.array_equal(ref[f"{stage}.attn_lif"][..., 0], mask), stage
        k = _heads(ref[f"{stage}.k_lif"])
        assert np.array_equal(ref[and_node], mask[:, :, :, None, :] * k), and_node
        assert 0 < mask.mean() < 1, stage
    assert all_ties > 0  # Q sums of 1 meet 0.5 at the first step: the ties are exercised


def test_pool_before_lif_is_a_max_of_signed_integer_currents(converted):
    _, conv, _, ref, _ = converted
    q = conv.quantized
    rows = q.meta["quantization"]["layers"]
    assert {r["layer"] for r in rows if r["kind"] == "Conv (current)"} == {
        f"{u}_conv" for u in POOLED
    }
    assert {r["layer"] for r in rows if r["kind"] == "CubaLIF (current reader)"} == {
        f"{u}_lif" for u in POOLED
    }
    for unit in POOLED:
        pool = f"{unit}_maxpool"
        assert q.node(pool).kind == "current"
        a = ref[f"{unit}_conv"]  # [T, B, C, H, W] integer currents
        assert a.min() < 0 < a.max()
        frames = torch.from_numpy(a.reshape(-1, *a.shape[2:]).astype(np.float64))
        want = torch.nn.functional.max_pool2d(frames, 3, 2, 1).numpy().astype(np.int64)
        assert np.array_equal(ref[pool], want.reshape(*a.shape[:2], *want.shape[1:])), pool
    others = set(cc.of_kind(q, "MaxPool2d")) - {f"{u}_maxpool" for u in POOLED}
    assert {q.node(n).kind for n in others} <= {"spikes"}


def _model_layout(s: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor | None:
    """The float model's spikes `s` in the graph's layout `shape` (tokens first), if any."""
    for cand in (s, s.transpose(-1, -2), s.flatten(3).transpose(-1, -2)):
        if tuple(cand.shape) == shape:
            return cand
    return None


def test_quantised_spikes_and_logits_follow_the_float_model(converted):
    """8-bit weights move some spikes (measured 79-93 % equal per LIF on this instance, the
    random-BN first layer and the attention's Q/K lowest); logits follow the float model."""
    model, _, x, ref, v = converted
    compared = 0
    for name, s in cc.float_spikes(model, x).items():
        got = _model_layout(s, ref[name].shape)
        assert got is not None, name
        assert float((torch.from_numpy(ref[name]).to(s.dtype) == got).float().mean()) > 0.75
        compared += 1
    assert compared == 28
    assert cc.logits_correlation(model, x, v) > 0.95


def test_simulator_under_lava_timing_equals_the_integer_reference(converted):
    watched = cc.simulator_matches_reference(*converted[1:])
    assert {f"{s}.attn_lif" for s in TOKEN_STAGES} | {f"{u}_lif" for u in POOLED} <= set(watched)


def test_energy_per_layer_of_the_converted_qkformer(tmp_path, converted):
    """`spikeport energy`: the count synapses and the pools of currents are priced in the
    measured mode (the token mask's AND is not: the simulator counts nothing for SpikeAnd);
    the analytical mode prices each Q-K token attention block (its AC and AND words)."""
    _, conv, _, _, _ = converted
    report = cc.energy_report(_tiny_qkformer(), _config(), SHAPE, tmp_path)
    measured, analytical = report["measured"], report["analytical"]
    for r in conv.quantized.meta["quantization"]["layers"]:
        if r["kind"] == "Dense (count)":
            assert measured[r["layer"]]["ops"]["acs"] > 0
    for unit in POOLED:
        assert set(measured[f"{unit}_maxpool"]["ops"]) == {"int_adds"}
        assert measured[f"{unit}_conv"]["ops"]["acs"] > 0
        assert analytical[f"{unit}_conv"]["energy_j"] > 0
    for stage in TOKEN_STAGES:
        ops = analytical[stage]["ops"]
        assert ops["acs"] > 0 and ops["and_words"] > 0 and f"{stage}.attn_lif" in analytical


@pytest.mark.lava
@pytest.mark.slow
def test_qkformer_in_lava_equals_the_simulator():
    """Quantised + retimed QKFormer, 1 image: every node's output at every step, the token
    masks' and pooled readers' u and v, the readout v."""
    conv = cc.quantised(_tiny_qkformer(), SHAPE)
    neurons = [f"{s}.attn_lif" for s in TOKEN_STAGES] + [f"{u}_lif" for u in POOLED]
    states = [(n, var) for n in neurons for var in ("u", "v")]
    result = cc.lava_matches_simulator(conv.quantized, cc.images(1, SHAPE, seed=2), states)
    assert all(np.any(result.lava_probes[(n, "out")] != 0) for n in neurons)
    assert cc.kind(conv.quantized, neurons[0]) == "CubaLIF"


def test_imagenet_layout_converts_and_simulates_bit_exact():
    """The ImageNet QKFormer (pools before the LIFs of its first embedding too, stage 2 with
    2 token-attention blocks): float graph = model, simulator = integer reference."""
    torch.manual_seed(0)
    config = tiny_config("qkformer-imagenet", depth=4, num_heads=HEADS, img_size=32)
    model, conv, x, ref, v = cc.converted(
        randomise(build_model(config), seed=3).float(), (3, 32, 32)
    )
    assert cc.float_graph_is_model(conv, model, x)
    rows = conv.quantized.meta["quantization"]["layers"]
    assert [r["neuron"] for r in rows if r["kind"] == "Dense (count)"] == [
        "stage1.0.tssa.attn_lif", "stage2.0.tssa.attn_lif", "stage2.1.tssa.attn_lif"
    ]  # fmt: skip
    assert sum(r["kind"] == "CubaLIF (current reader)" for r in rows) == 4
    cc.simulator_matches_reference(conv, x, ref, v)
    assert cc.logits_correlation(model, x, v) > 0.95
