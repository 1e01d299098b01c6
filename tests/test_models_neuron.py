"""MultiStepLIF against SpikingJelly 2.0.0 LIFNode (independent reference)."""

from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import functional, neuron, surrogate

from spikeport.models.neuron import MultiStepLIF


def sj_lif(v_threshold: float, decay_input: bool = True) -> torch.nn.Module:
    return neuron.LIFNode(
        tau=2.0,
        decay_input=decay_input,
        v_threshold=v_threshold,
        v_reset=0.0,
        surrogate_function=surrogate.Sigmoid(alpha=4.0),
        detach_reset=True,
        step_mode="m",
    )


@pytest.mark.parametrize("v_threshold", [0.5, 1.0, 1.7])
@pytest.mark.parametrize("decay_input", [True, False])
def test_lif_spikes_and_grads_match_spikingjelly(v_threshold: float, decay_input: bool) -> None:
    gen = torch.Generator().manual_seed(int(v_threshold * 10) + decay_input)
    ref = sj_lif(v_threshold, decay_input)
    ours = MultiStepLIF(tau=2.0, v_threshold=v_threshold, decay_input=decay_input)
    for _ in range(3):  # several batches: the reference is reset between them
        x = ((torch.rand(6, 3, 17, generator=gen) * 3.0 - 0.5) * v_threshold).requires_grad_(True)
        x2 = x.detach().clone().requires_grad_(True)
        s_ref = ref(x)
        s_ours = ours(x2)
        assert s_ours.shape == x.shape
        assert torch.equal(s_ours, s_ref)
        assert 0.05 < s_ours.mean().item() < 0.95  # both spiking and silent outputs occur
        w = torch.randn(s_ref.shape, generator=gen)
        (s_ref * w).sum().backward()
        (s_ours * w).sum().backward()
        torch.testing.assert_close(x2.grad, x.grad, rtol=1e-5, atol=1e-6)
        functional.reset_net(ref)


def test_lif_hand_computed_sequence() -> None:
    # tau=2, v_th=1: H = (V + X)/2; X=1.5 -> H=.75 no spike; X=1.5 -> H=1.125 spike, V=0;
    # X=2 -> H=1 spike (>=); X=0 -> 0.
    x = torch.tensor([1.5, 1.5, 2.0, 0.0]).reshape(4, 1)
    assert MultiStepLIF()(x).flatten().tolist() == [0.0, 1.0, 1.0, 0.0]


def test_lif_each_forward_starts_from_rest() -> None:
    lif = MultiStepLIF(v_threshold=1.0)
    x = torch.full((1, 2), 1.5)  # from rest: H = 0.75 < 1, never spikes in one step
    lif(torch.full((3, 2), 1.9))
    assert lif(x).sum().item() == 0.0


def test_lif_has_no_state_dict_entries_and_exposes_attributes() -> None:
    lif = MultiStepLIF(tau=2.0, v_threshold=0.5)
    assert list(lif.state_dict()) == []
    assert list(lif.parameters()) == []
    assert (lif.tau, lif.v_threshold, lif.v_reset, lif.decay_input) == (2.0, 0.5, 0.0, True)
