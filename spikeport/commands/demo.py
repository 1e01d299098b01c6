"""``spikeport demo``: the main job, run as a sequence of stages over one shared context.

Stages: train the five digits models (``--data SPEC``: five CIFAR-layout models shaped by
that data set, ``spikeport.data``) or reuse cached ones under ``OUT/models/<attention>/``
whose ``run_key`` matches the current config and training settings, convert each to a
quantised, retimed artifact (``OUT/artifacts/<attention>/``), simulate the whole test split
bit-accurately, cross-check a few samples in Lava, write an energy report per model
(``OUT/energy/<attention>/``: JSON, Markdown, HTML + PNG), and print one summary table.

Every stage after training runs the real subcommand in-process (``spikeport convert``,
``simulate``, ``lava``, ``energy``), so the demo exercises exactly what a user runs.

OUT is the demo's own workspace and cache: a second run reuses its models and replaces its
artifacts, energy reports and summary.json, each written whole (``spikeport.outputs``). OUT
is locked while the demo runs. OUT may be new, empty, marked as spikeport's, or hold only the
demo's entries (``DEMO_ENTRIES``: an OUT from an older spikeport); any other directory is
refused unless ``--force`` (then the demo writes into it, replacing only those entries).
Inside an accepted OUT the demo's entries are its own: one without the ``spikeport.outputs``
marker (an older run's) is adopted and replaced like any other.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spikeport.commands.options import add_data_argument, positive_int
from spikeport.commands.train import ATTENTIONS


@dataclass
class DemoContext:
    """What stages share: options, and per-attention results keyed by attention name."""

    out: Path
    attentions: tuple[str, ...]
    data: str = "digits"  # --data SPEC: what every stage trains, converts and runs on
    retrain: bool = False
    epochs: int | None = None
    progress: bool = True
    lava_samples: int = 2
    energy_samples: int = 32
    models: dict[str, Path] = field(default_factory=dict)  # attention -> run directory
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    cached: dict[str, bool] = field(default_factory=dict)
    converted: dict[str, dict[str, Any]] = field(default_factory=dict)  # convert report.json
    simulated: dict[str, dict[str, Any]] = field(default_factory=dict)  # simulate --json
    lava: dict[str, dict[str, Any]] = field(default_factory=dict)  # lava --json
    energy: dict[str, dict[str, Any]] = field(default_factory=dict)  # energy report.json


def stage_train(ctx: DemoContext) -> None:
    """Train each model (digits, or a CIFAR-layout model shaped by ``--data``) unless a cached
    run with the same run_key exists."""
    from spikeport.models import train as training
    from spikeport.outputs import claim

    settings = training.TrainSettings()
    if ctx.epochs is not None:
        settings = training.TrainSettings(epochs=ctx.epochs)
    splits = None if ctx.data == "digits" else training.data_splits(ctx.data)
    for attention in ctx.attentions:
        if splits is None:
            config = training.digits_config(attention)
        else:
            config = training.data_config(splits[0], splits[0].spec, attention)
        run_dir = _adopt(ctx.out / "models" / attention)
        key = training.run_key(config, settings)
        cached = None if ctx.retrain else _cached_metrics(run_dir, key)
        if cached is None:
            with claim(run_dir, kind="dir", option="--out", force=True) as tmp:
                if splits is None:
                    model, metrics = training.train_digits(config, settings, progress=ctx.progress)
                else:
                    model, metrics = training.train_classifier(
                        config, settings, *splits, progress=ctx.progress, dataset=config.dataset
                    )
                metrics = {**metrics, "run_key": key}
                training.save_run(tmp, model, metrics)
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


def _spikeport(*argv: str) -> str:
    """Run one spikeport subcommand in-process; return its stdout (raise on failure)."""
    import contextlib
    import io

    from spikeport.cli import main
    from spikeport.errors import SpikeportError

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(list(argv))
    if code != 0:
        raise SpikeportError(f"demo: `spikeport {' '.join(argv)}` exited with status {code}")
    return buffer.getvalue()


DEMO_ENTRIES = ("models", "artifacts", "energy", "summary.json")
"""What the demo writes under OUT (besides hidden marker, lock and temporary files)."""


def _adopt(path: Path) -> Path:
    """Mark a demo entry of an accepted OUT as spikeport's (an older run's lacks the marker)."""
    from spikeport.outputs import MARKER, owned

    if path.is_dir() and not path.is_symlink() and not owned(path):
        (path / MARKER).write_text("spikeport demo output\n")
    return path


def _artifact(ctx: DemoContext, attention: str) -> Path:
    return ctx.out / "artifacts" / attention


def _quiet(ctx: DemoContext) -> tuple[str, ...]:
    return () if ctx.progress else ("--no-progress",)


def stage_convert(ctx: DemoContext) -> None:
    """`spikeport convert`: quantise, lower to Loihi fixed point, retime; measure fidelity."""
    for attention in ctx.attentions:
        art = _adopt(_artifact(ctx, attention))
        ckpt = str(ctx.models[attention] / "model.pt")
        _spikeport("convert", ckpt, "-o", str(art), "--force", *_quiet(ctx))
        ctx.converted[attention] = json.loads((art / "report.json").read_text())


def stage_simulate(ctx: DemoContext) -> None:
    """`spikeport simulate --json`: the whole test split, bit-accurately."""
    for attention in ctx.attentions:
        art = str(_artifact(ctx, attention))
        out = _spikeport("simulate", art, "--data", ctx.data, "--json")
        ctx.simulated[attention] = json.loads(out)


def stage_lava(ctx: DemoContext) -> None:
    """`spikeport lava --json`: a few test images through Lava and the simulator."""
    from spikeport.errors import LavaNotAvailableError

    for attention in ctx.attentions:
        try:
            out = _spikeport(
                "lava",
                str(_artifact(ctx, attention)),
                "--samples",
                str(ctx.lava_samples),
                "--data",
                ctx.data,
                "--json",
            )
        except LavaNotAvailableError as exc:
            ctx.lava[attention] = {"identical": None, "error": str(exc)}
            continue
        ctx.lava[attention] = json.loads(out)


def stage_energy(ctx: DemoContext) -> None:
    """`spikeport energy --out`: per-layer energy for every hardware model, HTML + PNG."""
    for attention in ctx.attentions:
        out_dir = _adopt(ctx.out / "energy" / attention)
        _spikeport(
            "energy",
            str(_artifact(ctx, attention)),
            "--hw",
            "all",
            "--data",
            ctx.data,
            "--samples",
            str(ctx.energy_samples),
            "--out",
            str(out_dir),
            "--force",
        )
        ctx.energy[attention] = json.loads((out_dir / "report.json").read_text())


def stage_report(ctx: DemoContext) -> None:
    """Print the summary table and write it to OUT/summary.json."""
    print(format_table(ctx))
    if ctx.converted:
        print()
        print(format_summary(ctx))
        from spikeport.outputs import claim

        with claim(ctx.out / "summary.json", kind="file", option="--out", force=True) as tmp:
            tmp.write_text(json.dumps(summary_rows(ctx), indent=2) + "\n")
        print(
            f"\nreports: {ctx.out / 'energy'}/<attention>/index.html; "
            f"summary: {ctx.out / 'summary.json'}"
        )


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
    if ctx.data != "digits":
        title = f"Spikformer on {ctx.data} (test set: {n_test} samples)"
    return title + "\n" + "\n".join(lines)


def summary_rows(ctx: DemoContext) -> list[dict[str, Any]]:
    """One record per attention variant, gathered from the stages' own JSON outputs."""
    rows = []
    for attention in ctx.attentions:
        conv = ctx.converted.get(attention, {})
        sim = ctx.simulated.get(attention, {})
        lava = ctx.lava.get(attention, {})
        energy = ctx.energy.get(attention, {})
        mapping = energy.get("hardware", {}).get("loihi2", {}).get("mapping", {})
        rows.append(
            {
                "attention": attention,
                "float_accuracy": conv.get("float_accuracy"),
                "quantized_accuracy": conv.get("quantized_accuracy"),
                "simulated_accuracy": sim.get("accuracy"),
                "simulated_samples": sim.get("samples"),
                "simulated_samples_per_s": sim.get("throughput"),
                "lava_identical": lava.get("identical"),
                "lava_samples": lava.get("samples"),
                "energy_per_inference_j": {
                    hw: e.get("measured")
                    for hw, e in energy.get("energy_per_inference_j", {}).items()
                },
                "attention_state_bytes": mapping.get("attention_state_bytes"),
            }
        )
    return rows


