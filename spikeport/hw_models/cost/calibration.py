"""Calibration of the ``loihi2`` energy table against a measured Loihi 2 figure.

Measured anchor (lava-dl 0.6.0 tutorial ``netx/pilotnet_lif/benchmark.ipynb``, Oheo Gulch,
one Loihi 2 chip, 74 cores, 16 steps per frame): 1.094 mJ *dynamic* energy per inference.
The event counts of that network come from the per-layer spike and current traces that ship
in the lava-dl wheel (``tests/lava/lib/dl/netx/gts/pilotnet_lif``: 24 steps of the same
``network.net``): synaptic ops = input spikes x non-zero fan-out, neuron updates = every
compartment every step (active = non-zero synaptic current ``u`` that step), spikes = output
spikes of every layer including the on-chip input layer. Priced with the Loihi 1 table
(Davies 2018) they give E1 per inference; the single scale ``s = 1.094 mJ / E1`` multiplies
every Loihi 1 per-op energy to give the ``loihi2`` figures (one scale: the op mix is assumed
to cost in Loihi 1 proportions). Counts are per step averaged over the 24 recorded steps,
times 16 steps per inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

PILOTNET_LIF_DYNAMIC_J = 1.094e-3  # measured, per inference (lava-dl tutorial output)
PILOTNET_LIF_STEPS_PER_INFERENCE = 16
LOIHI1_PJ = {"ac": 23.6, "neuron_update_active": 81.0, "neuron_update_inactive": 52.0, "spike": 1.7}


@dataclass(frozen=True)
class EventCounts:
    """Events per inference (floats: per-step averages x steps per inference)."""

    synops: float
    neuron_updates: float
    neuron_updates_active: float
    spikes: float


def pilotnet_gt_dir() -> Path | None:
    """The lava-dl wheel's pilotnet_lif ground-truth folder, or None if lava-dl is absent."""
    import importlib.util

    spec = importlib.util.find_spec("lava")
    if spec is None or not spec.submodule_search_locations:
        return None
    site = Path(next(iter(spec.submodule_search_locations))).parent
    gt = site / "tests" / "lava" / "lib" / "dl" / "netx" / "gts" / "pilotnet_lif"
    return gt if (gt / "network.net").is_file() else None


def pilotnet_lif_event_counts(
    gt_dir: Path, steps_per_inference: int = PILOTNET_LIF_STEPS_PER_INFERENCE
) -> EventCounts:
    """Count synaptic ops, neuron updates and spikes of PilotNet-LIF from lava-dl's traces.

    Trace arrays are Lava's ``(x, y, channel, step)`` layout; convolutions are counted on
    ``(channel, y, x)`` with the HDF5 stride/padding, dense layers on the flattened
    ``(channel, y, x)`` order (``fanout_nz`` differs per input only through zero weights).
    """
    import h5py
    import torch

    def load(name: str) -> np.ndarray:
        return np.load(gt_dir / f"{name}.npy")

    def to_tchw(a: np.ndarray) -> torch.Tensor:
        return torch.tensor(np.ascontiguousarray(a.transpose(3, 2, 1, 0)), dtype=torch.float64)

    conv_names = [f"conv-{k}" for k in range(5)]
    fc_names = ["fc-0", "fc-1", "fc-2", "fc-3"]
    spikes_in = [load("input-s")] + [load(n) for n in conv_names]
    steps = spikes_in[0].shape[-1]
    synops = 0.0
    with h5py.File(gt_dir / "network.net", "r") as f:
        layers = f["layer"]
        for i in range(5):  # HDF5 layers 1..5 are the convolutions
            g = layers[str(i + 1)]
            w = torch.tensor(np.asarray(g["weight"]) != 0, dtype=torch.float64)
            x = to_tchw(spikes_in[i])
            y = torch.nn.functional.conv2d(
                x, w, stride=tuple(g["stride"][()]), padding=tuple(g["padding"][()])
            )
            synops += float(y.sum())
        x = spikes_in[5].transpose(2, 1, 0, 3).reshape(-1, steps).astype(np.float64)
        for j, name in enumerate(fc_names):  # HDF5 layers 7..10 are dense
            w = np.asarray(layers[str(7 + j)]["weight"])
            w = w.reshape(w.shape[0], -1) if w.ndim > 1 else w.reshape(1, -1)
            fanout = (w != 0).sum(axis=0).astype(np.float64)
            synops += float((x * fanout[:, None]).sum())
            if name != "fc-3":
                x = load(name).astype(np.float64)
    # Neuron updates: the on-chip input layer (bias-driven, active every step) + all layers.
    n_input = int(np.prod(spikes_in[0].shape[:-1]))
    updates = float(n_input * steps)
    active = float(n_input * steps)
    spikes = float(spikes_in[0].sum())
    for name in conv_names + fc_names:
        u = load(f"{name}-u")
        updates += u.size
        active += float((u != 0).sum())
        spikes += float((load("fc-3-s") if name == "fc-3" else load(name)).sum())
    scale = steps_per_inference / steps
    return EventCounts(synops * scale, updates * scale, active * scale, spikes * scale)


def loihi1_priced_energy_j(c: EventCounts) -> float:
    """Energy of ``c`` with the Loihi 1 (Davies 2018 Table 2) per-op figures, joules."""
    pj = (
        c.synops * LOIHI1_PJ["ac"]
        + c.neuron_updates_active * LOIHI1_PJ["neuron_update_active"]
        + (c.neuron_updates - c.neuron_updates_active) * LOIHI1_PJ["neuron_update_inactive"]
        + c.spikes * LOIHI1_PJ["spike"]
    )
    return pj * 1e-12


def loihi2_scale(c: EventCounts) -> float:
    """``s`` such that Loihi-1 prices x s reproduce the measured PilotNet-LIF dynamic energy."""
    return PILOTNET_LIF_DYNAMIC_J / loihi1_priced_energy_j(c)


if __name__ == "__main__":  # prints the numbers quoted in targets/loihi2.json
    gt = pilotnet_gt_dir()
    if gt is None:
        raise SystemExit("lava-dl's pilotnet_lif ground truth is not installed")
    counts = pilotnet_lif_event_counts(gt)
    e1 = loihi1_priced_energy_j(counts)
    s = loihi2_scale(counts)
    print(counts)
    print(f"E1 = {e1 * 1e3:.4f} mJ  s = {s:.4f}")
    for k, v in LOIHI1_PJ.items():
        print(f"{k}: {v} pJ x s = {v * s:.3f} pJ")
