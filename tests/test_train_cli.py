"""`spikeport train` and `spikeport demo`: outputs, errors, caching."""

from __future__ import annotations

import json

import torch

from spikeport import cli
from spikeport.models.checkpoint import from_checkpoint
from spikeport.models.digits import load_digits_split

SMALL = ["--embed-dim", "32", "--depth", "1", "--heads", "4", "--T", "2", "--threads", "1"]


def test_a_dataset_spec_without_its_path_is_one_line_naming_the_option(tmp_path, capsys):
    rc = cli.main(["train", "--dataset", "cifar10", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert err.startswith("spikeport: error: argument --dataset: ")
    assert "cifar10 needs a path (cifar10:PATH)" in err
    assert not any(tmp_path.iterdir())


def test_unsupported_attention_is_rejected(tmp_path, capsys):
    assert cli.main(["train", "--attention", "softmax", "--out", str(tmp_path)]) == 2
    assert "supported: ssa, axnor, lrf_ssa, lrf_dyn, sdsa" in capsys.readouterr().err


def test_train_writes_model_and_metrics_that_rebuild(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--attention", "axnor", "--epochs", "3", "--out", str(out), "--no-progress"]
    assert cli.main(argv + SMALL + ["--lr", "5e-3"]) == 0
    assert "axnor: test accuracy" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("test_accuracy", "train_seconds", "attention", "firing_rates", "learned_a"):
        assert key in metrics
    assert metrics["attention"] == "axnor" and metrics["config"]["embed_dim"] == 32
    assert set(metrics["learned_a"]) == {"block.0.attn.core"}
    model = from_checkpoint(out / "model.pt")  # no flags: the file carries its config
    split = load_digits_split(seed=0)
    with torch.no_grad():
        acc = int((model(split.x_test).argmax(-1) == split.y_test).sum()) / len(split.y_test)
    assert acc == metrics["test_accuracy"] > 0.2  # a trained model, reproduced from the file


def test_demo_trains_then_reuses_cached_models(tmp_path, capsys, monkeypatch):
    from spikeport.models import train as train_mod

    calls = []
    real = train_mod.train_digits

    def counting(config, settings, **kw):
        calls.append(config.attention)
        small = train_mod.digits_config(config.attention, embed_dim=16, depth=1, num_heads=2, T=2)
        return real(small, settings, **kw)

    monkeypatch.setattr(train_mod, "train_digits", counting)
    argv = ["demo", "--out", str(tmp_path), "--epochs", "1", "--no-progress", "--until", "train"]
    argv += ["--attention", "ssa", "--attention", "sdsa"]
    assert cli.main(argv) == 0
    first = capsys.readouterr().out
    assert calls == ["ssa", "sdsa"]
    assert (tmp_path / "models" / "ssa" / "model.pt").is_file()
    assert "test acc %" in first and "sdsa" in first and "(cached)" not in first

    assert cli.main(argv) == 0  # same config + settings: reuse, no training
    second = capsys.readouterr().out
    assert calls == ["ssa", "sdsa"]
    assert second.count("(cached)") == 2

    assert cli.main(argv[:3] + ["--epochs", "2", "--attention", "ssa", "--until", "train"]) == 0
    assert calls[-1] == "ssa"  # different settings -> retrained


def test_attention_options_are_parsed_and_checked(tmp_path, capsys):
    from spikeport.commands.train import parse_options

    got = parse_options(["per_head=true", "a_init=0.2", "token_input=kv", "dilations=[3,5]"])
    assert got == {"per_head": True, "a_init": 0.2, "token_input": "kv", "dilations": [3, 5]}
    argv = ["train", "--attention", "axnor", "--attn-opt", "bogus=1", "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "unknown option(s) ['bogus']" in capsys.readouterr().err
    assert cli.main(["train", "--attn-opt", "novalue", "--out", str(tmp_path)]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
