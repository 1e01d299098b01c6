"""Integer-spike processes (SDT-V3), int64, no latency (they send in the step they receive).

* ``GradedSpike``: the I-LIF, ``s = clamp(rint((a + bias) / vth), 0, max_value)`` with ties to
  even, sent as a graded message.
* ``LinearAttention``: per head ``((q k^T) v) << shift`` on graded spikes, channels head-major.

Written independently of the simulator's kernels (the rounding as ``floor((2x + vth) /
(2 vth))`` corrected on ties, the product in the Q-K-first order), so that the
Lava-vs-simulator comparison checks two implementations against each other.
"""

import numpy as np
from lava.magma.core.model.py.model import PyLoihiProcessModel

from spikeport.deploy.lava.processes.base import PortedProcess, fixed_pt


class GradedSpike(PortedProcess):
    INPUTS = ("a_in",)

    def __init__(
        self, *, shape: tuple[int, ...], vth: int, bias: np.ndarray, max_value: int, **kwargs
    ):
        super().__init__(vth=int(vth), bias=np.asarray(bias), max_value=int(max_value), **kwargs)
        self._ports(shape)


@fixed_pt(GradedSpike)
class PyGradedSpikeModelFixed(PyLoihiProcessModel):
    def run_spk(self) -> None:
        p = self.proc_params
        vth = np.int64(p["vth"])
        x = self.a_in.recv().astype(np.int64) + p["bias"]
        num = 2 * x + vth
        s = np.floor_divide(num, 2 * vth)
        tie = num % (2 * vth) == 0
        s = s - (tie & (s % 2 != 0))  # halves go to the even neighbour
        self.s_out.send(np.clip(s, 0, p["max_value"]))


class LinearAttention(PortedProcess):
    INPUTS = ("q", "k", "v")

    def __init__(
        self,
        *,
        q_shape: tuple[int, int],
        v_shape: tuple[int, int],
        heads: int,
        shift: int,
        **kwargs,
    ):
        super().__init__(heads=int(heads), shift=int(shift), **kwargs)
        self._ports(v_shape, q_shape, q_shape, v_shape)


@fixed_pt(LinearAttention)
class PyLinearAttentionModelFixed(PyLoihiProcessModel):
    def run_spk(self) -> None:
        p = self.proc_params
        h = p["heads"]
        q, k, v = (port.recv().astype(np.int64) for port in (self.q, self.k, self.v))
        n = q.shape[0]
        out = np.empty(v.shape, dtype=np.int64)
        d, dv = q.shape[1] // h, v.shape[1] // h
        for i in range(h):
            qh, kh, vh = (
                q[:, i * d : (i + 1) * d],
                k[:, i * d : (i + 1) * d],
                v[:, i * dv : (i + 1) * dv],
            )
            scores = qh @ kh.T  # (N, N)
            out[:, i * dv : (i + 1) * dv] = (scores @ vh) << p["shift"]
        assert out.shape[0] == n
        self.s_out.send(out)
