"""Every writer (`train`, `convert`, `energy`, `export`, `report`, `demo`) checks its output
before the work, refuses an existing output without --force and an output that is, holds or
sits inside one of its inputs, and records paths relative to the artifact (#13)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from cli_errors import one_line_error
from output_trees import tiny_net, tree

from spikeport import ir
from spikeport.cli import main
from spikeport.converters.netx_import import load_netx
from spikeport.outputs import MARKER

TINY = ["--embed-dim", "16", "--depth", "1", "--heads", "2", "--T", "1", "--epochs", "1"]


@pytest.fixture
def netx_artifact(tmp_path) -> Path:
    return ir.save(load_netx(tiny_net()), tmp_path / "tiny")


@pytest.fixture(scope="module")
def converted(digits_models, tmp_path_factory) -> tuple[Path, Path]:
    """(artifact, checkpoint): the small sdsa digits model and its converted artifact."""
    root = tmp_path_factory.mktemp("converted")
    ckpt = root / "runs" / "sdsa" / "model.pt"
    ckpt.parent.mkdir(parents=True)
    shutil.copyfile(digits_models.path("sdsa", "small"), ckpt)
    art = root / "art" / "sdsa"
    argv = ["convert", str(ckpt), "-o", str(art), "--no-eval", "--no-calibration", "--no-progress"]
    assert main(argv) == 0
    return art, ckpt


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a command starts its real work (training, loading the artifact)."""

    def refuse(*_a, **_k):
        pytest.fail("the work started before the output was checked")

    from spikeport.models import train as train_mod
    from spikeport.report import energy_inputs

    monkeypatch.setattr(train_mod, "train_digits", refuse)
    monkeypatch.setattr(energy_inputs, "load_graph", refuse)


# --- train ------------------------------------------------------------------------------------


def test_train_refuses_an_existing_run_before_training_and_replaces_it_with_force(
    tmp_path, capsys, monkeypatch
):
    from spikeport.models import train as train_mod

    real = train_mod.train_digits

    def quick(config, settings, **kw):  # the real training, on 64 images: seconds, not minutes
        return real(config, settings, train_subset=64, **kw)

    monkeypatch.setattr(train_mod, "train_digits", quick)
    out = tmp_path / "run"
    argv = ["train", "--attention", "sdsa", "--out", str(out), "--no-progress", *TINY]
    assert main(argv) == 0
    first = tree(out)
    assert {"model.pt", "metrics.json", MARKER} <= set(first)
    capsys.readouterr()

    monkeypatch.setattr(train_mod, "train_digits", lambda *a, **k: pytest.fail("trained"))
    one_line_error(capsys, argv, f"--out {out}: exists; pass --force")
    assert tree(out) == first

    monkeypatch.setattr(train_mod, "train_digits", quick)
    assert main([*argv, "--force", "--seed", "1"]) == 0  # another seed: other weights
    second = tree(out)
    assert set(second) == set(first) and second["model.pt"] != first["model.pt"]
    assert sorted(os.listdir(tmp_path)) == ["run"]  # no temporary or lock left beside it

    from spikeport.models.checkpoint import from_checkpoint

    assert from_checkpoint(out / "model.pt").config.embed_dim == 16


