"""Pricing per-layer op counts with a hardware model: hand-computed energies, shares,
costs a model lacks reported as not modelled, text/Markdown tables."""

from __future__ import annotations

import json

import pytest

from spikeport.hw_models.cost.energy import LayerOps, estimate
from spikeport.hw_models.cost.hardware import load_hardware_model
from spikeport.report.energy_table import format_markdown, format_text


def _layers():
    return [
        LayerOps("conv1", "conv2d", macs=1000.0),
        LayerOps("fc", "linear", acs=5000.0),
        LayerOps("lif", "lif", neuron_updates=400.0, neuron_updates_active=100.0, spikes=50.0),
    ]


def test_cmos45nm_energy_is_4p6_mac_plus_0p9_ac_and_neurons_not_modelled():
    r = estimate(_layers(), load_hardware_model("cmos45nm"), basis="unit test")
    assert r.energy_per_inference_j == pytest.approx((1000 * 4.6 + 5000 * 0.9) * 1e-12)
    assert r.layers[0].energy_j == pytest.approx(4.6e-9)
    assert r.layers[0].share == pytest.approx(4600 / 9100)
    assert r.layers[2].energy_j == 0.0
    assert set(r.layers[2].not_modelled) == {"neuron_updates", "spikes"}
    assert r.not_modelled == {"neuron_updates": 400.0, "spikes": 50.0}
    assert r.label == "estimate" and "unit test" in r.basis and "cmos45nm" in r.basis


def test_loihi_prices_active_and_inactive_updates_and_lacks_mac():
    r = estimate(_layers(), load_hardware_model("loihi"))
    lif = r.layers[2]
    assert lif.energy_j == pytest.approx((100 * 81 + 300 * 52 + 50 * 1.7) * 1e-12)
    assert r.layers[0].not_modelled == ("macs",) and r.layers[0].energy_j == 0.0
    assert r.layers[1].energy_j == pytest.approx(5000 * 23.6e-12)
    assert sum(le.share for le in r.layers) == pytest.approx(1.0)


def test_bit_ops_are_priced_per_word():
    ops = [LayerOps("attn", "attention:axnor", and_words=10, xnor_words=10, popcount_words=20)]
    r = estimate(ops, load_hardware_model("cmos45nm"))
    assert r.energy_per_inference_j == pytest.approx((10 * 0.1 + 10 * 0.1 + 20 * 0.178) * 1e-12)


def test_report_serialises_and_tables_show_every_layer():
    r = estimate(_layers(), load_hardware_model("loihi"))
    d = json.loads(json.dumps(r.to_dict()))
    assert d["label"] == "estimate" and len(d["layers"]) == 3
    assert d["energy_per_inference_j"] == pytest.approx(r.energy_per_inference_j)
    text, md = format_text(r), format_markdown(r)
    for name in ("conv1", "fc", "lif", "TOTAL per inference", "ESTIMATE"):
        assert name in text and name in md
    assert md.count("\n| ") == 5  # header + 3 layers + total
