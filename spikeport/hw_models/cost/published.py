"""Published energy figures of spiking Transformers (ImageNet-1K, 45 nm convention) and the
published inputs they were computed from, each with its source.

* :data:`SPIKINGFORMER_8_512_LOG`: the one worked example whose inputs are published in full,
  the Spikingformer energy script's log (operation totals, per-layer input firing rates to
  9 significant digits, per-block Q/K/V rates); :func:`energy_of_totals` prices published
  operation totals through spikeport's own estimator.
* :data:`FIGURES`: published energies per model (and the published operation totals where a
  paper gives them), compared with spikeport's counts by
  :mod:`spikeport.hw_models.cost.reproduction`.

Numbers that could not be found in a primary source are not here (docs/hardware_models.md
lists them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spikeport.hw_models.cost.energy import EnergyReport, LayerOps, estimate
from spikeport.hw_models.cost.hardware import HardwareModel, load_hardware_model

SOURCES: dict[str, str] = {
    "spikingformer-log": "zhouchenlin2096/Spikingformer, "
    "imagenet/energy_consumption_logs/Spikingformer-8-512_log.txt (the syops-based energy "
    "script on ImageNet val, T = 4: 'Info of Conv/Linear layers', 'Firing rate of Q/K/V "
    "inputs', 'Number of operations', 'Energy consumption'); the same figures in "
    "energy_consumption_calculation/README.md",
    "spikingformer-readme": "zhouchenlin2096/Spikingformer README.md, 'Main results on "
    "ImageNet-1K' (its FLOPs column is the G ACs of the log) and its commented-out Spikformer "
    "rows (OPs 6.82 / 11.09 / 22.09 G)",
    "qkformer-table2": "Zhou et al., QKFormer: Hierarchical Spiking Transformer using Q-K "
    "Attention, NeurIPS 2024, Table 2 (ImageNet-1K; re-lists Spikformer and SDT)",
    "qkformer-table4": "QKFormer (NeurIPS 2024) Table 4: firing rates of HST-10-768 on "
    "ImageNet, averaged per stage (stages 1-2)",
    "sdt-readme": "BICLab/Spike-Driven-Transformer README.md, 'Results on Imagenet-1K' "
    "(Power(mj); Yao et al., Spike-driven Transformer, NeurIPS 2023)",
}


@dataclass(frozen=True)
class PublishedRun:
    """Operation totals and energy per image as printed by an energy script."""

    macs: float
    acs: float
    energy_mj: float
    source: str


SPIKINGFORMER_8_512_LOG = PublishedRun(
    macs=0.347329512e9, acs=6.51754094076244e9, energy_mj=7.463502601886196,
    source="spikingformer-log",
)  # fmt: skip
"""'Number of operations: 0.347329512 G MACs, 6.51754094076244 G ACs' and 'Energy
consumption: 7.463502601886196 mJ' (the paper's 7.46 mJ)."""


def energy_of_totals(
    macs: float, acs: float, hw: HardwareModel | None = None, basis: str = ""
) -> EnergyReport:
    """Price operation totals (per inference) with `hw` (default ``cmos45nm``)."""
    hw = hw or load_hardware_model("cmos45nm")
    row = LayerOps("published totals", "total", macs=macs, acs=acs, note=basis)
    return estimate([row], hw, basis or "published operation totals")


# Spikingformer-8-512 log, 'Info of Conv/Linear layers': input spike rate (%) per layer, 9
# significant digits. Spikingformer moves Spikformer's LIFs but keeps its layer shapes, so the
# names are those of spikeport's spikformer-imagenet (8-512) model.
_STEM_RATES = {
    "proj_conv1": 2.58312565e01,
    "proj_conv2": 1.53364436e01,
    "proj_conv3": 1.31065373e01,
    "rpe_conv": 1.29557331e01,
}
_BLOCK_RATES = (  # (q/k/v conv input, attn proj_conv input, fc1 input, fc2 input) per block
    (1.76595751e01, 2.97803004e01, 2.67676900e01, 3.28870974e00),
    (3.37953024e01, 3.09584658e01, 3.30194005e01, 2.96453710e00),
    (3.42222987e01, 3.14189673e01, 3.47303054e01, 2.55983278e00),
    (3.44263662e01, 2.90892771e01, 3.46611222e01, 1.92913754e00),
    (3.43272679e01, 2.09885448e01, 3.60386227e01, 1.42090094e00),
    (3.59286898e01, 1.65693003e01, 3.59497969e01, 9.52562647e-01),
    (3.42288006e01, 1.06833842e01, 3.22695614e01, 5.68941609e-01),
    (3.17671993e01, 9.47712146e00, 2.99233030e01, 1.37684836e00),
)
_QKV_RATES = (  # 'Firing rate of Q/K/V inputs in each block' (fr_q, fr_k, fr_v)
    (0.17230188630104062, 0.03626344770312309, 0.06957707978010177),
    (0.11627475060462952, 0.040295450145006184, 0.07173207724809647),
    (0.10669307922124864, 0.044414592387676234, 0.07524623577594756),
    (0.08188644799470902, 0.05000199048876763, 0.0768778057050705),
    (0.06365273276925086, 0.04325467040181161, 0.07054187965631485),
    (0.07711239219903945, 0.0311313860142231, 0.07321582739830017),
    (0.07023756886482238, 0.024202287513613703, 0.07348622434139251),
    (0.09727698216676713, 0.02812242347121239, 0.07954712931871415),
)


def spikingformer_8_512_rates() -> dict[str, Any]:
    """The log's rates keyed by spikeport's module names: connection layer -> input rate
    (fraction), attention core -> (fr_q, fr_k, fr_v). The first conv (rate 100 %: the image)
    and the head (MAC) have none."""
    rates: dict[str, Any] = {f"patch_embed.{k}": v / 100 for k, v in _STEM_RATES.items()}
    for i, (qkv, proj, fc1, fc2) in enumerate(_BLOCK_RATES):
        for x in "qkv":
            rates[f"block.{i}.attn.{x}_conv"] = qkv / 100
        rates[f"block.{i}.attn.proj_conv"] = proj / 100
        rates[f"block.{i}.mlp.fc1_conv"] = fc1 / 100
        rates[f"block.{i}.mlp.fc2_conv"] = fc2 / 100
        rates[f"block.{i}.attn.core"] = _QKV_RATES[i]
    return rates


QKFORMER_HST_10_768_STAGE_RATES: dict[str, dict[str, float]] = {
    "stage1": {"q": 0.0432, "k": 0.1784, "a_t": 0.3477, "x_masked": 0.0832, "x_linear": 0.1478,
               "smlp1": 0.0518, "smlp2": 0.2733},
    "stage2": {"q": 0.0231, "k": 0.0847, "a_t": 0.2655, "x_masked": 0.0350, "x_linear": 0.0577,
               "smlp1": 0.0246, "smlp2": 0.1869},
}  # fmt: skip
"""QKFormer Table 4 (``qkformer-table4``): stage-average firing rates of HST-10-768 tensors:
Q, K, the token attention vector A_t, the masked K (X', proj_conv's input), the projection
output X'' and the two SMLP layers. Stage 3 and the patch embeddings are not given."""


@dataclass(frozen=True)
class Figure:
    """One published energy per image: the model, how to build it in spikeport (arch and
    config overrides), the energy (mJ) and, where published, its operation totals (G)."""

    model: str
    arch: str
    config: dict[str, Any]
    energy_mj: float
    source: str
    acs_g: float | None = None
    ops_source: str = ""
    analytical: dict[str, Any] = field(default_factory=dict)
    """Convention options of the paper's count (e.g. SDT's head is fed spikes: AC)."""


_SDT = {"head_as_mac": False}  # SDT: the head reads head_lif spikes, only the stem is MAC

FIGURES: tuple[Figure, ...] = (
    Figure("Spikingformer-8-384", "spikformer-imagenet", dict(embed_dim=384), 4.69,
           "spikingformer-readme", 3.88, "spikingformer-readme"),
    Figure("Spikingformer-8-512", "spikformer-imagenet", dict(embed_dim=512), 7.46,
           "spikingformer-readme", 6.52, "spikingformer-readme"),
    Figure("Spikingformer-8-768", "spikformer-imagenet", dict(embed_dim=768, num_heads=12),
           13.68, "spikingformer-readme", 12.54, "spikingformer-readme"),
    Figure("Spikformer-8-384", "spikformer-imagenet", dict(embed_dim=384), 7.73,
           "qkformer-table2", 6.82, "spikingformer-readme"),
    Figure("Spikformer-8-512", "spikformer-imagenet", dict(embed_dim=512), 11.58,
           "qkformer-table2", 11.09, "spikingformer-readme"),
    Figure("Spikformer-8-768", "spikformer-imagenet", dict(embed_dim=768, num_heads=12), 21.48,
           "qkformer-table2", 22.09, "spikingformer-readme"),
    Figure("SDT-8-384", "sdt", dict(embed_dim=384), 3.90, "sdt-readme",
           analytical=_SDT),
    Figure("SDT-6-512", "sdt", dict(embed_dim=512, depth=6), 3.56, "sdt-readme", analytical=_SDT),
    Figure("SDT-8-512", "sdt", dict(embed_dim=512), 4.50, "sdt-readme", analytical=_SDT),
    Figure("SDT-8-512 T=1", "sdt", dict(embed_dim=512, T=1), 1.13, "qkformer-table2",
           analytical=_SDT),
    Figure("SDT-10-512", "sdt", dict(embed_dim=512, depth=10), 5.53, "sdt-readme",
           analytical=_SDT),
    Figure("SDT-8-768 (288²)", "sdt", dict(embed_dim=768, img_size=288), 6.09,
           "sdt-readme", analytical=_SDT),
    Figure("QKFormer HST-10-384", "qkformer-imagenet", dict(embed_dim=384), 15.13,
           "qkformer-table2"),
    Figure("QKFormer HST-10-512", "qkformer-imagenet", dict(embed_dim=512), 21.99,
           "qkformer-table2"),
    Figure("QKFormer HST-10-768", "qkformer-imagenet", dict(embed_dim=768), 38.91,
           "qkformer-table2"),
    Figure("QKFormer HST-10-768 T=1", "qkformer-imagenet", dict(embed_dim=768, T=1), 8.52,
           "qkformer-table2"),
)  # fmt: skip
"""Published ImageNet-1K energies (224² unless noted, T = 4 unless noted). ``acs_g``: the
published operation count (Spikformer's "OPs", Spikingformer's "FLOPs" column = its ACs)."""
