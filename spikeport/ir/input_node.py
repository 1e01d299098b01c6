"""The graph's entry point, shared by float and lowered graphs."""

from __future__ import annotations

from collections.abc import Mapping

from spikeport.ir.node import Node, Shape, node


@node
class Input(Node):
    """External data entering the graph, `shape` per sample and timestep.

    `kind` says what arrives each timestep: "spikes" (binary 0/1), "graded" (signed
    integer messages, e.g. SDNN input) or "float" (analog values, pre-lowering only).
    """

    shape: Shape = ()
    kind: str = "spikes"

    ports = ()
    level = "any"

    def _check_fields(self) -> None:
        if not self.shape or not all(isinstance(d, int) and d > 0 for d in self.shape):
            raise self.fail(f"shape must be a non-empty tuple of positive ints, got {self.shape}")
        if self.kind not in ("spikes", "graded", "float"):
            raise self.fail(f"kind must be spikes|graded|float, got {self.kind!r}")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return tuple(self.shape)
