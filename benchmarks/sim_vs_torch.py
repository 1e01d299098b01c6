"""Simulator vs the PyTorch float model, side by side in one run, on two layouts:

* ``cifar``: Spikformer-4-384, CIFAR 32 x 32, T = 4, batch 16;
* ``imagenet``: Spikformer-8-512, ImageNet 224 x 224, T = 4, batch 4.

Each model has random weights (BatchNorm statistics set from one batch of random images so
that neurons fire at ordinary rates); our pipeline converts and quantises it (no digits
calibration) and retimes it. Measured, each side in its own fresh subprocess so that peak
memory is not shared:

* time: the shortest wall time of the layout's 3 runs after a warm-up run (other jobs on
  the shared machine only ever add time; the median is recorded too). PyTorch is measured
  twice, before and after the simulator, and the faster of the two counts (a load spike
  during one of them must not flatter the simulator). Torch: eval forward
  under no_grad; simulator: ``Simulator.run(windowed=True)``, integer-exact, event-driven
  synapses where the input rate makes them cheaper.
* identical outputs: the simulator's outputs and every counter equal those of a run with the
  event-driven paths switched off (dense BLAS products only), compared in the same process.
* peak memory: the process's peak resident set during the measured runs minus its
  resident set just before them (Linux VmHWM after resetting it via /proc/self/clear_refs),
  i.e. the working memory of inference excluding the model / graph already loaded; memory
  freed by the warm-up but kept by the allocator counts as baseline, so both sides are
  understated alike. Also reported: the same delta over the first (cold) run, and for the
  simulator tracemalloc's peak of numpy allocations (no torch equivalent).

Targets: simulator time <= 1x and peak memory <= 1x the float model's. Threads: both
sides use the same number (``--threads``, default 2: the whole machine; numba's too; a run
with another count is recorded under its own name, ``..._1_thread``). CPU seconds per run
(process time, all threads) are recorded beside the wall times: PyTorch's OpenMP threads
wait actively, so on a shared machine its wall time suffers most. The
1-minute load average before and after is recorded beside the timings (a busy machine slows
both sides, PyTorch's OpenMP threads most). ``outputs_sha256`` fingerprints the simulator's
outputs and counters (same model and seeds: a change of it means changed bits).

Run: .venv/bin/python benchmarks/sim_vs_torch.py [--layout cifar|imagenet|all]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import spikeport  # noqa: E402, F401  first, as the CLI does: OpenBLAS's settings precede numpy

T = 4
TIME_TARGET, MEM_TARGET = 1.0, 1.0


@dataclass(frozen=True)
class Layout:
    """One benchmarked model: registry arch and config fields, input size, batch, runs."""

    record: str
    title: str
    arch: str
    config: dict
    img: int
    batch: int
    runs: int


LAYOUTS = {
    "cifar": Layout(
        "sim_vs_torch_spikformer_4_384",
        "Spikformer-4-384, CIFAR 32x32",
        "spikformer-cifar",
        dict(embed_dim=384, depth=4, num_heads=12, num_classes=10),
        32,
        16,
        3,
    ),
    "imagenet": Layout(
        "sim_vs_torch_spikformer_8_512_imagenet",
        "Spikformer-8-512, ImageNet 224x224",
        "spikformer-imagenet",
        dict(embed_dim=512, depth=8, num_heads=8, num_classes=1000),
        224,
        4,
        3,
    ),
}


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def build(layout: Layout, threads: int):
    """The float model (BN statistics of one random batch) and the benchmark images."""
    import numpy as np
    import torch

    from spikeport.models.registry import ModelConfig, build_model

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = build_model(ModelConfig(arch=layout.arch, T=T, img_size=layout.img, **layout.config))
    for m in model.modules():  # BN statistics of one random batch: ordinary firing rates
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = 1.0
    shape = (layout.batch, 3, layout.img, layout.img)
    x = torch.randn(*shape).clamp(-4, 4)
    with torch.no_grad():
        model.train()(x)
    model.eval()
    images = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    return model, images.clamp(-4, 4), np


def simulator(layout: Layout, threads: int):
    """The converted, retimed simulator of the layout's model and its windowed feed."""
    import numba

    from spikeport.converters.passes import PassManager, QuantConfig
    from spikeport.converters.passes.retime import Retime
    from spikeport.converters.pipeline import convert_model
    from spikeport.hw_models.sim.classification import direct_input
    from spikeport.hw_models.sim.engine import Simulator

    numba.set_num_threads(threads)
    model, images, np = build(layout, threads)
    shape = (3, layout.img, layout.img)
    conv = convert_model(model, shape, config=QuantConfig(input_scale=64.0, input_max=4.0))
    graph = PassManager([Retime()]).run(conv.quantized)
    return Simulator(graph), direct_input(graph, images.numpy()), np


