"""LRF-Dyn (Zhang et al., ICLR 2026, Eqs. 11-15): attention replaced by dendritic dynamics
run causally over the token index n (raster order) inside each SNN timestep.

Per head and channel j (``d`` channels per head), ``k`` dendritic compartments ``X_n in R^k``::

    X_n = Ā X_{n-1} + Γ u_n,   X_{-1} = 0       (Ā: k×k tridiagonal, Γ: k input gains)
    y_n = c · X_n                                (soma readout c: k weights)
    out_n = scale * q_n ⊙ y_n + LRF(V)_n        (default: u_n = k_n ⊙ v_n, gated by q_n)

The paper leaves the token input undefined; ``token_input="kv"`` (default) reads Eq. 11's
causal SSA ``q_n · sum_{j<=n} k_jᵀ v_j`` with the d×d state replaced by its diagonal filtered
through the dendrites, ``token_input="v"`` feeds ``u_n = v_n``. ``gate="none"`` drops the q gate.
``LRF`` is the depth-wise dilated 3×3 local term of LRF-SSA on V (``local=False`` omits it).

Ā's diagonal holds the decays ``λ_i = LAMBDA_MAX * sigmoid(decay_logit_i)`` in
(0, 1 - 2^-12] (Loihi's slowest non-zero 12-bit decay); its off-diagonals hold couplings
``Ā[i, i+1] = tanh(coupling_up_i) * m_i`` and ``Ā[i+1, i] = tanh(coupling_down_i) * m_i`` with
``m_i = COUPLING_SHARE * (1 - max(λ_i, λ_{i+1}))``. Every row's absolute sum is then at most
``λ_i + 0.8 (1 - λ_i) < 1`` (also in float32, where sigmoid and tanh saturate to 1), so by
Gershgorin the spectral radius is < 1: stable for any parameter values.

Training form: ``y = K * u`` (causal convolution over n) with the impulse response
``K[m] = c Ā^m Γ``, evaluated by FFT over 2N points; Ā^m Γ is built by doubling
(log2 N products of k×k matrices). Inference form (:meth:`LRFDynCore.forward_serial`): the
recurrence itself, keeping ``k * d`` state values per head; neither form holds an N×N or
d×d matrix.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from spikeport.errors import UnsupportedError
from spikeport.models.attention.core import AttentionCore, node_tensor, to_numpy
from spikeport.models.attention.local import LocalReceptiveField, with_local

LAMBDA_MAX = 1.0 - 2.0**-12
COUPLING_SHARE = 0.4
TOKEN_INPUTS = ("kv", "v")
GATES = ("q", "none")
INPUT_MODES = {("kv", "q"): "kv_gate_q", ("kv", "none"): "kv", ("v", "none"): "v"}
"""(token_input, gate) -> the IR node's input_mode."""


def impulse_response(
    power: torch.Tensor, gamma: torch.Tensor, readout: torch.Tensor, n_tokens: int
) -> torch.Tensor:
    """``K[m] = c Ā^m Γ`` for ``m < n_tokens``: Ā ``(h, d, k, k)``, Γ and c ``(h, d, k)``;
    returns ``(h, d, N)``. Ā^m Γ is built by doubling (log2 N products of k×k matrices)."""
    responses = gamma.unsqueeze(-1)  # Ā^m Γ for m < length: (h, d, k, length)
    while responses.shape[-1] < n_tokens:
        responses = torch.cat([responses, power @ responses], dim=-1)
        power = power @ power
    responses = responses[..., :n_tokens]
    return (readout.unsqueeze(-1) * responses).sum(-2)


def causal_filter(u: torch.Tensor, kern: torch.Tensor) -> torch.Tensor:
    """``y = K * u`` causally over the token axis of u ``[T, B, h, N, d]`` by FFT over 2N
    points; kern ``(h, d, N)``."""
    n = u.shape[-2]
    spectrum = torch.fft.rfft(u.transpose(-2, -1), n=2 * n) * torch.fft.rfft(kern, n=2 * n)
    return torch.fft.irfft(spectrum, n=2 * n)[..., :n].transpose(-2, -1)


def gated_output(q: torch.Tensor, y: torch.Tensor, scale: float, gated: bool) -> torch.Tensor:
    """``y * scale``, times q when the output is gated by the queries."""
    out = y * scale
    return q * out if gated else out


