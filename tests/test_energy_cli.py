"""`spikeport energy`: per-layer tables, report.json / report.md / index.html with PNG plots,
both counting modes side by side, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spikeport.cli import main
from spikeport.hw_models.cost.hardware import TARGETS_DIR, available_hardware_models

NETX = (
    Path(__file__).resolve().parents[1]
    / ".venv/lib/python3.11/site-packages/tests/lava/lib/dl/netx"
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _price(ops: dict[str, float], target: str) -> float:
    """Energy (J) of one layer's ops from the raw data file: an independent re-pricing."""
    e = {
        k: v["value"]
        for k, v in json.loads((TARGETS_DIR / f"{target}.json").read_text())["energy"].items()
    }
    kind = {
        "acs": "ac", "macs": "mac", "spikes": "spike", "hops": "hop", "and_words": "and_word",
        "xnor_words": "xnor_word", "popcount_words": "popcount_word", "int_adds": "int_add",
        "int_mults": "int_mult", "mem_read_bits": "mem_read_bit",
    }  # fmt: skip
    total = 0.0
    for k, v in ops.items():
        if k == "neuron_updates" and "neuron_update_active" in e:
            act = ops.get("neuron_updates_active", 0.0)
            total += act * e["neuron_update_active"] + (v - act) * e["neuron_update_inactive"]
        elif k in kind and kind[k] in e:
            total += v * e[kind[k]]
    return total * 1e-12


def test_unknown_hw_is_one_line_error_listing_targets(capsys) -> None:
    rc = main(["energy", str(NETX / "tiny.net"), "--hw", "tpu9000", "--data", "random"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert "\n" not in err and "tpu9000" in err
    for name in available_hardware_models():
        assert name in err


def test_missing_artifact_is_one_line_error(tmp_path, capsys) -> None:
    assert main(["energy", str(tmp_path / "nope"), "--data", "random"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "nope" in err


def test_netx_energy_report_files_and_totals(tmp_path, capsys) -> None:
    out = tmp_path / "rep"
    rc = main(
        ["energy", str(NETX / "tiny.net"), "--data", "random", "--samples", "3", "--hw", "all",
         "--out", str(out)]
    )  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "ESTIMATE" in text and "layer1.conv" in text and "TOTAL per inference" in text
    doc = json.loads((out / "report.json").read_text())
    assert doc["label"] == "estimate"
    assert set(doc["energy_per_inference_j"]) == set(available_hardware_models())
    assert doc["modes"]["analytical"]["available"] is False  # no float model for a netx file
    assert doc["modes"]["analytical"]["reason"]
    for hw, entry in doc["hardware"].items():
        rep = entry["measured"]
        assert rep["label"] == "estimate" and hw in rep["basis"] and "measured" in rep["basis"]
        layers = rep["layers"]
        assert {le["name"] for le in layers} >= {"layer1.conv", "layer2.conv", "layer2.neuron"}
        for le in layers:
            assert le["energy_j"] == pytest.approx(_price(le["ops"], hw), rel=1e-9, abs=1e-18)
        total = sum(le["energy_j"] for le in layers)
        assert doc["energy_per_inference_j"][hw]["measured"] == pytest.approx(total, rel=1e-12)
        assert sum(le["share"] for le in layers) == pytest.approx(1.0)
    html = (out / "index.html").read_text()
    md = (out / "report.md").read_text()
    for png in ("energy_per_layer.png", "firing_rates.png", "hardware_comparison.png"):
        assert (out / png).read_bytes()[:8] == PNG_MAGIC
        assert png in html and png in md
    assert "ESTIMATE" in html and "ESTIMATE" in md


def test_json_flag_prints_the_document(capsys) -> None:
    rc = main(["energy", str(NETX / "tiny.net"), "--data", "random", "--samples", "1", "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc["energy_per_inference_j"]) == ["loihi2"]


def test_digits_data_needs_a_digits_artifact(capsys) -> None:
    assert main(["energy", str(NETX / "tiny.net"), "--data", "digits"]) == 2
    assert "input_scale" in capsys.readouterr().err
