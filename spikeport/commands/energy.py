"""``spikeport energy``: energy per inference of an artifact, measured and analytical, per
hardware model, with the resource mapping; tables on stdout, report files with ``--out``.

* measured: the bit-accurate simulator runs the artifact's integer graph on the data and its
  event counts are priced (``hw_models.cost.measured``);
* analytical: the papers' convention on the float PyTorch model (``hw_models.cost.analytical``),
  each ambiguity an option below; needs the checkpoint (``--checkpoint`` or the artifact's
  ``report.json`` source) and real data (``--data SPEC``; not random spikes);
* mapping: cores, chips and memory (weights, neuron state, attention state) per target.

``--out DIR`` is checked before any work and written whole (``spikeport.outputs``): an
existing DIR needs ``--force``; DIR may not be, hold or sit inside the artifact or checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from spikeport.commands.distributed_options import add_distributed_arguments, distributed_requested
from spikeport.commands.options import (
    add_data_argument,
    add_force,
    add_threads,
    positive_int,
    step_count,
)
from spikeport.distributed.cluster import ClusterError

HELP = "estimate energy per inference (measured + analytical) per hardware model"
DESCRIPTION = (
    "Estimate energy per inference of a converted artifact (or a netx .net "
    "file): 'measured' from the bit-accurate simulator's events on real inputs, "
    "'analytical' from the papers' convention (SOP = fr x T x FLOPs) on the float model, "
    "priced with each hardware model's per-op energies; plus the core mapping. Every "
    "figure is an estimate."
)

ANALYTICAL_CHOICES = (
    (
        "--graded-spikes",
        ("ac", "mac"),
        "integer-valued (graded) inputs as AC at their rate (default) or dense MAC",
    ),
    (
        "--rate",
        ("mean", "nonzero"),
        "input rate: tensor mean (default; a 2 counts twice) or non-zero fraction",
    ),
    (
        "--batchnorm",
        ("fused", "counted"),
        "BatchNorm fused into the layer (default) or one MAC per element",
    ),
    (
        "--attention-order",
        ("dxd", "nxn", "auto"),
        "K^T V first (dxd, default), Q K^T first (nxn) or the cheaper (auto)",
    ),
    (
        "--pair-rate",
        ("min", "exact"),
        "spike x spike product rate: min of the two rates (default) or exact coincidences",
    ),
)
"""Analytical-mode options: (flag, choices with the papers' convention first = default, help)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", help="artifact directory from `spikeport convert`, or a .net file")
    p.add_argument(
        "--hw",
        action="append",
        metavar="NAME",
        help="hardware model (repeatable; 'all' for every bundled one; default loihi2)",
    )
    add_data_argument(
        p, "the artifact's data.json, else digits (random for a .net file)", random=True
    )
    p.add_argument("--samples", type=positive_int, default=32, help="input samples (default 32)")
    p.add_argument(
        "--steps",
        type=step_count,
        default=None,
        help="simulated steps (default T + pipeline latency)",
    )
    p.add_argument("--checkpoint", default=None, help="float model for the analytical mode")
    p.add_argument("--out", metavar="DIR", help="write report.json, report.md, index.html, PNGs")
    add_force(p, "--out directory")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--graded-events",
        choices=("ac", "mac"),
        default="ac",
        help="measured: events carrying a multi-bit payload priced as AC (default) or MAC",
    )
    p.add_argument(
        "--whole-run",
        action="store_true",
        help="measured: count every simulated step (one isolated inference incl. pipeline "
        "fill/drain) instead of each node's T-step data window (streaming, the default)",
    )
    g = p.add_argument_group("analytical options (defaults: the papers' convention)")
    g.add_argument("--first-layer-once", action="store_true", help="encoding layer MACs once")
    for flag, choices, text in ANALYTICAL_CHOICES:
        g.add_argument(flag, choices=choices, default=choices[0], help=text)
    g.add_argument("--head-as-ac", action="store_true", help="classifier head as fr x T x FLOPs")
    g.add_argument(
        "--bias-adds",
        action="store_true",
        help="one add per output element of layers with a bias, as syops counts (papers: none)",
    )
    add_threads(p)
    add_distributed_arguments(p)


def _hardware(names: list[str] | None) -> list:
    from spikeport.errors import SpikeportError
    from spikeport.hw_models.cost.hardware import available_hardware_models, load_hardware_model

    known = available_hardware_models()
    names = names or ["loihi2"]
    if "all" in names:
        names = list(known)
    out = []
    for n in dict.fromkeys(names):
        if n not in known and not n.endswith(".json"):
            raise SpikeportError(
                f"--hw {n!r}: unknown hardware model; available: {', '.join(known)}"
            )
        out.append(load_hardware_model(n))
    return out


