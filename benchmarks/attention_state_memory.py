"""LRF-Dyn vs SSA attention state memory on Spikformer-8-512 shapes (N=196, 8 heads, d=64).

Per inference step, per head, an attention core holds (docs/hardware_models.md):

* SSA, ``K^T V`` first: a d x d matrix of counts, ``ceil(log2(N + 1))`` = 8 bits each;
* SSA, ``Q K^T`` first: an N x N matrix of counts, ``ceil(log2(d + 1))`` = 7 bits each;
* LRF-Dyn: k = 8 dendritic compartments per channel, k x d states of 24 bits.

The numbers come from ``spikeport.hw_models.cost.mapping.attention_state_bits`` and are checked
against the formulas written out here. Then the whole-model memory (compact 8-bit weights +
neuron state + attention state) is taken from ``collect_resources`` + ``map_to_cores`` on the
real Spikformer-8-512 (ImageNet, 224 x 224, T=4, random weights) with SSA and with LRF-Dyn,
to set the attention saving against the paper's -49.4 % total inference memory claim.
The recorded ratio is SSA (d x d) bytes / LRF-Dyn bytes (> 1: LRF-Dyn smaller).

Run: .venv/bin/python benchmarks/attention_state_memory.py
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import record  # noqa: E402

from spikeport.hw_models.cost.mapping import attention_state_bits  # noqa: E402

N, HEADS, D, K, STATE_BITS, DEPTH = 196, 8, 64, 8, 24, 8
PAPER_TOTAL_CHANGE = -49.4  # % inference memory, LRF-Dyn vs SSA on Spikformer-8-512


def whole_model(attention: str) -> tuple[float, float]:
    """(attention state bytes, inference memory bytes) of Spikformer-8-512 on Loihi."""
    import torch

    from spikeport.hw_models.cost.hardware import load_hardware_model
    from spikeport.hw_models.cost.mapping import collect_resources, map_to_cores
    from spikeport.models.registry import build_model, default_config

    torch.manual_seed(0)
    model = build_model(default_config("spikformer-imagenet", attention=attention, T=4)).eval()
    x = torch.rand(1, 3, 224, 224)
    layers, attn, lif = collect_resources(model, x, 4, attention_order="dxd")
    report = map_to_cores(layers, attn, lif, load_hardware_model("loihi"))
    return report.attention_state_bytes, report.inference_memory_bytes


def main() -> int:
    import torch

    torch.set_num_threads(2)
    lib = {
        "ssa_dxd": attention_state_bits("ssa", HEADS, N, D, "dxd", STATE_BITS) / 8,
        "ssa_nxn": attention_state_bits("ssa", HEADS, N, D, "nxn", STATE_BITS) / 8,
        "lrf_dyn": attention_state_bits("lrf_dyn", HEADS, N, D, "dxd", STATE_BITS, K) / 8,
    }
    hand = {
        "ssa_dxd": HEADS * D * D * math.ceil(math.log2(N + 1)) / 8,  # 8 bits
        "ssa_nxn": HEADS * N * N * math.ceil(math.log2(D + 1)) / 8,  # 7 bits
        "lrf_dyn": HEADS * K * D * STATE_BITS / 8,
    }
    agree = lib == hand
    print(f"attention state per block per step (N={N}, {HEADS} heads, d={D}, k={K}):")
    for key, label in (
        ("ssa_dxd", "SSA, K^T V first (d x d, 8-bit counts)"),
        ("ssa_nxn", "SSA, Q K^T first (N x N, 7-bit counts)"),
        ("lrf_dyn", f"LRF-Dyn (k x d, {STATE_BITS}-bit states)"),
    ):
        print(f"  {label:42s} {lib[key] / 1e3:9.3f} kB")
    f32 = {"ssa_nxn": HEADS * N * N * 4, "lrf_dyn": HEADS * K * D * 4}
    print(
        f"  float32 framework tensors: N x N map {f32['ssa_nxn'] / 1e3:.1f} kB vs k x d "
        f"{f32['lrf_dyn'] / 1e3:.1f} kB"
    )
    ratio = lib["ssa_dxd"] / lib["lrf_dyn"]
    print(
        f"SSA(dxd) / LRF-Dyn = {ratio:.3f} ({100 * (1 / ratio - 1):+.1f} %); "
        f"SSA(NxN) / LRF-Dyn = {lib['ssa_nxn'] / lib['lrf_dyn']:.1f}; formulas agree: {agree}"
    )
    t0 = time.perf_counter()
    ssa_attn, ssa_total = whole_model("ssa")
    lrf_attn, lrf_total = whole_model("lrf_dyn")
    total_change = 100 * (lrf_total / ssa_total - 1)
    print(
        f"whole Spikformer-8-512 on Loihi (weights + neuron state + attention state, "
        f"{time.perf_counter() - t0:.0f} s):"
    )
    print(
        f"  SSA {ssa_total / 1e6:.3f} MB (attention {ssa_attn / 1e3:.1f} kB), LRF-Dyn "
        f"{lrf_total / 1e6:.3f} MB (attention {lrf_attn / 1e3:.1f} kB): {total_change:+.2f} % "
        f"(paper: {PAPER_TOTAL_CHANGE:+.1f} %)"
    )
    consistent = agree and math.isclose(ssa_attn, DEPTH * lib["ssa_dxd"])
    consistent &= math.isclose(lrf_attn, DEPTH * lib["lrf_dyn"])
    record(
        "attention_state_memory_s8_512",
        ratio=ratio,
        target="report (SSA d x d state bytes / LRF-Dyn state bytes); paper: -49.4 % total",
        met=bool(consistent),
        identical_outputs=None,
        ssa_dxd_bytes=lib["ssa_dxd"],
        ssa_nxn_bytes=lib["ssa_nxn"],
        lrf_dyn_bytes=lib["lrf_dyn"],
        attention_change_percent=round(100 * (1 / ratio - 1), 2),
        total_ssa_bytes=round(ssa_total),
        total_lrf_dyn_bytes=round(lrf_total),
        total_change_percent=round(total_change, 3),
        paper_total_change_percent=PAPER_TOTAL_CHANGE,
        formulas_agree=bool(consistent),
    )
    return 0 if consistent else 1


if __name__ == "__main__":
    sys.exit(main())
