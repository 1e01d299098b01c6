"""SDT-V3 (Efficient Spiking Transformer) through the converter: every I-LIF becomes an
integer ``GradedSpike`` (graded 3-bit messages), the linear attention an exact integer
``(Q K^T) V``; the simulator under Lava's timing equals the layer-synchronous integer
reference; the virtual-step form (binary spikes over D = 4 steps) gives the graded results.

References, independent of the code under test: the float PyTorch model's forward (its logits
and its I-LIF integer outputs ``s = round(clamp(x, 0, D))``, captured by hooks), the traced
float graph evaluated by ``run_float``, and ``int_eval.run_int`` (layer-synchronous) for the
simulator run under pipelined timing.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conversion_checks import PIXEL, images, kind, of_kind
from model_references import randomise
from test_models_sdt_v3 import TINY

from spikeport.converters.float_eval import run_float
from spikeport.converters.passes import QuantConfig
from spikeport.converters.passes.manager import PassManager
from spikeport.converters.passes.retime import retimed
from spikeport.converters.passes.virtual_steps import ExpandVirtualSteps
from spikeport.converters.pipeline import convert_model
from spikeport.errors import UnsupportedError
from spikeport.hw_models.sim.classification import direct_input
from spikeport.hw_models.sim.engine import Simulator
from spikeport.hw_models.sim.int_eval import run_int
from spikeport.ir.timing import Timing
from spikeport.models.integer_neuron import IntegerLIF
from spikeport.models.registry import build_model, default_config

D = 4
"""The official I-LIF's largest integer spike."""


@pytest.fixture(scope="module")
def converted():
    """A tiny SDT-V3 (3 attention blocks, random BN), its conversion, 16 images and the
    integer reference's values of every node."""
    torch.manual_seed(0)
    model = randomise(build_model(default_config("sdt-v3", **TINY)), seed=3).float()
    with torch.no_grad():  # a classifier bias (zero at init): the readout neuron carries it
        model.head.bias.copy_(torch.randn(TINY["num_classes"]) * 0.1)
    conv = convert_model(model, (3, 32, 32), config=QuantConfig(input_scale=PIXEL))
    x = images(16, (3, 32, 32))  # on the input grid: the input itself is exact in integers
    ref: dict[str, np.ndarray] = {}
    v = run_int(conv.quantized, x.numpy(), observe=ref.__setitem__)
    return model, conv, x, ref, v


def _float_spikes(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every IntegerLIF's integer output (s = output x norm) in the float model's forward."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        mod.register_forward_hook(
            lambda m, _i, out, name=name: seen.__setitem__(name, (out * m.norm).round())
        )
        for name, mod in model.named_modules()
        if isinstance(mod, IntegerLIF)
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


def test_traced_float_graph_reproduces_the_model_bit_for_bit(converted):
    model, conv, x, _, _ = converted
    with torch.no_grad():
        want = model(x)
    assert torch.equal(run_float(conv.float_graph, x), want)


