"""``spikeport report``: render report.md + index.html (+ PNG plots) from an existing
``report.json`` written by ``spikeport energy``, or one comparison page for several."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="render an energy report.json as Markdown + HTML with plots, or compare several",
        description="Render report.md, index.html and PNG plots from a report.json written by "
        "`spikeport energy` (default: into the report's own directory), or, given several "
        "reports, one page comparing their energy per inference per hardware model and mode.",
    )
    p.add_argument("reports", nargs="+", help="report.json files (or directories holding one)")
    p.add_argument("--out", metavar="DIR", help="output directory (required for several)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spikeport.errors import SpikeportError
    from spikeport.report.render import combined, read_document, write_report

    docs = [(str(r), read_document(r)) for r in args.reports]
    if len(docs) == 1:
        src = Path(args.reports[0])
        out = Path(args.out) if args.out else (src if src.is_dir() else src.parent)
        paths = write_report(docs[0][1], out)
    else:
        if not args.out:
            raise SpikeportError("report: --out DIR is required to compare several reports")
        labels = [Path(r).parent.name if Path(r).is_file() else Path(r).name for r, _ in docs]
        paths = combined(
            [(lbl or r, d) for lbl, (r, d) in zip(labels, docs, strict=True)], args.out
        )
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
