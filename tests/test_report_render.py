"""`spikeport report`: re-render an energy report.json, compare several, refuse other files."""

from __future__ import annotations

import json
from pathlib import Path

from spikeport.cli import main

NETX = (
    Path(__file__).resolve().parents[1]
    / ".venv/lib/python3.11/site-packages/tests/lava/lib/dl/netx"
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _energy(out: Path, net: str, hw: str) -> Path:
    rc = main(["energy", str(NETX / net), "--data", "random", "--samples", "1", "--hw", hw,
               "--out", str(out)])  # fmt: skip
    assert rc == 0
    return out / "report.json"


def test_report_rerenders_markdown_html_and_plots(tmp_path) -> None:
    src = _energy(tmp_path / "a", "tiny.net", "loihi")
    doc = json.loads(src.read_text())
    out = tmp_path / "again"
    assert main(["report", str(src), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    html = (out / "index.html").read_text()
    total = doc["energy_per_inference_j"]["loihi"]["measured"]
    assert f"{total * 1e6:.3f} µJ" in md  # the summary shows the report's number
    assert "ESTIMATE" in md and "ESTIMATE" in html
    assert doc["hardware"]["loihi"]["measured"]["basis"] in md
    for png in ("energy_per_layer.png", "hardware_comparison.png"):
        assert (out / png).read_bytes()[:8] == PNG_MAGIC


def test_report_compares_several_reports(tmp_path) -> None:
    a = _energy(tmp_path / "tiny", "tiny.net", "loihi2")
    b = _energy(tmp_path / "mnist", "mnist.net", "loihi2")
    out = tmp_path / "cmp"
    assert main(["report", str(a), str(b), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "| tiny |" in md and "| mnist |" in md and "loihi2 measured" in md
    assert (out / "comparison.png").read_bytes()[:8] == PNG_MAGIC


def test_report_refuses_a_file_that_is_not_an_energy_report(tmp_path, capsys) -> None:
    bad = tmp_path / "report.json"
    bad.write_text(json.dumps({"layers": []}))
    assert main(["report", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "kind" in err and str(bad) in err
    assert main(["report", str(bad), str(bad)]) == 2  # several need --out or are refused
