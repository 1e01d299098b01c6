"""Graph IR: typed frozen nodes on a networkx DiGraph, shapes, integer formats, save/load.

Float (pre-lowering) nodes live in `float_nodes`, lowered Loihi fixed-point nodes in
`int_nodes` and `attention_nodes`; all are registered in `NODE_TYPES` by class name.
"""

from spikeport.ir.attention_nodes import AndPopcount, XnorPopcount
from spikeport.ir.dendritic_node import DendriticAttention  # noqa: F401  (registers it)
from spikeport.ir.errors import ArtifactError, GraphError
from spikeport.ir.float_attention import Attention
from spikeport.ir.float_nodes import (
    LIF,
    Add,
    BatchNorm,
    Conv2d,
    Linear,
    MaxPool2d,
    TimeMean,
    TokenMean,
)
from spikeport.ir.graph import Graph
from spikeport.ir.input_node import Input
from spikeport.ir.int_attention import IntAttention  # noqa: F401  (registers it)
from spikeport.ir.int_nodes import Conv, CubaLIF, Delay, Delta, Dense, Sigma, SigmaDelta
from spikeport.ir.integer_nodes import (
    GradedSpike,
    IntegerSpike,
    IntLinearAttention,
    LinearAttention,
)
from spikeport.ir.intformat import IntFormat
from spikeport.ir.layout_nodes import Flatten, Reshape, Transpose
from spikeport.ir.metadata import check_name, plain_name
from spikeport.ir.node import NODE_TYPES, Node, Shape, node
from spikeport.ir.shapes import infer_shapes
from spikeport.ir.storage import SCHEMA_VERSION, load, save
from spikeport.ir.validate import validate

__all__ = [
    "SCHEMA_VERSION",
    "load",
    "save",
    "LIF",
    "Add",
    "Attention",
    "BatchNorm",
    "Conv2d",
    "Linear",
    "MaxPool2d",
    "TimeMean",
    "TokenMean",
    "NODE_TYPES",
    "AndPopcount",
    "ArtifactError",
    "Conv",
    "CubaLIF",
    "Delay",
    "Delta",
    "Dense",
    "Flatten",
    "GradedSpike",
    "Graph",
    "GraphError",
    "Input",
    "IntegerSpike",
    "IntLinearAttention",
    "LinearAttention",
    "IntFormat",
    "Node",
    "Reshape",
    "Shape",
    "Sigma",
    "SigmaDelta",
    "Transpose",
    "XnorPopcount",
    "check_name",
    "infer_shapes",
    "plain_name",
    "node",
    "validate",
]
