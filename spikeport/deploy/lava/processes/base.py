"""What every custom process here shares: int64 ports named by the Process class (``INPUTS``
in order, then the one OutPort ``s_out``) and the ``fixed_pt`` CPU ProcessModel declaring them.

Lava finds a Process's models among the classes *defined* in the Process's module, so each
module still writes its own ``class PyXModelFixed(PyLoihiProcessModel)``; :func:`fixed_pt`
only adds the port types and the implements/requires/tag decorations.
"""

from collections.abc import Callable

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


class PortedProcess(AbstractProcess):
    """A process with InPorts ``INPUTS`` and one OutPort ``s_out``, declared by :meth:`_ports`."""

    INPUTS: tuple[str, ...] = ()

    def _ports(self, out: tuple[int, ...], *inputs: tuple[int, ...]) -> None:
        """One InPort per name of ``INPUTS`` with the shape at the same place in `inputs`
        (all of shape `out` when `inputs` is empty), then ``s_out`` of shape `out`."""
        shapes = inputs or (out,) * len(self.INPUTS)
        for name, shape in zip(self.INPUTS, shapes, strict=True):
            setattr(self, name, InPort(shape=shape))
        self.s_out = OutPort(shape=out)


def fixed_pt(proc: type[PortedProcess]) -> Callable[[type], type]:
    """Decorate a PyLoihiProcessModel class as `proc`'s fixed_pt CPU model with int64 ports."""

    def wrap(cls: type) -> type:
        if not issubclass(cls, PyLoihiProcessModel):
            raise TypeError(f"{cls.__name__} must subclass PyLoihiProcessModel")
        for name in proc.INPUTS:
            setattr(cls, name, IN)
        cls.s_out = OUT
        return tag("fixed_pt")(requires(CPU)(implements(proc=proc, protocol=LoihiProtocol)(cls)))

    return wrap


def spikes(port: PyInPort) -> np.ndarray:
    """The next message on `port` as 0/1 int64 (any nonzero value is a spike)."""
    return (port.recv() != 0).astype(np.int64)
