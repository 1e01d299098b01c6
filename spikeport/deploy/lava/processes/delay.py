"""``Delay``: output at step t is the input of step t - steps (zeros before), graded int64."""

import numpy as np
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.variable import Var

from spikeport.deploy.lava.processes.base import PortedProcess, fixed_pt


class Delay(PortedProcess):
    """Delay line of `steps` timesteps (1..62) on values of `shape`."""

    INPUTS = ("a_in",)

    def __init__(self, *, shape: tuple[int, ...], steps: int, **kwargs) -> None:
        super().__init__(shape=shape, steps=steps, **kwargs)
        self._ports(shape)
        self.line = Var(shape=(steps + 1, *shape), init=0)


@fixed_pt(Delay)
class PyDelayModelFixed(PyLoihiProcessModel):
    line: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)

    def run_spk(self) -> None:
        slots = self.line.shape[0]
        t = self.time_step - 1
        self.line[t % slots] = self.a_in.recv()
        self.s_out.send(self.line[(t - slots + 1) % slots].copy())  # never written: zeros