def test_train_and_energy_refuse_an_unwritable_output_before_any_work(
    tmp_path, capsys, no_work, netx_artifact
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    one_line_error(capsys, ["train", "--out", str(blocker / "run"), *TINY], "cannot create")
    argv = ["energy", str(netx_artifact), "--data", "random", "--out", str(blocker / "e")]
    one_line_error(capsys, argv, "cannot create")


# --- energy -----------------------------------------------------------------------------------


def test_energy_out_equal_to_or_inside_the_artifact_is_refused(
    tmp_path, capsys, no_work, netx_artifact
):
    before = tree(netx_artifact)
    base = ["energy", str(netx_artifact), "--data", "random", "--samples", "1", "--force"]
    one_line_error(capsys, [*base, "--out", str(netx_artifact)], "is the input")
    one_line_error(capsys, [*base, "--out", str(netx_artifact / "energy")], "is inside the input")
    one_line_error(capsys, [*base, "--out", str(tmp_path)], "holds the input")
    assert tree(netx_artifact) == before


def test_energy_report_is_replaced_only_with_force(tmp_path, capsys, netx_artifact):
    out = tmp_path / "energy"
    argv = ["energy", str(netx_artifact), "--data", "random", "--samples", "1", "--out", str(out)]
    assert main(argv) == 0
    first = tree(out)
    assert {"report.json", "report.md", "index.html", MARKER} <= set(first)
    capsys.readouterr()
    one_line_error(capsys, argv, "exists; pass --force")
    assert tree(out) == first
    assert main([*argv, "--force", "--hw", "loihi"]) == 0
    assert list(json.loads((out / "report.json").read_text())["hardware"]) == ["loihi"]


# --- report -----------------------------------------------------------------------------------


def test_report_rerenders_in_place_only_with_force_and_keeps_the_report_bytes(
    tmp_path, capsys, netx_artifact
):
    out = tmp_path / "energy"
    argv = ["energy", str(netx_artifact), "--data", "random", "--samples", "1", "--out", str(out)]
    assert main(argv) == 0
    report = (out / "report.json").read_bytes()
    (out / "index.html").write_text("stale")
    capsys.readouterr()
    one_line_error(capsys, ["report", str(out)], "exists; pass --force")
    assert main(["report", str(out), "--force"]) == 0
    assert (out / "report.json").read_bytes() == report
    assert "ESTIMATE" in (out / "index.html").read_text()
    one_line_error(
        capsys, ["report", str(out / "report.json"), "--out", str(tmp_path)], "holds the input"
    )


@pytest.mark.parametrize(
    ("break_it", "field"),
    [
        (lambda d: d.pop("hardware"), "field hardware is missing"),
        (lambda d: d.update(modes=[]), "field modes: expected an object"),
        (
            lambda d: d["hardware"]["loihi2"]["measured"]["layers"][0].update(energy_j="x"),
            "hardware.loihi2.measured.layers[0].energy_j: expected a finite number",
        ),
        (
            lambda d: d["energy_per_inference_j"].pop("loihi2"),
            "energy_per_inference_j: no entry for hardware 'loihi2'",
        ),
        (
            lambda d: d["modes"]["measured"].update(available="yes"),
            "modes.measured.available: expected bool",
        ),
    ],
)
def test_report_on_a_structurally_broken_report_is_one_line_naming_the_field(
    tmp_path, capsys, netx_artifact, break_it, field
):
    out = tmp_path / "energy"
    argv = ["energy", str(netx_artifact), "--data", "random", "--samples", "1", "--out", str(out)]
    assert main(argv) == 0
    doc = json.loads((out / "report.json").read_text())
    break_it(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    capsys.readouterr()
    one_line_error(capsys, ["report", str(bad), "--out", str(tmp_path / "r")], str(bad), field)


# --- export -----------------------------------------------------------------------------------


def test_export_defaults_beside_the_artifact_and_never_writes_into_it(
    tmp_path, capsys, netx_artifact
):
    before = tree(netx_artifact)
    assert main(["export", str(netx_artifact), "--format", "netx"]) == 0
    assert (tmp_path / "tiny.net").is_file()
    capsys.readouterr()
    for target in ("graph.json", "tensors.h5", "new.net"):
        argv = ["export", str(netx_artifact), "--format", "netx", "--force"]
        one_line_error(capsys, [*argv, "-o", str(netx_artifact / target)], "is inside the input")
    assert tree(netx_artifact) == before


def test_export_replaces_an_existing_file_only_with_force(tmp_path, capsys, netx_artifact):
    out = tmp_path / "x.net"
    out.write_bytes(b"someone's file")
    argv = ["export", str(netx_artifact), "--format", "netx", "-o", str(out)]
    one_line_error(capsys, argv, "exists; pass --force")
    assert out.read_bytes() == b"someone's file"
    assert main([*argv, "--force"]) == 0
    assert load_netx(out).name


def test_export_never_overwrites_the_checkpoint_the_artifact_came_from(converted, capsys):
    art, ckpt = converted
    before = ckpt.read_bytes()
    argv = ["export", str(art), "--format", "onnx", "-o", str(ckpt), "--force"]
    one_line_error(capsys, argv, "is the input")
    assert ckpt.read_bytes() == before


# --- convert ----------------------------------------------------------------------------------


def test_convert_refuses_outputs_over_its_checkpoint_before_any_work(converted, capsys, no_work):
    art, ckpt = converted
    base = ["convert", str(ckpt), "--no-eval", "--no-calibration", "--no-progress", "--force"]
    one_line_error(capsys, [*base, "-o", str(ckpt.parent)], "holds the input")
    one_line_error(capsys, [*base, "-o", str(ckpt)], "is the input")
    one_line_error(capsys, [*base[:-1], "-o", str(art)], "exists; pass --force")
    assert ckpt.is_file() and (art / "graph.json").is_file()


def test_report_json_records_the_checkpoint_relative_to_the_artifact(
    converted, tmp_path, monkeypatch
):
    from spikeport.report.energy_inputs import checkpoint_path

    art, ckpt = converted
    report = json.loads((art / "report.json").read_text())
    assert report["source_base"] == "artifact"
    assert report["source"] == os.path.relpath(ckpt, art) == "../../runs/sdsa/model.pt"
    moved = tmp_path / "elsewhere"
    shutil.copytree(art.parents[1], moved)  # artifact and checkpoint move together
    monkeypatch.chdir(tmp_path)  # and the command runs from another directory
    found = checkpoint_path(moved / "art" / "sdsa", None)
    assert found is not None and found.resolve() == (moved / "runs/sdsa/model.pt").resolve()


def test_convert_replaces_an_artifact_whole_with_force(converted, tmp_path, capsys):
    _, ckpt = converted
    art = tmp_path / "art"
    argv = ["convert", str(ckpt), "-o", str(art), "--no-eval", "--no-calibration", "--no-progress"]
    assert main(argv) == 0
    (art / "leftover.txt").write_text("from an older run")
    assert main([*argv, "--force"]) == 0
    assert not (art / "leftover.txt").exists()
    ir.load(art)
    assert sorted(os.listdir(tmp_path)) == ["art"]


# --- demo -------------------------------------------------------------------------------------


def test_demo_refuses_an_out_directory_spikeport_did_not_write(tmp_path, capsys, no_work):
    (tmp_path / "notes.txt").write_text("mine")
    argv = ["demo", "--out", str(tmp_path), "--until", "train", "--attention", "ssa"]
    one_line_error(capsys, argv, "holds 'notes.txt', which the demo did not write", "--force")
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_demo_adopts_an_out_directory_an_older_spikeport_wrote(tmp_path, capsys, no_work):
    """An OUT holding only the demo's entries, without markers (written before them): the
    demo runs and reuses its cached model; its entries become spikeport's to replace."""
    from spikeport.models import train as train_mod

    run = tmp_path / "models" / "ssa"
    run.mkdir(parents=True)
    (run / "model.pt").write_bytes(b"cached weights")
    key = train_mod.run_key(train_mod.digits_config("ssa"), train_mod.TrainSettings(epochs=1))
    metrics = {"run_key": key, "test_accuracy": 0.9, "train_seconds": 1.0, "n_test": 360}
    (run / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "summary.json").write_text("[]")
    argv = ["demo", "--out", str(tmp_path), "--until", "train", "--attention", "ssa"]
    assert main([*argv, "--epochs", "1", "--no-progress"]) == 0
    assert "(cached)" in capsys.readouterr().out
    assert (tmp_path / MARKER).is_file() and (run / MARKER).is_file()
    assert (run / "model.pt").read_bytes() == b"cached weights"
