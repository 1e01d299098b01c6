"""Helpers for the whole-model conversion tests (SDT-V1, QKFormer): graph queries, images on
the input grid, the float model's LIF spikes by hooks, a layer-synchronous run, the simulator
under Lava's pipelined timing, the `spikeport energy` report of a converted artifact and the
Lava comparison."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from spikeport.converters.float_eval import run_float
from spikeport.converters.passes import QuantConfig
from spikeport.converters.passes.retime import retimed
from spikeport.converters.pipeline import Conversion, convert_model
from spikeport.hw_models.sim.classification import direct_input
from spikeport.hw_models.sim.engine import Simulator
from spikeport.hw_models.sim.int_eval import run_int
from spikeport.ir.timing import Timing
from spikeport.models.neuron import MultiStepLIF

PIXEL = 64
"""Input integers per float unit (``QuantConfig.input_scale``)."""


def kind(graph, name: str) -> str:  # noqa: ANN001
    return type(graph.node(name)).__name__


def of_kind(graph, *kinds: str) -> list[str]:  # noqa: ANN001
    return [n for n in graph.topological_order() if kind(graph, n) in kinds]


def images(n: int, shape: tuple[int, ...], seed: int = 1) -> torch.Tensor:
    """Images on the input grid (k / 64): the input itself is exact in integers."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, PIXEL + 1, (n, *shape), generator=gen).float() / PIXEL


def quantised(model: torch.nn.Module, shape: tuple[int, ...]) -> Conversion:
    """`model` converted for images of `shape` on the 1/64 input grid."""
    return convert_model(model, shape, config=QuantConfig(input_scale=PIXEL))


def converted(model: torch.nn.Module, shape: tuple[int, ...]):  # noqa: ANN201
    """(model, conversion, 6 images, the integer reference's value of every node, its
    readout v)."""
    conv = quantised(model, shape)
    x = images(6, shape)
    ref: dict[str, np.ndarray] = {}
    v = run_int(conv.quantized, x.numpy(), observe=ref.__setitem__)
    return model, conv, x, ref, v


def float_graph_is_model(conv: Conversion, model: torch.nn.Module, x: torch.Tensor) -> bool:
    """The traced float graph's logits equal the model's forward bit for bit."""
    with torch.no_grad():
        return torch.equal(run_float(conv.float_graph, x), model(x))


def float_spikes(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every MultiStepLIF's spikes [T, B, ...] in the float model's forward."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        mod.register_forward_hook(lambda m, _i, out, name=name: seen.__setitem__(name, out))
        for name, mod in model.named_modules()
        if isinstance(mod, MultiStepLIF)
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def logits_correlation(model: torch.nn.Module, x: torch.Tensor, v: np.ndarray) -> float:
    """Pearson correlation of the readout v (integers) with the float model's logits."""
    with torch.no_grad():
        logits = model(x).numpy()
    return float(np.corrcoef(v.ravel(), logits.ravel())[0, 1])


def simulator_matches_reference(
    conv: Conversion, x: torch.Tensor, ref: dict, v: np.ndarray
) -> list[str]:
    """Run the retimed quantised graph in the simulator (Lava's pipelined timing) and check every
    neuron's and Add's output inside its data window, and the readout v, against the
    layer-synchronous values `ref` / `v`; returns the nodes checked."""
    rg = retimed(conv.quantized)
    timing = Timing.from_meta(rg.meta)
    assert timing.latency > 0 and of_kind(rg, "Delay")  # residual joins were delayed
    watched = [n for n in of_kind(rg, "CubaLIF", "Add", "SpikeAnd") if n != timing.readout]
    res = Simulator(rg, probes=[*watched, (timing.readout, "v")]).run(direct_input(rg, x.numpy()))
    for name in watched:
        lo, hi = timing.window(name)
        assert np.array_equal(res.probes[(name, "out")][lo:hi], ref[name]), name
    assert np.array_equal(res.probes[(timing.readout, "v")][timing.readout_step], v)
    return watched


def energy_report(model: torch.nn.Module, config, shape: tuple[int, ...], tmp: Path) -> dict:  # noqa: ANN001
    """`spikeport convert` then `spikeport energy --json` (2 npz images) of `model`: the
    loihi2 report (measured and analytical, per layer)."""
    from spikeport.cli import main
    from spikeport.models.checkpoint import save_model

    ckpt = save_model(model, tmp / "model.pt", config)
    art = tmp / "art"
    assert main(["convert", str(ckpt), "-o", str(art), "--no-progress", "--no-eval"]) == 0
    rng = np.random.default_rng(0)
    np.savez(tmp / "d.npz", x=rng.random((2, *shape)).astype(np.float32), y=np.array([1, 2]))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        argv = ["energy", str(art), "--data", f"npz:{tmp / 'd.npz'}", "--samples", "2"]
        assert main([*argv, "--json"]) == 0
    report = json.loads(out.getvalue())["hardware"]["loihi2"]
    return {mode: {r["name"]: r for r in report[mode]["layers"]} for mode in report if
            isinstance(report[mode], dict) and "layers" in report[mode]}  # fmt: skip


def lava_matches_simulator(graph, x: torch.Tensor, states: list[tuple[str, str]]):  # noqa: ANN001, ANN201
    """Retimed `graph` on images `x` in Lava's process models and in the simulator: every
    node's output at every step, the `states` and the readout v; returns the comparison."""
    pytest.importorskip("lava.magma")
    from spikeport.deploy.lava.runner import compare, default_probes

    rg = retimed(graph)
    probes = default_probes(rg) + states + [(rg.meta["readout"], "v")]
    result = compare(rg, direct_input(rg, x.numpy()), probes=probes)
    bad = [(r.node, r.var, r.mismatches) for r in result.rows if r.mismatches]
    assert result.identical, bad
    return result