def test_every_i_lif_becomes_a_graded_spike_and_the_attention_exact_integers(converted):
    model, conv, _, ref, _ = converted
    q = conv.quantized
    i_lifs = {n for n, m in model.named_modules() if isinstance(m, IntegerLIF)}
    assert set(of_kind(q, "GradedSpike")) == i_lifs and len(i_lifs) == 55
    assert {q.node(n).max_value for n in i_lifs} == {D}
    products = of_kind(q, "IntLinearAttention")
    assert len(products) == 3  # block3.0, block4.0, block4.1
    # float attention = scale (q/4)(k/4)^T(v/4), the model's scale 2 / sqrt(d): 1/128 per
    # integer of (Q K^T) V at d = 16 (block4: exact, no shift); at d = 8 (block3) 2^shift /
    # threshold approximates sqrt(8) / 128 within the threshold's rounding
    modules = dict(model.named_modules())
    exact = []
    for p in products:
        reader = q.consumers(p)[0][0]
        while kind(q, reader) != "GradedSpike":
            reader = q.consumers(reader)[0][0]
        per_integer = modules[p.rsplit(".", 1)[0]].scale / D**3
        node, vth = q.node(p), q.node(reader).vth
        exact.append((1 / per_integer).is_integer())
        if exact[-1]:
            assert node.shift == 0 and vth == 1 / per_integer == 128, p
        else:
            assert node.shift > 0 and abs(vth / 2**node.shift * per_integer - 1) < 1 / vth, p
    assert exact == [False, True, True]
    # no float node and no binary LIF left inside the network: only the readout neuron
    assert of_kind(q, "CubaLIF") == [q.meta["readout"]]
    # graded messages (signed, 4 bits for 0..4) into every synapse fed by integer spikes
    for syn in of_kind(q, "Conv", "Dense"):
        src = q.inputs_of(syn)["in"]
        while kind(q, src) in ("Reshape", "Transpose", "Flatten"):
            src = q.inputs_of(src)["in"]
        if kind(q, src) == "GradedSpike":
            assert q.node(syn).num_message_bits == 4, syn
    # the spikes use the whole range 0..D (the test is not vacuous)
    for n in i_lifs - {"spike"}:
        assert set(np.unique(ref[n]).tolist()) <= set(range(D + 1)), n
    assert max(int(ref[n].max()) for n in i_lifs) == D


def test_quantised_spikes_and_logits_follow_the_float_model(converted):
    """8-bit weights move some integer spikes by one (measured on these 16 images: 78.9 %
    exact, 98.8 % within one, worst layer block3.0.mlp.fc2_spike 59 % exact; a current
    group shares one scale, so its small weights, e.g. the image conv's, get few levels);
    the logits keep their order."""
    model, conv, x, ref, v = converted
    want = _float_spikes(model, x)
    equal = near = total = 0
    for name, s in want.items():
        got = torch.from_numpy(ref[name][0]).to(s.dtype)  # T = 1
        assert got.shape == s.shape, name
        equal += int((got == s).sum())
        near += int(((got - s).abs() <= 1).sum())
        total += s.numel()
    assert equal / total > 0.75 and near / total > 0.98, (equal / total, near / total)
    with torch.no_grad():
        logits = model(x).numpy()
    assert np.array_equal(v.argmax(axis=1), logits.argmax(axis=1))
    assert np.corrcoef(v.ravel(), logits.ravel())[0, 1] > 0.99


def test_fidelity_report_compares_integer_spikes_as_integers(converted):
    """``measure_fidelity`` (what ``convert --data`` reports) counts, per I-LIF, the same
    equal integer spikes as the float model's own outputs do here, and the float graph
    exact against the model."""
    from spikeport.converters.pipeline import measure_fidelity

    model, conv, x, ref, _ = converted
    report = measure_fidelity(conv, model, x, torch.zeros(len(x), dtype=torch.long))
    assert report["float_graph_exact"] and report["lifs_checked_against_model"] == 55
    want = _float_spikes(model, x)
    assert set(report["layers"]) == set(want)
    for name, s in want.items():
        got = torch.from_numpy(ref[name][0]).to(s.dtype)
        layer = report["layers"][name]
        assert layer["spike_agreement"] == float((got == s).double().mean()), name
        assert layer["float_rate"] == float(s.double().mean()), name


def test_simulator_under_lava_timing_equals_the_integer_reference(converted):
    _, conv, x, ref, v = converted
    rg = retimed(conv.quantized)
    timing = Timing.from_meta(rg.meta)
    assert timing.latency > 0 and of_kind(rg, "Delay")  # residual joins were delayed
    watched = of_kind(rg, "GradedSpike", "IntLinearAttention")
    res = Simulator(rg, probes=[*watched, (timing.readout, "v")]).run(direct_input(rg, x.numpy()))
    for name in watched:
        lo, hi = timing.window(name)
        assert np.array_equal(res.probes[(name, "out")][lo:hi], ref[name]), name
    assert np.array_equal(res.probes[(timing.readout, "v")][timing.readout_step], v)


