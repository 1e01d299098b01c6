"""``SpikingAttention``: one attention core as a hierarchical Lava process.

Ports q, k, v: (N, D) 0/1 spikes; s_out: (N, D), the attention LIF's integer input (ssa,
axnor, lrf_ssa, lrf_dyn) or SDSA's output spikes. Its SubProcessModel builds the leaf
processes of :mod:`.attention` / :mod:`.elementwise` (and, for SDSA, Lava's own LIF /
LIFReset as the inner neuron) so the process graph reads like the model; ``CORES`` holds one
builder per variant (an unknown variant is refused), the local term is added after:

* ssa, lrf_ssa: SpikeScores (AND counts) -> ScoreAccumulate [+ LocalTerm -> Add]
* axnor: SpikeScores (a-XNOR) -> ScoreAccumulate (>> a_shift)
* lrf_dyn: Dendrites [+ LocalTerm -> Add]
* sdsa: GateTokens (k AND v) -> AxisSum (over tokens, << m) -> LIF(Reset) -> GateTokens (q)
"""

from collections.abc import Callable
from typing import Any

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.sub.model import AbstractSubProcessModel
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.process import LIF, LIFReset

from spikeport.deploy.lava.processes.attention import (
    Dendrites,
    LocalTerm,
    ScoreAccumulate,
    SpikeScores,
)
from spikeport.deploy.lava.processes.base import PortedProcess
from spikeport.deploy.lava.processes.elementwise import Add, AxisSum, GateTokens
from spikeport.errors import UnsupportedError
from spikeport.ir import attention
from spikeport.ir.int_nodes import DU_FULL
from spikeport.registry import registrar

Build = Callable[[Any, AbstractProcess, dict, tuple[int, int]], Any]
"""fn(model, proc, params, (N, D)) -> the leaf process whose s_out is the core's output
(before the local term); it sets the leaf processes as attributes of `model`."""

CORES: dict[str, Build] = {}
"""IntAttention variant -> the builder of its leaf processes."""


builds = registrar(CORES, "Lava attention core of variant", attention.variant)
"""Decorator: ``@builds("variant", ...)`` builds these variants' cores with the function."""


class SpikingAttention(PortedProcess):
    """params: the IntAttention fields (variant, heads, count_shift, a_int, a_shift,
    local_weight, grid, local_dilation, local_shift, dyn_a, dyn_gamma, dyn_c, input_mode,
    inner_vth, inner_dv) plus ``reset`` = (interval, offset) for a stateful core's neuron."""

    INPUTS = ("q", "k", "v")

    def __init__(self, *, shape: tuple[int, int], params: dict, **kwargs) -> None:
        super().__init__(shape=shape, params=params, **kwargs)
        self._ports(shape)


@implements(proc=SpikingAttention, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class SubSpikingAttentionModel(AbstractSubProcessModel):
    def __init__(self, proc: AbstractProcess) -> None:
        p = proc.proc_params["params"]
        shape = tuple(proc.proc_params["shape"])
        build = CORES.get(p["variant"])
        if build is None:
            raise UnsupportedError(f"no Lava process for IntAttention variant {p['variant']!r}")
        self.core = build(self, proc, p, shape)
        if p.get("local_weight") is None or attention.variant(p["variant"]).spiking_output:
            self.core.s_out.connect(proc.out_ports.s_out)
            return
        self.local = LocalTerm(
            shape=shape,
            grid=tuple(p["grid"]),
            weight=p["local_weight"],
            dilations=tuple(p["local_dilation"]),
            shift=p["local_shift"],
        )
        proc.in_ports.v.connect(self.local.a_in)
        self.total = Add(shape=shape)
        self.core.s_out.connect(self.total.a)
        self.local.s_out.connect(self.total.b)
        self.total.s_out.connect(proc.out_ports.s_out)


def _scores(model: Any, proc: AbstractProcess, p: dict, shape: tuple, a_int: Any, a_shift: int):
    """SpikeScores (2^p times the a-XNOR similarity) -> ScoreAccumulate (>> p)."""
    n, _ = shape
    heads = p["heads"]
    model.scores = SpikeScores(
        q_shape=shape, k_shape=shape, heads=heads, a_int=a_int, a_shift=a_shift
    )
    proc.in_ports.q.connect(model.scores.q)
    proc.in_ports.k.connect(model.scores.k)
    core = ScoreAccumulate(
        scores_shape=(heads, n, n), v_shape=shape, count_shift=p["count_shift"], score_shift=a_shift
    )
    model.scores.s_out.connect(core.scores)
    proc.in_ports.v.connect(core.v)
    return core


@builds("ssa", "lrf_ssa")
def _and_core(model: Any, proc: AbstractProcess, p: dict, shape: tuple):
    return _scores(model, proc, p, shape, np.zeros(p["heads"], dtype=np.int64), 0)


@builds("axnor")
def _axnor_core(model: Any, proc: AbstractProcess, p: dict, shape: tuple):
    return _scores(model, proc, p, shape, p["a_int"], p["a_shift"])


@builds("lrf_dyn")
def _dendrites(model: Any, proc: AbstractProcess, p: dict, shape: tuple):
    core = Dendrites(
        shape=shape,
        dyn_a=p["dyn_a"],
        dyn_gamma=p["dyn_gamma"],
        dyn_c=p["dyn_c"],
        input_mode=p["input_mode"],
        count_shift=p["count_shift"],
    )
    for port in ("q", "k", "v"):
        getattr(proc.in_ports, port).connect(getattr(core, port))
    return core


@builds("sdsa")
def _sdsa(model: Any, proc: AbstractProcess, p: dict, shape: tuple):
    """GateTokens (k AND v) -> AxisSum (over tokens, << m) -> LIF(Reset) -> GateTokens (q)."""
    _, d = shape
    model.kv = GateTokens(shape=shape, b_shape=shape)
    proc.in_ports.k.connect(model.kv.a)
    proc.in_ports.v.connect(model.kv.b)
    model.kv_sum = AxisSum(in_shape=shape, axis=0, shift=p["count_shift"])
    model.kv.s_out.connect(model.kv_sum.a_in)
    lif = {"shape": (d,), "du": DU_FULL, "dv": p["inner_dv"], "vth": p["inner_vth"]}
    if p.get("reset") is not None:
        interval, offset = p["reset"]
        model.neuron = LIFReset(reset_interval=interval, reset_offset=offset, **lif)
    else:
        model.neuron = LIF(**lif)
    model.kv_sum.s_out.connect(model.neuron.a_in)
    gate = GateTokens(shape=shape, b_shape=(d,))
    proc.in_ports.q.connect(gate.a)
    model.neuron.s_out.connect(gate.b)
    return gate
