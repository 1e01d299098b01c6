"""spikeport: deploy spiking Transformers to Loihi-style neuromorphic hardware.

Pipeline: PyTorch model -> graph IR -> passes (BN folding, fixed-point quantisation,
a-XNOR / LRF-Dyn lowering) -> {bit-accurate simulator, Lava process graph, netx/NIR/ONNX files}
-> energy per inference.  Importing this package imports neither Lava nor torch.fx machinery.
"""

import os

# OpenBLAS's worker threads spin for 2**28 cycles (~0.1 s) after each product before they
# sleep; on a small machine that takes the cores from the simulator's compiled loops that
# run next (measured 10-20 % of a Spikformer-4-384 run on 2 cores, docs/benchmarks.md).
# Read when numpy loads OpenBLAS, so it only applies when spikeport is imported first; a
# value the user set is kept.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

__version__ = "0.1.0"
