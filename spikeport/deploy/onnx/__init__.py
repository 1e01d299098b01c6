"""ONNX export of lowered (integer) IR graphs and its runner.

:func:`export_onnx` (:mod:`.export`) builds the model with a :class:`~.builder.Builder` and
one emitter per node type (:mod:`.emitter`: :mod:`.synapse`, :mod:`.neuron`,
:mod:`.structure`, :mod:`.attention`); :func:`run_onnx` (:mod:`.runner`) evaluates it with the
reference evaluator and spikeport's custom operators (:mod:`.ops`, domain ``ai.spikeport``).
Mapping and verification: docs/interchange.md.
"""

from spikeport.deploy.onnx.export import export_onnx, unsupported_nodes
from spikeport.deploy.onnx.runner import model_meta, onnx_summary, run_onnx

__all__ = ["export_onnx", "model_meta", "onnx_summary", "run_onnx", "unsupported_nodes"]