def part_torch(layout: Layout, threads: int) -> dict:
    import torch

    model, images, _ = build(layout, threads)
    with torch.no_grad():
        cold_rss = _status("VmRSS")
        _reset_peak()
        model(images)  # warm-up
        cold = _status("VmHWM") - cold_rss
        rss = _status("VmRSS")
        _reset_peak()
        times, cpu = [], time.process_time()
        for _ in range(layout.runs):
            t0 = time.perf_counter()
            model(images)
            times.append(time.perf_counter() - t0)
        cpu = (time.process_time() - cpu) / layout.runs
        peak = _status("VmHWM") - rss
    return {
        "seconds": min(times),
        "median_seconds": statistics.median(times),
        "cpu_seconds": cpu,
        "times": times,
        "peak_bytes": peak,
        "cold_peak_bytes": cold,
    }


def part_sim(layout: Layout, threads: int) -> dict:
    import tracemalloc

    from threadpoolctl import threadpool_limits

    from spikeport.hw_models.sim.kernels import events

    sim, feed, np = simulator(layout, threads)
    with threadpool_limits(limits=threads):
        cold_rss = _status("VmRSS")
        _reset_peak()
        first = sim.run(feed, windowed=True)  # warm-up
        cold = _status("VmHWM") - cold_rss
        rss = _status("VmRSS")
        _reset_peak()
        tracemalloc.start()
        times, cpu = [], time.process_time()
        for _ in range(layout.runs):
            res = sim.run(feed, windowed=True)
            times.append(res.seconds)
        cpu = (time.process_time() - cpu) / layout.runs
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        peak = _status("VmHWM") - rss
        rates = events.DENSE_EVENT_RATE, events.CONV_EVENT_RATE
        events.DENSE_EVENT_RATE = events.CONV_EVENT_RATE = -1.0  # dense products only
        dense = sim.run(feed, windowed=True)
        events.DENSE_EVENT_RATE, events.CONV_EVENT_RATE = rates
    per_node = {n: 0.0 for n in res.counts}
    totals = res.totals()
    spikes = sum(int(c["spikes"].sum()) for c in res.counts.values())
    same = all(np.array_equal(first.outputs[k], res.outputs[k]) for k in res.outputs)
    identical = all(np.array_equal(dense.outputs[k], res.outputs[k]) for k in res.outputs) and all(
        np.array_equal(dense.counts[n][k], c) for n in res.counts for k, c in res.counts[n].items()
    )
    digest = hashlib.sha256()
    for name in sorted(res.outputs):
        digest.update(np.ascontiguousarray(res.outputs[name], dtype=np.int64).tobytes())
    for name in sorted(res.counts):
        for key in sorted(res.counts[name]):
            digest.update(np.ascontiguousarray(res.counts[name][key], dtype=np.int64).tobytes())
    return {
        "seconds": min(times),
        "median_seconds": statistics.median(times),
        "cpu_seconds": cpu,
        "times": times,
        "peak_bytes": peak,
        "cold_peak_bytes": cold,
        "tracemalloc_peak_bytes": traced,
        "nodes": len(per_node),
        "totals": totals,
        "spikes": spikes,
        "repeatable": same,
        "identical_to_dense": identical,
        "dense_seconds": dense.seconds,
        "outputs_sha256": digest.hexdigest(),
    }


def profile_sim(layout: Layout, threads: int) -> None:
    """Print where the simulator's time goes, by function."""
    import cProfile
    import pstats

    sim, feed, _ = simulator(layout, threads)
    sim.run(feed, windowed=True)  # warm-up: numba's compiled loops loaded
    prof = cProfile.Profile()
    prof.runcall(sim.run, feed, windowed=True)
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


