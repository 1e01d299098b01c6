"""Sizes declared by inputs are checked against the memory budget before allocation (#13).

A small file can declare a huge array (a compressed, never-written HDF5 chunk reads as its
fill value): each reader must refuse it with one line naming the file and the size, before
reading, and a huge T must be refused before tracing or simulating. The budget is pinned
with ``SPIKEPORT_MEMORY_BUDGET`` so that the tests do not depend on the machine.
"""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from spikeport import budget, ir
from spikeport.cli import main
from spikeport.converters.netx_import import load_netx
from spikeport.converters.nir_import import load_nir
from spikeport.converters.torch_fx import to_ir
from spikeport.errors import SpikeportError
from spikeport.models.registry import build_model
from spikeport.models.train import digits_config

TINY_NET = Path(sysconfig.get_paths()["purelib"]) / "tests/lava/lib/dl/netx/tiny.net"
HUGE = (200_000, 200_000)  # float32: 149 GiB


@pytest.fixture(autouse=True)
def _budget(monkeypatch) -> None:
    monkeypatch.setenv(budget.ENV, "8G")


def _huge_dataset(group: h5py.Group, key: str) -> None:
    """A 149 GiB float32 dataset that occupies a few bytes on disk (no chunk written)."""
    group.create_dataset(key, shape=HUGE, dtype=np.float32, chunks=(1000, 1000), compression=4)


@pytest.mark.parametrize(
    ("text", "size"),
    [("8G", 8 << 30), ("512M", 512 << 20), ("1000", 1000), ("1.5K", 1536), ("2GiB", 2 << 30)],
)
def test_budget_sizes_parse_as_powers_of_1024(text: str, size: int) -> None:
    assert budget.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0", "8X"])
def test_bad_budget_settings_are_one_line_errors(monkeypatch, text: str) -> None:
    monkeypatch.setenv(budget.ENV, text or " ")
    with pytest.raises(budget.BudgetError, match=budget.ENV):
        budget.budget_bytes()


def test_default_budget_is_half_the_physical_memory(monkeypatch) -> None:
    monkeypatch.delenv(budget.ENV)
    with open("/proc/meminfo") as f:  # the kernel's own figure, in KiB
        total = int(next(line for line in f if line.startswith("MemTotal")).split()[1]) * 1024
    assert budget.budget_bytes() == pytest.approx(total / 2, rel=0.01)


@pytest.mark.skipif(not TINY_NET.is_file(), reason="lava-dl test networks not installed")
def test_a_small_net_file_declaring_149_gib_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "bomb.net"
    shutil.copy(TINY_NET, path)
    with h5py.File(path, "a") as f:
        del f["layer/2/weight"]
        _huge_dataset(f["layer/2"], "weight")
    assert path.stat().st_size < 3 << 20  # a few MB at most on disk
    with pytest.raises(budget.BudgetError, match=r"bomb\.net .*needs 149\.\d GiB, over the memory"):
        load_netx(path)


def test_a_nir_file_declaring_149_gib_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "bomb.nir"
    with h5py.File(path, "w") as f:
        _huge_dataset(f.create_group("node/nodes/fc"), "weight")
    with pytest.raises(budget.BudgetError, match=r"bomb\.nir .*needs 149\.\d GiB"):
        load_nir(path)


def test_an_artifact_tensor_file_declaring_149_gib_is_refused(tmp_path: Path) -> None:
    g = ir.Graph("g")
    g.add(ir.Input("x", shape=(2,)))
    art = ir.save(g, tmp_path / "art")
    with h5py.File(art / "tensors.h5", "a") as h5:
        _huge_dataset(h5, "extra")
    ir.manifest.write(art, ["graph.json", "tensors.h5"])
    with pytest.raises(budget.BudgetError, match=r"tensors\.h5 .*needs 149\.\d GiB"):
        ir.load(art)


def test_the_budget_can_be_lowered_by_the_environment(monkeypatch, tmp_path: Path) -> None:
    g = ir.Graph("g")
    g.add(ir.Input("x", shape=(2,)))
    art = ir.save(g, tmp_path / "art")
    ir.load(art)
    monkeypatch.setenv(budget.ENV, "1K")
    with pytest.raises(budget.BudgetError, match=r"graph\.json \(parsed\): needs .* of 1\.0 KiB"):
        ir.load(art)


def test_a_huge_model_T_is_refused_before_building_or_tracing() -> None:
    with pytest.raises(SpikeportError, match="model config T = 100000: must be 1..4096"):
        digits_config("ssa", embed_dim=16, depth=1, num_heads=2, T=100_000)
    model = build_model(digits_config("ssa", embed_dim=16, depth=1, num_heads=2))
    model.T = 100_000  # a model built some other way
    with pytest.raises(budget.BudgetError, match="T = 100000: must be 1..4096"):
        to_ir(model.eval(), torch.zeros(7, 1, 8, 8))


