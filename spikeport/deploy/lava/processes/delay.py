"""``Delay``: output at step t is the input of step t - steps (zeros before), graded int64."""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class Delay(AbstractProcess):
    """Delay line of `steps` timesteps (1..62) on values of `shape`."""

    def __init__(self, *, shape: tuple[int, ...], steps: int, **kwargs) -> None:
        super().__init__(shape=shape, steps=steps, **kwargs)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.line = Var(shape=(steps + 1, *shape), init=0)


@implements(proc=Delay, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyDelayModelFixed(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=32)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=32)
    line: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)

    def run_spk(self) -> None:
        slots = self.line.shape[0]
        t = self.time_step - 1
        self.line[t % slots] = self.a_in.recv()
        self.s_out.send(self.line[(t - slots + 1) % slots].copy())  # never written: zeros
