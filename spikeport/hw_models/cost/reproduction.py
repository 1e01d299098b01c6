"""Published energies vs spikeport's analytical counts (docs/hardware_models.md, "Published
figures").

Each figure of :data:`~spikeport.hw_models.cost.published.FIGURES` is rebuilt on the meta
device at its published size, T and resolution; :func:`~.structure.model_structure` gives
every layer's FLOPs (bias adds counted, as the syops-based script does). With every input rate
set to 1 the paper convention gives *our MAC term* (the encoding layer x T, plus the head when
it is fed a time-averaged, non-spike input) and the *dense SOP capacity* ``C = sum T x FLOPs``
of the other connection layers (attention products left out). Then:

* where the paper publishes its AC total: ours = E_MAC x our MACs + E_AC x published ACs,
  compared with the published energy;
* always: the ACs the published energy implies, ``(E - E_MAC x our MACs) / E_AC``, and the
  mean input rate they imply, ``ACs / C``.

The Spikingformer-8-512 worked example is reproduced from its published per-layer rates by
:func:`worked_example`.

``python -m spikeport.hw_models.cost.reproduction`` prints the table; ``--write-docs``
replaces the generated section of docs/hardware_models.md.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from spikeport.hw_models.cost.analytical import AnalyticalCount, Convention
from spikeport.hw_models.cost.energy import estimate
from spikeport.hw_models.cost.hardware import load_hardware_model
from spikeport.hw_models.cost.published import (
    FIGURES,
    SPIKINGFORMER_8_512_LOG,
    Figure,
    energy_of_totals,
    spikingformer_8_512_rates,
)
from spikeport.hw_models.cost.structure import Structure, count_from_rates, model_structure

DOCS = Path(__file__).resolve().parents[3] / "docs" / "hardware_models.md"
BEGIN = "<!-- BEGIN GENERATED: python -m spikeport.hw_models.cost.reproduction --write-docs -->"
END = "<!-- END GENERATED -->"


def structure_of(arch: str, config: dict, *, bias_adds: bool = True) -> Structure:
    """The structure of `arch` with `config` overrides (built on the meta device)."""
    from spikeport.models.registry import build_model, default_config

    cfg = default_config(arch, **config)
    with torch.device("meta"):
        model = build_model(cfg)
    shape = (1, cfg.in_channels, cfg.img_size, cfg.img_size)
    return model_structure(model, shape, cfg.T, bias_adds=bias_adds)


def uniform_rates(structure: Structure, rate: float = 1.0) -> dict:
    """`rate` for every connection layer but the first (the encoding layer, fed the image),
    every attention core and block of `structure`."""
    from spikeport.hw_models.cost.blocks import RATE_KEYS

    rates: dict = {c.name: rate for c in structure.connections[1:]}
    rates.update({c.name: (rate, rate, rate) for c in structure.cores})
    rates.update({c.name: (rate,) * len(RATE_KEYS[c.kind]) for c in structure.calls})
    return rates


@dataclass(frozen=True)
class Row:
    """One published figure next to ours (energies in mJ, operation counts in G)."""

    figure: Figure
    timesteps: int
    our_macs_g: float
    capacity_g: float
    ours_mj: float | None
    implied_acs_g: float
    implied_rate: float
    implied_rate_first_once: float
    """The implied mean rate were the encoding layer counted once (``--first-layer-once``)."""


def compare(fig: Figure) -> Row:
    s = structure_of(fig.arch, fig.config)
    conv = Convention(timesteps=s.timesteps, **fig.analytical)
    count = count_from_rates(s, uniform_rates(s), conv)
    conn = {c.name for c in s.connections}
    macs = sum(lo.macs for lo in count.layers if lo.name in conn)
    capacity = sum(lo.acs for lo in count.layers if lo.name in conn)
    hw = load_hardware_model("cmos45nm")
    e_mac, e_ac = hw.energy_j("mac"), hw.energy_j("ac")
    ours = None
    if fig.acs_g is not None:
        ours = energy_of_totals(macs, fig.acs_g * 1e9, hw).energy_per_inference_j * 1e3
    implied = (fig.energy_mj * 1e-3 - macs * e_mac) / e_ac
    first = count.layers[0].macs  # the encoding layer, x T
    once = (fig.energy_mj * 1e-3 - (macs - first + first / s.timesteps) * e_mac) / e_ac
    return Row(
        fig,
        s.timesteps,
        macs / 1e9,
        capacity / 1e9,
        ours,
        implied / 1e9,
        implied / capacity,
        once / capacity,
    )


def worked_example(*, bias_adds: bool = True) -> AnalyticalCount:
    """Spikingformer-8-512's published per-layer rates on our Spikformer-8-512 FLOPs."""
    s = structure_of("spikformer-imagenet", {"embed_dim": 512}, bias_adds=bias_adds)
    return count_from_rates(s, spikingformer_8_512_rates(), Convention(timesteps=s.timesteps))


def worked_example_lines() -> list[str]:
    """The worked example, three ways (markdown bullet lines)."""
    pub = SPIKINGFORMER_8_512_LOG
    hw = load_hardware_model("cmos45nm")
    lines = [
        f"* published totals {pub.macs / 1e9:.9f} G MACs + {pub.acs / 1e9:.8f} G ACs through "
        f"`energy_of_totals`: **{energy_of_totals(pub.macs, pub.acs, hw).energy_per_inference_j * 1e3:.7f} mJ**"  # noqa: E501
        f" (log: {pub.energy_mj:.7f} mJ, paper: 7.46 mJ)"
    ]
    for bias in (True, False):
        c = worked_example(bias_adds=bias)
        t = c.totals()
        e = estimate(c.layers, hw, c.basis).energy_per_inference_j * 1e3
        label = "bias adds counted (syops)" if bias else "bias adds not counted"
        lines.append(
            f"* published per-layer rates x our FLOPs, {label}: {t['macs'] / 1e9:.9f} G MACs, "
            f"{t['acs'] / 1e9:.8f} G ACs, **{e:.7f} mJ** "
            f"({(t['acs'] / pub.acs - 1) * 100:+.5f} % ACs)"
        )
    return lines


def _g(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def table(rows: list[Row]) -> str:
    head = (
        "model",
        "T",
        "published mJ",
        "published G ACs",
        "our G MACs",
        "ours mJ (our MACs + published ACs)",
        "difference",
        "implied G ACs",
        "implied mean rate",
        "(first layer once)",
    )
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        f = r.figure
        diff = "-" if r.ours_mj is None else f"{(r.ours_mj / f.energy_mj - 1) * 100:+.1f} %"
        cells = (
            f.model,
            str(r.timesteps),
            f"{f.energy_mj:.2f}",
            _g(f.acs_g, 2),
            f"{r.our_macs_g:.4f}",
            _g(r.ours_mj, 2),
            diff,
            f"{r.implied_acs_g:.2f}",
            f"{r.implied_rate:.3f}",
            f"{r.implied_rate_first_once:.3f}",
        )
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def generated_section() -> str:
    rows = [compare(f) for f in FIGURES]
    return "\n".join([BEGIN, "", *worked_example_lines(), "", table(rows), "", END])


def write_docs(path: Path = DOCS) -> None:
    text = path.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    path.write_text(text[:start] + generated_section() + text[end:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--write-docs", action="store_true", help=f"update {DOCS.name}")
    args = p.parse_args()
    if args.write_docs:
        write_docs()
    else:
        print(generated_section())


if __name__ == "__main__":
    main()
