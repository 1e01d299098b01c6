"""Distributed evaluation on Dask (``--workers N`` / ``--scheduler ADDRESS``): the JSON of a
sharded run equals the single-process run's byte for byte (timings aside), also when a
worker is killed mid-run; bad options are one-line errors.

The reference is always the same command or function run in one process without Dask (the
code path users get without ``--workers``); the sharded run goes through worker processes,
pickled shard tallies and the exact merge."""

from __future__ import annotations

import json
import os
import re
import signal

import pytest
import torch
from cli_errors import one_line_error

from spikeport.cli import main
from spikeport.converters.passes import PassManager, QuantConfig
from spikeport.converters.passes.retime import Retime
from spikeport.converters.pipeline import convert_model
from spikeport.ir import save
from spikeport.models.digits import PIXEL_MAX
from spikeport.models.registry import build_model
from spikeport.models.train import digits_config

TIMINGS = re.compile(r'"(seconds|throughput)": [0-9.e+-]+(inf)?')


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    """A small untrained digits Spikformer (random weights), converted and retimed."""
    torch.manual_seed(3)
    model = build_model(digits_config("ssa", embed_dim=16, depth=1, num_heads=2)).eval()
    conv = convert_model(model, (1, 8, 8), config=QuantConfig(input_scale=PIXEL_MAX))
    out = tmp_path_factory.mktemp("dist") / "art"
    save(PassManager([Retime()]).run(conv.quantized), out)
    return out


@pytest.fixture(scope="module")
def scheduler():
    """An existing 2-worker Dask cluster (what ``--scheduler ADDRESS`` connects to)."""
    from spikeport.distributed.cluster import connect

    with connect(workers=2) as client:
        yield client


def _json(capsys, argv: list[str]) -> str:
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    return out[0]


def test_simulate_with_two_workers_prints_the_single_process_json(artifact, capsys):
    argv = ["simulate", str(artifact), "--data", "digits", "--json", "--batch-size", "25"]
    argv += ["--probe", "head.readout", "patch_embed.proj_lif"]
    single = _json(capsys, argv)
    # shards of 40 samples cut batches of 25 differently: results must not depend on it
    sharded = _json(capsys, [*argv, "--workers", "2", "--shard-size", "40"])
    assert TIMINGS.sub("", sharded) == TIMINGS.sub("", single)
    rec = json.loads(single)
    assert rec["samples"] == 360 and rec["probes"]["head.readout"]["sum_per_step"]
    assert len(TIMINGS.findall(single)) == 2  # only seconds and throughput were removed


def test_simulate_full_timing_on_an_existing_cluster_equals_single_process(
    artifact, scheduler, capsys
):
    argv = ["simulate", str(artifact), "--data", "digits", "--json", "--full-timing"]
    argv += ["--limit", "50"]
    single = _json(capsys, argv)
    sharded = _json(capsys, [*argv, "--scheduler", scheduler.scheduler.address])
    assert TIMINGS.sub("", sharded) == TIMINGS.sub("", single)
    assert json.loads(sharded)["ops_full_run"]["neuron_updates"] > 0


def test_energy_on_an_existing_cluster_prints_the_single_process_json(artifact, scheduler, capsys):
    argv = ["energy", str(artifact), "--json", "--samples", "30", "--hw", "all"]
    assert main(argv) == 0
    single = capsys.readouterr().out
    sharded_argv = [*argv, "--scheduler", scheduler.scheduler.address, "--shard-size", "7"]
    assert main(sharded_argv) == 0
    sharded = capsys.readouterr().out
    assert sharded == single  # no timings in the energy report: every byte
    assert json.loads(single)["energy_per_inference_j"]["loihi2"]["measured"] > 0


def test_fidelity_check_from_shards_equals_the_single_process_report(scheduler):
    from spikeport.converters.pipeline import measure_fidelity
    from spikeport.distributed import evaluation
    from spikeport.distributed.data import DataRef

    torch.manual_seed(5)
    model = build_model(digits_config("ssa", embed_dim=16, depth=1, num_heads=2)).eval()
    conv = convert_model(model, (1, 8, 8), config=QuantConfig(input_scale=PIXEL_MAX))
    data = DataRef("digits", "test", spaced=120)
    x, y = data.read(0, len(data))
    want = measure_fidelity(conv, model, torch.from_numpy(x), torch.from_numpy(y), batch_size=25)
    cluster = evaluation.Cluster(client=scheduler, progress=False)
    got = evaluation.fidelity(cluster, conv, model, data, batch_size=25)
    assert json.dumps(got) == json.dumps(want)
    assert got["n_images"] == 120 and got["float_graph_exact"] is True


def test_a_killed_worker_has_its_shards_rerun_and_the_result_is_unchanged(artifact, scheduler):
    from spikeport.distributed.data import DataRef
    from spikeport.distributed.shards import map_shards, merge, shard_ranges
    from spikeport.distributed.tasks import artifact_graph, simulate_shard
    from spikeport.hw_models.sim.classification import classifier, summarize, tally

    data = DataRef("digits", "test")
    x, y = data.read(0, len(data))
    sim = classifier(artifact_graph(str(artifact)))
    want = summarize(tally(sim, x, y), sim.timing, True)

    client = scheduler
    pids = client.run(os.getpid)
    killed: list[tuple[str, int, int]] = []

    def kill_a_busy_worker(_shard: int) -> None:
        if killed:
            return
        busy = {w: tasks for w, tasks in client.processing().items() if tasks}
        assert busy, "no shard in flight to lose"
        address = next(iter(busy))
        os.kill(pids[address], signal.SIGKILL)
        killed.append((address, pids[address], len(busy[address])))

    tallies = map_shards(
        client,
        simulate_shard,
        shard_ranges(len(data), 20),
        str(artifact),
        data,
        (),
        60,
        True,
        progress=False,
        on_done=kill_a_busy_worker,
    )
    got = summarize(merge(tallies), sim.timing, True)
    assert killed and killed[0][2] >= 1  # a worker died with at least one shard in flight
    assert killed[0][1] not in client.run(os.getpid).values()  # it is gone (and replaced)
    for field in ("accuracy", "samples", "ops", "ops_per_node", "firing_rates"):
        assert getattr(got, field) == getattr(want, field), field
    assert (got.predictions == want.predictions).all()


@pytest.mark.parametrize(
    "extra, fault",
    [
        (["--workers", "0"], "--workers"),
        (["--shard-size", "10"], "--shard-size needs --workers"),
        (["--workers", "2", "--shard-size", "0"], "--shard-size"),
    ],
)
def test_bad_distributed_options_are_one_line_errors(artifact, capsys, extra, fault):
    one_line_error(capsys, ["simulate", str(artifact), "--data", "digits", *extra], fault)


def test_unreachable_scheduler_is_a_one_line_error_naming_it(artifact, capsys, monkeypatch):
    from spikeport.distributed import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1)
    argv = ["simulate", str(artifact), "--data", "digits", "--scheduler", "tcp://127.0.0.1:9"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("spikeport: error: --scheduler tcp://127.0.0.1:9") and "\n" not in err


def test_without_workers_no_dask_module_is_imported(artifact):
    import subprocess
    import sys

    code = (
        "import sys; from spikeport.cli import main; "
        f"rc = main(['simulate', {str(artifact)!r}, '--data', 'digits', '--json', "
        "'--limit', '5']); "
        "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 []"
