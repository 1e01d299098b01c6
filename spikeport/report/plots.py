"""PNG plots of an energy report (matplotlib, Agg backend): per-layer energy, firing rates,
hardware-model comparison. Every figure says it is an estimate and names its basis."""

from __future__ import annotations

from pathlib import Path

PLOT_FILES = {
    "energy_per_layer": "energy_per_layer.png",
    "firing_rates": "firing_rates.png",
    "hardware_comparison": "hardware_comparison.png",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _spans_decades(values: list[float]) -> bool:
    pos = [v for v in values if v > 0]
    return len(pos) > 1 and max(pos) / min(pos) >= 100


def _save(fig, path: Path, footer: str, bottom: float) -> Path:
    """Write ``fig`` to ``path`` (PNG, 110 dpi) with ``footer`` in the bottom ``bottom`` of
    the figure (a fraction of its height), then close it."""
    import textwrap

    fig.text(0.01, 0.005, textwrap.fill(footer, 150), fontsize=7, va="bottom", color="#444")
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def energy_per_layer(doc: dict, path: Path) -> Path | None:
    """One panel per hardware model: energy per layer (measured mode, else analytical)."""
    plt = _plt()
    series = []
    mode = "measured" if doc["modes"]["measured"]["available"] else "analytical"
    for hw, entry in doc["hardware"].items():
        rep = entry.get(mode)
        if rep:
            series.append((hw, rep))
    if not series:
        return None
    names: list[str] = []
    for _, rep in series:
        names += [le["name"] for le in rep["layers"] if le["name"] not in names]
    height = max(3.5, 0.2 * len(names) + 2.0)
    fig, axes = plt.subplots(
        1,
        len(series),
        figsize=(3.2 + 3.6 * len(series), height),
        sharey=True,
        sharex=True,
        squeeze=False,
    )
    from matplotlib.transforms import blended_transform_factory

    values = [
        le["energy_j"] * 1e6 for _, rep in series for le in rep["layers"] if le["energy_j"] > 0
    ]
    log = _spans_decades(values)
    for i, (ax, (hw, rep)) in enumerate(zip(axes[0], series, strict=True)):
        by_name = {le["name"]: le for le in rep["layers"]}
        xs = [by_name[n]["energy_j"] * 1e6 if n in by_name else 0.0 for n in names]
        ax.barh(range(len(names)), xs, color=f"C{i}")
        if log:
            ax.set_xscale("log")
        where = blended_transform_factory(ax.transAxes, ax.transData)
        for j, n in enumerate(names):
            le = by_name.get(n)
            if le is not None and le["energy_j"] == 0 and le["not_modelled"]:
                label = "not priced: " + ", ".join(le["not_modelled"])
                ax.text(0.01, j, label, va="center", fontsize=6, color="#777", transform=where)
        ax.set_title(f"{hw}: total {rep['energy_per_inference_j'] * 1e6:.3g} µJ", fontsize=10)
        ax.set_xlabel("energy per inference (µJ)")
        ax.grid(axis="x", alpha=0.3, which="both")
    axes[0][0].set_yticks(range(len(names)))
    axes[0][0].set_yticklabels(names, fontsize=7)
    axes[0][0].set_ylim(len(names) - 0.5, -0.5)
    fig.suptitle(f"Per-layer energy per inference - ESTIMATE ({mode} counts)")
    basis = doc["modes"][mode].get("basis", "")
    return _save(fig, path, f"Basis: {basis}; per-op energies from each hardware table.", 0.03)


def firing_rates(doc: dict, path: Path) -> Path | None:
    """Bars: measured spikes per neuron per step of every neuron layer; the analytical mode's
    input rates of connection layers as a second panel."""
    plt = _plt()
    meas = doc["modes"]["measured"].get("firing_rates") or {}
    ana = doc["modes"]["analytical"].get("input_rates") or {}
    panels = [(k, v) for k, v in (("measured", meas), ("analytical", ana)) if v]
    if not panels:
        return None
    rows = max(len(v) for _, v in panels)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(6 * len(panels), max(3.5, 0.25 * rows + 1.8)), squeeze=False
    )
    titles = {
        "measured": "Simulator: output spikes / neuron / step",
        "analytical": "PyTorch model: input firing rate per layer",
    }
    for ax, (kind, rates) in zip(axes[0], panels, strict=True):
        names = list(rates)
        ax.barh(range(len(names)), [rates[n] for n in names], color="#4c72b0")
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("firing rate (spikes per neuron per timestep)")
        ax.set_title(titles[kind], fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Firing rates (measured on the report's inputs; basis of the energy estimate)")
    return _save(fig, path, f"Data: {doc.get('data', {}).get('description', '')}", 0.04)


def hardware_comparison(doc: dict, path: Path) -> Path | None:
    """Grouped bars: energy per inference per hardware model, measured vs analytical."""
    plt = _plt()
    totals = doc["energy_per_inference_j"]
    hws = list(totals)
    modes = [m for m in ("measured", "analytical") if any(totals[h].get(m) for h in hws)]
    if not hws or not modes:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(hws) + 3), 4.5))
    width = 0.8 / len(modes)
    values = []
    for i, mode in enumerate(modes):
        xs = [j + i * width for j in range(len(hws))]
        ys = [(totals[h].get(mode) or 0.0) * 1e6 for h in hws]
        values += ys
        bars = ax.bar(xs, ys, width=width, label=mode)
        for b, y in zip(bars, ys, strict=True):
            if y > 0:
                ax.annotate(
                    f"{y:.3g}",
                    (b.get_x() + b.get_width() / 2, y),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(hws))])
    ax.set_xticklabels(hws)
    if _spans_decades(values):
        ax.set_yscale("log")
    ax.set_ylabel("energy per inference (µJ, estimate)")
    ax.set_xlabel("hardware model")
    ax.set_title("Energy per inference by hardware model - ESTIMATE")
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend(title="counting mode")
    footer = (
        "measured: simulator events x per-op energy; analytical: papers' fr x T x FLOPs "
        "convention (options in report.json). Not-modelled op kinds add nothing."
    )
    return _save(fig, path, footer, 0.05)


def write_plots(doc: dict, out_dir: Path) -> dict[str, str]:
    """Write every plot that has data; {plot key: file name}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    made = {}
    for key, fn in (
        ("energy_per_layer", energy_per_layer),
        ("firing_rates", firing_rates),
        ("hardware_comparison", hardware_comparison),
    ):
        if fn(doc, out_dir / PLOT_FILES[key]) is not None:
            made[key] = PLOT_FILES[key]
    return made
