"""Quantisation to Loihi fixed point: a Linear+LIF layer against a hand computation with
Lava's conventions (lava/proc/lif/models.py, lava/proc/dense/models.py; docs/semantics.md), the
readout neuron, and save/load of a quantised graph."""

from __future__ import annotations

import numpy as np
import torch

from spikeport.converters.float_eval import run_float
from spikeport.converters.passes import FoldInputScale, QuantConfig, Quantize
from spikeport.hw_models.sim.int_eval import run_int
from spikeport.ir import LIF, Graph, Input, Linear, TimeMean, TokenMean, load, save, validate


def _layer(theta: float) -> Graph:
    g = Graph("layer")
    g.meta["T"] = 6
    g.add(Input("x", shape=(3,), kind="spikes"))
    g.add(
        Linear(
            "l",
            weight=np.array([[0.5, -0.25, 0.125]], np.float32),
            bias=np.array([0.1], np.float32),
        ),
        "x",
    )
    g.add(LIF("n", tau=2.0, v_threshold=theta, decay_input=True), "l")
    return g


def test_linear_lif_integers_follow_lava_conventions_by_hand():
    g = _layer(0.5)
    FoldInputScale().run(g)  # weights / 2: [0.25, -0.125, 0.0625], bias 0.05
    Quantize(QuantConfig(clip_search=False)).run(g)
    validate(g)
    dense, lif = g.node("l"), g.node("n")
    # Hand: vth = floor(254 * theta * 2^e / max|w|) = 508 * 2^e -> e = 1 is the first with
    # vth >= 512: vth 1016, S = 64 * vth / theta = 130048 per unit, W = w S / (64 * 2^e)
    # = 1016 w = [254, -127, 63.5] -> even mantissas (Lava drops mixed-sign LSBs)
    # [254, -128, 64]; bias = 0.05 S = 6502.4 -> 3251 << 1 (13-bit mantissa).
    assert dense.weight.tolist() == [[254, -128, 64]] and dense.weight_exp == 1
    assert (lif.vth, lif.du, lif.dv) == (1016, 4095, 2048)
    assert lif.bias_mant.tolist() == [3251] and lif.bias_exp == 1
    # Input [1, 0, 0] every step: a = 254 << 1, u = a << 6 = 32512, bias 6502:
    # v = 39014, 58521, 68274 > 1016 << 6 = 65024 -> spike on step 3, then v = 0: period 3.
    # Float: H = 0.3, 0.45, 0.525 >= 0.5 -> the same spikes.
    x = torch.tensor([[1.0, 0.0, 0.0]])
    spikes = run_int(g, x.numpy())
    assert spikes[:, 0, 0].tolist() == [0, 0, 1, 0, 0, 1]
    assert run_float(_layer(0.5), x)[:, 0, 0].tolist() == [0, 0, 1, 0, 0, 1]


def test_quantized_layer_agrees_with_float_on_random_spikes():
    rng = np.random.default_rng(0)
    g = Graph("wide")
    g.meta["T"] = 8
    g.add(Input("x", shape=(64,), kind="spikes"))
    w = rng.normal(0, 0.3, size=(32, 64)).astype(np.float32)
    g.add(Linear("l", weight=w, bias=rng.normal(0, 0.1, 32).astype(np.float32)), "x")
    g.add(LIF("n", v_threshold=1.0), "l")
    ref = g.copy()
    FoldInputScale().run(g)
    Quantize().run(g)
    x = torch.from_numpy((rng.random((8, 200, 64)) < 0.3).astype(np.float32))
    g.meta["time_major"] = ref.meta["time_major"] = True
    f = run_float(ref, x).numpy()
    q = run_int(g, x.numpy())
    assert f.sum() > 1000
    assert (f == q).mean() > 0.98


def test_readout_neuron_accumulates_t_times_scaled_logits():
    rng = np.random.default_rng(3)
    g = Graph("readout")
    g.meta["T"] = 4
    g.add(Input("x", shape=(5, 6), kind="spikes"))
    g.add(TokenMean("tm", axis=0), "x")
    g.add(TimeMean("time"), "tm")
    g.add(
        Linear(
            "head",
            weight=rng.normal(size=(3, 6)).astype(np.float32),
            bias=rng.normal(size=3).astype(np.float32),
        ),
        "time",
    )
    ref = g.copy()
    Quantize().run(g)
    validate(g)
    assert g.meta["readout"] == "head.readout" and g.node("head.readout").vth == 1 << 17
    x = torch.from_numpy((rng.random((4, 50, 5, 6)) < 0.4).astype(np.float32))
    g.meta["time_major"] = ref.meta["time_major"] = True
    logits = run_float(ref, x).numpy()
    v = run_int(g, x.numpy())
    approx = v / g.meta["readout_scale"]
    # each weight is within half a mantissa step (2 max|W| / 254) of its float value and the
    # token-and-time mean input lies in [0, 1]: |error| <= 6 * max|W| / 254 (+ bias rounding)
    w_max = float(np.abs(ref.node("head").weight).max())
    assert np.abs(approx - logits).max() <= 6 * w_max / 254 + 1e-3
    assert (approx.argmax(1) == logits.argmax(1)).mean() > 0.97


def test_quantized_graph_saves_and_loads(tmp_path):
    g = _layer(0.5)
    FoldInputScale().run(g)
    Quantize().run(g)
    save(g, tmp_path / "art")
    back = load(tmp_path / "art")
    assert back.same_as(g)
