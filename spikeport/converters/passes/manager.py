"""`Pass` (match/transform on one node) and `PassManager` (ordered, named, listable passes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from spikeport.errors import SpikeportError
from spikeport.ir import Graph, validate


class Pass:
    """A graph rewrite. `run` visits nodes in topological order and calls `transform` on
    every node that `match`es; it returns how many nodes it transformed."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def match(self, graph: Graph, name: str) -> bool:
        return False

    def transform(self, graph: Graph, name: str) -> None:
        raise NotImplementedError

    def run(self, graph: Graph) -> int:
        count = 0
        for name in graph.topological_order():
            if name in graph and self.match(graph, name):
                self.transform(graph, name)
                count += 1
        return count


class PassManager:
    """Runs its passes in order on a copy of the graph, validating after each one.

    `log` holds (pass name, nodes transformed) of the last run.
    """

    def __init__(self, passes: Sequence[Pass]) -> None:
        names = [p.name for p in passes]
        if len(set(names)) != len(names) or not all(names):
            raise SpikeportError(f"pass names must be unique and non-empty: {names}")
        self.passes = list(passes)
        self.log: list[tuple[str, int]] = []

    def names(self) -> list[str]:
        return [p.name for p in self.passes]

    def describe(self) -> list[tuple[str, str]]:
        return [(p.name, p.description) for p in self.passes]

    def run(self, graph: Graph, *, until: str | None = None) -> Graph:
        """The transformed copy of `graph`; stop after the pass named `until` if given."""
        if until is not None and until not in self.names():
            raise SpikeportError(f"unknown pass {until!r}; passes: {', '.join(self.names())}")
        g = graph.copy()
        self.log = []
        for p in self.passes:
            count = p.run(g)
            validate(g)
            self.log.append((p.name, count))
            g.meta.setdefault("passes", [])
            g.meta["passes"] = [*g.meta["passes"], p.name]
            if p.name == until:
                break
        return g
