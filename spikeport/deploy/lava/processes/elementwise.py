"""Graded residual add, window max-pool, axis sum (readout), token gating; int64, no latency."""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

IN = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=32)
OUT = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=32)


class Add(AbstractProcess):
    """out = a + b (graded: the residual of two spike tensors takes values 0, 1, 2)."""

    def __init__(self, *, shape: tuple[int, ...], **kwargs) -> None:
        super().__init__(shape=shape, **kwargs)
        self.a = InPort(shape=shape)
        self.b = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)


@implements(proc=Add, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyAddModelFixed(PyLoihiProcessModel):
    a: PyInPort = IN
    b: PyInPort = IN
    s_out: PyOutPort = OUT

    def run_spk(self) -> None:
        self.s_out.send(self.a.recv().astype(np.int64) + self.b.recv().astype(np.int64))


class MaxPool(AbstractProcess):
    """Max over (kH, kW) windows of a (C, H, W) input; padding never wins. On 0/1 spikes
    this is the OR of the window. kernel, stride, padding: (H, W) pairs."""

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
        self.a_in = InPort(shape=in_shape)
        self.s_out = OutPort(shape=out_shape)


@implements(proc=MaxPool, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyMaxPoolModelFixed(PyLoihiProcessModel):
    a_in: PyInPort = IN
    s_out: PyOutPort = OUT

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


class AxisSum(AbstractProcess):
    """Sum over one axis, then << shift: the token-mean readout's accumulation (the 1/N is a
    scale the readout absorbs) and SDSA's token column sum."""

    def __init__(self, *, in_shape: tuple[int, ...], axis: int, shift: int = 0, **kwargs) -> None:
        out_shape = tuple(d for i, d in enumerate(in_shape) if i != axis % len(in_shape))
        super().__init__(axis=axis % len(in_shape), shift=shift, **kwargs)
        self.a_in = InPort(shape=in_shape)
        self.s_out = OutPort(shape=out_shape)


@implements(proc=AxisSum, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyAxisSumModelFixed(PyLoihiProcessModel):
    a_in: PyInPort = IN
    s_out: PyOutPort = OUT

    def run_spk(self) -> None:
        x = self.a_in.recv().astype(np.int64)
        total = x.sum(axis=self.proc_params["axis"])
        self.s_out.send(total << self.proc_params["shift"])


class GateTokens(AbstractProcess):
    """out[n, d] = (a[n, d] != 0) AND (b[d] != 0) (b per channel, broadcast over tokens) or
    b[n, d] elementwise: SDSA's q * SN(.) and the lowered SpikeAnd."""

    def __init__(self, *, shape: tuple[int, int], b_shape: tuple[int, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.a = InPort(shape=shape)
        self.b = InPort(shape=b_shape)
        self.s_out = OutPort(shape=shape)


@implements(proc=GateTokens, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyGateTokensModelFixed(PyLoihiProcessModel):
    a: PyInPort = IN
    b: PyInPort = IN
    s_out: PyOutPort = OUT

    def run_spk(self) -> None:
        a = self.a.recv() != 0
        b = self.b.recv() != 0
        self.s_out.send((a & b).astype(np.int64))
