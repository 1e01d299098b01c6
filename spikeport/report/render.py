"""report.md and index.html from an energy report document (see ``energy_document``), and a
combined page for several reports. Every number is labelled an estimate with its basis."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

from spikeport.errors import SpikeportError
from spikeport.report.energy_document import REPORT_KIND
from spikeport.report.plots import write_plots
from spikeport.report.schema import check_document
from spikeport.report.units import engineering


def _si(x: float | None, unit: str) -> str:
    return "n/a" if x is None else engineering(x, unit, micro="µ", tiny=".3g")


def _title(doc: dict) -> str:
    """The artifact's file or folder name and the graph's name."""
    return f"{Path(doc['artifact']).name} (graph '{doc['graph']}')"


def read_document(path: str | Path) -> dict:
    """Load and check a report.json written by ``spikeport energy``."""
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    try:
        doc = json.loads(p.read_text())
    except OSError as exc:
        raise SpikeportError(f"{p}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SpikeportError(f"{p}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(doc, dict) or doc.get("kind") != REPORT_KIND:
        raise SpikeportError(f"{p}: not a spikeport energy report (field 'kind' != {REPORT_KIND})")
    check_document(doc, p)
    return doc


def _summary_rows(doc: dict) -> list[list[str]]:
    rows = [
        [
            "hardware",
            "measured / inference",
            "analytical / inference",
            "cores",
            "chips",
            "memory (weights + state + attention state)",
        ]
    ]
    for hw, entry in doc["hardware"].items():
        tot = doc["energy_per_inference_j"][hw]
        mp = entry.get("mapping") or {}
        mem = (
            f"{_si(mp['weight_bytes_compact'], 'B')} + {_si(mp['neuron_state_bytes'], 'B')} + "
            f"{_si(mp['attention_state_bytes'], 'B')}"
            if mp
            else "n/a"
        )
        limited = mp.get("core_limits", True)
        rows.append(
            [
                hw,
                _si(tot["measured"], "J"),
                _si(tot["analytical"], "J"),
                str(mp.get("cores", "n/a")) if limited else "n/a (no core limits)",
                str(mp.get("chips", "n/a")) if limited else "n/a",
                mem,
            ]
        )
    return rows


def _by_op_rows(doc: dict) -> list[list[str]]:
    """Energy per operation kind, per hardware model and counting mode."""
    kinds: list[str] = []
    reps = []
    for hw, entry in doc["hardware"].items():
        for mode in ("measured", "analytical"):
            rep = entry.get(mode)
            if rep:
                reps.append((hw, mode, rep))
                kinds += [k for k in rep["energy_by_op_j"] if k not in kinds]
    rows = [["hardware", "mode", *kinds, "not priced (counts)"]]
    for hw, mode, rep in reps:
        by = rep["energy_by_op_j"]
        missing = ", ".join(f"{k}={_si(v, '')}" for k, v in rep["not_modelled_ops"].items())
        cells = [_si(by[k], "J") if k in by else "-" for k in kinds]
        rows.append([hw, mode, *cells, missing or "-"])
    return rows


def _side_by_side_rows(entry: dict) -> list[list[str]] | None:
    """Per layer: measured vs analytical energy on one target (layers named alike in the IR
    and the PyTorch model line up; a layer only one mode counts shows '-' in the other)."""
    m, a = entry.get("measured"), entry.get("analytical")
    if not (m and a):
        return None
    me = {le["name"]: le["energy_j"] for le in m["layers"]}
    ae = {le["name"]: le["energy_j"] for le in a["layers"]}
    names = list(me) + [n for n in ae if n not in me]
    rows = [["layer", "measured", "analytical", "measured / analytical"]]
    for n in names:
        ratio = f"{me[n] / ae[n]:.2f}" if me.get(n) and ae.get(n) else "-"
        rows.append(
            [
                n,
                _si(me[n], "J") if n in me else "-",
                _si(ae[n], "J") if n in ae else "-",
                ratio,
            ]
        )
    return rows


def _layer_rows(rep: dict) -> list[list[str]]:
    rows = [["layer", "kind", "ops", "energy", "share", "not modelled"]]
    for le in rep["layers"]:
        ops = ", ".join(f"{k}={_si(v, '')}" for k, v in le["ops"].items())
        rows.append(
            [
                le["name"],
                le["kind"],
                ops,
                _si(le["energy_j"], "J"),
                f"{100 * le['share']:.1f} %",
                ", ".join(le["not_modelled"]) or "-",
            ]
        )
    rows.append(
        [
            "TOTAL per inference",
            "",
            "",
            _si(rep["energy_per_inference_j"], "J"),
            "100 %",
            ", ".join(rep["not_modelled_ops"]) or "-",
        ]
    )
    return rows


def _md_table(rows: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in r] for r in rows]
    out = ["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(esc[0])]
    out += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    return "\n".join(out)


def _html_table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _mode_lines(doc: dict) -> list[str]:
    out = []
    for mode in ("measured", "analytical", "mapping"):
        m = doc["modes"].get(mode, {})
        if m.get("available"):
            out.append(f"{mode}: {m.get('basis', 'per target limits (see mapping notes)')}")
        else:
            out.append(f"{mode}: not available ({m.get('reason') or 'no reason given'})")
    conv = doc["modes"]["analytical"].get("convention")
    if conv:
        out.append("analytical options: " + ", ".join(f"{k}={v}" for k, v in conv.items()))
    opts = doc["modes"]["measured"].get("options")
    if opts:
        out.append("measured options: " + ", ".join(f"{k}={v}" for k, v in opts.items()))
    tot = doc["modes"]["measured"].get("totals") or {}
    if tot.get("dense_macs"):
        out.append(
            f"measured: {_si(tot['synaptic_events'], '')} synaptic events per inference vs "
            f"{_si(tot['dense_macs'], '')} MACs a dense (clock-driven) evaluation of the same "
            f"synapses would do ({100 * tot['synaptic_events'] / tot['dense_macs']:.2f} %)"
        )
    unc = doc["modes"]["measured"].get("uncounted")
    if unc:
        out.append("nodes the simulator counted no operations for: " + ", ".join(unc))
    return out


def markdown(doc: dict, plots: dict[str, str] | None = None) -> str:
    """The report as Markdown."""
    lines = [
        f"# Energy per inference - ESTIMATE: {_title(doc)}",
        "",
        f"Artifact `{doc['artifact']}`; data: {doc['data'].get('description', '')}.",
        "",
        "All figures are **estimates**: operation counts x per-operation energies from the "
        "hardware tables (sources in `spikeport/hw_models/cost/targets/*.json`).",
        "",
        "## Summary",
        "",
        _md_table(_summary_rows(doc)),
        "",
        "## Energy by operation kind",
        "",
        _md_table(_by_op_rows(doc)),
        "",
        "## Bases and options",
        "",
    ]
    lines += [f"- {line}" for line in _mode_lines(doc)]
    for key, fname in (plots or {}).items():
        lines += ["", f"![{key} (estimate)]({fname})"]
    for hw, entry in doc["hardware"].items():
        side = _side_by_side_rows(entry)
        if side:
            lines += ["", f"## {hw} - measured vs analytical per layer (ESTIMATES)", "",
                      _md_table(side)]  # fmt: skip
        for mode in ("measured", "analytical"):
            rep = entry.get(mode)
            if rep:
                lines += [
                    "",
                    f"## {hw} - {mode} (ESTIMATE)",
                    "",
                    f"Basis: {rep['basis']}",
                    "",
                    _md_table(_layer_rows(rep)),
                ]
    return "\n".join(lines) + "\n"


_CSS = (
    "body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
    "margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}"
    "th{background:#eee}img{max-width:100%;border:1px solid #ddd;margin:1em 0}"
    ".estimate{color:#a33;font-weight:bold}"
)


def html_page(doc: dict, plots: dict[str, str] | None = None) -> str:
    """The report as a self-contained HTML page referencing the PNG plots beside it."""
    e = html.escape
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>spikeport energy: "
        f"{e(_title(doc))}</title><style>{_CSS}</style></head><body>",
        f"<h1>Energy per inference: {e(_title(doc))} <span class='estimate'>(ESTIMATE)</span></h1>",
        f"<p>Artifact <code>{e(doc['artifact'])}</code>; data: "
        f"{e(doc['data'].get('description', ''))}.</p>",
        "<p class='estimate'>Every figure is an estimate: operation counts x per-operation "
        "energies from the hardware tables (sources in hw_models/cost/targets/*.json).</p>",
        "<h2>Summary</h2>",
        _html_table(_summary_rows(doc)),
        "<h2>Energy by operation kind</h2>",
        _html_table(_by_op_rows(doc)),
        "<h2>Bases and options</h2><ul>",
        *[f"<li>{e(line)}</li>" for line in _mode_lines(doc)],
        "</ul>",
    ]
    for key, fname in (plots or {}).items():
        parts.append(f"<figure><img src='{e(fname)}' alt='{e(key)} (estimate)'></figure>")
    for hw, entry in doc["hardware"].items():
        side = _side_by_side_rows(entry)
        if side:
            parts += [
                f"<h2>{e(hw)} - measured vs analytical per layer "
                "<span class='estimate'>(ESTIMATES)</span></h2>",
                _html_table(side),
            ]
        for mode in ("measured", "analytical"):
            rep = entry.get(mode)
            if rep:
                parts += [
                    f"<h2>{e(hw)} - {mode} <span class='estimate'>(ESTIMATE)</span></h2>",
                    f"<p>Basis: {e(rep['basis'])}</p>",
                    _html_table(_layer_rows(rep)),
                ]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(doc: dict, out_dir: str | Path, source: Path | None = None) -> list[Path]:
    """Write report.json (``doc``, or a byte copy of the ``source`` file it was read from),
    PNG plots, report.md and index.html into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if source is None:
        (out / "report.json").write_text(json.dumps(doc, indent=1) + "\n")
    else:
        shutil.copyfile(source, out / "report.json")
    plots = write_plots(doc, out)
    (out / "report.md").write_text(markdown(doc, plots))
    (out / "index.html").write_text(html_page(doc, plots))
    return [
        out / "report.json",
        out / "report.md",
        out / "index.html",
        *(out / p for p in plots.values()),
    ]


