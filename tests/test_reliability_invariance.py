"""Results do not depend on how the work is cut up (#13): batch size, thread counts and the
simulator's chunk sizes change no prediction, counter, firing rate or energy figure.

The reference is the same computation cut another way (one sample per batch, one thread,
chunks of one element or of the whole input); every compared value is an integer sum or a
value derived from integer sums, so equality is exact.
"""

from __future__ import annotations

import importlib
import json
import pkgutil

import pytest
import torch
from threadpoolctl import threadpool_limits

from spikeport import ir
from spikeport.cli import main
from spikeport.converters.passes import PassManager, QuantConfig
from spikeport.converters.passes.retime import Retime
from spikeport.converters.pipeline import convert_model
from spikeport.hw_models.cost.measured import run_measured
from spikeport.hw_models.sim.classification import classify, direct_input
from spikeport.models.digits import PIXEL_MAX, load_digits_split
from spikeport.models.registry import build_model
from spikeport.models.train import digits_config

SAMPLES = 24


@pytest.fixture(scope="module")
def retimed(tmp_path_factory):
    """A random-weight digits Spikformer, converted, retimed and saved; plus test images."""
    torch.manual_seed(5)
    model = build_model(digits_config("ssa", embed_dim=16, depth=1, num_heads=2)).eval()
    conv = convert_model(model, (1, 8, 8), config=QuantConfig(input_scale=PIXEL_MAX))
    graph = PassManager([Retime()]).run(conv.quantized)
    path = ir.save(graph, tmp_path_factory.mktemp("inv") / "art")
    data = load_digits_split()
    return graph, path, data.x_test[:SAMPLES].numpy(), data.y_test[:SAMPLES].numpy()


def _summary(res) -> dict:
    return {
        "predictions": res.predictions.tolist(),
        "ops": res.ops,
        "ops_per_node": res.ops_per_node,
        "ops_full_run": res.ops_full_run,
        "firing_rates": res.firing_rates,
        "probes": res.probes,
    }


def _chunk_constants() -> list[tuple[object, str, int]]:
    """Every ``*CHUNK_ELEMENTS`` constant of the simulator's modules (wherever it lives)."""
    import spikeport.hw_models.sim as sim

    found = []
    for info in pkgutil.walk_packages(sim.__path__, f"{sim.__name__}."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if name.endswith("CHUNK_ELEMENTS") and isinstance(value, int):
                found.append((module, name, value))
    return found


@pytest.mark.parametrize("windowed", [True, False])
def test_batch_size_changes_no_result(retimed, windowed: bool) -> None:
    graph, _, x, y = retimed
    runs = [
        _summary(classify(graph, x, y, batch_size=b, windowed=windowed, probes=["head.readout"]))
        for b in (1, 7, SAMPLES)
    ]
    assert runs[0] == runs[1] == runs[2]


def test_measured_energy_counts_do_not_depend_on_the_batch_size(retimed) -> None:
    graph, _, x, _ = retimed
    feed = direct_input(graph, x[:10])
    T = graph.meta["T"]
    counts = [run_measured(graph, feed, window=T, batch_size=b)[0] for b in (1, 3, 10)]
    assert counts[0] == counts[1] == counts[2]


@pytest.mark.parametrize("limit", [1, 2])
def test_blas_thread_count_changes_no_result(retimed, limit: int) -> None:
    graph, _, x, y = retimed
    with threadpool_limits(limits=1):
        one = _summary(classify(graph, x, y, batch_size=12))
    with threadpool_limits(limits=limit):
        other = _summary(classify(graph, x, y, batch_size=12))
    assert one == other


def test_chunk_sizes_change_no_result(retimed, monkeypatch) -> None:
    graph, _, x, y = retimed
    constants = _chunk_constants()
    assert len(constants) >= 2, constants  # the simulator chunks its conv and dense work
    base = {w: _summary(classify(graph, x, y, batch_size=12, windowed=w)) for w in (True, False)}
    for size in (1, 97, 1 << 30):  # one element per chunk, odd chunks, everything at once
        for module, name, _ in constants:
            monkeypatch.setattr(module, name, size)
        for w in (True, False):
            assert _summary(classify(graph, x, y, batch_size=12, windowed=w)) == base[w], size


def _without_timings(doc):
    if isinstance(doc, dict):
        return {
            k: _without_timings(v)
            for k, v in doc.items()
            if not any(t in k for t in ("seconds", "throughput", "elapsed"))
        }
    if isinstance(doc, list):
        return [_without_timings(v) for v in doc]
    return doc


def test_cli_threads_and_batch_size_change_no_output(retimed, capsys) -> None:
    _, path, _, _ = retimed
    sim = ["simulate", str(path), "--data", "digits", "--json", "--limit", "12", "--no-progress"]
    outs = []
    for size in ("1", "12"):
        assert main([*sim, "--batch-size", size]) == 0
        outs.append(_without_timings(json.loads(capsys.readouterr().out)))
    assert outs[0] == outs[1]
    energy = ["energy", str(path), "--data", "digits", "--samples", "4", "--json"]
    docs = []
    for threads in ("1", "2"):
        assert main([*energy, "--threads", threads]) == 0
        docs.append(_without_timings(json.loads(capsys.readouterr().out)))
    assert docs[0] == docs[1]
