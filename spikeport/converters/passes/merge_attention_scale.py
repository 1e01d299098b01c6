"""``merge-attention-scale``: the attention scale (SSA's 0.125, times 1/tau after folding)
moved into the attention LIF's threshold.

The LIF after an Attention node sees ``s * A`` (A the integer score-weighted count, plus a
local term). With hard reset to 0 and ``decay_input=False`` the neuron is linear below
threshold, so dividing its input and threshold by s changes no spike: the Attention node
then outputs counts (scale 1, local weights / s) and the threshold becomes ``theta / s``
(Spikformer: 0.5 / 0.0625 = 8 counts: ``V/2 + A >= 8``). Quantisation makes it an integer.
"""

from __future__ import annotations

from spikeport.converters.passes.fold_input_scale import scalable, scale_feeder
from spikeport.converters.passes.graph_edit import kind, single_consumer
from spikeport.converters.passes.manager import Pass
from spikeport.ir import Graph


class MergeAttentionScale(Pass):
    name = "merge-attention-scale"
    description = "move the attention scale into the attention LIF threshold (count units)"

    def match(self, graph: Graph, name: str) -> bool:
        if kind(graph, name) != "Attention" or not scalable(graph, name):
            return False
        rec = graph.node(name)
        if rec.scale == 1.0 or rec.scale <= 0:
            return False
        lif = single_consumer(graph, name)
        if lif is None or kind(graph, lif) != "LIF":
            return False
        n = graph.node(lif)
        return not n.decay_input and n.v_reset == 0.0

    def transform(self, graph: Graph, name: str) -> None:
        rec = graph.node(name)
        lif = graph.node(single_consumer(graph, name))
        s = rec.scale
        graph.replace(scale_feeder(rec, 1.0 / s).replace(scale=1.0))
        graph.replace(lif.replace(v_threshold=lif.v_threshold / s))
