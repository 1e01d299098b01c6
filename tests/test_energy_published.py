"""Published energy figures reproduced from their published inputs by spikeport's code path.

References (typed here from the sources, not from the code under test):
* Spikingformer energy script log (zhouchenlin2096/Spikingformer,
  imagenet/energy_consumption_logs/Spikingformer-8-512_log.txt): 0.347329512 G MACs,
  6.51754094076244 G ACs, 7.463502601886196 mJ; per-layer AC counts of its 'Info of
  Conv/Linear layers' block; its SSA term T h N (D/h)^2 (min(fr_k, fr_v) + fr_q).
* Spikingformer README: 3.88 / 6.52 / 12.54 G ACs -> 4.69 / 7.46 / 13.68 mJ.
* Spikformer: OPs 6.82 / 11.09 / 22.09 G (Spikingformer README), 7.73 / 11.58 / 21.48 mJ
  (QKFormer Table 2).
* QKFormer Table 4: HST-10-768 stage-1 Q firing rate 0.0432.
ImageNet-size models are built on the meta device (shapes only, about a second each).
"""

from __future__ import annotations

import math

import pytest

from spikeport.errors import SpikeportError
from spikeport.hw_models.cost import blocks, reproduction
from spikeport.hw_models.cost.analytical import Convention
from spikeport.hw_models.cost.energy import estimate
from spikeport.hw_models.cost.hardware import load_hardware_model
from spikeport.hw_models.cost.published import (
    QKFORMER_HST_10_768_STAGE_RATES,
    energy_of_totals,
    spikingformer_8_512_rates,
)
from spikeport.hw_models.cost.structure import count_from_rates

LOG_MACS, LOG_ACS, LOG_MJ = 0.347329512e9, 6.51754094076244e9, 7.463502601886196
# 'Info of Conv/Linear layers' of the log: AC count per layer (input rate x ops incl. bias)
LOG_LAYER_ACS = {
    "patch_embed.proj_conv1": 9.55595335e08,
    "patch_embed.rpe_conv": 2.39640650e08,
    "block.0.attn.q_conv": 3.62941169e07,
    "block.0.attn.proj_conv": 6.13242808e07,
    "block.0.mlp.fc1_conv": 2.20482576e08,
    "block.7.mlp.fc1_conv": 2.46475020e08,
    "block.7.mlp.fc2_conv": 1.13243712e07,
}


def test_spikingformer_worked_example_totals_price_to_7_4635_mj():
    r = energy_of_totals(0.347329512e9, 6.51754094e9)
    assert round(r.energy_per_inference_j * 1e3, 4) == 7.4635
    full = energy_of_totals(LOG_MACS, LOG_ACS)
    assert full.energy_per_inference_j * 1e3 == pytest.approx(LOG_MJ, rel=1e-12)
    assert full.by_op["macs"] == pytest.approx(LOG_MACS * 4.6e-12, rel=1e-12)


@pytest.fixture(scope="module")
def worked():
    return reproduction.worked_example(bias_adds=True)


def test_published_per_layer_rates_on_our_flops_reproduce_the_log_totals(worked):
    totals = worked.totals()
    assert totals["macs"] == 347_329_512  # 3->64 3x3 conv at 224^2 x T=4 + head with bias
    assert totals["acs"] == pytest.approx(LOG_ACS, rel=1e-8)
    e = estimate(worked.layers, load_hardware_model("cmos45nm"), worked.basis)
    assert e.energy_per_inference_j * 1e3 == pytest.approx(LOG_MJ, rel=1e-8)
    rows = {lo.name: lo for lo in worked.layers}
    for name, acs in LOG_LAYER_ACS.items():
        assert rows[name].acs == pytest.approx(acs, rel=2e-8), name


def test_ssa_rows_follow_the_energy_scripts_formula(worked):
    rows = {lo.name: lo for lo in worked.layers}
    rates = spikingformer_8_512_rates()
    for i in range(8):
        fq, fk, fv = rates[f"block.{i}.attn.core"]
        script = 4 * 8 * 14**2 * (512 / 8) ** 2 * (min(fk, fv) + fq)  # Tsteps Nheads patch^2 d^2
        assert rows[f"block.{i}.attn.core"].acs == pytest.approx(script, rel=1e-12)


