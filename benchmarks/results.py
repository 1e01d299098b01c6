"""Machine-readable benchmark results: `benchmarks/results.json`, one entry per benchmark name.

Each entry: name, value, unit, ratio (measured / comparison, or measured / budget), target
(the ratio the goal asks for, with its direction), met, identical_outputs, machine, date.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results.json")


def machine() -> str:
    py = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{platform.machine()}, {os.cpu_count()} cores, {py}"


def record(
    name: str,
    *,
    ratio: float,
    target: str,
    met: bool,
    identical_outputs: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Write (or replace) one entry in results.json and return it."""
    entries = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    entry = {
        "name": name,
        "ratio": round(float(ratio), 4),
        "target": target,
        "met": bool(met),
        "identical_outputs": identical_outputs,
        "machine": machine(),
        "date": datetime.date.today().isoformat(),
        **extra,
    }
    entries = [e for e in entries if e.get("name") != name] + [entry]
    RESULTS.write_text(json.dumps(entries, indent=2) + "\n")
    return entry
