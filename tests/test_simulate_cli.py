"""`spikeport simulate ARTIFACT --data digits`: one JSON object with accuracy, samples,
seconds and op counts (accuracy and predictions equal to the integer reference evaluation's),
a readable table otherwise; bad input is a one-line error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_errors import one_line_error

from spikeport.cli import main
from spikeport.converters.passes import PassManager, QuantConfig
from spikeport.converters.passes.retime import Retime
from spikeport.converters.pipeline import convert_model
from spikeport.hw_models.sim.int_eval import run_int
from spikeport.ir import save
from spikeport.models.digits import PIXEL_MAX, load_digits_split
from spikeport.models.registry import build_model
from spikeport.models.train import digits_config

LIMIT = 40


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    """A small untrained digits Spikformer (random weights), converted and retimed; plus the
    layer-synchronous quantised graph it came from."""
    torch.manual_seed(3)
    model = build_model(digits_config("ssa", embed_dim=16, depth=1, num_heads=2)).eval()
    conv = convert_model(model, (1, 8, 8), config=QuantConfig(input_scale=PIXEL_MAX))
    out = tmp_path_factory.mktemp("sim") / "art"
    save(PassManager([Retime()]).run(conv.quantized), out)
    return out, conv.quantized


def test_simulate_json_matches_the_integer_reference(artifact, capsys):
    path, quantized = artifact
    assert main(["simulate", str(path), "--data", "digits", "--json", "--limit", str(LIMIT)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1  # one JSON object, no progress bar on stdout
    rec = json.loads(out[0])
    data = load_digits_split()
    x, y = data.x_test[:LIMIT].numpy(), data.y_test[:LIMIT].numpy()
    want = run_int(quantized, x).argmax(axis=1)
    assert rec["samples"] == LIMIT
    assert rec["accuracy"] == pytest.approx(float((want == y).mean()))
    assert rec["seconds"] > 0 and rec["throughput"] > 0
    for key in ("synaptic_events", "dense_macs", "neuron_updates", "bitwise_words", "spikes"):
        assert isinstance(rec[key], int) and rec[key] == rec["ops"][key]
    assert rec["neuron_updates"] > 0 and rec["bitwise_words"] > 0
    assert rec["latency"] > 0 and rec["T"] == 4
    assert set(rec["firing_rates"]) >= {"patch_embed.proj_lif", "head.readout"}
    assert (
        sum(per["synaptic_events"] for per in rec["ops_per_node"].values())
        == rec["synaptic_events"]
    )


def test_simulate_full_timing_counts_warm_up_and_batch_size_does_not_matter(artifact, capsys):
    path, _ = artifact
    argv = ["simulate", str(path), "--data", "digits", "--json", "--limit", "12"]
    assert main([*argv, "--batch-size", "5"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert main([*argv, "--batch-size", "12", "--full-timing"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert a["accuracy"] == b["accuracy"] and a["ops"] == b["ops"]
    full = b["ops_full_run"]
    assert full["neuron_updates"] > b["neuron_updates"]  # T + L steps instead of T
    assert a["ops_full_run"] is None


def test_simulate_table_and_probe(artifact, capsys):
    path, _ = artifact
    argv = ["simulate", str(path), "--data", "digits", "--limit", "8", "--no-progress"]
    assert main([*argv, "--probe", "block.0.attn.core"]) == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "samples/s" in text and "patch_embed.proj_lif" in text
    assert "probe block.0.attn.core: window" in text
    assert main([*argv, "--json", "--probe", "head.readout"]) == 0
    rec = json.loads(capsys.readouterr().out)
    probe = rec["probes"]["head.readout"]
    assert len(probe["nonzero_per_step"]) == 4 and probe["window"][1] - probe["window"][0] == 4


def test_simulate_bad_input_is_one_line_error(artifact, tmp_path, capsys):
    path, _ = artifact
    err = one_line_error(capsys, ["simulate", str(tmp_path / "nope"), "--data", "digits"])
    assert "nope" in err
    err = one_line_error(capsys, ["simulate", str(path), "--data", "mnist"])
    assert "mnist" in err
    err = one_line_error(capsys, ["simulate", str(path), "--data", "digits", "--probe", "zz"])
    assert "zz" in err
    err = one_line_error(capsys, ["simulate", str(path), "--data", "digits", "--batch-size", "0"])
    assert "--batch-size" in err
    (tmp_path / "empty").mkdir()
    err = one_line_error(capsys, ["simulate", str(tmp_path / "empty"), "--data", "digits"])
    assert "graph.json" in err


def test_simulate_retimes_an_artifact_that_was_not_retimed(artifact, tmp_path, capsys):
    _, quantized = artifact
    save(quantized, tmp_path / "plain")
    argv = ["simulate", str(tmp_path / "plain"), "--data", "digits", "--json", "--limit", "6"]
    assert main(argv) == 0
    rec = json.loads(capsys.readouterr().out)
    data = load_digits_split()
    want = run_int(quantized, data.x_test[:6].numpy()).argmax(axis=1)
    assert rec["accuracy"] == pytest.approx(float((want == data.y_test[:6].numpy()).mean()))
    assert np.isfinite(rec["seconds"])
