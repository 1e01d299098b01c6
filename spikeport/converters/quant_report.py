"""The per-layer quantisation report: what `quantize` decided plus what evaluation measured.

:func:`build_report` merges ``graph.meta['quantization']`` (weight range, exponent, state
scale, threshold, quantisation error, worst-case current vs the 24-bit register) with the
fidelity measurement (accuracies, per-neuron spike agreement and observed max |u|, |v|)
into one JSON-able dict; :func:`format_table` renders it for a terminal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from spikeport.ir import Graph
from spikeport.ir.int_nodes import STATE_LIMIT

REGISTER_MAX = STATE_LIMIT - 1
REPORT_FILE = "report.json"
SOURCE_BASE = "artifact"
"""report.json's ``source`` is relative to the artifact directory (``source_base``); reports
without ``source_base`` (older ones) hold it as given on the command line."""


def source_fields(checkpoint: str | Path, artifact: str | Path) -> dict[str, str]:
    """``{"source": checkpoint relative to the artifact, "source_base": "artifact"}``."""
    rel = os.path.relpath(Path(checkpoint).resolve(), Path(artifact).resolve())
    return {"source": rel, "source_base": SOURCE_BASE}


def source_checkpoint(artifact: str | Path) -> Path | None:
    """The checkpoint an artifact was converted from (its report.json ``source``), if it is
    recorded and exists; None otherwise."""
    rep = Path(artifact) / REPORT_FILE
    try:
        doc = json.loads(rep.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    src = doc.get("source") if isinstance(doc, dict) else None
    if not isinstance(src, str) or not src:
        return None
    path = Path(artifact) / src if doc.get("source_base") == SOURCE_BASE else Path(src)
    return path if path.is_file() else None


def build_report(
    quantized: Graph,
    pass_log: list[tuple[str, int]],
    fidelity: dict[str, Any] | None = None,
    *,
    source: dict[str, str] | None = None,
    dataset: str | None = None,
) -> dict[str, Any]:
    """JSON-able report; accuracies are fractions, deltas percentage points; ``source``:
    :func:`source_fields` of the checkpoint."""
    q = quantized.meta.get("quantization", {})
    layers = []
    measured = (fidelity or {}).get("layers", {})
    for row in q.get("layers", []):
        row = dict(row)
        m = measured.get(row.get("neuron", ""), {})
        for key in ("spike_agreement", "float_rate", "quantized_rate", "max_u", "max_v", "max_a"):
            if key in m:
                row[key] = m[key]
        if "max_u" in m:
            row["u_headroom_bits"] = _headroom(m["max_u"])
        layers.append(row)
    report: dict[str, Any] = {
        **(source or {"source": ""}),
        "dataset": dataset,
        "T": quantized.meta.get("T"),
        "input_scale": q.get("input_scale"),
        "scheme": q.get("scheme"),
        "passes": [{"name": n, "transformed": c} for n, c in pass_log],
        "layers": layers,
    }
    if fidelity is not None:
        for key in (
            "n_images",
            "float_accuracy",
            "float_graph_accuracy",
            "quantized_accuracy",
            "float_graph_exact",
            "float_graph_logit_mismatches",
            "float_graph_spike_mismatches",
        ):
            report[key] = fidelity[key]
        report["accuracy_delta_pp"] = 100.0 * (
            fidelity["quantized_accuracy"] - fidelity["float_accuracy"]
        )
    return report


def _headroom(value: int) -> float:
    """log2(register max / observed max): bits to spare before the 24-bit u/v limit."""
    import math

    return round(math.log2(REGISTER_MAX / value), 2) if value > 0 else 24.0


def _fmt(v: Any, width: int, digits: int = 3) -> str:
    if v is None or v == "":
        return "-".rjust(width)
    if isinstance(v, bool):
        return ("yes" if v else "no").rjust(width)
    if isinstance(v, float):
        return f"{v:.{digits}g}".rjust(width)
    return str(v).rjust(width)


def format_table(report: dict[str, Any]) -> str:
    """A readable per-layer table and the accuracy summary."""
    cols = [
        ("layer", 28),
        ("kind", 18),
        ("w range", 16),
        ("exp", 4),
        ("mant", 10),
        ("vth", 7),
        ("w err%", 7),
        ("wrap", 5),
        ("max|u|", 9),
        ("agree%", 7),
    ]
    lines = [
        "  ".join(name.ljust(w) if i < 2 else name.rjust(w) for i, (name, w) in enumerate(cols))
    ]
    for r in report["layers"]:
        w_range = ""
        if "weight_min" in r:
            w_range = f"{r['weight_min']:.3g}..{r['weight_max']:.3g}"
        mant = f"{r['mantissa_min']}..{r['mantissa_max']}" if "mantissa_min" in r else ""
        exp = r.get("weight_exp", r.get("count_shift"))
        err = 100 * r["weight_rel_error"] if "weight_rel_error" in r else None
        agree = 100 * r["spike_agreement"] if "spike_agreement" in r else None
        cells = [
            r["layer"][-28:].ljust(28),
            r["kind"][:18].ljust(18),
            w_range.rjust(16),
            _fmt(exp, 4),
            mant.rjust(10),
            _fmt(r.get("vth"), 7),
            _fmt(err, 7, 2),
            _fmt(r.get("wrap_risk"), 5),
            _fmt(r.get("max_u"), 9),
            _fmt(agree, 7, 4),
        ]
        lines.append("  ".join(cells))
    if "quantized_accuracy" in report:
        lines.append("")
        lines.append(
            f"accuracy on {report['n_images']} {report.get('dataset') or ''} test images: "
            f"float (PyTorch) {100 * report['float_accuracy']:.2f} %, traced float graph "
            f"{100 * report['float_graph_accuracy']:.2f} % "
            f"({'bit-exact' if report['float_graph_exact'] else 'NOT exact'} vs PyTorch), "
            f"quantised {100 * report['quantized_accuracy']:.2f} % "
            f"({report['accuracy_delta_pp']:+.2f} pp)"
        )
    return "\n".join(lines)
