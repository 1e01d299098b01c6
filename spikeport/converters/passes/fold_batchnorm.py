"""``fold-batchnorm``: eval-mode BatchNorm folded into the preceding Conv2d / Linear.

``y = (W x + b - mean) * g / sqrt(var + eps) + beta`` = ``W' x + b'`` with
``W' = W * s``, ``b' = (b - mean) * s + beta``, ``s = g / sqrt(var + eps)`` per output
channel (computed in float64, stored float32). The BN must act on the synapse's output
channel axis (axis 0 of a Conv2d's (C, H, W), the last axis of a Linear) and the synapse
must feed only the BN.
"""

from __future__ import annotations

import numpy as np

from spikeport.converters.passes.graph_edit import bypass, kind, single_consumer, source
from spikeport.converters.passes.manager import Pass
from spikeport.ir import Graph, infer_shapes


class FoldBatchNorm(Pass):
    name = "fold-batchnorm"
    description = "fold eval-mode BatchNorm into the preceding Conv2d/Linear weights and bias"

    def match(self, graph: Graph, name: str) -> bool:
        if kind(graph, name) != "BatchNorm":
            return False
        syn = source(graph, name)
        if kind(graph, syn) not in ("Conv2d", "Linear") or single_consumer(graph, syn) != name:
            return False
        ndim = len(infer_shapes(graph)[syn])
        axis = graph.node(name).axis % ndim
        return axis == (0 if kind(graph, syn) == "Conv2d" else ndim - 1)

    def transform(self, graph: Graph, name: str) -> None:
        bn = graph.node(name)
        syn = graph.node(source(graph, name))
        graph.replace(fold(syn, bn))
        bypass(graph, name)


def fold(syn, bn):
    """The synapse record with `bn` folded in."""
    w = np.asarray(syn.weight, dtype=np.float64)
    c = w.shape[0]
    gamma = np.ones(c) if bn.weight is None else np.asarray(bn.weight, dtype=np.float64)
    beta = np.zeros(c) if bn.bias is None else np.asarray(bn.bias, dtype=np.float64)
    s = gamma / np.sqrt(np.asarray(bn.var, dtype=np.float64) + bn.eps)
    b = np.zeros(c) if syn.bias is None else np.asarray(syn.bias, dtype=np.float64)
    w2 = w * s.reshape(-1, *([1] * (w.ndim - 1)))
    b2 = (b - np.asarray(bn.mean, dtype=np.float64)) * s + beta
    return syn.replace(weight=w2.astype(np.float32), bias=b2.astype(np.float32))
