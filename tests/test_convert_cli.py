"""`spikeport convert`: writes the quantised artifact, the float graph and report.json with
float and quantised digits accuracy; bad input is a one-line error."""

from __future__ import annotations

import json

import pytest
from cli_errors import one_line_error

from spikeport.cli import main
from spikeport.ir import load


@pytest.fixture(scope="module")
def checkpoint(digits_models):
    return digits_models.path("sdsa", "small")


def test_convert_writes_artifact_and_report(checkpoint, tmp_path, capsys):
    out = tmp_path / "art"
    assert main(["convert", str(checkpoint), "-o", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"] == "digits" and report["n_images"] == 360
    assert 0.3 < report["float_accuracy"] <= 1 and 0 <= report["quantized_accuracy"] <= 1
    assert report["float_graph_exact"] is True
    assert [p["name"] for p in report["passes"]][-1] == "quantize"
    layers = {r["layer"]: r for r in report["layers"]}
    assert layers["block.0.attn.core"]["kind"] == "IntAttention/sdsa"
    conv = layers["patch_embed.proj_conv"]
    assert conv["weight_exp"] == 0 and -256 <= conv["mantissa_min"] <= conv["mantissa_max"] <= 255
    assert 0.9 < conv["spike_agreement"] <= 1
    graph = load(out)
    assert graph.meta["level"] == "int" and graph.meta["readout"] == "head.readout"
    assert all(n.level in ("int", "any") for n in graph)
    assert load(out / "float").meta["T"] == 4
    text = capsys.readouterr().out
    assert "layer" in text and "quantised" in text and "patch_embed.rpe_conv" in text


def test_convert_missing_checkpoint_is_one_line_error(tmp_path, capsys):
    err = one_line_error(capsys, ["convert", str(tmp_path / "no.pt"), "-o", str(tmp_path / "o")])
    assert "no.pt" in err


def test_convert_unreadable_checkpoint_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    err = one_line_error(capsys, ["convert", str(bad), "-o", str(tmp_path / "o")])
    assert "bad.pt" in err


def test_convert_lists_passes(capsys):
    assert main(["convert", "--list-passes"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names[:7] == [
        "absorb-transpose-batchnorm",
        "sink-layout-below-lif",
        "simplify-layout",
        "fold-batchnorm",
        "fold-input-scale",
        "merge-attention-scale",
        "quantize",
    ]
