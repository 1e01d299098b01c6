"""Simulator vs the PyTorch float model on Spikformer-4-384 CIFAR shapes (T = 4, batch 16).

The model has random weights (BatchNorm statistics set from one batch of random images so
that neurons fire at ordinary rates); our pipeline converts and quantises it (no digits
calibration) and retimes it. Measured, each side in its own fresh subprocess so that peak
memory is not shared:

* time: median wall time of 3 runs of one batch of 16 after a warm-up run (torch: eval
  forward under no_grad; simulator: ``Simulator.run(windowed=True)``, integer-exact).
* peak memory: the process's peak resident set during the measured runs minus its
  resident set just before them (Linux VmHWM after resetting it via /proc/self/clear_refs),
  i.e. the working memory of inference excluding the model / graph already loaded; memory
  freed by the warm-up but kept by the allocator counts as baseline, so both sides are
  understated alike. Also reported: the same delta over the first (cold) run, and for the
  simulator tracemalloc's peak of numpy allocations (no torch equivalent).

Targets: simulator time <= 2x and peak memory <= 1.5x the float model's. Threads: both
sides use the same number (``--threads``, default 2: the whole machine). The 1-minute load
average before and after is recorded beside the timings (a busy machine slows both sides,
PyTorch's OpenMP threads most). ``outputs_sha256`` fingerprints the simulator's outputs and
counters (same model and seeds: a change of it means changed bits).

Run: .venv/bin/python benchmarks/sim_vs_torch.py
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BATCH, T, RUNS = 16, 4, 3
TIME_TARGET, MEM_TARGET = 2.0, 1.5


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def build(threads: int):
    import numpy as np
    import torch

    from spikeport.models.registry import ModelConfig, build_model

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    cfg = ModelConfig(
        arch="spikformer-cifar", embed_dim=384, depth=4, num_heads=12, num_classes=10, T=T
    )
    model = build_model(cfg)
    for m in model.modules():  # BN statistics of one random batch: ordinary firing rates
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = 1.0
    x = torch.randn(BATCH, 3, 32, 32).clamp(-4, 4)
    with torch.no_grad():
        model.train()(x)
    model.eval()
    images = torch.randn(BATCH, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    return model, images.clamp(-4, 4), np


def part_torch(threads: int) -> dict:
    import torch

    model, images, _ = build(threads)
    with torch.no_grad():
        cold_rss = _status("VmRSS")
        _reset_peak()
        model(images)  # warm-up
        cold = _status("VmHWM") - cold_rss
        rss = _status("VmRSS")
        _reset_peak()
        times = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            model(images)
            times.append(time.perf_counter() - t0)
        peak = _status("VmHWM") - rss
    return {
        "seconds": statistics.median(times),
        "times": times,
        "peak_bytes": peak,
        "cold_peak_bytes": cold,
    }


def part_sim(threads: int) -> dict:
    import tracemalloc

    from threadpoolctl import threadpool_limits

    from spikeport.converters.passes import PassManager, QuantConfig
    from spikeport.converters.passes.retime import Retime
    from spikeport.converters.pipeline import convert_model
    from spikeport.hw_models.sim.classification import direct_input
    from spikeport.hw_models.sim.engine import Simulator

    model, images, np = build(threads)
    conv = convert_model(model, (3, 32, 32), config=QuantConfig(input_scale=64.0, input_max=4.0))
    graph = PassManager([Retime()]).run(conv.quantized)
    feed = direct_input(graph, images.numpy())
    sim = Simulator(graph)
    with threadpool_limits(limits=threads):
        cold_rss = _status("VmRSS")
        _reset_peak()
        first = sim.run(feed, windowed=True)  # warm-up
        cold = _status("VmHWM") - cold_rss
        rss = _status("VmRSS")
        _reset_peak()
        tracemalloc.start()
        times = []
        for _ in range(RUNS):
            res = sim.run(feed, windowed=True)
            times.append(res.seconds)
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        peak = _status("VmHWM") - rss
    per_node = {n: 0.0 for n in res.counts}
    totals = res.totals()
    spikes = sum(int(c["spikes"].sum()) for c in res.counts.values())
    same = all(np.array_equal(first.outputs[k], res.outputs[k]) for k in res.outputs)
    digest = hashlib.sha256()
    for name in sorted(res.outputs):
        digest.update(np.ascontiguousarray(res.outputs[name], dtype=np.int64).tobytes())
    for name in sorted(res.counts):
        for key in sorted(res.counts[name]):
            digest.update(np.ascontiguousarray(res.counts[name][key], dtype=np.int64).tobytes())
    return {
        "seconds": statistics.median(times),
        "times": times,
        "peak_bytes": peak,
        "cold_peak_bytes": cold,
        "tracemalloc_peak_bytes": traced,
        "nodes": len(per_node),
        "totals": totals,
        "spikes": spikes,
        "repeatable": same,
        "outputs_sha256": digest.hexdigest(),
    }


def profile_sim(threads: int) -> None:
    """Print where the simulator's time goes, by node type."""
    import cProfile
    import pstats

    from spikeport.converters.passes import PassManager, QuantConfig
    from spikeport.converters.passes.retime import Retime
    from spikeport.converters.pipeline import convert_model
    from spikeport.hw_models.sim.classification import direct_input
    from spikeport.hw_models.sim.engine import Simulator

    model, images, _ = build(threads)
    conv = convert_model(model, (3, 32, 32), config=QuantConfig(input_scale=64.0, input_max=4.0))
    graph = PassManager([Retime()]).run(conv.quantized)
    sim = Simulator(graph)
    feed = direct_input(graph, images.numpy())
    prof = cProfile.Profile()
    prof.runcall(sim.run, feed, windowed=True)
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


