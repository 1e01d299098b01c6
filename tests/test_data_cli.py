"""``--data SPEC`` end to end on synthetic files: train on CIFAR-layout data, convert with its
calibration data (data.json), simulate on CIFAR, energy on an ImageFolder, event frames
through the simulator (and Lava)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_errors import one_line_error
from data_fixtures import write_cifar10

from spikeport import cli

TINY = ["--embed-dim", "16", "--depth", "1", "--heads", "2", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def cifar_run(tmp_path_factory):
    """A fake cifar-10-batches-py and a CIFAR-layout model trained on it for one epoch."""
    root = tmp_path_factory.mktemp("cifar")
    data = root / "cifar-10-batches-py"
    write_cifar10(data)
    argv = ["train", "--dataset", f"cifar10:{data}", "--epochs", "1", "--T", "2"]
    assert cli.main(argv + ["--batch-size", "20", "--out", str(root / "run"), *TINY]) == 0
    return root, data


def test_train_on_cifar_builds_a_cifar_layout_model_from_the_data(cifar_run):
    root, data = cifar_run
    metrics = json.loads((root / "run" / "metrics.json").read_text())
    config = metrics["config"]
    assert (config["arch"], config["in_channels"], config["img_size"]) == (
        "spikformer-cifar",
        3,
        32,
    )
    assert config["num_classes"] == 10 and config["pool_stages"] == [False, False, True, True]
    assert metrics["dataset"] == config["dataset"] == f"cifar10:{data.resolve()}"
    assert (metrics["n_train"], metrics["n_test"]) == (40, 8)


def _run_json(capsys, *argv: str) -> dict:
    assert cli.main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def cifar_artifact(cifar_run):
    """The CIFAR model converted with its own data (model.pt remembers the spec)."""
    root, data = cifar_run
    art = root / "art"
    argv = ["convert", str(root / "run" / "model.pt"), "-o", str(art), "--no-progress"]
    assert cli.main(argv) == 0
    return art, data


def test_convert_records_the_data_it_calibrated_and_evaluated_on(cifar_artifact):
    art, data = cifar_artifact
    record = json.loads((art / "data.json").read_text())
    assert record["spec"] == f"cifar10:{data.resolve()}" and record["layout"] == "image"
    assert record["calibration"] == {"split": "train", "samples": 40}
    assert record["evaluation"] == {"split": "test", "samples": 8}
    assert record["preprocessing"]["mean"] == [0.4914, 0.4822, 0.4465]
    report = json.loads((art / "report.json").read_text())
    assert report["dataset"] == record["spec"] and "quantized_accuracy" in report


def test_simulate_on_cifar_agrees_with_the_integer_reference_of_convert(cifar_artifact, capsys):
    art, data = cifar_artifact
    rec = _run_json(capsys, "simulate", str(art), "--data", f"cifar10:{data}", "--json")
    report = json.loads((art / "report.json").read_text())
    assert rec["samples"] == 8 and rec["data"] == f"cifar10:{data}"
    assert rec["accuracy"] == report["quantized_accuracy"]  # same images, same preprocessing
    default = _run_json(capsys, "simulate", str(art), "--json")  # data.json's spec
    assert default["accuracy"] == rec["accuracy"] and default["ops"] == rec["ops"]
    err = one_line_error(capsys, ["simulate", str(art), "--data", f"cifar10:{data},mean=0.1"])
    assert "mean differs from the artifact's recorded mean" in err


def test_simulate_refuses_data_that_does_not_fit_the_model(cifar_artifact, capsys):
    art, _ = cifar_artifact
    err = one_line_error(capsys, ["simulate", str(art), "--data", "digits"])
    assert "samples are [1, 8, 8] (image) but the model takes [3, 32, 32]" in err


@pytest.fixture(scope="module")
def imagenet_artifact(tmp_path_factory):
    """A tiny ImageNet-layout Spikformer (random weights) converted with an ImageFolder."""
    from data_fixtures import write_imagefolder
    from model_references import tiny_config

    from spikeport.models.checkpoint import save_model
    from spikeport.models.registry import build_model

    root = tmp_path_factory.mktemp("imagenet")
    write_imagefolder(root / "val", classes=("n03", "n01", "n02"), per_class=2)
    config = tiny_config("spikformer-imagenet", embed_dim=16, num_classes=3)
    torch.manual_seed(0)
    save_model(build_model(config).eval(), root / "tiny.pt")
    spec = f"imagefolder:{root / 'val'}"
    argv = ["convert", str(root / "tiny.pt"), "-o", str(root / "art"), "--data", spec]
    assert cli.main([*argv, "--no-progress"]) == 0
    return root / "art", spec


def test_energy_on_an_imagefolder_prices_the_preprocessed_images(imagenet_artifact, capsys):
    art, spec = imagenet_artifact
    record = json.loads((art / "data.json").read_text())
    assert record["preprocessing"]["crop"] == 32 and record["preprocessing"]["resize"] == 36
    assert record["classes"] == ["n01", "n02", "n03"]
    doc = _run_json(capsys, "energy", str(art), "--data", spec, "--samples", "3", "--json")
    assert "imagefolder" in doc["data"]["description"] and doc["data"]["samples"] == 3
    for totals in doc["energy_per_inference_j"].values():
        assert totals["measured"] > 0 and totals["analytical"] > 0
    sim = _run_json(capsys, "simulate", str(art), "--data", spec, "--limit", "3", "--json")
    assert sim["samples"] == 3


@pytest.fixture(scope="module")
def dvs_artifact(tmp_path_factory):
    """spikingjelly-style frames (T=2, 2 x 8 x 8), a model trained on them, converted."""
    root = tmp_path_factory.mktemp("dvs")
    frames = root / "frames_number_2_split_by_number"
    rng = np.random.default_rng(0)
    for label, cls in enumerate(("left", "right")):
        (frames / cls).mkdir(parents=True)
        for i in range(6):
            x = rng.poisson(0.6, size=(2, 2, 8, 8)).astype(np.float64)
            x[:, label] += rng.poisson(1.0, size=(2, 8, 8))  # polarity carries the class
            np.savez(frames / cls / f"s{i}.npz", frames=x)
    spec = f"dvs-frames:{frames}"
    argv = ["train", "--dataset", spec, "--epochs", "2", "--batch-size", "4"]
    assert cli.main([*argv, "--out", str(root / "run"), *TINY]) == 0
    argv = ["convert", str(root / "run" / "model.pt"), "-o", str(root / "art"), "--no-progress"]
    assert cli.main(argv) == 0
    return root / "art", spec, frames


def test_event_frames_are_traced_time_major_and_simulated_frame_by_frame(dvs_artifact, capsys):
    from spikeport.data import open_dataset
    from spikeport.hw_models.sim.classification import classify
    from spikeport.hw_models.sim.int_eval import run_int
    from spikeport.ir import load

    art, spec, _ = dvs_artifact
    record = json.loads((art / "data.json").read_text())
    assert record["layout"] == "time-major" and record["sample_shape"] == [2, 2, 8, 8]
    graph = load(art)
    assert graph.meta["time_major"] and graph.meta["input_scale"] == 1.0
    rec = _run_json(capsys, "simulate", str(art), "--data", spec, "--json")
    report = json.loads((art / "report.json").read_text())
    assert rec["samples"] == 12 and rec["accuracy"] == report["quantized_accuracy"]
    # frame t of each sample is fed at step t: the simulator's predictions equal the
    # layer-synchronous integer reference run on [T, B, C, H, W]
    x, y = open_dataset(spec, input_shape=(2, 8, 8), T=2).arrays()
    res = classify(graph, x, y)
    want = run_int(graph, np.moveaxis(x, 1, 0))
    np.testing.assert_array_equal(res.predictions, np.asarray(want).argmax(axis=1))


@pytest.mark.slow
@pytest.mark.lava
def test_event_frames_run_in_lava_as_in_the_simulator(dvs_artifact, capsys):
    pytest.importorskip("lava")
    art, spec, _ = dvs_artifact
    rec = _run_json(capsys, "lava", str(art), "--data", spec, "--samples", "1", "--json")
    assert rec["identical"] and rec["predictions_identical"]


def test_demo_runs_its_stages_on_the_data_given(cifar_run, tmp_path, capsys):
    _, data = cifar_run
    argv = ["demo", "--data", f"cifar10:{data}", "--attention", "ssa", "--epochs", "1"]
    assert cli.main([*argv, "--until", "simulate", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"Spikformer on cifar10:{data} (test set: 8 samples)" in out
    metrics = json.loads((tmp_path / "models" / "ssa" / "metrics.json").read_text())
    assert metrics["config"]["in_channels"] == 3 and metrics["n_train"] == 40
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary[0]["simulated_samples"] == 8
    assert summary[0]["simulated_accuracy"] == summary[0]["quantized_accuracy"]
