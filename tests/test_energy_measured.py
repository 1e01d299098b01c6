"""Measured energy mode: the simulator's events -> LayerOps -> energy, checked against hand
counts on a tiny integer graph, an independent fan-out computation on lava-dl's tiny.net, and
per-op costs read straight from the hardware data files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from spikeport import ir
from spikeport.converters.netx_import import load_netx
from spikeport.hw_models.cost.energy import estimate
from spikeport.hw_models.cost.hardware import TARGETS_DIR, load_hardware_model
from spikeport.hw_models.cost.measured import MeasuredCount, NodeCounts, run_measured
from spikeport.ir.timing import data_windows

NETX = (
    Path(__file__).resolve().parents[1]
    / ".venv/lib/python3.11/site-packages/tests/lava/lib/dl/netx"
)

# Dense weights [out=3, in=4]; non-zero fan-out per input: 1, 0, 2, 0.
W = np.array([[1, 0, 2, 0], [0, 0, 3, 0], [0, 0, 0, 0]])
# Input spikes [T=3, 4].
X = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]])


def _pj(target: str) -> dict[str, float]:
    """Per-op energies (pJ) read directly from the JSON data file."""
    data = json.loads((TARGETS_DIR / f"{target}.json").read_text())
    return {k: v["value"] for k, v in data["energy"].items()}


def _tiny_graph() -> ir.Graph:
    g = ir.Graph("hand")
    g.add(ir.Input("input", shape=(4,)))
    g.add(ir.Dense("dense", weight=W), "input")
    # du = 4095: the current forgets everything each step (u = a << 6), so u != 0 exactly on
    # the steps a neuron receives input; vth large: no spikes.
    g.add(ir.CubaLIF("neuron", shape=(3,), du=4095, dv=0, vth=100000), "dense")
    return g


def _measure(window=None):
    count, _ = run_measured(_tiny_graph(), X[None], 4, window=window)
    return {n.name: n for n in count.nodes}, count


def test_measured_synops_and_neuron_updates_equal_a_hand_count() -> None:
    # Hand count. Events: t0 inputs 0,1 -> 1 + 0; t1 inputs 2,3 -> 2 + 0; t2 inputs 0,2 -> 1 + 2.
    # Dense delivers one step later: active neurons at steps 1, 2, 3 = {0}, {0, 1}, {0, 1}.
    nodes, count = _measure()
    assert nodes["dense"].counters["synaptic_events"] == 6
    assert nodes["dense"].counters["dense_macs"] == 3 * 4 * 4  # every step, dense
    assert nodes["neuron"].counters["neuron_updates"] == 3 * 4
    assert nodes["neuron"].active_updates == 5
    assert nodes["neuron"].counters["spikes"] == 0
    assert count.steps == 4


def test_windowed_count_takes_each_node_from_its_first_data_step() -> None:
    g = _tiny_graph()
    assert data_windows(g) == {"input": 0, "dense": 0, "neuron": 1}
    nodes, _ = _measure(window=3)
    assert nodes["dense"].counters["synaptic_events"] == 6  # steps 0..2
    assert nodes["neuron"].counters["neuron_updates"] == 3 * 3  # steps 1..3
    assert nodes["neuron"].active_updates == 5


def test_energy_is_counts_times_per_op_costs_from_the_data_files() -> None:
    _, count = _measure()
    loihi = _pj("loihi")
    want = (
        6 * loihi["ac"]
        + 5 * loihi["neuron_update_active"]
        + (12 - 5) * loihi["neuron_update_inactive"]
    ) * 1e-12
    hw = load_hardware_model("loihi")
    rep = estimate(count.layer_ops(hw), hw, count.basis)
    assert rep.energy_per_inference_j == pytest.approx(want, rel=1e-12)
    assert rep.not_modelled == {}
    # cmos45nm prices SRAM reads: 6 weight reads x 8 bits + 12 updates x 2 state words x 24
    # bits; it does not price neuron updates (reported, not silently zero).
    cmos = _pj("cmos45nm")
    want = (6 * cmos["ac"] + (6 * 8 + 12 * 2 * 24) * cmos["mem_read_bit"]) * 1e-12
    hw = load_hardware_model("cmos45nm")
    rep = estimate(count.layer_ops(hw), hw, count.basis)
    assert rep.energy_per_inference_j == pytest.approx(want, rel=1e-12)
    assert "neuron_updates" in rep.not_modelled


def test_graded_events_can_be_priced_as_mac() -> None:
    g = _tiny_graph()
    g.replace(g.node("dense").replace(num_message_bits=8))
    count, _ = run_measured(g, 3 * X[None], 4, graded_events="mac")
    ops = {o.name: o for o in count.layer_ops(load_hardware_model("cmos45nm"))}
    assert ops["dense"].macs == 6 and ops["dense"].acs == 0


def test_popcount_words_are_re_expressed_in_the_targets_word_width() -> None:
    # 10 (query, key) pairs of a head of 100 bits: the simulator counts ceil(100/64) = 2
    # 64-bit AND + 2 XNOR words and 4 popcounts per pair; on 32-bit words it is 4 + 4 and 8.
    node = NodeCounts(
        "attn",
        "XnorPopcount",
        {"bitwise_words": 10 * 2 * 2, "popcount_words": 10 * 2 * 2},
        packed_bits=100,
        bitwise="and+xnor",
    )
    count = MeasuredCount("g", (node,), samples=1, steps=1)
    (ops,) = count.layer_ops(load_hardware_model("cmos45nm"))
    assert (ops.and_words, ops.xnor_words, ops.popcount_words) == (40, 40, 80)
    cmos = _pj("cmos45nm")
    hw = load_hardware_model("cmos45nm")
    want = (40 * cmos["and_word"] + 40 * cmos["xnor_word"] + 80 * cmos["popcount_word"]) * 1e-12
    assert estimate([ops], hw).energy_per_inference_j == pytest.approx(want, rel=1e-12)


def test_tinynet_conv_synops_equal_an_independent_fanout_count() -> None:
    """Synops of each conv = sum over input spikes of that input's non-zero fan-out, computed
    here with torch's transposed convolution of a ones map (not the simulator's code)."""
    g = load_netx(NETX / "tiny.net")
    neurons = [n for n in g.topological_order() if n.endswith(".neuron")]
    image = np.load(NETX / "gts" / "tinynet" / "input_bias.npy").transpose(2, 1, 0)
    steps = 12
    count, _ = run_measured(
        g, np.zeros((1, steps, *image.shape), np.int64), steps, bias={neurons[0]: image[None]}
    )
    got = {n.name: n.counters["synaptic_events"] for n in count.nodes}
    from spikeport.hw_models.sim.engine import Simulator

    res = Simulator(g, probes=neurons).run(
        np.zeros((1, steps, *image.shape), np.int64), steps, bias={neurons[0]: image[None]}
    )
    for conv in ("layer1.conv", "layer2.conv"):
        src = g.inputs_of(conv)["in"]
        spikes = res.probes[(src, "out")][:, 0]  # [T, C, H, W]
        node = g.node(conv)
        w = torch.from_numpy((np.asarray(node.weight) != 0).astype(np.float64))
        out_hw = [
            (
                spikes.shape[2 + i]
                + 2 * node.padding[i]
                - node.dilation[i] * (w.shape[2 + i] - 1)
                - 1
            )
            // node.stride[i]
            + 1
            for i in range(2)
        ]
        ones = torch.ones(1, w.shape[0], *out_hw, dtype=torch.float64)
        fan = torch.nn.functional.conv_transpose2d(
            ones,
            w,
            stride=node.stride,
            padding=node.padding,
            dilation=node.dilation,
            groups=node.groups,
        )
        fan = torch.nn.functional.pad(
            fan, (0, spikes.shape[3] - fan.shape[3], 0, spikes.shape[2] - fan.shape[2])
        )[0]
        want = float(((torch.from_numpy(spikes) != 0) * fan).sum())
        assert want > 0
        assert got[conv] == want, conv


def test_firing_rates_are_spikes_per_neuron_update() -> None:
    g = ir.Graph("rates")
    g.add(ir.Input("input", shape=(4,)))
    g.add(ir.Dense("dense", weight=np.full((2, 4), 100)), "input")
    g.add(ir.CubaLIF("neuron", shape=(2,), du=4095, dv=4095, vth=1), "dense")
    count, results = run_measured(g, X[None], 4)
    spikes = int(np.count_nonzero(results[0].outputs["neuron"]))
    assert spikes > 0
    assert count.firing_rates()["neuron"] == pytest.approx(spikes / (2 * 4))
    assert math.isclose(count.totals()["spikes"], spikes)
