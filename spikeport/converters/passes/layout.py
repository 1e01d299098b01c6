"""Layout passes: cancel layout chains that undo each other, absorb transposes into BN.

* ``simplify-layout``: a chain of Reshape/Flatten/Transpose nodes (each feeding only the
  next) is evaluated on an index tensor; an identity chain is removed, a chain equal to a
  plain reshape becomes one Reshape, one equal to a permutation one Transpose. The
  attention handler's (N, D) <-> (heads, N, d) wrappers and the [T, B, N, C] reshapes of
  the official code cancel this way.
* ``absorb-transpose-batchnorm``: ``Transpose(p) -> BatchNorm(axis a)`` becomes
  ``BatchNorm(axis p[a]) -> Transpose(p)`` (Spikformer's BatchNorm1d on
  ``x.transpose(-1, -2)``); the transposes then meet and cancel in simplify-layout.
* ``sink-layout-below-lif``: ``layout -> LIF`` becomes ``LIF -> layout`` (elementwise), so
  that synapse -> BN -> LIF chains become adjacent.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from spikeport.converters.passes.graph_edit import bypass, kind, single_consumer, source
from spikeport.converters.passes.manager import Pass
from spikeport.ir import Graph, Reshape, Transpose, infer_shapes

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


def _as_transpose(idx: np.ndarray, out: np.ndarray) -> tuple[int, ...] | None:
    """The permutation p with idx.transpose(p) == out, if there is one (ndim <= 6)."""
    if out.ndim != idx.ndim or out.ndim > 6:
        return None
    for perm in itertools.permutations(range(idx.ndim)):
        cand = idx.transpose(perm)
        if cand.shape == out.shape and np.array_equal(cand, out):
            return tuple(perm)
    return None


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
                elif len(chain) > 1 and (perm := _as_transpose(idx, out)) is not None:
                    graph.replace(Transpose(chain[-1], perm=perm))
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
    description = "Transpose(p) -> BatchNorm(a) becomes BatchNorm(p[a]) -> Transpose(p)"

    def match(self, graph: Graph, name: str) -> bool:
        if kind(graph, name) != "BatchNorm":
            return False
        pre = source(graph, name)
        return kind(graph, pre) == "Transpose" and single_consumer(graph, pre) == name

    def transform(self, graph: Graph, name: str) -> None:
        pre = source(graph, name)
        swap_below(graph, pre, name)
        bn = graph.node(name)
        perm = graph.node(pre).perm
        graph.replace(bn.replace(axis=perm[bn.axis % len(perm)]))


class SinkLayoutBelowLIF(Pass):
    name = "sink-layout-below-lif"
    description = "layout -> LIF becomes LIF -> layout (LIF is elementwise)"

    def match(self, graph: Graph, name: str) -> bool:
        if kind(graph, name) != "LIF":
            return False
        pre = source(graph, name)
        return kind(graph, pre) in LAYOUT and single_consumer(graph, pre) == name

    def transform(self, graph: Graph, name: str) -> None:
        swap_below(graph, source(graph, name), name)

    def run(self, graph: Graph) -> int:
        total = 0
        while True:
            count = super().run(graph)
            total += count
            if count == 0:
                return total


def swap_below(graph: Graph, upper: str, lower: str) -> None:
    """Rewire ``src -> upper -> lower -> consumers`` as ``src -> lower -> upper -> consumers``
    (both single-input nodes, `lower` the only consumer of `upper`)."""
    src = source(graph, upper)
    cons = graph.consumers(lower)
    outputs = graph.explicit_outputs
    for a, b in ((src, upper), (upper, lower)):
        graph.nx.remove_edge(a, b)
    for dst, _ in cons:
        graph.nx.remove_edge(lower, dst)
    graph.connect(src, lower)
    graph.connect(lower, upper)
    for dst, port in cons:
        graph.connect(upper, dst, port)
    if outputs is not None and lower in outputs:
        graph.set_outputs([upper if o == lower else o for o in outputs])
