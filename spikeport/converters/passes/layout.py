"""Layout passes: cancel layout chains that undo each other, absorb transposes into BN.

* ``simplify-layout``: a chain of Reshape/Flatten/Transpose nodes (each feeding only the
  next) is evaluated on an index tensor; an identity chain is removed, a chain equal to a
  plain reshape becomes one Reshape. The attention handler's (N, D) <-> (heads, N, d)
  wrappers and the [T, B, N, C] reshapes of the official code cancel this way.
* ``absorb-transpose-batchnorm``: ``Transpose(p) -> BatchNorm(axis a) -> Transpose(p^-1)``
  (Spikformer's BatchNorm1d on ``x.transpose(-1, -2)``) becomes ``BatchNorm(axis p[a])``.
"""

from __future__ import annotations

import math

import numpy as np

from spikeport.converters.passes.graph_edit import bypass, kind, single_consumer, source
from spikeport.converters.passes.manager import Pass
from spikeport.ir import Graph, Reshape, infer_shapes

LAYOUT = ("Reshape", "Flatten", "Transpose")


def apply_layout(rec, x: np.ndarray) -> np.ndarray:
    """Apply one layout node to a per-sample array."""
    k = type(rec).__name__
    if k == "Reshape":
        return x.reshape(rec.shape)
    if k == "Flatten":
        a, b = rec.start_dim % x.ndim, rec.end_dim % x.ndim
        return x.reshape(*x.shape[:a], -1, *x.shape[b + 1 :])
    return x.transpose(rec.perm)


class SimplifyLayout(Pass):
    name = "simplify-layout"
    description = "remove layout chains that undo each other; merge reshape chains"

    def run(self, graph: Graph) -> int:
        count = 0
        changed = True
        while changed:
            changed = False
            shapes = infer_shapes(graph)
            for name in graph.topological_order():
                if kind(graph, name) not in LAYOUT:
                    continue
                chain = [name]
                while True:
                    nxt = single_consumer(graph, chain[-1])
                    if nxt is None or kind(graph, nxt) not in LAYOUT:
                        break
                    chain.append(nxt)
                src_shape = shapes[source(graph, name)]
                idx = np.arange(math.prod(src_shape)).reshape(src_shape)
                out = idx
                for n in chain:
                    out = apply_layout(graph.node(n), out)
                flat_same = np.array_equal(out.ravel(), idx.ravel())
                if flat_same and out.shape == idx.shape:
                    for n in chain:
                        bypass(graph, n)
                elif flat_same and (len(chain) > 1 or kind(graph, name) != "Reshape"):
                    last = chain[-1]
                    graph.replace(Reshape(last, shape=tuple(out.shape)))
                    for n in chain[:-1]:
                        bypass(graph, n)
                else:
                    continue
                count += 1
                changed = True
                break
        return count


class AbsorbTransposeBatchNorm(Pass):
    name = "absorb-transpose-batchnorm"
    description = "Transpose(p) -> BatchNorm(a) -> Transpose(p^-1) becomes BatchNorm(p[a])"

    def match(self, graph: Graph, name: str) -> bool:
        if kind(graph, name) != "BatchNorm":
            return False
        pre, post = source(graph, name), single_consumer(graph, name)
        if kind(graph, pre) != "Transpose" or post is None or kind(graph, post) != "Transpose":
            return False
        if single_consumer(graph, pre) != name:
            return False
        p, q = graph.node(pre).perm, graph.node(post).perm
        return len(p) == len(q) and all(p[q[i]] == i for i in range(len(p)))

    def transform(self, graph: Graph, name: str) -> None:
        pre, post = source(graph, name), single_consumer(graph, name)
        bn = graph.node(name)
        perm = graph.node(pre).perm
        graph.replace(bn.replace(axis=perm[bn.axis % len(perm)]))
        bypass(graph, pre)
        bypass(graph, post)
