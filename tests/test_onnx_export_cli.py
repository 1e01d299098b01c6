"""`spikeport export ARTIFACT --format {nir,onnx,netx}`: files that load and run, and one-line
refusals naming the nodes at fault."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
nir = pytest.importorskip("nir")

from output_trees import tiny_net  # noqa: E402

from spikeport import ir  # noqa: E402
from spikeport.cli import main  # noqa: E402
from spikeport.converters.netx_import import load_netx  # noqa: E402
from spikeport.converters.nir_import import load_nir  # noqa: E402
from spikeport.deploy.onnx import run_onnx  # noqa: E402
from spikeport.hw_models.sim.engine import Simulator  # noqa: E402


@pytest.fixture
def int_artifact(tmp_path):
    return ir.save(load_netx(tiny_net()), tmp_path / "tiny")


@pytest.fixture
def float_artifact(tmp_path):
    rng = np.random.default_rng(0)
    g = ir.Graph("floatnet")
    g.add(ir.Input("x", shape=(6,), kind="float"))
    g.add(ir.Linear("fc", weight=rng.normal(0, 1, (4, 6)).astype("f4")), "x")
    g.add(ir.LIF("sn", tau=2.0), "fc")
    return ir.save(g, tmp_path / "floatnet")


def test_export_onnx_writes_a_model_that_runs_like_the_simulator(int_artifact, tmp_path, capsys):
    out = tmp_path / "tiny.onnx"
    assert main(["export", str(int_artifact), "--format", "onnx", "-o", str(out)]) == 0
    assert "ai.spikeport.LIFStep x3" in capsys.readouterr().out
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    g = ir.load(int_artifact)
    x = np.random.default_rng(1).integers(0, 30_000, (2, 5, *g.node("input").shape))
    want = Simulator(g).run(x, 5).outputs
    got = run_onnx(model, x, 5)
    assert all(np.array_equal(got[k], want[k]) for k in want)


def test_export_onnx_steps_writes_one_unrolled_model(int_artifact, tmp_path, capsys):
    from onnx.reference import ReferenceEvaluator

    from spikeport.deploy.onnx.ops import CUSTOM_OPS

    out = tmp_path / "tiny_T6.onnx"
    args = ["export", str(int_artifact), "--format", "onnx", "--steps", "6", "-o", str(out)]
    assert main(args) == 0
    assert "6 unrolled steps" in capsys.readouterr().out
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    g = ir.load(int_artifact)
    x = np.random.default_rng(3).integers(0, 30_000, (2, 6, *g.node("input").shape))
    (got,) = ReferenceEvaluator(model, new_ops=list(CUSTOM_OPS)).run(None, {"input": x})
    want = Simulator(g).run(x, 6).outputs[g.outputs[0]]
    assert got.shape == (2, 6, *want.shape[2:])  # [B, T, ...]
    assert np.array_equal(np.moveaxis(got, 1, 0), want)
    bad = ["export", str(int_artifact), "--format", "nir", "--steps", "6"]
    assert main(bad) == 2
    assert "--steps" in capsys.readouterr().err
    assert main(["export", str(int_artifact), "--format", "onnx", "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err


def test_export_nir_of_a_float_artifact_round_trips(float_artifact, tmp_path):
    out = tmp_path / "f.nir"
    assert (
        main(["export", str(float_artifact), "--format", "nir", "-o", str(out), "--dt", "1e-3"])
        == 0
    )
    back = load_nir(out)
    original = ir.load(float_artifact)
    assert back.node("sn") == original.node("sn")
    assert np.array_equal(back.node("fc").weight, original.node("fc").weight)


def test_export_nir_partial_leaves_out_what_nir_cannot_express(tmp_path, capsys):
    g = ir.Graph("readout")
    g.add(ir.Input("x", shape=(6,), kind="float"))
    g.add(ir.Linear("fc", weight=np.ones((3, 6), "f4")), "x")
    g.add(ir.LIF("sn", tau=2.0), "fc")
    g.add(ir.TimeMean("mean"), "sn")
    art = ir.save(g, tmp_path / "readout")
    out = tmp_path / "r.nir"
    assert main(["export", str(art), "--format", "nir", "-o", str(out)]) == 2
    assert "mean (TimeMean)" in capsys.readouterr().err
    assert main(["export", str(art), "--format", "nir", "-o", str(out), "--partial"]) == 0
    assert "left out 1 node(s)" in capsys.readouterr().out
    assert nir.read(str(out)).metadata["dropped"] == "mean"


def test_export_netx_writes_a_net_file(int_artifact, tmp_path):
    out = tmp_path / "tiny.net"
    assert main(["export", str(int_artifact), "--format", "netx", "-o", str(out)]) == 0
    back = load_netx(out)
    assert [type(n).__name__ for n in back] == [type(n).__name__ for n in ir.load(int_artifact)]


def test_export_refusals_are_one_line_naming_the_nodes(float_artifact, tmp_path, capsys):
    assert main(["export", str(float_artifact), "--format", "onnx", "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "fc (Linear)" in err and "sn (LIF)" in err
    assert main(["export", str(tmp_path / "missing"), "--format", "nir"]) == 2
    assert "graph.json" in capsys.readouterr().err
    args = ["export", str(float_artifact), "--format", "onnx", "--dt", "1e-3"]
    assert main(args) == 2
    assert "--dt" in capsys.readouterr().err


def test_export_netx_without_the_backend_module_is_not_yet_supported(
    float_artifact, monkeypatch, capsys
):
    import importlib.util

    real = importlib.util.find_spec

    def hide(name, *a, **k):
        return None if name == "spikeport.deploy.netx_export" else real(name, *a, **k)

    monkeypatch.setattr(importlib.util, "find_spec", hide)
    assert main(["export", str(float_artifact), "--format", "netx"]) == 2
    assert "not yet supported" in capsys.readouterr().err
