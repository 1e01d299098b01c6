"""``spikeport convert``: checkpoint -> traced float IR -> passes -> quantised IR + report.

Writes ``DIR/graph.json`` + ``DIR/tensors.h5`` (the quantised graph, retimed for Lava's
timing as the last pass, IR save format),
``DIR/float/`` (the traced float graph), ``DIR/report.json`` (per-layer quantisation
report; with ``float_accuracy`` and ``quantized_accuracy`` on the data's test split) and,
when data was used, ``DIR/data.json`` (the ``--data`` spec and its preprocessing, which
``simulate`` / ``energy`` / ``lava`` reuse), and prints the per-layer table.

Data: ``--data SPEC`` (``spikeport.data``), else the spec the model was trained on (its
config's ``dataset``: ``digits`` or the ``--dataset`` of ``spikeport train``), else none.
Up to ``--calibration-samples`` training samples, spread over the train split, calibrate a
bias correction (the mean shift weight rounding causes); test samples are used only for
the reported accuracies. Time-major data (event frames) is traced as ``[T, B, C, H, W]``.

DIR is checked before any work and written whole (``spikeport.outputs``): an existing DIR
needs ``--force``; DIR may not be, hold or sit inside the checkpoint. report.json's ``source``
is the checkpoint's path relative to DIR.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from spikeport.commands.distributed_options import add_distributed_arguments, distributed_requested
from spikeport.commands.options import (
    add_data_argument,
    add_force,
    add_threads,
    positive_float,
    positive_int,
    timesteps,
)

HELP = "convert a checkpoint to the quantised (Loihi fixed-point) IR"
DESCRIPTION = (
    "Trace a trained model with torch.fx, fold BatchNorm and 1/tau, merge the "
    "attention scale, quantise to Loihi fixed point (Lava conventions) and write the IR "
    "artifact and a per-layer quantisation report (report.json)."
)

CALIBRATION_SAMPLES = 2048


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint", nargs="?", help="model.pt from `spikeport train`, or an official checkpoint"
    )
    p.add_argument("-o", "--out", metavar="ARTIFACT_DIR", help="output directory")
    add_force(p, "artifact directory")
    p.add_argument("--arch", default=None, help="architecture of a non-spikeport checkpoint")
    p.add_argument("--embed-dim", type=positive_int, default=None)
    p.add_argument("--depth", type=positive_int, default=None)
    p.add_argument("--heads", type=positive_int, default=None)
    p.add_argument("--classes", type=positive_int, default=None)
    p.add_argument("--T", type=timesteps, default=None, help="timesteps")
    p.add_argument("--attention", default=None, help="attention variant of the checkpoint")
    p.add_argument("--img-size", type=positive_int, default=None)
    p.add_argument("--in-channels", type=positive_int, default=None)
    p.add_argument(
        "--input-scale",
        type=positive_float,
        default=None,
        help="integers per input unit (default: 16 for digits, 1 for event frames, else 64)",
    )
    p.add_argument(
        "--input-max",
        type=positive_float,
        default=None,
        help="largest input value (default: 1 for digits, the largest calibration count for "
        "event frames, else 4)",
    )
    p.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow unpickling arbitrary objects (only for files you trust)",
    )
    add_data_argument(p, "the data the model was trained on (digits for digits models)")
    p.add_argument(
        "--calibration-samples",
        type=positive_int,
        default=CALIBRATION_SAMPLES,
        metavar="N",
        help=f"training samples for the bias calibration (default {CALIBRATION_SAMPLES})",
    )
    p.add_argument(
        "--eval-samples",
        type=positive_int,
        default=None,
        metavar="N",
        help="test samples (spread over the split) for the accuracies (default: all)",
    )
    p.add_argument("--batch-size", type=positive_int, default=60, help="evaluation batch size")
    p.add_argument("--no-eval", action="store_true", help="skip the accuracy evaluation")
    p.add_argument(
        "--no-calibration",
        action="store_true",
        help="no bias correction from the training samples' mean layer inputs",
    )
    p.add_argument(
        "--lower-attention",
        action="store_true",
        help="lower attention cores to AND/XNOR popcount and dendritic primitives",
    )
    p.add_argument(
        "--list-passes",
        action="store_true",
        help="list the passes in the order convert runs them (retime last) and exit",
    )
    add_threads(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_distributed_arguments(p)  # the fidelity evaluation


def run(args: argparse.Namespace) -> int:
    from spikeport.errors import SpikeportError

    if args.list_passes:
        from spikeport.converters.passes.retime import Retime
        from spikeport.converters.pipeline import default_passes

        always = set(default_passes().names())
        for name, desc in default_passes(lower=True).describe():
            note = "" if name in always else "[--lower-attention] "
            print(f"{name:28s} {note}{desc}")
        print(f"{Retime.name:28s} [final pass: Lava timing] {Retime.description}")
        return 0
    if not args.checkpoint or not args.out:
        raise SpikeportError("convert needs CHECKPOINT and -o ARTIFACT_DIR")
    ckpt = Path(args.checkpoint)
    if not ckpt.is_file():
        raise SpikeportError(f"{ckpt}: no such checkpoint file")
    distributed_requested(args)  # option errors before any work
    from spikeport.outputs import claim

    out = Path(args.out)
    with claim(out, kind="dir", option="-o", force=args.force, inputs=[ckpt]) as tmp:
        report, written = _convert(args, ckpt, out, tmp)
    from spikeport.converters.quant_report import format_table

    print(format_table(report))
    print(f"wrote {out}/graph.json, tensors.h5, float/, {written}")
    return 0


def _convert(args: argparse.Namespace, ckpt: Path, out: Path, tmp: Path) -> tuple[dict, str]:
    """Convert ``ckpt`` and write the artifact into ``tmp`` (published later as ``out``);
    (report.json document, the files written besides the graphs)."""
    import json

    import torch

    from spikeport.converters.passes import QuantConfig
    from spikeport.converters.pipeline import convert_model, measure_fidelity
    from spikeport.converters.quant_report import build_report, source_fields
    from spikeport.errors import SpikeportError
    from spikeport.ir import manifest, plain_name, save
    from spikeport.models.checkpoint import from_checkpoint

    torch.set_num_threads(args.threads)
    extra = {
        k: v
        for k, v in (("img_size", args.img_size), ("in_channels", args.in_channels))
        if v is not None
    }
    model = from_checkpoint(
        ckpt,
        args.arch,
        embed_dim=args.embed_dim,
        depth=args.depth,
        num_heads=args.heads,
        num_classes=args.classes,
        T=args.T,
        attention=args.attention,
        trust=args.trust_checkpoint,
        **extra,
    )
    config = getattr(model, "config", None)
    if config is not None:
        sample_shape = (config.in_channels, config.img_size, config.img_size)
    else:
        raise SpikeportError(f"{ckpt}: model has no config; cannot tell its input shape")
    spec = args.data or getattr(config, "dataset", None)
    train = test = None
    if spec is not None:
        from spikeport.data import open_dataset, parse_spec

        spec = parse_spec(spec).resolved()

        fits = dict(input_shape=sample_shape, T=config.T)
        test = open_dataset(spec, "test", **fits).spaced(args.eval_samples)
        if not args.no_calibration:
            train = open_dataset(spec, "train", **fits).spaced(args.calibration_samples)
    digits = test is not None and str(spec) == "digits"
    time_major = test is not None and test.layout == "time-major"
    qcfg = QuantConfig(
        input_scale=args.input_scale or (16.0 if digits else 1.0 if time_major else 64.0),
        input_max=args.input_max or _default_input_max(digits, time_major, train or test),
    )
    conv = convert_model(
        model,
        sample_shape,
        config=qcfg,
        name=plain_name(ckpt.stem),
        calibration=None if train is None else train.samples(),
        lower=args.lower_attention,
        time_major=time_major,
    )
    fidelity = None
    if test is not None and not args.no_eval:
        if distributed_requested(args):
            from spikeport.distributed import evaluation
            from spikeport.distributed.data import DataRef

            fidelity = evaluation.fidelity(
                evaluation.Cluster.from_args(args, progress=not args.no_progress),
                conv,
                model,
                DataRef(str(spec), "test", options=tuple(fits.items()), spaced=args.eval_samples),
                batch_size=args.batch_size,
            )
        else:
            fidelity = measure_fidelity(
                conv,
                model,
                test.samples(),
                test.labels(),
                batch_size=args.batch_size,
                progress=not args.no_progress,
            )
    # retime last: the saved graph follows the Lava timing contract (docs/semantics.md);
    # the fidelity numbers above come from the layer-synchronous graph it is equivalent to
    from spikeport.converters.passes import PassManager
    from spikeport.converters.passes.retime import Retime

    retimer = PassManager([Retime()])
    quantized = retimer.run(conv.quantized)
    save(quantized, tmp)
    save(conv.float_graph, tmp / "float")
    dataset = None if spec is None else str(spec)
    source = source_fields(ckpt, out)
    report = build_report(quantized, conv.pass_log, fidelity, source=source, dataset=dataset)
    report["timing"] = quantized.meta["timing"]
    (tmp / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    if test is not None:
        from spikeport.data import write_record

        used = {"evaluation": None if args.no_eval else {"split": "test", "samples": len(test)}}
        used["calibration"] = None if train is None else {"split": "train", "samples": len(train)}
        write_record(tmp, test, dataset, **used)
    manifest.write(tmp)  # last: the sha256 of every file written above
    return report, "report.json" if test is None else "report.json, data.json"


def _default_input_max(digits: bool, time_major: bool, data) -> float:  # noqa: ANN001
    """1 for digits (pixels / 16), 4 for images; for event frames the largest count in
    ``data`` (the calibration samples), at least 1."""
    if digits:
        return 1.0
    if not time_major:
        return 4.0
    return max([1.0, *(float(x.max()) for x, _ in data.batches(256) if x.size)])
