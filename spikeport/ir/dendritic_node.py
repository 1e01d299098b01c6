"""LRF-Dyn lowered: a stateful integer dendritic neuron, charged token by token.

Per channel c (D = heads * head_dim channels) it keeps k compartments X[c, :] (signed,
`state_bits` wide, units of 2^-12 counts) and, inside every SNN timestep, for tokens
n = 0..N-1 (raster order; X = 0 before token 0):

    p_i   = (4096 - decay_i) X_i + up_i X_{i+1} + down_{i-1} X_{i-1}     (tridiagonal Ā)
    X_i  <- trunc(p_i / 2^12) + gamma_i u_n                               (toward zero)
    y_n   = trunc((readout . X) / 2^12)                                   (soma, 2^-12 counts)
    a_n   = gate_n * floor(y_n * 2^count_shift / 2^12)                    (2^-count_shift counts)

u_n = k_n v_n ("kv", "kv_gate_q") or v_n ("v"); gate = q_n for "kv_gate_q", else 1.
decay: 12-bit Loihi decay 0..4096 (diagonal 4096 - decay = Ā_ii 2^12); up, down: the
couplings Ā[i, i+1], Ā[i+1, i] times 2^12 (13-bit signed); gamma, readout: 12-fractional-bit
signed integers. The output `a` drives the attention LIF (charge-fire-reset there).
The node stores only k-sized vectors per channel: no N x N or d x d matrix.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from spikeport.ir.checks import QKVCore, check_choice
from spikeport.ir.int_nodes import DECAY_BITS
from spikeport.ir.intformat import IntFormat
from spikeport.ir.node import Node, Shape, node

FRAC_BITS = DECAY_BITS
"""Fractional bits of the dendrites' integers: Loihi's 12-bit decays."""
INPUT_MODES = ("kv_gate_q", "kv", "v")


@node
class DendriticAttention(QKVCore, Node):
    """Stateful integer dendrites replacing LRF-Dyn's attention (module docstring).

    decay, gamma, readout: int [D, k]; up, down: int [D, k - 1]; count_shift: output
    fractional bits (0..16); state_bits: width of one compartment register (multiple of 8).
    """

    heads: int = 1
    head_dim: int = 1
    compartments: int = 1
    decay: np.ndarray = None  # type: ignore[assignment]
    up: np.ndarray = None  # type: ignore[assignment]
    down: np.ndarray = None  # type: ignore[assignment]
    gamma: np.ndarray = None  # type: ignore[assignment]
    readout: np.ndarray = None  # type: ignore[assignment]
    input_mode: str = "kv_gate_q"
    count_shift: int = 0
    state_bits: int = 24

    level = "int"
    int_tensors = ("decay", "up", "down", "gamma", "readout")

    @property
    def state_bytes(self) -> int:
        """Bytes of compartment state: k * head_dim * heads registers of state_bits."""
        return self.compartments * self.head_dim * self.heads * self.state_bits // 8

    def _check_fields(self) -> None:
        d, k = self.dim, self.compartments
        check_choice(self, "input_mode", INPUT_MODES)
        want = {"decay": (d, k), "gamma": (d, k), "readout": (d, k)}
        want |= {"up": (d, k - 1), "down": (d, k - 1)}
        for f, shape in want.items():
            arr = getattr(self, f)
            if arr is None or arr.shape != shape:
                got = None if arr is None else arr.shape
                raise self.fail(f"{f} must have shape {shape}, got {got}")
        if not isinstance(self.count_shift, int) or not 0 <= self.count_shift <= 16:
            raise self.fail(f"count_shift must be an int in 0..16, got {self.count_shift!r}")
        if self.state_bits not in (8, 16, 24, 32, 40, 48, 56, 64):
            raise self.fail(f"state_bits must be a multiple of 8 up to 64, got {self.state_bits}")

    def transition(self) -> np.ndarray:
        """The tridiagonal as a dense int64 [D, k, k] matrix Ā 2^12: diagonal 4096 - decay,
        Ā[i, i + 1] = up[i], Ā[i + 1, i] = down[i] (what a dense-matrix backend computes with)."""
        d, k = self.decay.shape
        a = np.zeros((d, k, k), dtype=np.int64)
        idx = np.arange(k)
        a[:, idx, idx] = (1 << FRAC_BITS) - self.decay
        a[:, idx[:-1], idx[1:]] = self.up
        a[:, idx[1:], idx[:-1]] = self.down
        return a

    def formats(self) -> dict[str, IntFormat]:
        return {"up": IntFormat(13, True), "down": IntFormat(13, True)}

    def check(self) -> None:
        if np.any(self.decay < 0) or np.any(self.decay > 1 << FRAC_BITS):
            raise self.fail("decay must lie in 0..4096 (12-bit Loihi decay)")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return self.qkv_shape(inputs)
