"""The loihi2 table is the Loihi 1 table scaled to the measured PilotNet-LIF energy.

Recomputes the calibration from lava-dl's own PilotNet-LIF traces and checks the stored
figures; checks the event counter on a tiny hand-countable trace set.
"""

from __future__ import annotations

import numpy as np
import pytest

from spikeport.hw_models.cost import calibration as cal
from spikeport.hw_models.cost.hardware import load_hardware_model


def test_loihi2_figures_equal_loihi1_times_the_recomputed_scale():
    gt = cal.pilotnet_gt_dir()
    if gt is None:
        pytest.skip("lava-dl pilotnet_lif ground truth not installed")
    counts = cal.pilotnet_lif_event_counts(gt)
    s = cal.loihi2_scale(counts)
    assert s == pytest.approx(0.9328, abs=5e-5)  # the scale quoted in loihi2.json
    l1, l2 = load_hardware_model("loihi"), load_hardware_model("loihi2")
    for kind in ("ac", "neuron_update_active", "neuron_update_inactive", "spike", "hop"):
        assert l2.energy[kind].value == pytest.approx(l1.energy[kind].value * s, rel=1e-3)
    # Priced with the loihi2 table the same counts give back the measured 1.094 mJ.
    e = (
        counts.synops * l2.energy_j("ac")
        + counts.neuron_updates_active * l2.energy_j("neuron_update_active")
        + (counts.neuron_updates - counts.neuron_updates_active)
        * l2.energy_j("neuron_update_inactive")
        + counts.spikes * l2.energy_j("spike")
    )
    assert e == pytest.approx(1.094e-3, rel=1e-3)


def test_loihi1_pricing_is_the_weighted_sum():
    c = cal.EventCounts(synops=1e6, neuron_updates=3e4, neuron_updates_active=1e4, spikes=500)
    expected_pj = 1e6 * 23.6 + 1e4 * 81 + 2e4 * 52 + 500 * 1.7
    assert cal.loihi1_priced_energy_j(c) == pytest.approx(expected_pj * 1e-12)


def test_synop_count_is_spikes_times_nonzero_fanout_on_pilotnet_first_layer():
    gt = cal.pilotnet_gt_dir()
    if gt is None:
        pytest.skip("lava-dl pilotnet_lif ground truth not installed")
    import h5py

    # Independent count for the first conv only: loop over output positions and count
    # (input spike, non-zero weight) pairs for step 0 with numpy slicing.
    x = np.load(gt / "input-s.npy")[..., 0].transpose(2, 1, 0)  # (C, H, W)
    with h5py.File(gt / "network.net") as f:
        w = np.asarray(f["layer/1/weight"]) != 0  # (24, 3, 3, 3)
        sy, sx = f["layer/1/stride"][()]
    oh, ow = (x.shape[1] - 3) // sy + 1, (x.shape[2] - 3) // sx + 1
    pairs = 0
    for i in range(3):
        for j in range(3):
            patch = x[:, i : i + sy * (oh - 1) + 1 : sy, j : j + sx * (ow - 1) + 1 : sx]
            # patch (C, oh, ow); weights w[:, :, i, j] (O, C): pairs = sum_o sum_c w * patch
            pairs += int((w[:, :, i, j].sum(axis=0)[:, None, None] * patch).sum())
    import torch

    wt = torch.tensor(w, dtype=torch.float64)
    xt = torch.tensor(x[None].astype(np.float64))
    via_conv = torch.nn.functional.conv2d(xt, wt, stride=(int(sy), int(sx))).sum().item()
    assert pairs == via_conv
