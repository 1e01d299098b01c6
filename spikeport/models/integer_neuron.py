"""Integer-valued spikes (I-LIF, Spike-driven Transformer V3 / SpikeYOLO "spike firing
approximation") and their expansion into binary spikes over virtual timesteps.

Training and the official forward: the neuron emits an integer ``s = round(clamp(x, 0, D))``
in ``{0, ..., D}`` (``D = max_value``, 4 in the official code) and passes ``s / norm`` on
(``norm = D`` by default, so activations lie in [0, 1]; the classifier's neuron uses
``norm = 1``). The official ``MultiSpike`` of SDT-V3's ImageNet models has no time axis
(T = 1), so there is no membrane history. ``round`` is PyTorch's (half to even). Backward:
straight-through inside ``[0, D]``, zero outside (official ``Quant``).

Inference on a binary-spike chip: ``s`` becomes ``D`` virtual timesteps of binary spikes
``b_0..b_{D-1}`` with ``b_t = 1`` iff ``t < s`` (:func:`expand_integer_spikes`), so
``sum_t b_t = s``. Any affine layer ``f(x) = L x + c`` that follows gives the same result
from the binary train: ``f(s / norm) = sum_t (f(b_t) - f(0)) / norm + f(0)``, i.e. the layer
accumulates ``L b_t`` over the D steps and adds its constant once
(:func:`accumulate_virtual_steps`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from spikeport.errors import SpikeportError

SPIKE_MAX = 4


class _RoundClamp(torch.autograd.Function):
    """``round(clamp(x, 0, hi))``; gradient 1 inside ``[0, hi]``, 0 outside."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, hi: int) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.hi = hi
        return torch.round(torch.clamp(x, 0, hi))

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        inside = (x >= 0) & (x <= ctx.hi)
        return grad_output * inside.to(grad_output.dtype), None


class IntegerLIF(nn.Module):
    """I-LIF at T = 1 (official ``MultiSpike``): ``x -> round(clamp(x, 0, D)) / norm``.

    ``max_value`` (D) is the largest integer spike, ``norm`` the divisor (default D).
    Attributes are read by the converter; the module has no parameters.
    """

    def __init__(self, max_value: int = SPIKE_MAX, norm: float | None = None) -> None:
        super().__init__()
        if int(max_value) != max_value or max_value < 1:
            raise SpikeportError(f"IntegerLIF: max_value must be an integer >= 1, got {max_value}")
        self.max_value = int(max_value)
        self.norm = float(self.max_value if norm is None else norm)

    def integers(self, x: torch.Tensor) -> torch.Tensor:
        """The integer spikes ``s`` in ``{0..D}`` (same dtype as ``x``)."""
        return _RoundClamp.apply(x, self.max_value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.integers(x) / self.norm

    def extra_repr(self) -> str:
        return f"max_value={self.max_value}, norm={self.norm}"


def expand_integer_spikes(s: torch.Tensor, max_value: int) -> torch.Tensor:
    """Integer spikes ``s`` (values in ``{0..max_value}``) -> binary ``[max_value, *s.shape]``
    with ``b[t] = 1`` iff ``t < s`` (so the train sums to ``s``)."""
    if torch.any((s < 0) | (s > max_value) | (s != torch.round(s))):
        raise SpikeportError(f"expand_integer_spikes: values must be integers in 0..{max_value}")
    steps = torch.arange(max_value, device=s.device).view(-1, *([1] * s.dim()))
    return (steps < s.unsqueeze(0)).to(s.dtype)


def accumulate_virtual_steps(
    layer: Callable[[torch.Tensor], torch.Tensor], binary: torch.Tensor, norm: float
) -> torch.Tensor:
    """An affine ``layer`` run on each virtual step of ``binary`` ``[D, ...]``: its linear
    part accumulated over the steps and divided by ``norm``, its constant ``layer(0)`` added
    once. Equals ``layer(binary.sum(0) / norm)``."""
    const = layer(torch.zeros_like(binary[0]))
    total = sum(layer(b) - const for b in binary)
    return total / norm + const
