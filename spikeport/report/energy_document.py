"""The energy report as one JSON-ready document: measured and analytical modes side by side,
per hardware model, with the resource mapping.

Schema (``report.json``; energies in joules, counts per inference, every figure an estimate):

* ``label`` "estimate", ``kind`` "spikeport-energy-report", ``artifact``, ``graph``, ``data``
* ``energy_per_inference_j``: {hw: {"measured": J or null, "analytical": J or null}}
* ``hardware``: {hw: {"title", "measured": EnergyReport dict or null, "analytical": ...,
  "mapping": MappingReport dict or null}} - each EnergyReport dict has ``layers`` (name,
  kind, ops, energy_j, share, not_modelled, energy_by_op_j) and its ``basis``
* ``modes``: {"measured": {"available", "reason", "basis", "samples", "steps",
  "options", "firing_rates", "dense_macs", "uncounted"}, "analytical": {"available",
  "reason", "basis", "convention", "input_rates", "effective_synops"}}
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from spikeport.hw_models.cost.energy import EnergyReport, estimate
from spikeport.hw_models.cost.hardware import HardwareModel
from spikeport.hw_models.cost.measured import MeasuredCount

REPORT_KIND = "spikeport-energy-report"


def mapping_dict(report: Any) -> dict:
    """JSON-ready MappingReport (bytes; cores; attention state per core)."""
    d = asdict(report)
    d["inference_memory_bytes"] = report.inference_memory_bytes
    return d


def build_document(
    *,
    artifact: str,
    graph: str,
    data: dict,
    hardware: list[HardwareModel],
    measured: MeasuredCount | None,
    measured_reason: str = "",
    analytical: Any = None,
    analytical_reason: str = "",
    mappings: dict[str, Any] | None = None,
    mapping_reason: str = "",
) -> dict:
    """Price both modes on every hardware model and collect them into one document."""
    mappings = mappings or {}
    hw_out: dict[str, dict] = {}
    totals: dict[str, dict[str, float | None]] = {}
    for hw in hardware:
        m_rep: EnergyReport | None = None
        a_rep: EnergyReport | None = None
        if measured is not None:
            m_rep = estimate(measured.layer_ops(hw), hw, measured.basis)
        if analytical is not None:
            a_rep = estimate(list(analytical.layers), hw, analytical.basis)
        mp = mappings.get(hw.name)
        hw_out[hw.name] = {
            "title": hw.title,
            "measured": m_rep.to_dict() if m_rep else None,
            "analytical": a_rep.to_dict() if a_rep else None,
            "mapping": mapping_dict(mp) | {"core_limits": bool(hw.limits)}
            if mp is not None
            else None,
        }
        totals[hw.name] = {
            "measured": m_rep.energy_per_inference_j if m_rep else None,
            "analytical": a_rep.energy_per_inference_j if a_rep else None,
        }
    modes = {
        "measured": {"available": measured is not None, "reason": measured_reason},
        "analytical": {"available": analytical is not None, "reason": analytical_reason},
        "mapping": {"available": bool(mappings), "reason": mapping_reason},
    }
    if measured is not None:
        modes["measured"].update(
            basis=measured.basis,
            samples=measured.samples,
            steps=measured.steps,
            options={"graded_events": measured.graded_events, "window": measured.window},
            firing_rates=measured.firing_rates(),
            dense_macs=measured.dense_macs(),
            totals=measured.totals(),
            uncounted=list(measured.uncounted),
        )
    if analytical is not None:
        modes["analytical"].update(
            basis=analytical.basis,
            samples=analytical.samples,
            convention=analytical.convention.as_report(),
            input_rates=dict(analytical.rates),
            effective_synops=analytical.effective_synops(),
        )
    return {
        "label": "estimate",
        "kind": REPORT_KIND,
        "artifact": artifact,
        "graph": graph,
        "data": data,
        "energy_per_inference_j": totals,
        "hardware": hw_out,
        "modes": modes,
    }
