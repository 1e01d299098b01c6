"""Per-layer firing rates: the mean spike rate of every LIF module, keyed by module path."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from spikeport.models.integer_neuron import IntegerLIF
from spikeport.models.neuron import MultiStepLIF


@torch.no_grad()
def measure_firing_rates(
    model: nn.Module, images: torch.Tensor | Iterable[torch.Tensor], batch_size: int = 256
) -> dict[str, float]:
    """Fraction of (neuron, timestep, sample) slots that spiked, per ``MultiStepLIF`` path.

    Runs ``model`` in eval mode on ``images`` (a tensor, ``batch_size`` samples at a time,
    or an iterable of input batches as the model takes them); the rate is over every element
    of the LIF's ``[T, ...]`` output (spikes are 0/1, so the mean is the firing probability
    per step).
    For an ``IntegerLIF`` the rate is the mean integer spike ``s`` (binary spikes per neuron
    over its ``max_value`` virtual timesteps, so up to ``max_value``; SDT-V3's convention).
    """
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    handles = []

    def hook_for(name: str, scale: float):
        def hook(_mod: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
            sums[name] = sums.get(name, 0.0) + float(out.double().sum()) * scale
            counts[name] = counts.get(name, 0) + out.numel()

        return hook

    for name, mod in model.named_modules():
        if isinstance(mod, MultiStepLIF):
            handles.append(mod.register_forward_hook(hook_for(name, 1.0)))
        elif isinstance(mod, IntegerLIF):
            handles.append(mod.register_forward_hook(hook_for(name, mod.norm)))
    was_training = model.training
    model.eval()
    try:
        batches = images
        if isinstance(images, torch.Tensor):
            batches = (images[i : i + batch_size] for i in range(0, len(images), batch_size))
        for batch in batches:
            model(batch)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {name: sums[name] / counts[name] for name in sums}
