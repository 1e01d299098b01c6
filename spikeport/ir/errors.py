"""IR errors: each message names the node (or file and field) at fault."""

from spikeport.errors import SpikeportError


class GraphError(SpikeportError):
    """An ill-formed node or graph: bad field, shape mismatch, dangling edge, cycle."""


class ArtifactError(SpikeportError):
    """A saved IR artifact (graph.json + tensors.h5) that cannot be loaded."""
