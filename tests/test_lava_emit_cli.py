"""`spikeport lava ARTIFACT`: agreement table / JSON, exit status, one-line errors."""

from __future__ import annotations

import json

import pytest

from spikeport.cli import main
from spikeport.deploy.lava.groundtruth import netx_test_dir


def _mnist() -> str:
    try:
        path = netx_test_dir() / "mnist.net"
    except Exception:  # noqa: BLE001
        pytest.skip("lava-dl's netx test networks are not installed")
    if not path.is_file():
        pytest.skip("mnist.net not installed")
    return str(path)


@pytest.mark.lava
def test_lava_json_reports_identical_run_on_a_netx_network(capsys) -> None:  # noqa: ANN001
    pytest.importorskip("lava.magma")
    code = main(["lava", _mnist(), "--samples", "1", "--steps", "5", "--states", "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    doc = json.loads(out[0])
    assert code == 0
    assert doc["identical"] is True
    assert doc["samples"] == 1 and doc["steps"] == 5
    assert doc["lava_seconds"] > 0 and doc["sim_seconds"] >= 0
    rows = {(r["node"], r["var"]): r for r in doc["probes"]}
    assert ("layer3.neuron", "v") in rows and ("layer1.dense", "out") in rows
    assert all(r["mismatches"] == 0 for r in doc["probes"])


@pytest.mark.lava
def test_lava_table_lists_every_layer(capsys) -> None:  # noqa: ANN001
    pytest.importorskip("lava.magma")
    assert main(["lava", _mnist(), "--samples", "1", "--steps", "3"]) == 0
    text = capsys.readouterr().out
    for node in ("layer0.neuron", "layer1.dense", "layer2.neuron", "layer3.neuron"):
        assert node in text
    assert "IDENTICAL" in text and "wall time: lava" in text


def test_lava_not_installed_is_a_one_line_error(monkeypatch, capsys) -> None:  # noqa: ANN001
    from spikeport.deploy.lava import compat

    monkeypatch.setattr(compat, "lava_available", lambda: False)
    assert main(["lava", "whatever", "--samples", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lava-nc is not installed" in err[0]


def test_lava_bad_artifact_and_samples_are_one_line_errors(tmp_path, capsys) -> None:  # noqa: ANN001
    assert main(["lava", str(tmp_path / "missing"), "--samples", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0]
    assert main(["lava", str(tmp_path), "--samples", "0"]) == 2
    assert "--samples" in capsys.readouterr().err
