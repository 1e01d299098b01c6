"""Reproduce the published Spikingformer-8-512 ImageNet energy (7.46 mJ) from its published
per-layer firing rates, our Spikformer-8-512 builder's layer FLOPs and the paper convention.

Reference (notes/anchors.md §1.2, §1.4; zhouchenlin2096/Spikingformer
``imagenet/energy_consumption_logs/Spikingformer-8-512_log.txt``): 0.347329512 G MACs,
6.51754094 G ACs, 7.4635 mJ. Spikingformer has Spikformer's conv shapes (it moves the LIFs),
so its FLOPs per layer equal ours; the rates below are the log's (4 significant digits).
The log's MACs include the head bias (1,000 adds) which we do not count.
"""

from __future__ import annotations

import pytest
import torch

from spikeport.hw_models.cost.analytical import Convention, count_model
from spikeport.hw_models.cost.energy import estimate
from spikeport.hw_models.cost.hardware import load_hardware_model

SPS = {"proj_conv1": 25.83, "proj_conv2": 15.34, "proj_conv3": 13.11, "rpe_conv": 12.96}
QKV_IN = [17.66, 33.80, 34.22, 34.43, 34.33, 35.93, 34.23, 31.77]
QKV_OUT = [
    (0.172, 0.036, 0.070), (0.116, 0.040, 0.072), (0.107, 0.044, 0.075), (0.082, 0.050, 0.077),
    (0.064, 0.043, 0.071), (0.077, 0.031, 0.073), (0.070, 0.024, 0.073), (0.097, 0.028, 0.080),
]  # fmt: skip
PROJ_IN = [29.78, 30.96, 31.42, 29.09, 20.99, 16.57, 10.68, 9.48]
FC1_IN = [26.77, 33.02, 34.73, 34.66, 36.04, 35.95, 32.27, 29.92]
FC2_IN = [3.29, 2.96, 2.56, 1.93, 1.42, 0.95, 0.57, 1.38]


def published_rates() -> dict:
    rates: dict = {f"patch_embed.{k}": v / 100 for k, v in SPS.items()}
    for i in range(8):
        for qkv in "qkv":
            rates[f"block.{i}.attn.{qkv}_conv"] = QKV_IN[i] / 100
        rates[f"block.{i}.attn.proj_conv"] = PROJ_IN[i] / 100
        rates[f"block.{i}.mlp.fc1_conv"] = FC1_IN[i] / 100
        rates[f"block.{i}.mlp.fc2_conv"] = FC2_IN[i] / 100
        rates[f"block.{i}.attn.core"] = QKV_OUT[i]
    return rates


@pytest.mark.slow
def test_spikingformer_8_512_published_energy_from_published_rates():
    from spikeport.models.registry import build_model, default_config

    model = build_model(default_config("spikformer-imagenet", T=4)).eval()
    c = count_model(
        model, torch.rand(1, 3, 224, 224), Convention(timesteps=4), rate_overrides=published_rates()
    )
    totals = c.totals()
    assert totals["macs"] == 347_329_512 - 1_000  # log minus the head bias adds
    assert totals["acs"] == pytest.approx(6.51754094e9, rel=2e-3)
    r = estimate(c.layers, load_hardware_model("cmos45nm"), c.basis)
    assert r.energy_per_inference_j == pytest.approx(7.4635e-3, rel=2e-3)