def test_without_bias_adds_the_acs_drop_by_the_biased_layers_rate_times_outputs(worked):
    plain = reproduction.worked_example(bias_adds=False)
    rates = spikingformer_8_512_rates()
    # bias-carrying layers: attn proj_conv (512 out), fc1 (2048), fc2 (512) on 196 tokens, T=4
    r = {k.removeprefix("block."): v for k, v in rates.items()}
    bias_acs = sum(
        4 * 196 * (512 * r[f"{i}.attn.proj_conv"] + 2048 * r[f"{i}.mlp.fc1_conv"]
                   + 512 * r[f"{i}.mlp.fc2_conv"])
        for i in range(8)
    )  # fmt: skip
    assert worked.totals()["acs"] - plain.totals()["acs"] == pytest.approx(bias_acs, rel=1e-9)
    assert plain.totals()["macs"] == 347_329_512 - 1000  # the head's 1,000 bias adds


@pytest.mark.parametrize(
    "model, acs_g, published_mj",
    [("Spikingformer-8-384", 3.88, 4.69), ("Spikingformer-8-768", 12.54, 13.68),
     ("Spikformer-8-512", 11.09, 11.58)],
)  # fmt: skip
def test_our_macs_plus_published_acs_give_the_published_energy(model, acs_g, published_mj):
    fig = next(f for f in reproduction.FIGURES if f.model == model)
    row = reproduction.compare(fig)
    embed = fig.config["embed_dim"]
    stem = embed // 8 * 3 * 9 * 224 * 224 * 4  # 3 -> E/8, 3x3, 224^2, x T
    assert row.our_macs_g * 1e9 == pytest.approx(stem + 1000 * (embed + 1), rel=1e-12)  # + head
    assert round(row.ours_mj, 2) == published_mj
    assert round(4.6 * row.our_macs_g + 0.9 * acs_g, 2) == published_mj


def test_spikformer_published_energies_share_the_8_512_mac_term():
    """The published Spikformer energies are 0.9 pJ x OPs + 4.6 pJ x 0.3468 G for every width
    (8-512's encoding conv at T=4), within the rounding of their 2-decimal OPs and energies."""
    stem_8_512 = 64 * 3 * 9 * 224 * 224 * 4 / 1e9
    for ops, mj in ((6.82, 7.73), (11.09, 11.58), (22.09, 21.48)):
        assert abs(0.9 * ops + 4.6 * stem_8_512 - mj) <= 0.9 * 0.005 + 0.005
    # with each width's own stem (E/8 channels) 8-384 and 8-768 miss by 0.40 and 0.80 mJ
    for ops, mj, embed in ((6.82, 7.73, 384), (22.09, 21.48, 768)):
        own = 0.9 * ops + 4.6 * (embed // 8 * 3 * 9 * 224 * 224 * 4) / 1e9
        assert abs(own - mj) > 0.3


def test_qkta_block_priced_with_qkformers_published_stage1_q_rate():
    s = reproduction.structure_of("qkformer-imagenet", {"embed_dim": 768})
    call = next(c for c in s.calls if c.name == "stage1.0.tssa")
    conv = Convention(timesteps=4)
    fq = QKFORMER_HST_10_768_STAGE_RATES["stage1"]["q"]
    row = blocks.block_ops(call, conv, 1, {"q": fq})
    # stage 1: 768 / 4 = 192 channels on 224 / 4 = 56 x 56 tokens; one AC per Q spike
    assert row.acs == pytest.approx(4 * 192 * 56 * 56 * 0.0432)
    assert row.and_words == 4 * 56 * 56 * math.ceil(192 / 32)


def test_rates_table_naming_an_unknown_layer_or_missing_one_is_refused():
    s = reproduction.structure_of("spikformer-imagenet", {"embed_dim": 512, "depth": 1})
    rates = reproduction.uniform_rates(s, 0.1)
    with pytest.raises(SpikeportError, match="'nope'"):
        count_from_rates(s, {**rates, "nope": 0.1}, Convention(timesteps=4))
    rates.pop("block.0.mlp.fc2_conv")
    with pytest.raises(SpikeportError, match="no rate for 1 layer.*block.0.mlp.fc2_conv"):
        count_from_rates(s, rates, Convention(timesteps=4))


def test_docs_table_is_the_generated_one():
    text = reproduction.DOCS.read_text()
    start = text.index(reproduction.BEGIN)
    end = text.index(reproduction.END) + len(reproduction.END)
    assert text[start:end] == reproduction.generated_section()
