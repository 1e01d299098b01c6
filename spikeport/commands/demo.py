"""``spikeport demo``: the main job, run as a sequence of stages over one shared context.

Stage 1 trains the five digits models (or reuses cached ones under ``OUT/models/<attention>/``
whose ``run_key`` matches the current config and training settings); the last stage prints a
table. Later stages (convert, simulate, Lava, energy) append to ``STAGES``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ATTENTIONS = ("ssa", "axnor", "lrf_ssa", "lrf_dyn", "sdsa")


@dataclass
class DemoContext:
    """What stages share: options, and per-attention results keyed by attention name."""

    out: Path
    attentions: tuple[str, ...]
    retrain: bool = False
    epochs: int | None = None
    progress: bool = True
    models: dict[str, Path] = field(default_factory=dict)  # attention -> run directory
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    cached: dict[str, bool] = field(default_factory=dict)


def stage_train(ctx: DemoContext) -> None:
    """Train each digits model unless a cached run with the same run_key exists."""
    from spikeport.models.train import (
        TrainSettings,
        digits_config,
        run_key,
        save_run,
        train_digits,
    )

    settings = TrainSettings() if ctx.epochs is None else TrainSettings(epochs=ctx.epochs)
    for attention in ctx.attentions:
        config = digits_config(attention)
        run_dir = ctx.out / "models" / attention
        key = run_key(config, settings)
        cached = None if ctx.retrain else _cached_metrics(run_dir, key)
        if cached is None:
            model, metrics = train_digits(config, settings, progress=ctx.progress)
            metrics = {**metrics, "run_key": key}
            save_run(run_dir, model, metrics)
        else:
            metrics = cached
        ctx.models[attention] = run_dir
        ctx.metrics[attention] = metrics
        ctx.cached[attention] = cached is not None


def _cached_metrics(run_dir: Path, key: str) -> dict[str, Any] | None:
    metrics_path, model_path = run_dir / "metrics.json", run_dir / "model.pt"
    if not (metrics_path.is_file() and model_path.is_file()):
        return None
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return metrics if metrics.get("run_key") == key else None


def stage_report(ctx: DemoContext) -> None:
    """Print test accuracy and training time per attention variant."""
    print(format_table(ctx))


def format_table(ctx: DemoContext) -> str:
    rows = [("attention", "test acc %", "train s", "model")]
    for attention in ctx.attentions:
        m = ctx.metrics[attention]
        rows.append(
            (
                attention,
                f"{100 * m['test_accuracy']:.2f}",
                f"{m['train_seconds']:.1f}" + (" (cached)" if ctx.cached.get(attention) else ""),
                str(ctx.models[attention] / "model.pt"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    n_test = next(iter(ctx.metrics.values()))["n_test"] if ctx.metrics else 0
    title = f"digits Spikformer (test set: {n_test} images, sklearn load_digits, seed-0 split)"
    return title + "\n" + "\n".join(lines)


STAGES: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("train digits models", stage_train),
    ("report", stage_report),
]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the main job: train (or reuse) the digits models and report",
        description="Run the demo pipeline stage by stage: " + ", ".join(n for n, _ in STAGES),
    )
    p.add_argument("--out", default="out", metavar="DIR", help="output root (default ./out)")
    p.add_argument(
        "--attention",
        action="append",
        default=None,
        help=f"variant(s) to run (repeatable; default all: {', '.join(ATTENTIONS)})",
    )
    p.add_argument("--retrain", action="store_true", help="ignore cached models")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 12)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spikeport.errors import SpikeportError

    attentions = tuple(args.attention or ATTENTIONS)
    unknown = [a for a in attentions if a not in ATTENTIONS]
    if unknown:
        raise SpikeportError(
            f"--attention {unknown[0]!r} is not supported; supported: {', '.join(ATTENTIONS)}"
        )
    if args.epochs is not None and args.epochs < 1:
        raise SpikeportError(f"--epochs must be >= 1, got {args.epochs}")
    ctx = DemoContext(
        out=Path(args.out),
        attentions=attentions,
        retrain=args.retrain,
        epochs=args.epochs,
        progress=not args.no_progress,
    )
    for i, (name, stage) in enumerate(STAGES, 1):
        print(f"[{i}/{len(STAGES)}] {name}", flush=True)
        stage(ctx)
    return 0
