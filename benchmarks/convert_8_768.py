"""Conversion time and peak memory for Spikformer-8-768 (ImageNet layout, 224 x 224, T=4).

The model has random weights (``build_model`` of the registry's ``spikformer-imagenet`` with
embed_dim 768, 12 heads, depth 8; eval mode so BatchNorm uses its running statistics). The
conversion is what ``spikeport convert --no-eval --no-calibration`` does: trace with torch.fx
(the example batch of EXAMPLE_BATCH images propagated as a FakeTensor: shapes only), run the
default passes (BN folding, quantisation, ...), then the Lava retiming pass. It runs in
a child process so its peak RSS (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``) is clean;
the wall time excludes imports and model construction. Targets: < 60 s and < 4 GB.

Run: .venv/bin/python benchmarks/convert_8_768.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import record  # noqa: E402

TARGET_S = 60.0
TARGET_GB = 4.0
ROOT = Path(__file__).resolve().parents[1]


def child() -> None:
    """Convert once; print one JSON line (seconds, or the one-line error)."""
    import torch

    torch.set_num_threads(2)
    from spikeport.converters.passes import PassManager, QuantConfig
    from spikeport.converters.passes.retime import Retime
    from spikeport.converters.pipeline import EXAMPLE_BATCH, default_passes, to_ir
    from spikeport.models.registry import build_model, default_config

    cfg = default_config("spikformer-imagenet", embed_dim=768, num_heads=12, depth=8, T=4)
    model = build_model(cfg).eval()
    params = sum(p.numel() for p in model.parameters())
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    phases: dict[str, list[float]] = {}  # phase -> [seconds, peak RSS GB after it]

    def mark(phase: str, since: float) -> float:
        now = time.perf_counter()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
        phases[phase] = [round(now - since, 2), round(peak, 3)]
        return now

    try:
        # convert_model's two steps, timed apart: trace, then the default passes
        shape = (cfg.in_channels, cfg.img_size, cfg.img_size)
        example = torch.zeros(EXAMPLE_BATCH, *shape)
        float_graph = to_ir(model, example, name="s8")
        t = mark("trace (torch.fx -> float IR)", start)
        quantized = default_passes(QuantConfig()).run(float_graph)
        t = mark("passes (fold, quantise)", t)
        quantized = PassManager([Retime()]).run(quantized)
        mark("retime", t)
        error = None
        nodes = len(list(quantized.nodes)) if hasattr(quantized, "nodes") else None
    except Exception as exc:  # noqa: BLE001  (the benchmark reports where it fails)
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        nodes = None
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "seconds": seconds,
                "error": error,
                "params": params,
                "nodes": nodes,
                "rss_before_kib": rss_before,
                "phases": phases,
                "example_batch": EXAMPLE_BATCH,
            }
        )
    )


def main() -> int:
    load = os.getloadavg()[0]
    wall = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    wall = time.perf_counter() - wall
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        info = {"seconds": wall, "error": f"child exited {proc.returncode}: {tail}"}
        info.update(params=None, nodes=None, rss_before_kib=None)
    else:
        info = json.loads(lines[-1])
    peak_gb = peak_kib * 1024 / 1e9
    seconds = info["seconds"]
    ok = info["error"] is None
    met = ok and seconds < TARGET_S and peak_gb < TARGET_GB
    print(
        f"Spikformer-8-768 ImageNet (224x224, T=4, {info['params'] or 0:,} parameters, random "
        "weights)"
    )
    if ok:
        print(f"conversion  {seconds:8.2f} s   (target < {TARGET_S:.0f} s)")
    else:
        print(f"conversion FAILED after {seconds:.2f} s: {info['error']}")
    print(f"peak RSS    {peak_gb:8.2f} GB  (target < {TARGET_GB:.0f} GB; whole child process)")
    if info.get("rss_before_kib"):
        print(
            f"  of which before conversion (imports + model): {info['rss_before_kib'] / 1e6:.2f} GB"
        )
    for phase, (sec, peak) in (info.get("phases") or {}).items():
        print(f"  {phase:30s} {sec:8.2f} s, peak RSS after it {peak:6.2f} GB")
    print(f"load avg    {load:8.1f}   (1 min, before the run; {os.cpu_count()} cores)")
    record(
        "convert_spikformer_8_768",
        ratio=seconds / TARGET_S,
        target=f"< 1 (seconds / {TARGET_S:.0f} s budget), peak RSS < {TARGET_GB:.0f} GB",
        met=met,
        identical_outputs=None,
        seconds=round(seconds, 2),
        peak_rss_gb=round(peak_gb, 3),
        memory_ratio=round(peak_gb / TARGET_GB, 4),
        error=info["error"],
        phases=info.get("phases"),
        example_batch=info.get("example_batch"),
        params=info["params"],
        load_average=round(load, 1),
    )
    return 0


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        sys.exit(main())
