"""Resource mapping onto cores under a target's limits, and attention-state memory, checked
against hand computations."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from spikeport.hw_models.cost.hardware import load_hardware_model
from spikeport.hw_models.cost.mapping import (
    LayerResources,
    attention_state_bits,
    collect_resources,
    format_mapping,
    map_to_cores,
)

LOIHI = load_hardware_model("loihi")


def linear(name: str, fin: int, fout: int, rows: int = 1) -> LayerResources:
    return LayerResources(name, "linear", fout, rows, fin, 1, 1, 1, 1, float(fin), fin * fout)


def test_synaptic_memory_binds_a_wide_dense_layer():
    # 2048 inputs x 8-bit weights = 2048 B per neuron; 128 KB / 2048 B = 64 neurons per core.
    r = map_to_cores([linear("fc", 2048, 100)], [], 0, LOIHI)
    m = r.layers[0]
    assert (m.neurons_per_core, m.cores, m.binding) == (64, 2, "synaptic_memory_bytes_per_core")
    assert r.chips == 1 and r.weight_bytes_compact == 2048 * 100


def test_neuron_count_binds_a_narrow_layer_and_chips_round_up():
    r = map_to_cores([linear("fc", 10, 3000)], [], 0, LOIHI)
    assert (r.layers[0].neurons_per_core, r.layers[0].cores) == (1024, 3)
    big = map_to_cores([linear("fc", 10, 1024 * 200)], [], 0, LOIHI)
    assert big.cores == 200 and big.chips == 2  # 128 cores per chip


def test_fan_in_above_the_axon_limit_is_a_violation():
    r = map_to_cores([linear("fc", 5000, 10)], [], 0, LOIHI)
    assert r.layers[0].violations and "fan-in 5000 > 4096" in r.layers[0].violations[0]


def test_fan_out_limits_neurons_feeding_a_split_dense_layer():
    # fc2 (1024 -> 1024) needs 2048 B/neuron -> 64 per core -> 16 cores; each fc1 neuron feeds
    # all 16 of them, so an fc1 core may hold 4096 / 16 = 256 neurons.
    layers = [linear("fc1", 16, 1024), linear("fc2", 2048, 1024)]
    r = map_to_cores(layers, [], 0, LOIHI)
    assert r.layers[1].cores == 16
    assert (r.layers[0].neurons_per_core, r.layers[0].binding) == (256, "fan_out_axons_per_core")


def test_conv_tile_input_axons():
    conv = LayerResources("c", "conv2d", 32, 100, 16, 1, 2, 3, 1, 144.0, 32 * 16 * 9)
    # 128 neurons = 32 channels x 4 positions (2x2 tile): window (2-1)*1+3 = 4 -> 16 x 16 inputs
    assert conv.input_axons(128) == 16 * 4 * 4
    assert conv.input_axons(16) == 16 * 9  # part of the channels of one position


def test_attention_state_bits_hand_computed():
    # Spikformer-8-512 block: 8 heads, d = 64, N = 196 tokens
    assert attention_state_bits("ssa", 8, 196, 64, "dxd", 24) == 8 * 64 * 64 * 8  # 8-bit counts
    assert attention_state_bits("ssa", 8, 196, 64, "nxn", 24) == 8 * 196 * 196 * 7
    assert attention_state_bits("lrf_dyn", 8, 196, 64, "dxd", 24, 8) == 8 * 8 * 64 * 24
    assert attention_state_bits("sdsa", 8, 196, 64, "dxd", 24) == 8 * 64 * 8


@pytest.mark.parametrize("attention", ["ssa", "lrf_dyn"])
def test_collect_resources_on_a_small_spikformer(attention):
    from spikeport.models.registry import build_model, default_config

    cfg = default_config(
        "spikformer-cifar", embed_dim=32, depth=1, num_heads=2, T=2, attention=attention
    )
    model = build_model(cfg).eval()
    layers, attn, lif = collect_resources(model, torch.rand(1, 3, 32, 32), timesteps=2)
    assert len(attn) == 1 and attn[0].heads == 2 and attn[0].head_dim == 16
    n = attn[0].tokens
    expected = (
        (2 * 8 * 16 * 24) if attention == "lrf_dyn" else 2 * 16 * 16 * math.ceil(math.log2(n + 1))
    )
    assert attn[0].bits == expected
    names = {r.name for r in layers}
    assert "block.0.attn.q_linear" in names and "head" in names
    q = next(r for r in layers if r.name == "block.0.attn.q_linear")
    assert (q.out_channels, q.positions, q.in_per_group) == (32, n, 32)
    report = map_to_cores(layers, attn, lif, LOIHI)
    assert report.cores >= len(layers) and report.attention_state_bytes == expected / 8
    assert "total cores" in format_mapping(report)


def test_collect_resources_rejects_a_batch():
    with pytest.raises(Exception, match="exactly one sample"):
        collect_resources(nn.Linear(2, 2), torch.zeros(2, 2), timesteps=1)


@pytest.mark.slow
def test_lrf_dyn_attention_state_saving_on_spikformer_8_512():
    from spikeport.models.registry import build_model, default_config

    reports = {}
    for attention in ("ssa", "lrf_dyn"):
        model = build_model(default_config("spikformer-imagenet", attention=attention)).eval()
        layers, attn, lif = collect_resources(model, torch.rand(1, 3, 224, 224), timesteps=4)
        reports[attention] = map_to_cores(layers, attn, lif, LOIHI)
    ssa, dyn = reports["ssa"], reports["lrf_dyn"]
    # 8 blocks x 8 heads: SSA 64 x 64 8-bit counts, LRF-Dyn 8 x 64 24-bit states (bytes)
    assert ssa.attention_state_bytes == 8 * 8 * 64 * 64 * 8 / 8 == 262_144
    assert dyn.attention_state_bytes == 8 * 8 * 8 * 64 * 24 / 8 == 98_304
    assert dyn.attention_state_bytes / ssa.attention_state_bytes - 1 == pytest.approx(-0.625)
    change = dyn.inference_memory_bytes / ssa.inference_memory_bytes - 1
    assert abs(change) < 0.01  # weights and neuron state dominate: not the paper's -49.4 %
