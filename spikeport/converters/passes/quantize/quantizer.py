"""The ``quantize`` pass: walks the float graph and applies each node type's rule.

A rule is a function ``rule(q, graph, name)`` registered for one or more node types with
:func:`rule`; ``q`` is the running :class:`Quantize` (config, shapes, the integer bound and
unit of every value quantised so far, the report rows). A rule returns False when it leaves
the node to another rule (the readout head), which then does not count as transformed.
Node types without a rule: integer-level nodes pass unchanged, float-level ones are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikeport.converters.passes.graph_edit import kind
from spikeport.converters.passes.manager import Pass
from spikeport.converters.passes.quantize.fixed_point import tau_decay
from spikeport.errors import UnsupportedError
from spikeport.ir import CubaLIF, Graph, infer_shapes
from spikeport.ir.int_nodes import DU_FULL
from spikeport.registry import registrar

Rule = Callable[["Quantize", Graph, str], bool | None]

RULES: dict[str, Rule] = {}
"""Node type name -> its quantisation rule."""


rule = registrar(RULES, "quantisation rule for node type")
"""Decorator: ``@rule("NodeType", ...)`` quantises nodes of these types with the function."""


@dataclass(frozen=True)
class QuantConfig:
    """input_scale: integers per input unit (digits pixels x/16 -> 16); input_max: largest
    input value (float); count_shift_max: largest attention fraction shift m; a_shift:
    a-XNOR coefficient bits p (a = a_int / 2^p); min_vth: smallest threshold mantissa a
    Dense layer aims for before its weight exponent is raised; clip_search: also try scales
    that clip the largest weights (least squared weight error)."""

    input_scale: float = 1.0
    input_max: float = 1.0
    count_shift_max: int = 10
    a_shift: int = 12
    min_vth: int = 512
    clip_search: bool = True


class Quantize(Pass):
    name = "quantize"
    description = (
        "Loihi fixed point (Lava conventions): Dense/Conv + CubaLIF, IntAttention, readout"
    )

    def __init__(
        self,
        config: QuantConfig | None = None,
        input_means: dict[str, np.ndarray] | None = None,
    ) -> None:
        """`input_means[synapse]`: mean input per input feature (Linear: last axis; Conv2d:
        per input channel) in float units, measured on calibration data (training images).
        When given, each layer's bias absorbs the mean shift its weight rounding causes
        (bias correction, Nagel et al. 2019)."""
        self.config = config or QuantConfig()
        self.input_means = input_means or {}

    def run(self, graph: Graph) -> int:
        cfg = self.config
        self.shapes = infer_shapes(graph)
        self.bound: dict[str, int] = {}
        """Largest |integer| of each quantised value (1: binary spikes)."""
        self.unit: dict[str, float] = {}
        """Float units per integer of each quantised value."""
        self.rows: list[dict[str, Any]] = []
        self.T = int(graph.meta.get("T", 1))
        self.claimed: set[str] = set()
        """Nodes a rule took over as a whole (a current group): the walk skips them."""
        self.deferred: list[Callable[[], None]] = []
        """Work that needs every other node quantised first, run after the walk."""
        count = 0
        for name in list(graph.topological_order()):
            if name not in graph or name in self.claimed:
                continue
            k = kind(graph, name)
            fn = RULES.get(k)
            if fn is None and graph.node(name).level == "float":
                raise UnsupportedError(f"{name}: {k} has no fixed-point mapping")
            if fn is not None and fn(self, graph, name) is False:
                continue
            count += 1
        for work in self.deferred:
            work()
        count += len(self.claimed)
        graph.meta["quantization"] = {
            "scheme": "loihi-fixed-point (lava-nc 0.10.0 conventions)",
            "input_scale": cfg.input_scale,
            "T": self.T,
            "layers": self.rows,
        }
        graph.meta["level"] = "int"
        return count

    def spikes(self, *names: str) -> None:
        """Mark `names` as binary spike outputs (bound 1, unit 1)."""
        for n in names:
            self.bound[n], self.unit[n] = 1, 1.0

    def currents(self, name: str) -> None:
        """Mark `name` as a synapse/attention output consumed by its neuron (bound 0)."""
        self.bound[name], self.unit[name] = 0, 1.0

    def lif_params(self, lif_name: str, lif: Any) -> tuple[int, float]:
        """(dv, its rounding error) of a float LIF that Loihi's CubaLIF can express."""
        if lif.decay_input:
            raise UnsupportedError(f"{lif_name}: decay_input=True; run fold-input-scale first")
        if lif.v_reset != 0.0:
            raise UnsupportedError(
                f"{lif_name}: v_reset={lif.v_reset} (Loihi resets v to 0; soft reset unsupported)"
            )
        return tau_decay(lif)


def spiking_neuron(
    q: Quantize,
    graph: Graph,
    name: str,
    dv: int,
    vth: int,
    bias_mant: np.ndarray | int = 0,
    bias_exp: int = 0,
) -> None:
    """Replace the float LIF `name` by its CubaLIF (u = the step's input, ``du`` 4095) and
    mark its output as spikes."""
    graph.replace(
        CubaLIF(
            name,
            shape=q.shapes[name],
            du=DU_FULL,
            dv=dv,
            vth=vth,
            bias_mant=bias_mant,
            bias_exp=bias_exp,
        )
    )
    q.spikes(name)
