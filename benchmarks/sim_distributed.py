"""Distributed evaluation on Dask: speed-up with 2 workers here, and a projection for ImageNet.

Part 1, measured (entry ``sim_distributed_digits_2_workers``): the digits test split (360
images) through a digits Spikformer (the default digits config, SSA, random weights seeded
0, converted and retimed by spikeport's pipeline; accuracy is meaningless, the simulator's
work is the same kind) with ``spikeport simulate``'s code:

* single process: ``classification.classify`` in this process (numba/BLAS 1 thread);
* 2 workers: ``distributed.evaluation.classify`` on a local 2-worker cluster
  (``--workers 2``; 1 thread each, shards of 60 samples), results identical (asserted).

Both are timed warm (median of 3 after a warm-up run that loads the artifact, the data and
numba's compiled loops in every process): the evaluation's own speed-up, ``ratio`` (target
>= 1.7). Also recorded, from the command line as a user runs it: ``spikeport simulate ART
--data digits --json`` with and without ``--workers 2`` as fresh processes (imports, cluster
start and every worker's one-time loading included), and the 1-minute load average before
and after (this 2-core machine is shared: a loaded machine gives 2 processes a larger share
of it than 1 process gets, which flatters the speed-up, and slows everything).

Part 2, projected (entry ``sim_distributed_imagenet_projection``): ImageNet val (50,000
images) with Spikformer-8-512 (ImageNet layout, 224 x 224, T = 4; random weights with
BatchNorm statistics from one random batch, converted by spikeport's pipeline) on a 32-node
cluster, 1 or 16 workers per node (one per core). Measured here, in a fresh process with 1
thread: the simulator's seconds per image (batch 4, windowed), a worker's one-time cost
(artifact load + simulator build) and peak RSS, and reading one ImageNet-size JPEG through
``--data imagefolder`` (decode, resize, crop, normalise); on the warm 2-worker cluster,
Dask's cost per shard (round trip of an empty shard task, and per task with 400 in flight);
a shard tally's pickled size and the cost of merging one. CPU seconds are what the
projection uses (on a loaded machine wall time is mostly waiting for a core; a cluster node
gives each worker its own core); wall times are recorded beside them. The projection is then
arithmetic (:func:`project`), printed with its assumptions in docs/benchmarks.md.

Run: .venv/bin/python benchmarks/sim_distributed.py  [--skip-imagenet]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy/numba/torch load: 1 thread, like each Dask worker

TARGET = 1.7
RUNS = 5
WORKERS = 2
BATCH = 60
IMAGENET_VAL = 50_000
NODES = 32
CORES_PER_NODE = (1, 16)  # workers per node in the projection (one per core)
IMAGENET_BATCH = 4
ROOT = Path(__file__).resolve().parents[1]


def digits_artifact(path: Path) -> Path:
    import torch

    from spikeport.converters.passes import PassManager, QuantConfig
    from spikeport.converters.passes.retime import Retime
    from spikeport.converters.pipeline import convert_model
    from spikeport.ir import save
    from spikeport.models.digits import PIXEL_MAX
    from spikeport.models.registry import build_model
    from spikeport.models.train import digits_config

    torch.manual_seed(0)
    model = build_model(digits_config("ssa")).eval()
    conv = convert_model(model, (1, 8, 8), config=QuantConfig(input_scale=PIXEL_MAX))
    save(PassManager([Retime()]).run(conv.quantized), path)
    return path


def _interleaved(a, b, runs: int = RUNS) -> tuple[dict, dict]:
    """Median seconds of ``a()`` and ``b()`` after one warm-up each, timed alternately (a, b,
    a, b, ...) so that a change of the machine's load hits both alike."""
    out = {}
    for fn in (a, b):
        fn()  # warm-up
    times: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(runs):
        for i, fn in enumerate((a, b)):
            t0 = time.perf_counter()
            out[i] = fn()
            times[i].append(time.perf_counter() - t0)
    return (
        {"s": statistics.median(times[0]), "times": times[0], "result": out[0]},
        {"s": statistics.median(times[1]), "times": times[1], "result": out[1]},
    )


RESULT_FIELDS = ("accuracy", "samples", "ops", "ops_per_node", "firing_rates")


