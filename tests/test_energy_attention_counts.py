"""Attention products counted explicitly for every variant (NeuroBench and syops miss them),
checked against hand-written formulas on fixed spike patterns."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from spikeport.hw_models.cost.analytical import Convention, count_model
from spikeport.models.attention import build_attention_core

T, B, H, N, D = 2, 1, 2, 4, 40  # D = 40 -> two 32-bit words per head row


def spikes(period: int) -> torch.Tensor:
    flat = (torch.arange(T * B * H * N * D) % period == 0).float()
    return flat.reshape(T, B, H, N, D)


class Wrap(nn.Module):
    def __init__(self, core: nn.Module) -> None:
        super().__init__()
        self.core = core

    def forward(self, _x):
        return self.core(spikes(2), spikes(4), spikes(8))  # rates 1/2, 1/4, 1/8


FQ, FK, FV = 0.5, 0.25, 0.125


def _count(name: str, **conv):
    core = build_attention_core(name, num_heads=H, head_dim=D, grid=(2, 2))
    c = count_model(Wrap(core), torch.zeros(B), Convention(timesteps=T, **conv))
    return next(lo for lo in c.layers if lo.name == "core")


def test_axnor_nxn_counts_bit_packed_words_and_integer_combine():
    lo = _count("axnor", attention_order="nxn")
    pairs = T * H * N * N  # (query, key) pairs per inference
    words = math.ceil(D / 32)
    assert lo.and_words == lo.xnor_words == pairs * words == 128
    assert lo.popcount_words == 2 * pairs * words
    assert lo.int_mults == 2 * pairs and lo.int_adds == pairs
    assert lo.acs == pytest.approx(pairs * D * FV)  # integer scores x V spikes


def test_axnor_dxd_is_ssa_plus_correction_terms():
    lo = _count("axnor", attention_order="dxd")
    ssa = T * H * N * D * D * (min(FK, FV) + FQ)
    elems = T * H * N * D
    assert lo.acs == pytest.approx(ssa + elems * (2 * FV + FQ))
    assert lo.int_mults == lo.int_adds == 3 * elems


def test_sdsa_counts_masks_as_and_words_and_column_sum_as_acs():
    lo = _count("sdsa")
    assert lo.and_words == 2 * T * N * math.ceil(H * D / 32)
    assert lo.acs == pytest.approx(T * H * N * D * min(FK, FV))


def test_lrf_dyn_counts_the_serial_recurrence():
    lo = _count("lrf_dyn")
    k = 8
    elems = T * H * N * D
    assert lo.macs == elems * ((3 * k - 2) + k)  # tridiagonal A X plus readout c . X
    assert lo.acs == pytest.approx(elems * k * min(FK, FV))  # Gamma u on u = k (.) v spikes
    assert lo.and_words == T * N * math.ceil(H * D / 32)


def test_ssa_auto_order_follows_the_cheaper_association():
    lo = _count("ssa", attention_order="auto")  # d = 40 > N = 4 -> Q K^T first
    assert lo.acs == pytest.approx(T * H * N * N * D * (min(FQ, FK) + FV))
