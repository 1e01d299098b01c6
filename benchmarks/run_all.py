"""``make bench``: run every benchmark script, then print the combined results table.

Each ``benchmarks/*.py`` except ``results.py`` and this file runs in its own subprocess (one
after another, so they do not compete for the 2 cores); its output streams through. Afterwards
the entries of ``benchmarks/results.json`` are printed as one table. Missed targets are shown
(``met`` = no), not hidden; the exit status is non-zero only if a script crashed (a script
exits 1 when its outputs are not identical: that counts as a failure too).

``--only NAME ...`` runs just those scripts (stem names); ``--table-only`` skips running;
``--write-docs`` replaces the generated section of ``docs/benchmarks.md`` with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SKIP = {"results.py", "run_all.py"}
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- BEGIN GENERATED TABLE (benchmarks/run_all.py --write-docs) -->"
END = "<!-- END GENERATED TABLE -->"


def scripts() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if p.name not in SKIP)


def _cell(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def table(entries: list[dict]) -> str:
    """Markdown table of the results entries."""
    head = ("benchmark", "ratio", "target", "met", "identical outputs", "date")
    rows = [head, tuple("---" for _ in head)]
    for e in entries:
        rows.append(
            (
                e.get("name", "?"),
                f"{e.get('ratio', float('nan')):.4g}",
                _cell(e.get("target")),
                _cell(e.get("met")),
                _cell(e.get("identical_outputs")),
                _cell(e.get("date")),
            )
        )
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def machine_line() -> str:
    load = os.getloadavg()
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) when the table was written"
    )


def write_docs(text: str, path: Path = DOCS) -> None:
    """Replace the generated section of `path` (between BEGIN and END) with `text`."""
    block = f"{BEGIN}\n\nMachine: {machine_line()}.\n\n{text}\n\n{END}"
    doc = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in doc and END in doc:
        pre, rest = doc.split(BEGIN, 1)
        doc = pre + block + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(doc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None, help="script stems to run")
    ap.add_argument("--table-only", action="store_true", help="print the table, run nothing")
    ap.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args(argv)
    failed: list[str] = []
    if not args.table_only:
        todo = [p for p in scripts() if args.only is None or p.stem in args.only]
        for path in todo:
            print(f"\n=== {path.name} ===", flush=True)
            start = time.perf_counter()
            rc = subprocess.run([sys.executable, str(path)], cwd=ROOT).returncode
            took = time.perf_counter() - start
            print(f"--- {path.name}: exit {rc}, {took:.0f} s", flush=True)
            if rc != 0:
                failed.append(f"{path.name} (exit {rc})")
    results = HERE / "results.json"
    entries = json.loads(results.read_text()) if results.exists() else []
    text = table(entries)
    print("\n" + text)
    missed = [e["name"] for e in entries if not e.get("met")]
    if missed:
        print(f"\ntargets missed: {', '.join(missed)}")
    if args.write_docs:
        write_docs(text)
        print(f"wrote the table into {DOCS.relative_to(ROOT)}")
    if failed:
        print(f"scripts that failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