def same_result(a, b) -> bool:
    """Two classification results agree in every integer-derived field (timings aside)."""
    return all(getattr(a, f) == getattr(b, f) for f in RESULT_FIELDS)


def speedup_fields(one: dict, two: dict, identical: bool, ndigits: int) -> dict:
    """``results.record`` fields of a single-process (``one``) vs WORKERS-worker (``two``)
    timing from :func:`_interleaved`."""
    ratio = one["s"] / two["s"]
    return dict(
        ratio=ratio,
        target=f">= {TARGET} (single-process seconds / {WORKERS}-worker seconds, warm)",
        met=ratio >= TARGET,
        identical_outputs=identical,
        single_seconds=round(one["s"], ndigits),
        distributed_seconds=round(two["s"], ndigits),
        single_times=[round(t, ndigits) for t in one["times"]],
        distributed_times=[round(t, ndigits) for t in two["times"]],
    )


def _cli_seconds(art: Path, *extra: str) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "spikeport", "simulate", str(art), "--data", "digits", "--json"]
    t0 = time.perf_counter()
    out = subprocess.run([*cmd, *extra], cwd=ROOT, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0, out.stdout


def _strip_timings(text: str) -> str:
    rec = json.loads(text)
    for key in ("seconds", "throughput"):
        rec.pop(key)
    return json.dumps(rec)


def part_digits(tmp: Path) -> dict:
    from spikeport.distributed import evaluation
    from spikeport.distributed.cluster import connect
    from spikeport.distributed.data import DataRef
    from spikeport.hw_models.sim.classification import classify
    from spikeport.ir import load

    art = digits_artifact(tmp / "digits")
    graph = load(art)
    data = DataRef("digits", "test")
    x, y = data.read(0, len(data))
    cpu: dict[str, list[float]] = {"single": [], "busiest_worker": []}

    def single_run():
        c0 = time.process_time()
        res = classify(graph, x, y, batch_size=BATCH)
        cpu["single"].append(time.process_time() - c0)
        return res

    with connect(workers=WORKERS) as client:
        cluster = evaluation.Cluster(client=client, progress=False)

        def distributed_run():
            before = client.run(time.process_time)
            res = evaluation.classify(cluster, str(art), data, batch_size=BATCH)
            after = client.run(time.process_time)
            cpu["busiest_worker"].append(max(after[w] - before[w] for w in before))
            return res

        one, two = _interleaved(single_run, distributed_run)
        overhead = dask_overheads(client)
    single, dist = one["result"], two["result"]
    identical = same_result(single, dist)
    cli_single_s, out_single = _cli_seconds(art)
    cli_dist_s, out_dist = _cli_seconds(art, "--workers", str(WORKERS))
    identical = identical and _strip_timings(out_single) == _strip_timings(out_dist)
    return {
        "samples": len(x),
        "single": one,
        "distributed": two,
        "cli_single_s": cli_single_s,
        "cli_distributed_s": cli_dist_s,
        "identical": identical,
        "overhead": overhead,
        "single_cpu_s": statistics.median(cpu["single"][1:]),
        "busiest_worker_cpu_s": statistics.median(cpu["busiest_worker"][1:]),
    }


CIFAR_IMAGES = 128
CIFAR_BATCH = 16


def random_bn_model(arch: str, shape: tuple[int, ...], **overrides):
    """``arch`` with seeded random weights and BatchNorm statistics of one random batch
    (ordinary firing rates rather than a silent or saturated network), in eval mode."""
    import torch

    from spikeport.models.registry import build_model, default_config

    torch.manual_seed(0)
    model = build_model(default_config(arch, **overrides))
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = 1.0
    with torch.no_grad():
        model.train()(torch.randn(2, *shape).clamp(-4, 4))
    return model.eval()


def part_cifar(tmp: Path) -> dict:
    """The workload the issue names: Spikformer-4-384 (CIFAR layout, T = 4, 32 x 32) on
    CIFAR_IMAGES synthetic images (an ``npz:`` file), single process vs WORKERS workers,
    both warm, timed alternately; results identical (asserted by the caller)."""
    import numpy as np

    from spikeport.converters.passes import PassManager, QuantConfig
    from spikeport.converters.passes.retime import Retime
    from spikeport.converters.pipeline import convert_model
    from spikeport.distributed import evaluation
    from spikeport.distributed.cluster import connect
    from spikeport.distributed.data import DataRef
    from spikeport.hw_models.sim.classification import classify
    from spikeport.ir import load, save

    model = random_bn_model("spikformer-cifar", (3, 32, 32), T=4)
    conv = convert_model(model, (3, 32, 32), config=QuantConfig(input_scale=64.0, input_max=4.0))
    art = tmp / "cifar_4_384"
    save(PassManager([Retime()]).run(conv.quantized), art)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((CIFAR_IMAGES, 3, 32, 32)).clip(-4, 4).astype(np.float32)
    y = rng.integers(0, 10, CIFAR_IMAGES)
    np.savez(tmp / "cifar.npz", x=x, y=y)
    data = DataRef(f"npz:{tmp / 'cifar.npz'}", "test")
    graph = load(art)
    xs, ys = data.read(0, len(data))
    with connect(workers=WORKERS) as client:
        cluster = evaluation.Cluster(client=client, progress=False)
        one, two = _interleaved(
            lambda: classify(graph, xs, ys, batch_size=CIFAR_BATCH),
            lambda: evaluation.classify(cluster, str(art), data, batch_size=CIFAR_BATCH),
            runs=3,
        )
        lone = _one_thread(lambda: classify(graph, xs, ys, batch_size=CIFAR_BATCH), runs=3)
    identical = same_result(one["result"], two["result"])
    identical &= same_result(one["result"], lone["result"])
    return {"single": one, "distributed": two, "one_worker": lone, "identical": identical}


def _one_thread(fn, runs: int) -> dict:  # type: ignore[no-untyped-def]
    """Median seconds of ``fn()`` on one thread (numba's and BLAS's): one worker's
    configuration, the base of the strong-scaling speed-up. Warm-up run first."""
    import numba
    from threadpoolctl import threadpool_limits

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            fn()
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                result = fn()
                times.append(time.perf_counter() - t0)
    finally:
        numba.set_num_threads(before)
    return {"s": statistics.median(times), "times": times, "result": result}


def report_cifar(tmp: Path) -> bool:
    from results import record

    load_before = os.getloadavg()[0]
    c = part_cifar(tmp)
    load_after = os.getloadavg()[0]
    ratio = c["single"]["s"] / c["distributed"]["s"]
    print(f"Spikformer-4-384 CIFAR layout, {CIFAR_IMAGES} images, batch {CIFAR_BATCH}, T 4")
    print(f"single process   {c['single']['s']:.2f} s (median of 3, warm)")
    print(f"{WORKERS} workers        {c['distributed']['s']:.2f} s  speed-up {ratio:.2f}x")
    strong = c["one_worker"]["s"] / c["distributed"]["s"]
    print(f"1 thread         {c['one_worker']['s']:.2f} s  (one worker's configuration)")
    print(f"strong scaling   {strong:.2f}x  (1 thread / {WORKERS} workers of 1 thread)")
    print(f"identical        {c['identical']}; load {load_before:.2f} -> {load_after:.2f}")
    record(
        "sim_distributed_cifar_4_384_2_workers",
        **speedup_fields(c["single"], c["distributed"], c["identical"], 3),
        samples=CIFAR_IMAGES,
        batch=CIFAR_BATCH,
        workers=WORKERS,
        load_average=[round(load_before, 2), round(load_after, 2)],
    )
    record(
        "sim_distributed_cifar_4_384_strong_scaling",
        ratio=strong,
        target=f"report (1-thread single-process seconds / {WORKERS} 1-thread workers' seconds)",
        met=True,
        identical_outputs=c["identical"],
        one_thread_seconds=round(c["one_worker"]["s"], 3),
        distributed_seconds=round(c["distributed"]["s"], 3),
        one_thread_times=[round(t, 3) for t in c["one_worker"]["times"]],
        samples=CIFAR_IMAGES,
        batch=CIFAR_BATCH,
        workers=WORKERS,
        load_average=[round(load_before, 2), round(load_after, 2)],
    )
    return c["identical"]


def _nothing(lo: int, hi: int) -> None:
    return None


def dask_overheads(client) -> dict:
    """Seconds per empty shard task: one at a time (round trip), and 400 in flight."""
    from spikeport.distributed.shards import map_shards, shard_ranges

    map_shards(client, _nothing, shard_ranges(20, 1), progress=False)  # warm-up
    t0 = time.perf_counter()
    for i in range(50):
        map_shards(client, _nothing, [(i, i + 1)], progress=False)
    round_trip = (time.perf_counter() - t0) / 50
    t0 = time.perf_counter()
    map_shards(client, _nothing, shard_ranges(400, 1), progress=False)
    in_flight = (time.perf_counter() - t0) / 400
    return {"round_trip_s": round_trip, "per_task_in_flight_s": in_flight}


def imagenet_model_artifact(path: Path) -> dict:
    import torch

    from spikeport.converters.passes import PassManager, QuantConfig
    from spikeport.converters.passes.retime import Retime
    from spikeport.converters.pipeline import convert_model
    from spikeport.ir import save

    torch.set_num_threads(1)
    model = random_bn_model(
        "spikformer-imagenet", (3, 224, 224), embed_dim=512, num_heads=8, depth=8, T=4
    )
    t0 = time.perf_counter()
    conv = convert_model(model, (3, 224, 224), config=QuantConfig(input_scale=64.0, input_max=4.0))
    save(PassManager([Retime()]).run(conv.quantized), path)
    return {
        "convert_s": time.perf_counter() - t0,
        "params": sum(p.numel() for p in model.parameters()),
    }


def part_imagenet_child(art: str) -> dict:
    """In a fresh process: a worker's one-time cost, seconds per image, peak RSS, tally."""
    import numpy as np

    from spikeport.distributed.tasks import artifact_graph
    from spikeport.hw_models.sim.classification import classifier, tally

    w0, c0 = time.perf_counter(), time.process_time()
    graph = artifact_graph(art)
    load_s, load_cpu = time.perf_counter() - w0, time.process_time() - c0
    w0, c0 = time.perf_counter(), time.process_time()
    sim = classifier(graph)
    build_s, build_cpu = time.perf_counter() - w0, time.process_time() - c0
    rng = np.random.default_rng(1)
    images = rng.standard_normal((1 + 2 * IMAGENET_BATCH, 3, 224, 224)).clip(-4, 4)
    labels = np.zeros(len(images), dtype=np.int64)
    tally(sim, images[:1], labels[:1], batch_size=1)  # warm-up (first run: numba cache load)
    per_image, per_image_cpu, parts = [], [], []
    for lo in range(1, len(images), IMAGENET_BATCH):
        c0 = time.process_time()
        t = tally(
            sim,
            images[lo : lo + IMAGENET_BATCH],
            labels[lo : lo + IMAGENET_BATCH],
            batch_size=IMAGENET_BATCH,
            keep_readout=False,  # as a shard task runs it
        )
        per_image_cpu.append((time.process_time() - c0) / t.samples)
        per_image.append(t.seconds / t.samples)
        parts.append(t)
    blob = pickle.dumps(parts[0])
    t0 = time.perf_counter()
    for _ in range(100):
        parts[0].add(parts[1])
    merge_s = (time.perf_counter() - t0) / 100
    return {
        "load_s": load_s,
        "load_cpu_s": load_cpu,
        "simulator_build_s": build_s,
        "simulator_build_cpu_s": build_cpu,
        "per_image_s": statistics.median(per_image),
        "per_image_runs_s": per_image,
        "per_image_cpu_s": statistics.median(per_image_cpu),
        "per_image_cpu_runs_s": per_image_cpu,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9,
        "tally_bytes": len(blob),
        "merge_s": merge_s,
        "nodes": len(graph.topological_order()),
    }


def imagenet_jpeg_seconds(tmp: Path, count: int = 8) -> float:
    """Seconds per image to read an ImageNet-size JPEG (500 x 375) with ``--data
    imagefolder``'s loader: decode, resize 256, center-crop 224, normalise."""
    import numpy as np
    from PIL import Image

    from spikeport.data import open_dataset

    rng = np.random.default_rng(0)
    for i in range(count):
        folder = tmp / "val" / f"n{i % 2:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.JPEG", quality=90)
    ds = open_dataset(f"imagefolder:{tmp / 'val'}", "test", input_shape=(3, 224, 224))
    ds[:1].arrays()  # warm-up
    c0 = time.process_time()
    ds.arrays()
    return (time.process_time() - c0) / count