def _count(x: float | None) -> str:
    return "-" if x is None else f"{int(x):,}"


def format_summary(ctx: DemoContext) -> str:
    """The demo's closing table: fidelity, Lava agreement, energy, attention state memory."""
    rows = summary_rows(ctx)
    targets = sorted({hw for r in rows for hw in r["energy_per_inference_j"]})

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.2f}"

    def lava(r: dict[str, Any]) -> str:
        if r["lava_identical"] is None:
            return "not run"
        return f"{'identical' if r['lava_identical'] else 'DIFFERS'} ({r['lava_samples']})"

    head = ["attention", "float %", "int %", "sim %", "sim img/s", "Lava vs sim"]
    head += [f"{hw} uJ" for hw in targets] + ["attn state B"]
    table = [head]
    for r in rows:
        energy = r["energy_per_inference_j"]
        table.append(
            [
                r["attention"],
                pct(r["float_accuracy"]),
                pct(r["quantized_accuracy"]),
                pct(r["simulated_accuracy"]),
                "-"
                if r["simulated_samples_per_s"] is None
                else f"{r['simulated_samples_per_s']:.0f}",
                lava(r),
            ]
            + ["-" if energy.get(hw) is None else f"{1e6 * energy[hw]:.2f}" for hw in targets]
            + [_count(r["attention_state_bytes"])]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    title = (
        "pipeline summary: float (PyTorch) vs integer (quantised reference) vs bit-accurate "
        f"simulator accuracy on the {ctx.data} test split; energy per inference = measured-mode "
        "ESTIMATE from the simulator's events (see each index.html for the basis)"
    )
    return title + "\n" + "\n".join(lines)


STAGES: dict[str, tuple[str, Callable[[DemoContext], None]]] = {
    "train": ("train models", stage_train),
    "convert": ("convert (quantise, retime)", stage_convert),
    "simulate": ("simulate the test split bit-accurately", stage_simulate),
    "lava": ("cross-check samples in Lava", stage_lava),
    "energy": ("energy reports", stage_energy),
    "report": ("report", stage_report),
}
"""Stage key -> (title, function), in run order. Each stage needs the ones before it."""


HELP = "the main job: train, convert, simulate, Lava cross-check, energy report"
DESCRIPTION = "Run the demo pipeline stage by stage: " + ", ".join(
    title for title, _ in STAGES.values()
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="out", metavar="DIR", help="output root (default ./out)")
    p.add_argument(
        "--attention",
        action="append",
        default=None,
        help=f"variant(s) to run (repeatable; default all: {', '.join(ATTENTIONS)})",
    )
    p.add_argument(
        "--until",
        choices=list(STAGES),
        default="report",
        help="stop after this stage (the summary table is still printed)",
    )
    p.add_argument("--retrain", action="store_true", help="ignore cached models")
    add_data_argument(p, "digits (the bundled demo)", default="digits")
    p.add_argument(
        "--force",
        action="store_true",
        help="use an OUT that spikeport did not write (replacing its models/, artifacts/, "
        "energy/, summary.json)",
    )
    p.add_argument("--epochs", type=positive_int, default=None, help="training epochs (default 12)")
    p.add_argument(
        "--lava-samples",
        type=positive_int,
        default=2,
        help="test images run through Lava (default 2)",
    )
    p.add_argument(
        "--energy-samples",
        type=positive_int,
        default=32,
        help="test images for energy (default 32)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from spikeport.errors import SpikeportError

    attentions = tuple(args.attention or ATTENTIONS)
    unknown = [a for a in attentions if a not in ATTENTIONS]
    if unknown:
        raise SpikeportError(
            f"--attention {unknown[0]!r} is not supported; supported: {', '.join(ATTENTIONS)}"
        )
    from spikeport.outputs import MARKER, lock, owned

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SpikeportError(f"--out {out}: exists and is not a directory")
    theirs = []
    if out.is_dir() and not owned(out):
        names = [e.name for e in out.iterdir() if not e.name.startswith(".")]
        theirs = [n for n in names if n not in DEMO_ENTRIES]
    if theirs and not args.force:
        raise SpikeportError(
            f"--out {out}: holds {theirs[0]!r}, which the demo did not write; pass --force to "
            f"write the demo into it (its {', '.join(DEMO_ENTRIES)} are replaced) or choose "
            "another --out"
        )
    with lock(out.resolve(), option="--out"):
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text("spikeport demo output\n")
        return _run_stages(args, attentions)


def _run_stages(args: argparse.Namespace, attentions: tuple[str, ...]) -> int:
    ctx = DemoContext(
        out=Path(args.out),
        attentions=attentions,
        data=str(args.data),
        retrain=args.retrain,
        epochs=args.epochs,
        progress=not args.no_progress,
        lava_samples=args.lava_samples,
        energy_samples=args.energy_samples,
    )
    keys = list(STAGES)
    chosen = keys[: keys.index(args.until) + 1]
    if chosen[-1] != "report":
        chosen.append("report")
    start = time.perf_counter()
    for i, key in enumerate(chosen, 1):
        title, stage = STAGES[key]
        print(f"[{i}/{len(chosen)}] {title}", flush=True)
        began = time.perf_counter()
        stage(ctx)
        print(f"[{i}/{len(chosen)}] {key}: {time.perf_counter() - began:.1f} s", flush=True)
    print(f"demo: {(time.perf_counter() - start) / 60:.1f} min wall time", flush=True)
    return 0
