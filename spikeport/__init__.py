"""spikeport: deploy spiking Transformers to Loihi-style neuromorphic hardware.

Pipeline: PyTorch model -> graph IR -> passes (BN folding, fixed-point quantisation,
a-XNOR / LRF-Dyn lowering) -> {bit-accurate simulator, Lava process graph, netx/NIR/ONNX files}
-> energy per inference.  Importing this package imports neither Lava nor torch.fx machinery.
"""

__version__ = "0.1.0"