def combined(docs: list[tuple[str, dict]], out_dir: str | Path) -> list[Path]:
    """One page comparing several reports: energy per inference per hardware and mode."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hws = sorted({hw for _, d in docs for hw in d["energy_per_inference_j"]})
    rows = [["report", "graph", *[f"{hw} {m}" for hw in hws for m in ("measured", "analytical")]]]
    for label, d in docs:
        tot = d["energy_per_inference_j"]
        rows.append(
            [
                label,
                d["graph"],
                *[
                    _si((tot.get(hw) or {}).get(m), "J")
                    for hw in hws
                    for m in ("measured", "analytical")
                ],
            ]
        )
    plot = _combined_plot(docs, hws, out / "comparison.png")
    md = [
        "# Energy per inference - ESTIMATES compared",
        "",
        "Each column: one hardware model and counting mode (bases in each report.json).",
        "",
        _md_table(rows),
    ]
    if plot:
        md += ["", "![comparison (estimate)](comparison.png)"]
    (out / "report.md").write_text("\n".join(md) + "\n")
    page = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>spikeport energy comparison"
        f"</title><style>{_CSS}</style></head><body>",
        "<h1>Energy per inference <span class='estimate'>(ESTIMATES)</span> compared</h1>",
        "<p>Each column: one hardware model and counting mode (bases in each report.json).</p>",
        _html_table(rows),
    ]
    if plot:
        page.append("<figure><img src='comparison.png' alt='comparison (estimate)'></figure>")
    page.append("</body></html>")
    (out / "index.html").write_text("\n".join(page) + "\n")
    return [out / "report.md", out / "index.html", *([plot] if plot else [])]


def _combined_plot(docs: list[tuple[str, dict]], hws: list[str], path: Path) -> Path | None:
    from spikeport.report.plots import _plt, _spans_decades

    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6, 1.5 * len(docs) * len(hws) ** 0.5 + 3), 4.8))
    width = 0.8 / max(1, len(hws))
    values = []
    for i, hw in enumerate(hws):
        ys = []
        for _, d in docs:
            t = d["energy_per_inference_j"].get(hw) or {}
            ys.append((t.get("measured") or t.get("analytical") or 0.0) * 1e6)
        values += ys
        ax.bar([j + i * width for j in range(len(docs))], ys, width=width, label=hw)
    if not any(values):
        plt.close(fig)
        return None
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(docs))])
    ax.set_xticklabels([lbl for lbl, _ in docs], rotation=20, ha="right", fontsize=8)
    if _spans_decades(values):
        ax.set_yscale("log")
    ax.set_ylabel("energy per inference (µJ, estimate)")
    ax.set_title("Energy per inference - ESTIMATE (measured mode; analytical where missing)")
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend(title="hardware model", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
