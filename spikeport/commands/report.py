"""``spikeport report``: render report.md + index.html (+ PNG plots) from an existing
``report.json`` written by ``spikeport energy``, or one comparison page for several.

The output directory is written whole or not at all (``spikeport.outputs``). Without
``--out`` a single report is re-rendered in place: its directory (one spikeport wrote) is
replaced, with ``--force``, by one holding a byte copy of the report.json and fresh renders."""

from __future__ import annotations

import argparse

from spikeport.commands.options import add_force

HELP = "render an energy report.json as Markdown + HTML with plots, or compare several"
DESCRIPTION = (
    "Render report.md, index.html and PNG plots from a report.json written by "
    "`spikeport energy` (default: into the report's own directory), or, given several "
    "reports, one page comparing their energy per inference per hardware model and mode."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="+", help="report.json files (or directories holding one)")
    p.add_argument("--out", metavar="DIR", help="output directory (required for several)")
    add_force(p, "output directory (needed to re-render in place)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spikeport.errors import SpikeportError
    from spikeport.outputs import claim
    from spikeport.report.render import combined, read_document, write_report

    docs = [(str(r), read_document(r)) for r in args.reports]
    files = [Path(r) / "report.json" if Path(r).is_dir() else Path(r) for r in args.reports]
    if len(docs) > 1 and not args.out:
        raise SpikeportError("report: --out DIR is required to compare several reports")
    out = Path(args.out) if args.out else files[0].parent
    inputs = files if args.out else []  # in place: the report.json is carried over
    option = "--out" if args.out else "output"
    with claim(out, kind="dir", option=option, force=args.force, inputs=inputs) as tmp:
        if len(docs) == 1:
            paths = write_report(docs[0][1], tmp, source=files[0])
        else:
            labels = [Path(r).parent.name if Path(r).is_file() else Path(r).name for r, _ in docs]
            pairs = [(lbl or r, d) for lbl, (r, d) in zip(labels, docs, strict=True)]
            paths = combined(pairs, tmp)
    print("wrote " + ", ".join(str(out / p.relative_to(tmp)) for p in paths))
    return 0
