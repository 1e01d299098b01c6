"""``spikeport export ARTIFACT --format {nir,onnx,netx} -o FILE``: write an IR artifact in an
interchange format.

* ``nir``: the graph as NIR (``spikeport.deploy.nir_export``), HDF5 via ``nir.write``;
  ``--dt`` sets the NIR timestep in seconds; ``--partial`` exports the expressible part from
  the inputs up to the first node NIR cannot express instead of refusing.
* ``onnx``: the one-timestep model of a lowered graph with ``ai.spikeport`` custom operators
  (``spikeport.deploy.onnx``), checked with ``onnx.checker``; ``--steps T`` writes
  instead one model of T unrolled timesteps (inputs and outputs [B, T, ...]).
* ``netx``: a lava-dl ``.net`` file via ``spikeport.deploy.netx_export`` when that module is
  present; otherwise a "not yet supported" error.

Unsupported nodes are refused with a one-line error naming them. The output (default: the
artifact's sibling ``ARTIFACT<suffix>``) is written whole or not at all
(``spikeport.outputs``); an existing file needs ``--force``; the artifact and the checkpoint
it was converted from are never overwritten.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

from spikeport.commands.options import add_force, positive_float, step_count

HELP = "write an IR artifact as NIR, ONNX or netx"
DESCRIPTION = (
    "Export an IR artifact directory (graph.json + tensors.h5) as a NIR graph, "
    "an ONNX model of one timestep or of T unrolled ones (custom domain ai.spikeport) or a "
    "lava-dl netx file."
)

FORMATS = ("nir", "onnx", "netx")
SUFFIX = {"nir": ".nir", "onnx": ".onnx", "netx": ".net"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", metavar="ARTIFACT", help="IR artifact directory")
    p.add_argument("--format", required=True, choices=FORMATS, help="interchange format")
    p.add_argument(
        "-o", "--out", metavar="FILE", help="output file (default: ARTIFACT<suffix>, beside it)"
    )
    add_force(p, "output file")
    p.add_argument(
        "--dt", type=positive_float, default=None, help="NIR timestep in seconds (default 1e-4)"
    )
    p.add_argument(
        "--partial",
        action="store_true",
        help="NIR: export the expressible part (from the inputs up to the first node NIR "
        "cannot express) instead of refusing",
    )
    p.add_argument(
        "--steps",
        type=step_count,
        default=None,
        metavar="T",
        help="ONNX: one model of T unrolled timesteps, inputs/outputs [B, T, ...] "
        "(default: the one-timestep model with state as inputs/outputs)",
    )


def run(args: argparse.Namespace) -> int:
    from spikeport import ir
    from spikeport.errors import SpikeportError, UnsupportedError

    if args.format == "netx" and importlib.util.find_spec("spikeport.deploy.netx_export") is None:
        raise UnsupportedError(
            "--format netx: netx export is not yet supported (spikeport/deploy/netx_export.py "
            "is not available)"
        )
    for flag, used, fmt in (
        ("--dt", args.dt is not None, "nir"),
        ("--partial", args.partial, "nir"),
        ("--steps", args.steps is not None, "onnx"),
    ):
        if used and args.format != fmt:
            raise SpikeportError(f"{flag}: only used by --format {fmt}, not {args.format}")
    import spikeport.ir.int_attention  # noqa: F401  (registers IntAttention for loading)
    from spikeport.converters.quant_report import source_checkpoint
    from spikeport.outputs import claim

    art = Path(args.artifact)
    if not art.is_dir():
        raise SpikeportError(f"{art}: no such artifact directory (graph.json + tensors.h5)")
    whole = art.resolve()
    out = Path(args.out) if args.out else whole.with_name(whole.name + SUFFIX[args.format])
    inputs = [art, *filter(None, [source_checkpoint(art)])]
    with claim(out, kind="file", option="-o", force=args.force, inputs=inputs) as tmp:
        summary = _export(ir.load(art), args, tmp)
    print(f"wrote {out} ({args.format}): {summary}")
    return 0


def _export(graph: Any, args: argparse.Namespace, out: Path) -> str:
    """Write ``graph`` to ``out`` in ``args.format``; a one-line summary of what was written."""
    if args.format == "nir":
        from spikeport.deploy.nir_export import DEFAULT_DT, export_nir

        g = export_nir(graph, out, dt=args.dt or DEFAULT_DT, partial=args.partial)
        kinds: dict[str, int] = {}
        for node in g.nodes.values():
            kinds[type(node).__name__] = kinds.get(type(node).__name__, 0) + 1
        summary = ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items()))
        if g.metadata.get("dropped"):
            summary += f"; left out {len(g.metadata['dropped'].split(','))} node(s)"
    elif args.format == "onnx":
        from spikeport.deploy.onnx import export_onnx, onnx_summary

        model = export_onnx(graph, out, steps=args.steps)
        summary = ", ".join(f"{k} x{v}" for k, v in onnx_summary(model).items())
        if args.steps is not None:
            summary = f"{args.steps} unrolled steps; {summary}"
    else:
        from spikeport.deploy.netx_export import export_netx

        export_netx(graph, out)
        summary = f"{len(graph)} IR nodes"
    return summary
