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


def record_vs_lava(
    name: str,
    *,
    lava_seconds: float,
    simulator_seconds: float,
    target: float,
    identical: bool,
    **extra: Any,
) -> dict[str, Any]:
    """Print the speed-up line and record a simulator-vs-Lava entry: ratio = Lava seconds /
    simulator seconds, met when the outputs are identical and the ratio reaches ``target``."""
    ratio = lava_seconds / simulator_seconds
    print(f"speed-up  {ratio:8.1f}x   (target >= {target:.0f}x)")
    return record(
        name,
        ratio=ratio,
        target=f">= {target:.0f} (Lava seconds / simulator seconds)",
        met=identical and ratio >= target,
        identical_outputs=identical,
        lava_seconds=round(lava_seconds, 3),
        simulator_seconds=round(simulator_seconds, 4),
        **extra,
    )
