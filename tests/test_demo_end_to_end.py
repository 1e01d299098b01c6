"""`spikeport demo` end to end on one small model: every stage runs and the numbers agree."""

from __future__ import annotations

import json

import pytest

from spikeport import cli


@pytest.mark.slow
@pytest.mark.lava
def test_demo_runs_every_stage_and_the_summary_is_consistent(tmp_path, capsys, monkeypatch):
    from spikeport.models import train as train_mod

    real = train_mod.train_digits

    def small(config, settings, **kw):
        tiny = train_mod.digits_config(config.attention, embed_dim=16, depth=1, num_heads=2, T=2)
        return real(tiny, settings, **kw)

    monkeypatch.setattr(train_mod, "train_digits", small)
    argv = ["demo", "--out", str(tmp_path), "--epochs", "2", "--attention", "axnor"]
    argv += ["--lava-samples", "1", "--energy-samples", "4", "--no-progress"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "pipeline summary" in out and "identical (1)" in out

    (row,) = json.loads((tmp_path / "summary.json").read_text())
    converted = json.loads((tmp_path / "artifacts" / "axnor" / "report.json").read_text())
    # The simulator is bit-identical to the integer reference evaluation, so the accuracy on
    # the whole test split is the same number, reached by a different code path.
    assert row["simulated_samples"] == 360
    assert row["simulated_accuracy"] == converted["quantized_accuracy"]
    assert row["lava_identical"] is True
    assert set(row["energy_per_inference_j"]) >= {"cmos45nm", "loihi", "loihi2"}
    assert all(e > 0 for e in row["energy_per_inference_j"].values())
    energy_dir = tmp_path / "energy" / "axnor"
    for name in ("report.json", "report.md", "index.html"):
        assert (energy_dir / name).is_file()
    assert list(energy_dir.glob("*.png"))

    # `make demo` twice: the second run reuses the model and replaces the demo's own outputs
    assert cli.main([*argv, "--until", "convert"]) == 0
    assert "(cached)" in capsys.readouterr().out
    again = json.loads((tmp_path / "artifacts" / "axnor" / "report.json").read_text())
    assert again["source"] == converted["source"] == "../../models/axnor/model.pt"
    assert not list(tmp_path.rglob(".*.tmp-*")) and not list(tmp_path.rglob(".*.lock"))
