"""Multi-step LIF neuron with SpikingJelly ``LIFNode`` semantics and no state in ``state_dict``.

Per step t (float32, membrane in the units of the input current):

* charge, ``decay_input=True``:  ``H[t] = V[t-1] + (X[t] - (V[t-1] - v_reset)) / tau``
* charge, ``decay_input=False``: ``H[t] = V[t-1] - (V[t-1] - v_reset) / tau + X[t]``
* fire: ``S[t] = 1 if H[t] >= v_threshold else 0`` (Heaviside forward; backward uses the
  sigmoid surrogate ``dS/dH = alpha * sig(alpha x) * (1 - sig(alpha x))``, ``x = H - v_th``)
* hard reset: ``V[t] = S[t] * v_reset + (1 - S[t]) * H[t]`` (``S`` detached if ``detach_reset``)

``V[-1] = v_reset``. Every ``forward`` starts from rest, so no ``reset_net`` is needed; this
equals SpikingJelly ``LIFNode(step_mode='m')`` reset between calls (as the official training
scripts do after every batch).
"""

from __future__ import annotations

import torch
from torch import nn


class SigmoidSurrogateSpike(torch.autograd.Function):
    """Heaviside ``x >= 0`` forward, sigmoid-derivative surrogate (slope ``alpha``) backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        sig = torch.sigmoid(ctx.alpha * x)
        return grad_output * sig * (1.0 - sig) * ctx.alpha, None


def spike(x: torch.Tensor, alpha: float = 4.0) -> torch.Tensor:
    """Spikes ``x >= 0`` as float 0/1, with the sigmoid surrogate gradient."""
    return SigmoidSurrogateSpike.apply(x, alpha)


class MultiStepLIF(nn.Module):
    """LIF over a ``[T, ...]`` input current; returns float 0/1 spikes of the same shape.

    Attributes ``tau``, ``v_threshold``, ``v_reset``, ``decay_input`` are read by the
    converter. Defaults are Spikformer's (tau 2, threshold 1, hard reset to 0).
    """

    def __init__(
        self,
        tau: float = 2.0,
        v_threshold: float = 1.0,
        v_reset: float = 0.0,
        decay_input: bool = True,
        detach_reset: bool = True,
        surrogate_alpha: float = 4.0,
    ) -> None:
        super().__init__()
        if not tau > 1.0:
            raise ValueError(f"MultiStepLIF: tau must be > 1, got {tau}")
        self.tau = float(tau)
        self.v_threshold = float(v_threshold)
        self.v_reset = float(v_reset)
        self.decay_input = bool(decay_input)
        self.detach_reset = bool(detach_reset)
        self.surrogate_alpha = float(surrogate_alpha)

    def extra_repr(self) -> str:
        return (
            f"tau={self.tau}, v_threshold={self.v_threshold}, v_reset={self.v_reset}, "
            f"decay_input={self.decay_input}, detach_reset={self.detach_reset}"
        )

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if x_seq.dim() < 1:
            raise ValueError("MultiStepLIF: input must have a leading time dimension [T, ...]")
        v: torch.Tensor | float = self.v_reset
        spikes = []
        for x in x_seq:
            if self.decay_input:
                h = v + (x - (v - self.v_reset)) / self.tau
            else:
                h = v - (v - self.v_reset) / self.tau + x
            s = spike(h - self.v_threshold, self.surrogate_alpha)
            s_r = s.detach() if self.detach_reset else s
            v = s_r * self.v_reset + (1.0 - s_r) * h
            spikes.append(s)
        return torch.stack(spikes)
