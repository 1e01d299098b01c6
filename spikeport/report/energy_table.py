"""Per-layer energy tables (plain text and Markdown) from an :class:`EnergyReport`."""

from __future__ import annotations

from spikeport.hw_models.cost.energy import EnergyReport
from spikeport.report.units import engineering


def _ops_text(ops: dict[str, float]) -> str:
    return ", ".join(f"{k}={engineering(v, '')}" for k, v in ops.items()) or "-"


def rows(report: EnergyReport) -> list[list[str]]:
    """Header + one row per layer + total row, as strings."""
    out = [["layer", "kind", "ops", "energy", "share", "not modelled"]]
    for le in report.layers:
        out.append(
            [
                le.name,
                le.kind,
                _ops_text(le.ops),
                engineering(le.energy_j, "J"),
                f"{100 * le.share:.1f} %",
                ", ".join(le.not_modelled) or "-",
            ]
        )
    out.append(
        [
            "TOTAL per inference",
            "",
            _ops_text(report.ops),
            engineering(report.energy_per_inference_j, "J"),
            "100.0 %" if report.energy_per_inference_j > 0 else "-",
            ", ".join(report.not_modelled) or "-",
        ]
    )
    return out


def _caption(report: EnergyReport) -> str:
    return f"Energy per inference on {report.hardware} (ESTIMATE; basis: {report.basis})"


def format_text(report: EnergyReport) -> str:
    """Fixed-width plain-text table."""
    table = rows(report)
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = [_caption(report)]
    for j, r in enumerate(table):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if j == 0 or j == len(table) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def format_markdown(report: EnergyReport) -> str:
    """GitHub-flavoured Markdown table with a caption line."""
    table = rows(report)
    esc = [[c.replace("|", "\\|") for c in r] for r in table]
    lines = [
        f"**{_caption(report)}**",
        "",
        "| " + " | ".join(esc[0]) + " |",
        "|" + "---|" * len(esc[0]),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    return "\n".join(lines) + "\n"
