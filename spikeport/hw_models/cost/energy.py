"""Operation counts per layer -> energy per layer and per inference, for one hardware model.

Counts are per inference (one input sample, all timesteps); analytical counts are
expectations, so they are floats. Every report is an *estimate* and carries its basis
(which counting mode, which hardware table). Operation kinds a hardware model does not
price are listed in ``not_modelled`` - never silently counted as zero energy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from spikeport.hw_models.cost.hardware import HardwareModel


@dataclass(frozen=True)
class LayerOps:
    """Operation counts of one layer for one inference (all timesteps).

    ``macs``: multiply-accumulates on non-spike operands; ``acs``: spike-triggered
    accumulates (synaptic ops); ``neuron_updates`` (of which ``neuron_updates_active``
    received input that step); ``spikes``: emitted spike messages; ``hops``: router hops;
    ``and_words``/``xnor_words``/``popcount_words``: bitwise ops on ``word_bits``-bit words;
    ``int_adds``/``int_mults``: integer arithmetic; ``mem_read_bits``: SRAM bits read.
    ``kind`` is the layer type (conv2d, linear, lif, attention:ssa, ...); ``note`` says how
    the counts were obtained.
    """

    name: str
    kind: str
    macs: float = 0.0
    acs: float = 0.0
    neuron_updates: float = 0.0
    neuron_updates_active: float = 0.0
    spikes: float = 0.0
    hops: float = 0.0
    and_words: float = 0.0
    xnor_words: float = 0.0
    popcount_words: float = 0.0
    int_adds: float = 0.0
    int_mults: float = 0.0
    mem_read_bits: float = 0.0
    note: str = ""

    def counts(self) -> dict[str, float]:
        """The non-zero operation counts, by field name."""
        return {f: getattr(self, f) for f in COUNT_FIELDS if getattr(self, f)}


COUNT_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(LayerOps) if f.name not in ("name", "kind", "note")
)

# Count field -> the hardware energy kind that prices it (neuron updates handled apart).
OP_FIELDS: dict[str, str] = {
    "macs": "mac",
    "acs": "ac",
    "spikes": "spike",
    "hops": "hop",
    "and_words": "and_word",
    "xnor_words": "xnor_word",
    "popcount_words": "popcount_word",
    "int_adds": "int_add",
    "int_mults": "int_mult",
    "mem_read_bits": "mem_read_bit",
}


@dataclass(frozen=True)
class LayerEnergy:
    """Energy of one layer: ``energy_j`` total, ``by_op`` per count field (J), ``share`` of the
    inference total (0..1), and ``not_modelled`` count fields the hardware does not price."""

    name: str
    kind: str
    ops: dict[str, float]
    by_op: dict[str, float]
    energy_j: float
    share: float
    not_modelled: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnergyReport:
    """Energy per inference on ``hardware``; ``label`` is always "estimate"."""

    hardware: str
    hardware_title: str
    basis: str
    layers: tuple[LayerEnergy, ...]
    energy_per_inference_j: float
    by_op: dict[str, float]
    ops: dict[str, float]
    not_modelled: dict[str, float] = field(default_factory=dict)
    label: str = "estimate"

    def to_dict(self) -> dict:
        """JSON-ready dict (energies in joules)."""
        return {
            "label": self.label,
            "basis": self.basis,
            "hardware": self.hardware,
            "hardware_title": self.hardware_title,
            "energy_per_inference_j": self.energy_per_inference_j,
            "energy_by_op_j": dict(self.by_op),
            "ops": dict(self.ops),
            "not_modelled_ops": dict(self.not_modelled),
            "layers": [
                {
                    "name": le.name,
                    "kind": le.kind,
                    "ops": dict(le.ops),
                    "energy_by_op_j": dict(le.by_op),
                    "energy_j": le.energy_j,
                    "share": le.share,
                    "not_modelled": list(le.not_modelled),
                }
                for le in self.layers
            ],
        }


def _layer_energy(ops: LayerOps, hw: HardwareModel) -> tuple[dict[str, float], tuple[str, ...]]:
    by_op: dict[str, float] = {}
    missing: list[str] = []
    for fname, count in ops.counts().items():
        if fname in ("neuron_updates", "neuron_updates_active"):
            continue
        e = hw.energy_j(OP_FIELDS[fname])
        if e is None:
            missing.append(fname)
        else:
            by_op[fname] = count * e
    if ops.neuron_updates:
        e_act = hw.energy_j("neuron_update_active")
        e_inact = hw.energy_j("neuron_update_inactive")
        e_any = hw.energy_j("neuron_update")
        if e_act is not None and e_inact is not None:
            active = min(ops.neuron_updates_active, ops.neuron_updates)
            by_op["neuron_updates"] = active * e_act + (ops.neuron_updates - active) * e_inact
        elif e_any is not None:
            by_op["neuron_updates"] = ops.neuron_updates * e_any
        else:
            missing.append("neuron_updates")
    return by_op, tuple(missing)


def estimate(
    layers: list[LayerOps] | tuple[LayerOps, ...], hw: HardwareModel, basis: str = ""
) -> EnergyReport:
    """Price per-layer counts with ``hw``: per-layer energy (J) and share, total per inference.

    ``basis`` describes how the counts were obtained (e.g. "analytical: fr x T x FLOPs, paper
    convention"); the hardware table and its file are appended.
    """
    priced = [(ops, *_layer_energy(ops, hw)) for ops in layers]
    total = sum(sum(by.values()) for _, by, _ in priced)
    out: list[LayerEnergy] = []
    tot_by_op: dict[str, float] = {}
    tot_ops: dict[str, float] = {}
    not_modelled: dict[str, float] = {}
    for ops, by_op, missing in priced:
        e = sum(by_op.values())
        out.append(
            LayerEnergy(
                name=ops.name,
                kind=ops.kind,
                ops=ops.counts(),
                by_op=by_op,
                energy_j=e,
                share=(e / total) if total > 0 else 0.0,
                not_modelled=missing,
            )
        )
        for k, v in by_op.items():
            tot_by_op[k] = tot_by_op.get(k, 0.0) + v
        for k, v in ops.counts().items():
            tot_ops[k] = tot_ops.get(k, 0.0) + v
        for k in missing:
            not_modelled[k] = not_modelled.get(k, 0.0) + getattr(ops, k)
    table = Path(hw.path).name or hw.name
    full_basis = f"{basis + '; ' if basis else ''}hardware table '{hw.name}' ({table})"
    return EnergyReport(
        hardware=hw.name,
        hardware_title=hw.title,
        basis=full_basis,
        layers=tuple(out),
        energy_per_inference_j=total,
        by_op=tot_by_op,
        ops=tot_ops,
        not_modelled=not_modelled,
    )