def _child(part: str, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--part", part, "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("torch", "sim", "profile"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.part == "torch":
        print(json.dumps(part_torch(args.threads)))
        return 0
    if args.part == "sim":
        print(json.dumps(part_sim(args.threads)))
        return 0
    if args.part == "profile":
        profile_sim(args.threads)
        return 0
    from results import record

    load_before = os.getloadavg()[0]
    torch_r = _child("torch", args.threads)
    sim_r = _child("sim", args.threads)
    load_after = os.getloadavg()[0]
    t_ratio = sim_r["seconds"] / torch_r["seconds"]
    m_ratio = sim_r["peak_bytes"] / max(1, torch_r["peak_bytes"])
    mib = 1 << 20
    print(f"Spikformer-4-384, CIFAR 32x32, T={T}, batch {BATCH}, {args.threads} threads")
    print(
        f"PyTorch float  {torch_r['seconds']:8.3f} s   peak +{torch_r['peak_bytes'] / mib:8.1f} MiB"
    )
    print(
        f"simulator      {sim_r['seconds']:8.3f} s   peak +{sim_r['peak_bytes'] / mib:8.1f} MiB"
        f"   (numpy tracemalloc peak {sim_r['tracemalloc_peak_bytes'] / mib:.1f} MiB)"
    )
    cold_ratio = sim_r["cold_peak_bytes"] / max(1, torch_r["cold_peak_bytes"])
    print(
        f"first run      peak +{torch_r['cold_peak_bytes'] / mib:.1f} MiB (PyTorch) vs "
        f"+{sim_r['cold_peak_bytes'] / mib:.1f} MiB (simulator): {cold_ratio:.2f}x"
    )
    print(f"time ratio     {t_ratio:8.2f}x  (target <= {TIME_TARGET}x)")
    print(f"memory ratio   {m_ratio:8.2f}x  (target <= {MEM_TARGET}x)")
    print(f"simulator ops  {sim_r['totals']}")
    print(f"load average   {load_before:.2f} before, {load_after:.2f} after (1 min)")
    print(f"outputs sha256 {sim_r['outputs_sha256']}")
    record(
        "sim_vs_torch_spikformer_4_384",
        ratio=t_ratio,
        target=f"<= {TIME_TARGET} (simulator seconds / PyTorch float seconds), memory <= "
        f"{MEM_TARGET}x",
        met=t_ratio <= TIME_TARGET and m_ratio <= MEM_TARGET,
        identical_outputs=None,
        memory_ratio=round(m_ratio, 3),
        memory_ratio_first_run=round(cold_ratio, 3),
        torch_seconds=round(torch_r["seconds"], 4),
        simulator_seconds=round(sim_r["seconds"], 4),
        torch_peak_mib=round(torch_r["peak_bytes"] / mib, 1),
        simulator_peak_mib=round(sim_r["peak_bytes"] / mib, 1),
        simulator_tracemalloc_peak_mib=round(sim_r["tracemalloc_peak_bytes"] / mib, 1),
        batch=BATCH,
        T=T,
        threads=args.threads,
        memory_measure="peak RSS during the runs minus RSS before them, separate processes",
        load_avg_1min=[round(load_before, 2), round(load_after, 2)],
        outputs_sha256=sim_r["outputs_sha256"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
