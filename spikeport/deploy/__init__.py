"""Emitters and runners: Lava process graphs, netx HDF5, NIR, ONNX."""
