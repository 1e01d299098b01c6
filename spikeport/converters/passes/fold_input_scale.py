"""``fold-input-scale``: SpikingJelly's ``decay_input=True`` 1/tau input scaling folded upstream.

``H = V + (X - (V - v_reset)) / tau = V - (V - v_reset) / tau + X / tau``: the same neuron
with ``decay_input=False`` fed ``X / tau``. The 1/tau goes into the feeding Conv2d/Linear
(weight and bias) or Attention (scale and local-term weights). Loihi's voltage decay is then
``dv = 4096 / tau`` on an undecayed input (Lava LIF), which is what quantisation emits.

A neuron that reads a current other consumers share (a membrane stream: an Add, a max-pool,
a token mean, or a synapse with several consumers) keeps its input and takes the factor in its
threshold instead: with a reset to 0 (or a soft reset) the neuron is linear below threshold, so
``H >= theta`` with input ``X / tau`` is ``tau H >= tau theta`` with input ``X``.
"""

from __future__ import annotations

import numpy as np

from spikeport.converters.passes.graph_edit import kind, single_consumer, source
from spikeport.converters.passes.manager import Pass
from spikeport.ir import Graph, attention


def scale_feeder(rec, factor: float):
    """`rec` (Conv2d, Linear or an Attention without spiking output) with its output
    multiplied by `factor`."""
    k = type(rec).__name__
    if k in ("Conv2d", "Linear"):
        w = (np.asarray(rec.weight, dtype=np.float64) * factor).astype(np.float32)
        b = None if rec.bias is None else (np.asarray(rec.bias, np.float64) * factor)
        return rec.replace(weight=w, bias=None if b is None else b.astype(np.float32))
    local = rec.local_weight
    if local is not None:
        local = (np.asarray(local, dtype=np.float64) * factor).astype(np.float32)
    return rec.replace(scale=rec.scale * factor, local_weight=local)


def scalable(graph: Graph, name: str) -> bool:
    """A Conv2d, Linear or Attention whose output (not spikes) is the LIF's input current."""
    k = kind(graph, name)
    if k == "Attention":
        return not attention.variant(graph.node(name).variant).spiking_output
    return k in ("Conv2d", "Linear")


class FoldInputScale(Pass):
    name = "fold-input-scale"
    description = "LIF decay_input=True: fold 1/tau into the feeding synapse or attention"

    def match(self, graph: Graph, name: str) -> bool:
        if kind(graph, name) != "LIF" or not graph.node(name).decay_input:
            return False
        return _feeder(graph, name) is not None or graph.node(name).v_reset in (0.0, None)

    def transform(self, graph: Graph, name: str) -> None:
        lif = graph.node(name)
        feeder = _feeder(graph, name)
        if feeder is not None:
            graph.replace(scale_feeder(graph.node(feeder), 1.0 / lif.tau))
            graph.replace(lif.replace(decay_input=False))
        else:  # a shared current: the factor goes into the threshold
            graph.replace(lif.replace(decay_input=False, v_threshold=lif.v_threshold * lif.tau))


def _feeder(graph: Graph, lif: str) -> str | None:
    """The synapse or attention feeding only `lif`, whose output can take the 1/tau."""
    src = source(graph, lif)
    return src if scalable(graph, src) and single_consumer(graph, src) == lif else None
