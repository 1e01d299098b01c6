"""``--data SPEC`` end to end on synthetic files: train on CIFAR-layout data, convert with its
calibration data (data.json), simulate on CIFAR, energy on an ImageFolder, event frames
through the simulator (and Lava)."""

from __future__ import annotations

import json

import pytest
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