def _child(part: str, layout: str, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "NUMBA_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--part", part, "--layout", layout, "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(key: str, threads: int) -> None:
    """Measure one layout, both sides, print and record the entry."""
    from results import record

    layout = LAYOUTS[key]
    load_before = os.getloadavg()[0]
    torch_runs = [_child("torch", key, threads)]
    sim_r = _child("sim", key, threads)
    torch_runs.append(_child("torch", key, threads))  # before and after: the faster counts
    torch_r = min(torch_runs, key=lambda r: r["seconds"])
    load_after = os.getloadavg()[0]
    t_ratio = sim_r["seconds"] / torch_r["seconds"]
    m_ratio = sim_r["peak_bytes"] / max(1, torch_r["peak_bytes"])
    cold_ratio = sim_r["cold_peak_bytes"] / max(1, torch_r["cold_peak_bytes"])
    mib = 1 << 20
    print(f"{layout.title}, T={T}, batch {layout.batch}, {threads} threads")
    for side, r in (("PyTorch float", torch_r), ("simulator", sim_r)):
        print(
            f"{side:14s} {r['seconds']:8.3f} s   CPU {r['cpu_seconds']:8.3f} s   "
            f"peak +{r['peak_bytes'] / mib:8.1f} MiB"
        )
    print(
        f"dense-only sim {sim_r['dense_seconds']:8.3f} s   (event paths off; identical: "
        f"{sim_r['identical_to_dense']})   numpy tracemalloc peak "
        f"{sim_r['tracemalloc_peak_bytes'] / mib:.1f} MiB"
    )
    print(
        f"first run      peak +{torch_r['cold_peak_bytes'] / mib:.1f} MiB (PyTorch) vs "
        f"+{sim_r['cold_peak_bytes'] / mib:.1f} MiB (simulator): {cold_ratio:.2f}x"
    )
    print(f"time ratio     {t_ratio:8.2f}x  (target <= {TIME_TARGET}x)")
    print(f"memory ratio   {m_ratio:8.2f}x  (target <= {MEM_TARGET}x)")
    print(f"load average   {load_before:.2f} before, {load_after:.2f} after (1 min)")
    print(f"outputs sha256 {sim_r['outputs_sha256']}")
    record(
        layout.record + ("" if threads == 2 else f"_{threads}_thread"),
        ratio=t_ratio,
        target=f"<= {TIME_TARGET} (simulator seconds / PyTorch float seconds), memory <= "
        f"{MEM_TARGET}x",
        met=t_ratio <= TIME_TARGET and m_ratio <= MEM_TARGET and sim_r["identical_to_dense"],
        identical_outputs=sim_r["identical_to_dense"],
        memory_ratio=round(m_ratio, 3),
        memory_ratio_first_run=round(cold_ratio, 3),
        time_measure=f"shortest of {layout.runs} warm runs",
        torch_seconds=round(torch_r["seconds"], 4),
        torch_median_seconds=round(torch_r["median_seconds"], 4),
        torch_seconds_before_after=[round(r["seconds"], 4) for r in torch_runs],
        simulator_median_seconds=round(sim_r["median_seconds"], 4),
        torch_cpu_seconds=round(torch_r["cpu_seconds"], 4),
        simulator_cpu_seconds=round(sim_r["cpu_seconds"], 4),
        simulator_seconds=round(sim_r["seconds"], 4),
        simulator_dense_only_seconds=round(sim_r["dense_seconds"], 4),
        torch_peak_mib=round(torch_r["peak_bytes"] / mib, 1),
        simulator_peak_mib=round(sim_r["peak_bytes"] / mib, 1),
        simulator_tracemalloc_peak_mib=round(sim_r["tracemalloc_peak_bytes"] / mib, 1),
        batch=layout.batch,
        T=T,
        runs=layout.runs,
        threads=threads,
        memory_measure="peak RSS during the runs minus RSS before them, separate processes",
        identical_means="simulator outputs and counters equal a dense-products-only run",
        load_avg_1min=[round(load_before, 2), round(load_after, 2)],
        outputs_sha256=sim_r["outputs_sha256"],
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("torch", "sim", "profile"))
    ap.add_argument("--layout", choices=(*LAYOUTS, "all"), default="all")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    keys = list(LAYOUTS) if args.layout == "all" else [args.layout]
    parts = {"torch": part_torch, "sim": part_sim}
    if args.part in parts:
        print(json.dumps(parts[args.part](LAYOUTS[keys[0]], args.threads)))
        return 0
    if args.part == "profile":
        profile_sim(LAYOUTS[keys[0]], args.threads)
        return 0
    for key in keys:
        compare(key, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
