"""Sigma-delta neurons, bit-exact with Lava's fixed-point SDN models (``lava/proc/sdn``).

Constructor integers are Lava's Process arguments; like Lava (``process.py`` L99, L179-180)
the state-scale threshold and bias are ``vth << (spike_exp + state_exp)`` and
``bias << (spike_exp + state_exp)``. Per step (``models.py`` L33-106, L205-284):

* Delta (``PyDeltaModelFixed``): ``x = a_in << (spike_exp + state_exp)``;
  ``delta = x - act + residue``; ``s = delta if |delta| >= vth else 0`` (``>=``, although the
  docstring says ``>``); ``residue = delta - s``; ``act = x``; sends ``s >> state_exp``.
* SigmaDelta (``PySigmaDeltaModelFixed``): ``sigma += a_in`` (no shift);
  ``act = relu(sigma + bias)`` (or ``sigma + bias`` for unit mode); then the delta step on
  ``act``; sends ``s >> state_exp``. The ``state_exp`` LSBs dropped there never return to the
  residue (a 0.10.0 quirk fixed upstream after the release).
* With ``cum_error``: ``error += delta``; ``s = delta if |error| >= vth else 0``;
  ``error = 0`` where s != 0.
* Sigma (``PySigmaModelFixed``): ``sigma += a_in``; sends sigma.

State int64 (Lava: int32; |values| stay far below 2**31 for netx's scales).
"""

from __future__ import annotations

import numpy as np

from spikeport.hw_models.sim.kernels.node_kernel import NodeKernel


class _DeltaState:
    def __init__(self, shape: tuple[int, ...], vth: int, state_exp: int, cum_error: bool) -> None:
        self.shape = tuple(shape)
        self.vth_scaled = int(vth)
        self.state_exp = int(state_exp)
        self.cum_error = bool(cum_error)
        self.reset(0)

    def reset(self, batch: int) -> None:
        z = (batch, *self.shape)
        self.act = np.zeros(z, dtype=np.int64)
        self.residue = np.zeros(z, dtype=np.int64)
        self.error = np.zeros(z, dtype=np.int64)

    def _delta(self, act_new: np.ndarray) -> np.ndarray:
        delta = act_new - self.act + self.residue
        if self.cum_error:
            self.error = self.error + delta
            s = np.where(np.abs(self.error) >= self.vth_scaled, delta, 0)
            self.error = self.error * (1 - (np.abs(s) > 0))
        else:
            s = np.where(np.abs(delta) >= self.vth_scaled, delta, 0)
        self.residue = delta - s
        self.act = act_new
        return np.right_shift(s, self.state_exp)


class DeltaEncoder(_DeltaState, NodeKernel):
    """Lava ``Delta`` (netx SDNN input layer): graded change messages of its input."""

    def __init__(
        self,
        shape: tuple[int, ...],
        *,
        vth: int,
        spike_exp: int = 0,
        state_exp: int = 0,
        cum_error: bool = False,
    ) -> None:
        self.scale = int(spike_exp) + int(state_exp)
        super().__init__(shape, int(vth) << self.scale, state_exp, cum_error)

    def step(self, a_in: np.ndarray) -> np.ndarray:
        x = np.left_shift(np.asarray(a_in, dtype=np.int64), self.scale)
        return self._delta(x)


class SigmaDeltaNeuron(_DeltaState, NodeKernel):
    """Lava ``SigmaDelta`` (netx SDNN hidden layer), act_mode "relu" or "unit"."""

    def __init__(
        self,
        shape: tuple[int, ...],
        *,
        vth: int,
        bias: int | np.ndarray = 0,
        spike_exp: int = 0,
        state_exp: int = 0,
        act_mode: str = "relu",
        cum_error: bool = False,
    ) -> None:
        scale = int(spike_exp) + int(state_exp)
        super().__init__(shape, int(vth) << scale, state_exp, cum_error)
        self.bias = np.broadcast_to(np.asarray(bias, dtype=np.int64), self.shape) << scale
        if act_mode not in ("relu", "unit"):
            raise ValueError(f"act_mode must be relu|unit, got {act_mode!r}")
        self.relu = act_mode == "relu"

    def reset(self, batch: int) -> None:
        super().reset(batch)
        self.sigma = np.zeros((batch, *self.shape), dtype=np.int64)

    def step(self, a_in: np.ndarray) -> np.ndarray:
        self.sigma = self.sigma + np.asarray(a_in, dtype=np.int64)
        act = self.sigma + self.bias
        if self.relu:
            act = np.maximum(act, 0)
        return self._delta(act)


class SigmaDecoder(NodeKernel):
    """Lava ``Sigma`` (netx ``sigma_output`` layer): running sum of its input."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)
        self.reset(0)

    def reset(self, batch: int) -> None:
        self.sigma = np.zeros((batch, *self.shape), dtype=np.int64)

    def step(self, a_in: np.ndarray) -> np.ndarray:
        self.sigma = self.sigma + np.asarray(a_in, dtype=np.int64)
        return self.sigma.copy()