def _analytical(args: argparse.Namespace, data, hardware: list):
    """(count, mappings, reason): the analytical count and core mappings, or why not."""
    from spikeport.report.energy_inputs import checkpoint_path

    if data.images is None:
        return None, {}, "needs real data, not random spikes (the float model's inputs)"
    ckpt = checkpoint_path(args.artifact, args.checkpoint)
    if ckpt is None:
        return None, {}, "no float model: pass --checkpoint or keep the report.json source"
    import torch

    from spikeport.hw_models.cost.analytical import Convention, count_model
    from spikeport.hw_models.cost.mapping import collect_resources, map_to_cores
    from spikeport.models.checkpoint import from_checkpoint

    torch.set_num_threads(args.threads)
    model = from_checkpoint(ckpt)
    conv = Convention(
        timesteps=data.timesteps,
        first_layer_times_t=not args.first_layer_once,
        graded_spikes=args.graded_spikes,
        rate=args.rate,
        batchnorm=args.batchnorm,
        attention_order=args.attention_order,
        attention_pair_rate=args.pair_rate,
        head_as_mac=not args.head_as_ac,
        bias_adds=args.bias_adds,
    )
    from spikeport.data import model_layout

    inputs = model_layout(data.images, data.layout)
    count = count_model(model, inputs, conv, samples=len(data.images))
    layers, attn, lif = collect_resources(
        model,
        model_layout(data.images[:1], data.layout),
        data.timesteps,
        attention_order=args.attention_order,
        time_major=data.layout == "time-major",
    )
    mappings = {hw.name: map_to_cores(layers, attn, lif, hw) for hw in hardware}
    return count, mappings, ""


def run(args: argparse.Namespace) -> int:
    from spikeport.outputs import claim
    from spikeport.report.energy_inputs import checkpoint_path

    hardware = _hardware(args.hw)
    if not args.out:
        return _energy(args, hardware, None)
    ckpt = checkpoint_path(args.artifact, args.checkpoint)
    inputs = [args.artifact, *([ckpt] if ckpt else [])]
    with claim(args.out, kind="dir", option="--out", force=args.force, inputs=inputs) as tmp:
        paths = _energy(args, hardware, tmp)
    if not args.json:
        print("wrote " + ", ".join(str(Path(args.out) / p.relative_to(tmp)) for p in paths))
    return 0


def _energy(args: argparse.Namespace, hardware: list, out: Path | None) -> list[Path]:
    """Count, price and print; write the report files into ``out`` (if given); their paths."""
    import json

    from spikeport.errors import SpikeportError
    from spikeport.hw_models.cost.energy import estimate
    from spikeport.hw_models.cost.mapping import format_mapping
    from spikeport.hw_models.cost.measured import run_measured
    from spikeport.report.energy_document import build_document
    from spikeport.report.energy_inputs import input_data, load_graph, retime
    from spikeport.report.energy_table import format_text

    distributed = distributed_requested(args)  # option errors before any work
    graph = load_graph(args.artifact)
    measured, m_reason, timing_note = None, "", "graph as stored"
    try:
        graph, timing_note = retime(graph)
    except SpikeportError as exc:
        timing_note = f"not retimed ({exc})"
    data = input_data(graph, args.data, args.samples, args.steps, artifact=args.artifact)
    window = None if args.whole_run else data.timesteps
    try:
        if distributed:
            from spikeport.distributed import evaluation

            measured = evaluation.measure(
                evaluation.Cluster.from_args(args, progress=not args.json),
                str(args.artifact),
                graph,
                args.data,
                args.samples,
                args.steps,
                data,
                window=window,
                graded_events=args.graded_events,
            )
        else:
            measured, _ = run_measured(
                graph, data.feed, data.steps, window=window, graded_events=args.graded_events
            )
    except ClusterError:
        raise
    except SpikeportError as exc:  # e.g. a node type the simulator cannot run yet
        m_reason = f"the simulator cannot run this graph: {exc}"
    analytical, mappings, a_reason = _analytical(args, data, hardware)
    doc = build_document(
        artifact=str(args.artifact),
        graph=graph.name,
        data={
            "kind": data.kind,
            "samples": len(data.feed),
            "description": f"{data.description}; {timing_note}",
        },
        hardware=hardware,
        measured=measured,
        measured_reason=m_reason,
        analytical=analytical,
        analytical_reason=a_reason,
        mappings=mappings,
        mapping_reason=a_reason,
    )
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        for hw in hardware:
            if measured is not None:
                print(format_text(estimate(measured.layer_ops(hw), hw, measured.basis)))
            if analytical is not None:
                print(format_text(estimate(list(analytical.layers), hw, analytical.basis)))
            if hw.name in mappings:
                print(format_mapping(mappings[hw.name]))
        if measured is None:
            print(f"measured mode not available: {m_reason}")
        if analytical is None:
            print(f"analytical mode not available: {a_reason}")
        print("Energy per inference (ESTIMATES):")
        for hw_name, tot in doc["energy_per_inference_j"].items():
            cells = [
                f"{mode} {tot[mode] * 1e6:.4g} uJ" if tot[mode] is not None else f"{mode} n/a"
                for mode in ("measured", "analytical")
            ]
            print(f"  {hw_name:10s} " + ", ".join(cells))
    if measured is None and analytical is None:
        raise SpikeportError(f"{args.artifact}: neither counting mode is available ({m_reason})")
    if out is None:
        return []
    from spikeport.report.render import write_report

    return write_report(doc, out)