def project(m: dict, overhead: dict, workers_per_node: int) -> dict:
    """Wall time of ImageNet val on NODES x workers_per_node dedicated cores (one worker
    each), from the CPU seconds measured here: every worker loads the artifact once, then
    takes the next shard whenever it is free (Dask's default ranges: about 4 shards per
    worker of whole batches); shard cost = its images x (simulator + JPEG) + Dask's cost per
    task; the merge runs on the client as the tallies arrive."""
    import heapq

    from spikeport.distributed.shards import default_ranges

    workers = NODES * workers_per_node
    ranges = default_ranges(IMAGENET_VAL, workers, IMAGENET_BATCH)
    per_image = m["per_image_cpu_s"] + m["jpeg_cpu_s"]
    one_time = m["load_cpu_s"] + m["simulator_build_cpu_s"]
    free = [one_time] * workers
    for lo, hi in ranges:  # list scheduling: the earliest free worker takes the next shard
        heapq.heappush(free, heapq.heappop(free) + (hi - lo) * per_image + overhead["round_trip_s"])
    makespan = max(free)
    merge = len(ranges) * m["merge_s"]
    dispatch = len(ranges) * overhead["per_task_in_flight_s"]  # scheduler, serial
    total = max(makespan, dispatch) + merge
    ideal = IMAGENET_VAL * per_image / workers
    return {
        "workers": workers,
        "shards": len(ranges),
        "shard_images": [min(hi - lo for lo, hi in ranges), max(hi - lo for lo, hi in ranges)],
        "one_time_s": round(one_time, 2),
        "makespan_s": round(makespan, 1),
        "scheduler_dispatch_s": round(dispatch, 2),
        "merge_s": round(merge, 3),
        "total_s": round(total, 1),
        "ideal_s": round(ideal, 1),
        "efficiency": round(ideal / total, 3),
        "memory_per_node_gb": round(workers_per_node * m["peak_rss_gb"], 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--imagenet-child", metavar="ARTIFACT")
    ap.add_argument("--skip-imagenet", action="store_true")
    ap.add_argument(
        "--cifar", action="store_true", help="only the Spikformer-4-384 CIFAR-layout speed-up"
    )
    args = ap.parse_args()
    if args.cifar:
        with tempfile.TemporaryDirectory() as tmp:
            return 0 if report_cifar(Path(tmp)) else 1
    if args.imagenet_child:
        print(json.dumps(part_imagenet_child(args.imagenet_child)))
        return 0
    from results import record

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        d = part_digits(Path(tmp))
        load_after = os.getloadavg()[0]
        ratio = d["single"]["s"] / d["distributed"]["s"]
        cli_ratio = d["cli_single_s"] / d["cli_distributed_s"]
        print(f"digits test split, {d['samples']} images, batch {BATCH}")
        print(f"single process   {d['single']['s']:.3f} s (median of {RUNS}, warm)")
        print(
            f"{WORKERS} workers        {d['distributed']['s']:.3f} s  speed-up {ratio:.2f}x "
            f"(target >= {TARGET}x)"
        )
        print(
            f"command line     {d['cli_single_s']:.2f} s vs {d['cli_distributed_s']:.2f} s "
            f"with --workers {WORKERS} ({cli_ratio:.2f}x; imports, cluster start included)"
        )
        cpu_ratio = d["single_cpu_s"] / d["busiest_worker_cpu_s"]
        print(
            f"CPU time         {d['single_cpu_s']:.3f} s single vs "
            f"{d['busiest_worker_cpu_s']:.3f} s busiest worker "
            f"({cpu_ratio:.2f}x: the speed-up with a free core per worker)"
        )
        print(f"identical        {d['identical']}")
        print(
            f"Dask per shard   {d['overhead']['round_trip_s'] * 1e3:.1f} ms round trip, "
            f"{d['overhead']['per_task_in_flight_s'] * 1e3:.2f} ms each with 400 in flight"
        )
        print(f"load average     {load_before:.2f} before, {load_after:.2f} after (1 min)")
        record(
            "sim_distributed_digits_2_workers",
            **speedup_fields(d["single"], d["distributed"], d["identical"], 4),
            single_cpu_seconds=round(d["single_cpu_s"], 4),
            busiest_worker_cpu_seconds=round(d["busiest_worker_cpu_s"], 4),
            cpu_ratio=round(cpu_ratio, 3),
            command_single_seconds=round(d["cli_single_s"], 2),
            command_distributed_seconds=round(d["cli_distributed_s"], 2),
            command_ratio=round(cli_ratio, 3),
            dask_round_trip_ms=round(d["overhead"]["round_trip_s"] * 1e3, 2),
            dask_per_task_in_flight_ms=round(d["overhead"]["per_task_in_flight_s"] * 1e3, 3),
            samples=d["samples"],
            batch=BATCH,
            workers=WORKERS,
            load_average=[round(load_before, 2), round(load_after, 2)],
        )
        if args.skip_imagenet:
            return 0 if d["identical"] else 1
        art = Path(tmp) / "s8_512"
        built = imagenet_model_artifact(art)
        child = subprocess.run(
            [sys.executable, __file__, "--imagenet-child", str(art)],
            check=True,
            capture_output=True,
            text=True,
        )
        m = json.loads(child.stdout.strip().splitlines()[-1])
        m["jpeg_cpu_s"] = imagenet_jpeg_seconds(Path(tmp) / "jpeg")
    load_end = os.getloadavg()[0]
    projections = {f"{k}_per_node": project(m, d["overhead"], k) for k in CORES_PER_NODE}
    print(f"Spikformer-8-512 ImageNet ({built['params']:,} parameters, {m['nodes']} IR nodes)")
    print(
        f"per image        {m['per_image_cpu_s']:.2f} CPU s ({m['per_image_s']:.2f} s wall; "
        f"batch {IMAGENET_BATCH}, 1 thread); JPEG read {m['jpeg_cpu_s'] * 1e3:.1f} ms"
    )
    print(
        f"worker one-time  {m['load_cpu_s']:.2f} CPU s load + {m['simulator_build_cpu_s']:.2f} "
        f"CPU s build ({m['load_s']:.2f} + {m['simulator_build_s']:.2f} s wall), "
        f"peak RSS {m['peak_rss_gb']:.2f} GB"
    )
    print(f"tally            {m['tally_bytes']:,} bytes, merge {m['merge_s'] * 1e3:.3f} ms")
    for key, p in projections.items():
        print(f"{NODES} nodes x {key}: {p}")
    best = projections[f"{CORES_PER_NODE[-1]}_per_node"]
    record(
        "sim_distributed_imagenet_projection",
        ratio=best["efficiency"],
        target=f"report (projected parallel efficiency, {NODES} nodes x "
        f"{CORES_PER_NODE[-1]} workers, ImageNet val {IMAGENET_VAL:,} images, 8-512)",
        met=True,
        identical_outputs=None,
        projected_hours=round(best["total_s"] / 3600, 3),
        per_image_cpu_seconds=round(m["per_image_cpu_s"], 3),
        per_image_cpu_runs=[round(t, 3) for t in m["per_image_cpu_runs_s"]],
        per_image_wall_seconds=round(m["per_image_s"], 3),
        jpeg_cpu_ms=round(m["jpeg_cpu_s"] * 1e3, 2),
        worker_load_cpu_seconds=round(m["load_cpu_s"], 2),
        worker_simulator_build_cpu_seconds=round(m["simulator_build_cpu_s"], 2),
        worker_load_wall_seconds=round(m["load_s"] + m["simulator_build_s"], 2),
        worker_peak_rss_gb=round(m["peak_rss_gb"], 2),
        tally_bytes=m["tally_bytes"],
        merge_ms=round(m["merge_s"] * 1e3, 4),
        dask_round_trip_ms=round(d["overhead"]["round_trip_s"] * 1e3, 2),
        dask_per_task_in_flight_ms=round(d["overhead"]["per_task_in_flight_s"] * 1e3, 3),
        convert_seconds=round(built["convert_s"], 1),
        params=built["params"],
        projections=projections,
        load_average=[round(load_before, 2), round(load_end, 2)],
    )
    return 0 if d["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