def test_convert_with_a_huge_T_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    ckpt = tmp_path / "model.pth"
    ckpt.write_bytes(b"not read")
    argv = ["convert", str(ckpt), "-o", str(tmp_path / "out"), "--T", "100000"]
    try:
        code = main(argv)
    except SystemExit as exc:  # an argparse type error
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "--T" in err[-1] and "4096" in err[-1]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("steps", [0, -3, budget.MAX_STEPS + 1, 2.0, True])
def test_run_step_counts_out_of_range_are_refused(steps) -> None:
    with pytest.raises(budget.BudgetError, match="steps"):
        budget.require_run("run", [(4,)], steps, 1, 8)


def test_a_run_over_the_budget_is_refused_naming_its_size(monkeypatch) -> None:
    monkeypatch.setenv(budget.ENV, "1G")
    budget.require_run("sim", [(8, 8), (64,)], 1000, 60, 8)  # 3 x 1000 x 60 x 64 x 8 B: 88 MiB
    with pytest.raises(budget.BudgetError, match=r"sim \(4096 steps x batch 600\): needs 3\.5 GiB"):
        budget.require_run("sim", [(8, 8), (64,)], 4096, 600, 8)


def test_a_checkpoint_config_declaring_a_huge_model_is_refused_before_building(tmp_path) -> None:
    from spikeport.models.checkpoint import from_checkpoint, save_model

    model = build_model(digits_config("ssa", embed_dim=16, depth=1, num_heads=2))
    path = save_model(model, tmp_path / "model.pt")
    obj = torch.load(path, weights_only=True)
    obj["config"]["embed_dim"] = 100_000  # 2 TiB of parameters
    torch.save(obj, path)
    with pytest.raises(budget.BudgetError, match=r"model spikformer-cifar \(embed_dim=100000"):
        from_checkpoint(path)


def test_a_checkpoint_record_unpacking_past_the_budget_is_refused(monkeypatch, tmp_path) -> None:
    import zipfile

    from spikeport.models.checkpoint import read_checkpoint

    path = tmp_path / "bomb.pt"
    torch.save({"w": torch.zeros(3)}, path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb/data/99", bytes(100 << 20))  # 100 MiB of zeros, ~100 KiB packed
    assert path.stat().st_size < 1 << 20
    monkeypatch.setenv(budget.ENV, "64M")
    with pytest.raises(budget.BudgetError, match=r"bomb\.pt \(checkpoint records, unpacked\)"):
        read_checkpoint(path)


def test_a_float_graph_run_past_the_budget_is_refused(monkeypatch) -> None:
    from spikeport.converters.float_eval import run_float

    g = ir.Graph("wide")
    g.add(ir.Input("x", shape=(4096,), kind="float"))
    g.add(ir.Linear("fc", weight=np.ones((4096, 4096), np.float32)), "x")
    g.meta["T"] = 64
    monkeypatch.setenv(budget.ENV, "64M")  # 64 steps x 128 x 8192 values x 4 B = 256 MiB
    with pytest.raises(budget.BudgetError, match=r"float graph wide \(64 steps x batch 128\)"):
        run_float(g, torch.zeros(128, 4096))
    out = run_float(g, torch.ones(2, 4096), T=2)  # small runs go through
    assert out.shape == (2, 2, 4096) and float(out[0, 0, 0]) == 4096.0


def test_a_simulation_past_the_budget_is_refused_before_allocating(monkeypatch) -> None:
    """Steps x batch x the largest node is checked before the simulator's arrays exist: a
    one-step input run for 1000 steps, and a run of MAX_STEPS + 1 steps."""
    from spikeport.hw_models.sim.engine import Simulator

    g = ir.Graph("long")
    g.add(ir.Input("x", shape=(1000,)))
    g.add(ir.CubaLIF("lif", shape=(1000,), du=4095, dv=0, vth=10), "x")
    feed = np.full((1, 1, 1000), 20, np.int64)
    monkeypatch.setenv(budget.ENV, "1M")  # 3 x 1000 steps x 1 x 1000 x 8 B = 22.9 MiB
    with pytest.raises(budget.BudgetError, match=r"simulate long \(1000 steps x batch 1\): needs"):
        Simulator(g).run(feed, steps=1000)
    assert Simulator(g).run(feed, steps=10).outputs["lif"].shape == (10, 1, 1000)
    monkeypatch.setenv(budget.ENV, "8G")
    with pytest.raises(budget.BudgetError, match="steps = 1048577: must be 1..1048576"):
        Simulator(g).run(feed, steps=budget.MAX_STEPS + 1)
