"""`spikeport energy` end to end on converted digits Spikformers (the shared ``digits_models``
fixture's trained models, as in test_convert_fidelity.py): both modes on every hardware model, the
simulator's firing rates against the PyTorch model's on the same images, and the encoding
conv's synops against an independent count."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spikeport.cli import main
from spikeport.converters.passes import QuantConfig
from spikeport.converters.pipeline import convert_model
from spikeport.hw_models.cost.hardware import available_hardware_models
from spikeport.ir import load, save
from spikeport.models.checkpoint import from_checkpoint
from spikeport.models.digits import PIXEL_MAX

SAMPLES = 24


def _torch_lif_rates(model, images: torch.Tensor) -> dict[str, float]:
    """Spikes per neuron per step of every LIF module (forward hooks on the PyTorch model)."""
    rates: dict[str, list[float]] = {}

    def hook(name):
        def fn(_mod, _args, out):
            s = out[0] if isinstance(out, tuple) else out
            rates.setdefault(name, []).append(float((s != 0).double().mean()))

        return fn

    handles = [
        m.register_forward_hook(hook(n))
        for n, m in model.named_modules()
        if n and hasattr(m, "v_threshold")
    ]
    with torch.no_grad():
        model(images)
    for h in handles:
        h.remove()
    return {k: float(np.mean(v)) for k, v in rates.items()}


@pytest.mark.slow
@pytest.mark.parametrize("attention", ["ssa", "lrf_dyn"])
def test_energy_on_converted_digits_model(
    digits_models, digits_split, tmp_path, attention, capsys
) -> None:
    ckpt, data = digits_models.path(attention, "full"), digits_split
    model = from_checkpoint(ckpt)
    conv = convert_model(
        model, (1, 8, 8), config=QuantConfig(input_scale=PIXEL_MAX), calibration=data.x_train
    )
    art = tmp_path / "art"
    save(conv.quantized, art)
    out = tmp_path / "rep"
    rc = main(
        ["energy", str(art), "--checkpoint", str(ckpt), "--hw", "all", "--samples",
         str(SAMPLES), "--out", str(out)]
    )  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((out / "report.json").read_text())
    assert doc["modes"]["measured"]["available"], doc["modes"]["measured"]["reason"]
    assert doc["modes"]["analytical"]["available"], doc["modes"]["analytical"]["reason"]
    for hw in available_hardware_models():
        tot = doc["energy_per_inference_j"][hw]
        assert tot["measured"] > 0 and tot["analytical"] > 0
        mapping = doc["hardware"][hw]["mapping"]
        assert mapping["weight_bytes_compact"] > 0 and mapping["attention"]
    assert doc["hardware"]["loihi2"]["mapping"]["cores"] >= 1

    # Firing rates: the bit-accurate integer run vs the float PyTorch model on the same images.
    want = _torch_lif_rates(model, data.x_test[:SAMPLES])
    got = doc["modes"]["measured"]["firing_rates"]
    common = [n for n in got if n in want]
    assert len(common) >= 15
    diffs = [abs(got[n] - want[n]) for n in common]
    assert max(diffs) < 0.03, dict(zip(common, diffs, strict=True))
    assert np.mean(diffs) < 0.01

    # Encoding conv: graded input pixels (x 16, rounded) held for T steps; synops = non-zero
    # pixels x their non-zero fan-out, fan-out from a transposed convolution of a ones map.
    g = load(art)
    first = next(n for n in g.topological_order() if type(g.node(n)).__name__ == "Conv")
    node = g.node(first)
    pix = np.rint(data.x_test[:SAMPLES].numpy().astype(np.float64) * PIXEL_MAX) != 0
    w = torch.from_numpy((np.asarray(node.weight) != 0).astype(np.float64))
    ones = torch.ones(1, w.shape[0], 8, 8, dtype=torch.float64)  # stride 1, 'same' padding
    assert tuple(node.stride) == (1, 1) and tuple(node.padding) == (1, 1)
    fan = torch.nn.functional.conv_transpose2d(ones, w, padding=node.padding)[0].numpy()
    expected = float((pix * fan).sum()) * g.meta["T"] / SAMPLES
    layers = {le["name"]: le for le in doc["hardware"]["loihi"]["measured"]["layers"]}
    assert layers[first]["ops"]["acs"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.slow
def test_window_counts_equal_the_simulators_windowed_run(digits_models, digits_split) -> None:
    """Counting each node's data window of a full T + L run (our slicing) equals the
    simulator computing only the windows (its ``windowed=True``): two implementations."""
    from spikeport.hw_models.cost.measured import run_measured
    from spikeport.report.energy_inputs import input_data, retime

    data = digits_split
    conv = convert_model(
        digits_models.model("ssa", "full"),
        (1, 8, 8),
        config=QuantConfig(input_scale=PIXEL_MAX),
        calibration=data.x_train,
    )
    g, _ = retime(conv.quantized)
    d = input_data(g, "digits", 8, None)
    a, _ = run_measured(g, d.feed, d.steps, window=d.timesteps, use_sim_windows=True)
    b, _ = run_measured(g, d.feed, d.steps, window=d.timesteps, use_sim_windows=False)
    assert a.steps == b.steps == d.steps
    assert [n.name for n in a.nodes] == [n.name for n in b.nodes]
    for x, y in zip(a.nodes, b.nodes, strict=True):
        assert dict(x.counters) == dict(y.counters), x.name
        assert x.active_updates == y.active_updates, x.name
    assert sum(n.counters["synaptic_events"] for n in a.nodes) > 0