class LRFDynCore(AttentionCore):
    """Dendritic-dynamics attention; parameters ``decay_logit``, ``coupling_up``,
    ``coupling_down``, ``gamma``, ``readout`` of shape ``(h, d, k)`` / ``(h, d, k-1)`` and
    ``local.convs.*`` (when ``local``).

    Initialisation: time constants ``τ_i`` geometric from 1 to 32 tokens (``λ_i = e^{-1/τ_i}``,
    multi-timescale dendrites), couplings ``tanh(0.5)`` of their bound (moderate diffusion
    along the dendrite), ``Γ = 1``, ``c = 1``.
    """

    name = "lrf_dyn"
    emits_spikes = False

    def __init__(
        self,
        *,
        num_heads: int,
        head_dim: int,
        grid: tuple[int, int] | None = None,
        scale: float = 0.125,
        compartments: int = 8,
        token_input: str = "kv",
        gate: str = "q",
        local: bool = True,
        dilations: tuple[int, ...] = (3, 5),
    ) -> None:
        super().__init__(num_heads=num_heads, head_dim=head_dim, scale=scale)
        if token_input not in TOKEN_INPUTS:
            raise UnsupportedError(
                f"attention 'lrf_dyn': token_input '{token_input}' not in {TOKEN_INPUTS}"
            )
        if gate not in GATES:
            raise UnsupportedError(f"attention 'lrf_dyn': gate '{gate}' not in {GATES}")
        if compartments < 1:
            raise UnsupportedError(
                f"attention 'lrf_dyn': compartments must be >= 1, got {compartments}"
            )
        self.compartments = int(compartments)
        self.token_input = token_input
        self.gate = gate
        h, d, kc = self.num_heads, self.head_dim, self.compartments
        tau = torch.logspace(0.0, math.log10(32.0), kc) if kc > 1 else torch.tensor([4.0])
        lam = torch.exp(-1.0 / tau)
        lam = lam / LAMBDA_MAX
        self.decay_logit = nn.Parameter(torch.log(lam / (1 - lam)).expand(h, d, kc).clone())
        self.coupling_up = nn.Parameter(torch.full((h, d, kc - 1), 0.5))
        self.coupling_down = nn.Parameter(torch.full((h, d, kc - 1), 0.5))
        self.gamma = nn.Parameter(torch.ones(h, d, kc))
        self.readout = nn.Parameter(torch.ones(h, d, kc))
        self.local = (
            LocalReceptiveField(h * d, grid, tuple(dilations), owner=self.name) if local else None
        )

    # -- the dynamics' parameters ------------------------------------------------------
    def tridiagonal(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(diag (h,d,k), upper (h,d,k-1), lower (h,d,k-1))`` of Ā: ``upper[i] = Ā[i, i+1]``,
        ``lower[i] = Ā[i+1, i]``."""
        lam = LAMBDA_MAX * torch.sigmoid(self.decay_logit)
        bound = COUPLING_SHARE * (1.0 - torch.maximum(lam[..., :-1], lam[..., 1:]))
        return lam, torch.tanh(self.coupling_up) * bound, torch.tanh(self.coupling_down) * bound

    def transition_matrix(self) -> torch.Tensor:
        """Dense Ā, shape ``(h, d, k, k)`` (k×k per channel; for lowering and inspection)."""
        lam, up, low = self.tridiagonal()
        return torch.diag_embed(lam) + torch.diag_embed(up, 1) + torch.diag_embed(low, -1)

    def kernel(self, n_tokens: int) -> torch.Tensor:
        """Impulse response ``K[m] = c Ā^m Γ`` for ``m < n_tokens``, shape ``(h, d, N)``."""
        return impulse_response(self.transition_matrix(), self.gamma, self.readout, n_tokens)

    @property
    def state_values_per_head(self) -> int:
        """Inference state kept by the serial form: ``k * d`` values per head."""
        return self.compartments * self.head_dim

    # -- forward forms -------------------------------------------------------------------
    def token_drive(self, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The per-token input ``u_n``, ``[T, B, h, N, d]``."""
        return k * v if self.token_input == "kv" else v

    def _combine(self, q: torch.Tensor, v: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = gated_output(q, y, self.scale, self.gate == "q")
        if self.local is not None:
            out = out + self.local(v)
        return out

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Training form: causal convolution over tokens by FFT."""
        self.check_inputs(q, k, v)
        y = causal_filter(self.token_drive(k, v), self.kernel(q.shape[-2]))
        return self._combine(q, v, y)

    def forward_serial(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Inference form: the recurrence token by token; state ``[T, B, h, d, k]``."""
        self.check_inputs(q, k, v)
        lam, up, low = self.tridiagonal()
        u = self.token_drive(k, v)
        state = u.new_zeros(*u.shape[:3], self.head_dim, self.compartments)
        ys = []
        for n in range(u.shape[-2]):
            nxt = lam * state
            if self.compartments > 1:
                above = up * state[..., 1:]
                below = low * state[..., :-1]
                nxt = nxt + torch.cat([above, torch.zeros_like(state[..., :1])], dim=-1)
                nxt = nxt + torch.cat([torch.zeros_like(state[..., :1]), below], dim=-1)
            state = nxt + self.gamma * u[..., n, :].unsqueeze(-1)
            ys.append((state * self.readout).sum(-1))
        return self._combine(q, v, torch.stack(ys, dim=-2))

    def ir_params(self) -> dict[str, Any]:
        mode = INPUT_MODES.get((self.token_input, self.gate))
        if mode is None:
            raise UnsupportedError(f"token_input={self.token_input!r} with gate={self.gate!r}")
        d, kc = self.num_heads * self.head_dim, self.compartments
        with torch.no_grad():
            dyn_a = to_numpy(self.transition_matrix()).reshape(d, kc, kc)
        local = {} if self.local is None else self.local.ir_params()
        return {
            "dyn_a": dyn_a,
            "dyn_gamma": to_numpy(self.gamma).reshape(d, kc),
            "dyn_c": to_numpy(self.readout).reshape(d, kc),
            "input_mode": mode,
            **local,
        }

    @classmethod
    def reference(
        cls, node: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> torch.Tensor:
        dim, kc = node.dyn_gamma.shape
        shape = (node.heads, dim // node.heads)
        kern = impulse_response(
            node_tensor(node.dyn_a).reshape(*shape, kc, kc),
            node_tensor(node.dyn_gamma).reshape(*shape, kc),
            node_tensor(node.dyn_c).reshape(*shape, kc),
            q.shape[-2],
        )
        y = causal_filter(v if node.input_mode == "v" else k * v, kern)
        return with_local(node, gated_output(q, y, node.scale, node.input_mode == "kv_gate_q"), v)

    def extra_repr(self) -> str:
        return (
            super().extra_repr()
            + f", compartments={self.compartments}, token_input={self.token_input!r}, "
            f"gate={self.gate!r}"
        )