def test_virtual_steps_give_binary_spikes_summing_to_the_graded_ones_and_the_same_readout(
    converted,
):
    _, conv, x, ref, v = converted
    vg = PassManager([ExpandVirtualSteps()]).run(conv.quantized)
    assert vg.meta["virtual_steps"] == D
    seen: dict[str, np.ndarray] = {}
    got = run_int(vg, x.numpy(), observe=seen.__setitem__)
    assert np.array_equal(got, v)  # readout v: the same integers
    readout = conv.quantized.node(conv.quantized.meta["readout"])
    assert readout.bias_mant.any()  # its bias, now added over D steps, is not vacuous
    for name in of_kind(vg, "GradedSpike"):
        binary = seen[name]
        assert set(np.unique(binary).tolist()) <= {0, 1}, name
        windows = binary.reshape(-1, D, *binary.shape[1:])
        assert np.array_equal(windows.sum(axis=1), ref[name]), name
        # b_j = [j < s]: a spike train that starts at the window's first step
        assert np.all(np.diff(windows, axis=1) <= 0), name
    for syn in of_kind(vg, "Conv", "Dense"):
        if vg.node(syn).num_message_bits == 0:
            assert conv.quantized.node(syn).num_message_bits == 4, syn


def test_virtual_step_form_is_refused_where_it_cannot_run(converted):
    _, conv, x, _, _ = converted
    with pytest.raises(UnsupportedError, match="before retiming"):
        PassManager([ExpandVirtualSteps()]).run(retimed(conv.quantized))
    vg = PassManager([ExpandVirtualSteps()]).run(conv.quantized)
    with pytest.raises(UnsupportedError, match="layer-synchronously"):
        Simulator(vg).run(direct_input(vg, x.numpy()[:1]), D)


