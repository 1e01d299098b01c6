"""`Graph`: named node records on a networkx DiGraph, edges labelled with input ports."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import networkx as nx

from spikeport.ir.errors import GraphError
from spikeport.ir.node import Node

Inputs = str | Sequence[str] | Mapping[str, str] | None


class Graph:
    """A dataflow graph of IR nodes.

    Each networkx node is a name with attribute `node` (the record). Each edge src -> dst
    carries `ports`, the tuple of dst input ports that src feeds (one source may feed
    several ports, e.g. Add(x, x)). `outputs` are the graph's result nodes: set explicitly
    or, by default, every node without successors.
    """

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self.meta: dict[str, Any] = {}
        """Free-form JSON-serialisable facts about the graph (source file, level...)."""
        self.nx = nx.DiGraph()
        self._outputs: tuple[str, ...] | None = None

    # -- building -------------------------------------------------------------------------
    def add(self, node: Node, inputs: Inputs = None) -> Node:
        """Add `node`, wiring `inputs` (a name, names in port order, or {port: name})."""
        if not isinstance(node, Node):
            raise GraphError(f"{node!r} is not an IR node")
        if node.name in self.nx:
            raise GraphError(f"{node.name}: a node with this name is already in graph {self.name}")
        wiring = _wiring(node, inputs)
        for src in wiring.values():
            if src not in self.nx:
                raise GraphError(f"{node.name}: input {src!r} is not a node of graph {self.name}")
        self.nx.add_node(node.name, node=node)
        for port, src in wiring.items():
            self.connect(src, node.name, port)
        return node

    def connect(self, src: str, dst: str, port: str = "in") -> None:
        """Feed node `src` into input `port` of node `dst`."""
        for n in (src, dst):
            if n not in self.nx:
                raise GraphError(f"edge {src} -> {dst}: {n!r} is not a node of graph {self.name}")
        if port not in self.node(dst).ports:
            raise GraphError(f"{dst}: no input port {port!r} (ports: {self.node(dst).ports})")
        if port in self.inputs_of(dst):
            raise GraphError(f"{dst}: input port {port!r} is already connected")
        if self.nx.has_edge(src, dst):
            self.nx.edges[src, dst]["ports"] += (port,)
        else:
            self.nx.add_edge(src, dst, ports=(port,))

    def replace(self, node: Node) -> None:
        """Swap in a new record for the node of the same name, keeping its edges."""
        old = self.node(node.name)
        if node.ports != old.ports:
            for port in self.inputs_of(node.name):
                if port not in node.ports:
                    raise GraphError(f"{node.name}: replacement has no input port {port!r}")
        self.nx.nodes[node.name]["node"] = node

    def remove(self, name: str) -> None:
        """Remove a node and its edges."""
        self.node(name)
        self.nx.remove_node(name)
        if self._outputs is not None:
            self._outputs = tuple(o for o in self._outputs if o != name)

    def set_outputs(self, names: Sequence[str]) -> None:
        for n in names:
            self.node(n)
        self._outputs = tuple(names)

    # -- reading --------------------------------------------------------------------------
    def node(self, name: str) -> Node:
        try:
            return self.nx.nodes[name]["node"]
        except KeyError:
            raise GraphError(f"{name!r} is not a node of graph {self.name}") from None

    __getitem__ = node

    def __contains__(self, name: object) -> bool:
        return name in self.nx

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def __iter__(self) -> Iterator[Node]:
        """Node records in topological order."""
        return (self.node(n) for n in self.topological_order())

    def inputs_of(self, name: str) -> dict[str, str]:
        """{input port: source node name} for node `name`."""
        out: dict[str, str] = {}
        for src, _, ports in self.nx.in_edges(name, data="ports"):
            for p in ports or ():
                out[p] = src
        return out

    def successors(self, name: str) -> list[str]:
        return list(self.nx.successors(name))

    def consumers(self, name: str) -> list[tuple[str, str]]:
        """(consumer node, input port) pairs fed by node `name`."""
        return [(dst, p) for _, dst, ports in self.nx.out_edges(name, data="ports") for p in ports]

    def edges(self) -> list[tuple[str, str, str]]:
        """(src, dst, port) triples, sorted."""
        return sorted((s, d, p) for s, d, ports in self.nx.edges(data="ports") for p in ports or ())

    def topological_order(self) -> list[str]:
        """Node names, sources first; ties broken by insertion order. Raises on a cycle."""
        rank = {n: i for i, n in enumerate(self.nx.nodes)}
        try:
            return list(nx.lexicographical_topological_sort(self.nx, key=rank.__getitem__))
        except nx.NetworkXUnfeasible:
            cycle = nx.find_cycle(self.nx)
            names = " -> ".join([e[0] for e in cycle] + [cycle[0][0]])
            raise GraphError(f"{cycle[0][0]}: graph {self.name} has a cycle {names}") from None

    @property
    def input_names(self) -> list[str]:
        """Names of Input nodes, in insertion order."""
        return [n for n, rec in self.nx.nodes(data="node") if type(rec).__name__ == "Input"]

    @property
    def outputs(self) -> list[str]:
        if self._outputs is not None:
            return list(self._outputs)
        return [n for n in self.nx.nodes if self.nx.out_degree(n) == 0]

    @property
    def explicit_outputs(self) -> tuple[str, ...] | None:
        return self._outputs

    def copy(self) -> Graph:
        g = Graph(self.name)
        g.nx = self.nx.copy()
        g._outputs = self._outputs
        g.meta = copy.deepcopy(self.meta)
        return g

    def same_as(self, other: Graph) -> bool:
        """Same name, meta, node records (tensors by value), edges, outputs and node order."""
        return (
            self.name == other.name
            and self.meta == other.meta
            and list(self.nx.nodes) == list(other.nx.nodes)
            and all(self.node(n) == other.node(n) for n in self.nx.nodes)
            and self.edges() == other.edges()
            and self.outputs == other.outputs
        )

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self)} nodes, {self.nx.number_of_edges()} edges)"


def _wiring(node: Node, inputs: Inputs) -> dict[str, str]:
    if inputs is None:
        return {}
    if isinstance(inputs, str):
        inputs = [inputs]
    if isinstance(inputs, Mapping):
        bad = [p for p in inputs if p not in node.ports]
        if bad:
            raise GraphError(f"{node.name}: no input port {bad[0]!r} (ports: {node.ports})")
        return dict(inputs)
    inputs = list(inputs)
    if len(inputs) > len(node.ports):
        raise GraphError(f"{node.name}: {len(inputs)} inputs for ports {node.ports}")
    return dict(zip(node.ports, inputs, strict=False))
