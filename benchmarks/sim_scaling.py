"""How simulator time grows with tokens N, depth and batch, beside PyTorch's float time.

Spikformer CIFAR layout (embed 384, 12 heads, T = 4, random weights, BN statistics of one
random batch, converted and retimed as in ``sim_vs_torch.py``), one factor varied at a time
around a base point (32 x 32 images: N = 64 tokens, depth 2, batch 8):

* tokens: image 16 / 32 / 48 -> N = 16 / 64 / 144 (the stem downsamples by 4 per side);
* depth: 1 / 2 / 4 encoder blocks;
* batch: 2 / 4 / 8 / 16.

Each point: the shortest of 3 warm runs per side, the two sides alternating in this process
(simulator: ``Simulator.run(windowed=True)``; torch: eval forward under no_grad; both with
``--threads`` threads). The machine is shared: the load average is recorded, and only the
ratio of the two sides measured back to back is comparable across points. Writes
``docs/img/sim_scaling.png`` (log-log, one panel per factor) and the ``sim_scaling_384``
entry of results.json (ratio = simulator / torch at the base point; the points listed).

Run: .venv/bin/python benchmarks/sim_scaling.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import record  # noqa: E402
from sim_vs_torch import Layout, T, build, simulator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PLOT = ROOT / "docs" / "img" / "sim_scaling.png"
BASE = dict(img=32, depth=2, batch=8)
SWEEPS = {"img": (16, 32, 48), "depth": (1, 2, 4), "batch": (2, 4, 8, 16)}
RUNS = 3


def _layout(img: int, depth: int, batch: int) -> Layout:
    cfg = dict(embed_dim=384, depth=depth, num_heads=12, num_classes=10)
    return Layout("", "", "spikformer-cifar", cfg, img, batch, RUNS)


def _shortest_pair(first, second) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The shortest of RUNS timed calls of each, after a warm-up of each, the two calls
    alternating so that both see the same load (load only ever adds time)."""
    first()
    second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(RUNS):
        for fn, acc in zip((first, second), times, strict=True):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    return min(times[0]), min(times[1])


def measure(img: int, depth: int, batch: int, threads: int) -> dict:
    """Seconds of both sides for one model at `batch`, and at every swept batch for the base
    model (images of the largest swept batch, sliced; BN statistics from that batch)."""
    import torch
    from threadpoolctl import threadpool_limits

    from spikeport.hw_models.sim.classification import direct_input

    layout = _layout(img, depth, max(SWEEPS["batch"]))
    sim, _, _ = simulator(layout, threads)
    model, images, _ = build(layout, threads)
    base = (img, depth) == (BASE["img"], BASE["depth"])
    rows = {}
    for b in sorted({batch, *(SWEEPS["batch"] if base else ())}):
        x = images[:b]
        feed = direct_input(sim.graph, x.numpy())
        with threadpool_limits(limits=threads), torch.no_grad():
            sim_s, torch_s = _shortest_pair(
                lambda feed=feed: sim.run(feed, windowed=True), lambda x=x: model(x)
            )
        tokens = (img // 4) ** 2
        rows[b] = dict(img=img, tokens=tokens, depth=depth, batch=b, sim_s=sim_s, torch_s=torch_s)
        print(
            f"N={tokens:4d} depth={depth} batch={b:3d}: simulator {sim_s:7.3f} s, "
            f"torch {torch_s:7.3f} s, ratio {sim_s / torch_s:5.2f}",
            flush=True,
        )
    return rows


def plot(points: list[dict], note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    for ax, (key, label) in zip(
        axes, (("tokens", "tokens N"), ("depth", "depth (blocks)"), ("batch", "batch")), strict=True
    ):
        fixed = {k: v for k, v in BASE.items() if k != ("img" if key == "tokens" else key)}
        pts = [p for p in points if all(p[k] == v for k, v in fixed.items())]
        pts.sort(key=lambda p: p[key])
        xs = [p[key] for p in pts]
        ax.loglog(xs, [p["sim_s"] for p in pts], "o-", label="simulator (integer, windowed)")
        ax.loglog(xs, [p["torch_s"] for p in pts], "s--", label="PyTorch float")
        ax.set_xlabel(label)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.minorticks_off()
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("seconds per batch (T = 4)")
    axes[0].legend(fontsize=8)
    fig.suptitle("Spikformer-384 CIFAR layout: time vs tokens, depth, batch", fontsize=10)
    fig.text(0.01, 0.01, note, fontsize=7, color="0.4")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=110)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    models = {(BASE["img"], BASE["depth"], BASE["batch"])}
    models |= {(img, BASE["depth"], BASE["batch"]) for img in SWEEPS["img"]}
    models |= {(BASE["img"], d, BASE["batch"]) for d in SWEEPS["depth"]}
    points: dict[tuple[int, int, int], dict] = {}
    for img, depth, batch in sorted(models):
        for b, row in measure(img, depth, batch, args.threads).items():
            points[(img, depth, b)] = row
    load_after = os.getloadavg()[0]
    note = (
        f"shortest of {RUNS} alternating warm runs per side, {args.threads} threads; 1-min load "
        f"average {load_before:.1f} -> {load_after:.1f} on a shared {os.cpu_count()}-core machine"
    )
    plot(list(points.values()), note)
    base = points[(BASE["img"], BASE["depth"], BASE["batch"])]
    print(f"load average {load_before:.2f} before, {load_after:.2f} after; plot {PLOT}")
    record(
        "sim_scaling_384",
        ratio=base["sim_s"] / base["torch_s"],
        target="report (simulator / PyTorch seconds at N=64, depth 2, batch 8; growth with "
        "N, depth, batch in `points`, plotted in docs/img/sim_scaling.png)",
        met=True,
        T=T,
        threads=args.threads,
        points=[
            {k: round(v, 4) if isinstance(v, float) else v for k, v in p.items()}
            for p in points.values()
        ],
        load_avg_1min=[round(load_before, 2), round(load_after, 2)],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