def test_rounding_correction_of_a_depthwise_conv_uses_its_own_channels_means():
    """The calibrated bias correction of a grouped conv equals torch's grouped conv of the
    constant mean image with the weight rounding errors (one value per output channel)."""
    from types import SimpleNamespace

    import torch.nn.functional as F

    from spikeport.converters.passes.quantize.synapse import rounding_shift

    rng = np.random.default_rng(5)
    for groups, cin, cout in ((8, 8, 8), (2, 6, 4), (1, 3, 5)):
        w = rng.normal(size=(cout, cin // groups, 3, 3))
        w_back = np.round(w * 8) / 8
        mean = rng.random(cin) * 3
        q = SimpleNamespace(input_means={"c": mean})
        got = rounding_shift(q, "c", w, w_back, unit=0.25)
        image = torch.from_numpy(mean / 0.25).view(1, cin, 1, 1).expand(1, cin, 3, 3)
        want = F.conv2d(image, torch.from_numpy(w_back - w), groups=groups).view(-1)
        assert np.allclose(got, want.numpy(), rtol=1e-12, atol=1e-12), groups


def test_convert_simulate_and_energy_commands_on_sdt_v3_with_its_data(tmp_path, capsys):
    """`spikeport convert` calibrated on an npz of images, `simulate` and `energy` (measured
    per layer on the integer graph, analytical on the float model) on the artifact."""
    import json

    from spikeport import cli
    from spikeport.models.checkpoint import save_model
    from spikeport.report.energy_inputs import load_graph

    torch.manual_seed(0)
    save_model(
        randomise(build_model(default_config("sdt-v3", **TINY)), seed=3).float(), tmp_path / "m.pt"
    )
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((4, 3, 32, 32), np.float32), y=rng.integers(0, 7, 4))
    spec, art = f"npz:{tmp_path / 'd.npz'}", tmp_path / "art"
    assert (
        cli.main(
            ["convert", str(tmp_path / "m.pt"), "-o", str(art), "--data", spec, "--no-progress"]
        )
        == 0
    )
    capsys.readouterr()
    assert cli.main(["simulate", str(art), "--json"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert (
        sim["samples"] == 4 and sim["ops_per_node"]["block4.1.attn.product"]["synaptic_events"] > 0
    )
    assert cli.main(["energy", str(art), "--samples", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    graph = load_graph(art)
    for hw, totals in doc["energy_per_inference_j"].items():
        assert totals["measured"] > 0 and totals["analytical"] > 0, hw
        layers = {row["name"] for row in doc["hardware"][hw]["measured"]["layers"]}
        assert {"block4.0.attn.product", "block4.0.attn.attn_spike", "head"} <= layers, hw
        # analytical: one row per conv / linear layer of the model (= the graph's synapses)
        # and one per attention block
        rows = {row["name"] for row in doc["hardware"][hw]["analytical"]["layers"]}
        attention = {p.rsplit(".", 1)[0] for p in of_kind(graph, "IntLinearAttention")}
        assert rows == set(of_kind(graph, "Conv", "Dense")) | attention, hw


def test_i_lif_biases_beyond_the_register_clip_without_changing_a_spike():
    """Tiny weights make the group's scale large; biases of +-12 float units then
    exceed 24 bits unclipped. The integer I-LIF still equals round(clamp(x W^T + b, 0, 4))
    computed in float64 here, on every channel."""
    from spikeport import ir
    from spikeport.converters.passes import Quantize

    w = np.array([[1e-3, 2e-3, -1e-3], [1e-3, 0, 1e-3], [3e-3, 1e-3, 0], [-1e-3, 1e-3, 2e-3]])
    b = np.array([12.0, -12.0, 2.2, 0.3])
    g = ir.Graph("bias")
    g.meta["T"] = 1
    g.add(ir.Input("x", shape=(3,), kind="graded"))
    g.add(ir.Linear("fc", weight=w, bias=b), "x")
    g.add(ir.IntegerSpike("s", max_value=D, norm=D), "fc")
    g.add(ir.Linear("head", weight=np.eye(4)), "s")
    q = PassManager([Quantize(QuantConfig(input_scale=PIXEL))]).run(g)
    node = q.node("s")
    assert node.vth * np.abs(b).max() > 2**23  # the unclipped bias would not fit
    x = np.random.default_rng(0).integers(0, PIXEL + 1, (50, 3)) / PIXEL
    seen: dict[str, np.ndarray] = {}
    run_int(q, x, observe=seen.__setitem__)
    want = torch.round(torch.clamp(torch.from_numpy(x @ w.T + b), 0, D)).numpy()
    assert np.array_equal(seen["s"][0], want)
    assert set(np.unique(want).tolist()) == {0, 2, 4}


def test_virtual_steps_spread_a_full_range_readout_bias_exactly():
    """A readout bias at the ends of its 13-bit mantissa (<< 7) becomes D per-step shares
    with another exponent; the final v equals the graded graph's."""
    from spikeport import ir

    g = ir.Graph("readout")
    g.meta["T"] = 1
    g.add(ir.Input("x", shape=(3,), kind="graded"))
    g.add(ir.GradedSpike("s", shape=(3,), vth=5, max_value=D), "x")
    g.add(
        ir.Dense("fc", weight=np.array([[3, -2, 1], [1, 1, 1], [-7, 0, 2]]), num_message_bits=4),
        "s",
    )
    bias = np.array([-4096, 4095, 3])
    g.add(ir.CubaLIF("v", shape=(3,), du=4095, dv=0, vth=2**17, bias_mant=bias, bias_exp=7), "fc")
    g.meta["readout"] = "v"
    vg = PassManager([ExpandVirtualSteps()]).run(g)
    per_step = vg.node("v").bias_mant.astype(np.int64) << vg.node("v").bias_exp
    assert np.array_equal(per_step * D, bias << 7)
    x = np.random.default_rng(2).integers(-5, 30, (20, 3))
    assert np.array_equal(run_int(vg, x), run_int(g, x))
