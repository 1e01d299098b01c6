"""Graded residual add, window max-pool, axis sum (readout), token gating; int64, no latency."""

import numpy as np
from lava.magma.core.model.py.model import PyLoihiProcessModel

from spikeport.deploy.lava.processes.base import PortedProcess, fixed_pt


class Add(PortedProcess):
    """out = a + b (graded: the residual of two spike tensors takes values 0, 1, 2)."""

    INPUTS = ("a", "b")

    def __init__(self, *, shape: tuple[int, ...], **kwargs) -> None:
        super().__init__(shape=shape, **kwargs)
        self._ports(shape)


@fixed_pt(Add)
class PyAddModelFixed(PyLoihiProcessModel):
    def run_spk(self) -> None:
        self.s_out.send(self.a.recv().astype(np.int64) + self.b.recv().astype(np.int64))


class MaxPool(PortedProcess):
    """Max over (kH, kW) windows of a (C, H, W) input; padding never wins. On 0/1 spikes
    this is the OR of the window. kernel, stride, padding: (H, W) pairs."""

    INPUTS = ("a_in",)

    def __init__(
        self,
        *,
        in_shape: tuple[int, int, int],
        out_shape: tuple[int, int, int],
        kernel: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int],
        **kwargs,
    ) -> None:
        super().__init__(kernel=kernel, stride=stride, padding=padding, **kwargs)
        self._ports(out_shape, in_shape)


@fixed_pt(MaxPool)
class PyMaxPoolModelFixed(PyLoihiProcessModel):
    def run_spk(self) -> None:
        x = self.a_in.recv().astype(np.int64)
        kh, kw = self.proc_params["kernel"]
        sh, sw = self.proc_params["stride"]
        ph, pw = self.proc_params["padding"]
        c, ho, wo = self.s_out.shape
        _, h, w = x.shape
        out = np.empty((c, ho, wo), dtype=np.int64)
        for i in range(ho):
            r0, r1 = max(0, i * sh - ph), min(h, i * sh - ph + kh)
            for j in range(wo):
                c0, c1 = max(0, j * sw - pw), min(w, j * sw - pw + kw)
                out[:, i, j] = x[:, r0:r1, c0:c1].reshape(c, -1).max(axis=1)
        self.s_out.send(out)


class AxisSum(PortedProcess):
    """Sum over one axis, then << shift: the token-mean readout's accumulation (the 1/N is a
    scale the readout absorbs) and SDSA's token column sum."""

    INPUTS = ("a_in",)

    def __init__(self, *, in_shape: tuple[int, ...], axis: int, shift: int = 0, **kwargs) -> None:
        out_shape = tuple(d for i, d in enumerate(in_shape) if i != axis % len(in_shape))
        super().__init__(axis=axis % len(in_shape), shift=shift, **kwargs)
        self._ports(out_shape, in_shape)


@fixed_pt(AxisSum)
class PyAxisSumModelFixed(PyLoihiProcessModel):
    def run_spk(self) -> None:
        x = self.a_in.recv().astype(np.int64)
        total = x.sum(axis=self.proc_params["axis"])
        self.s_out.send(total << self.proc_params["shift"])


class GateTokens(PortedProcess):
    """out[n, d] = (a[n, d] != 0) AND (b[d] != 0) (b per channel, broadcast over tokens) or
    b[n, d] elementwise: SDSA's q * SN(.) and the lowered SpikeAnd."""

    INPUTS = ("a", "b")

    def __init__(self, *, shape: tuple[int, int], b_shape: tuple[int, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self._ports(shape, shape, b_shape)


@fixed_pt(GateTokens)
class PyGateTokensModelFixed(PyLoihiProcessModel):
    def run_spk(self) -> None:
        a = self.a.recv() != 0
        b = self.b.recv() != 0
        self.s_out.send((a & b).astype(np.int64))
