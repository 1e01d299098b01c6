"""Bit-accurate kernels of Lava's fixed-point ProcessModels (lava-nc 0.10.0): numpy, with the
stateful time loops and the popcount compiled by numba (``loops.py``).

Each kernel reproduces one Lava `fixed_pt` model exactly, quirks included, vectorised over a
leading batch axis, with int64 state. Semantics and their Lava source lines:
``docs/semantics.md``. Nothing here imports Lava.
"""

from spikeport.hw_models.sim.kernels.conv import ConvSynapse, conv2d_int, lava_conv_weight
from spikeport.hw_models.sim.kernels.dense import DenseSynapse, effective_weights
from spikeport.hw_models.sim.kernels.lif import CubaLifNeuron
from spikeport.hw_models.sim.kernels.sigma_delta import DeltaEncoder, SigmaDecoder, SigmaDeltaNeuron

__all__ = [
    "ConvSynapse",
    "CubaLifNeuron",
    "DeltaEncoder",
    "DenseSynapse",
    "SigmaDecoder",
    "SigmaDeltaNeuron",
    "conv2d_int",
    "effective_weights",
    "lava_conv_weight",
]
