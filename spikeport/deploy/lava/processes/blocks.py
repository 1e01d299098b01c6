"""``SpikingAttention``: one attention core as a hierarchical Lava process.

Ports q, k, v: (N, D) 0/1 spikes; s_out: (N, D), the attention LIF's integer input (ssa,
axnor, lrf_ssa, lrf_dyn) or SDSA's output spikes. Its SubProcessModel builds the leaf
processes of :mod:`.attention` / :mod:`.elementwise` (and, for SDSA, Lava's own LIF /
LIFReset as the inner neuron) so the process graph reads like the model:

* ssa, lrf_ssa: SpikeScores (AND counts) -> ScoreAccumulate [+ LocalTerm -> Add]
* axnor: SpikeScores (a-XNOR) -> ScoreAccumulate (>> a_shift)
* lrf_dyn: Dendrites [+ LocalTerm -> Add]
* sdsa: GateTokens (k AND v) -> AxisSum (over tokens, << m) -> LIF(Reset) -> GateTokens (q)
"""

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


class SpikingAttention(PortedProcess):
    """params: the IntAttention fields (variant, heads, count_shift, a_int, a_shift,
    local_weight, grid, local_dilation, local_shift, dyn_a, dyn_gamma, dyn_c, input_mode,
    inner_vth, inner_dv) plus ``reset`` = (interval, offset) for SDSA's inner LIFReset."""

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
        n, d = shape
        if p["variant"] == "sdsa":
            self.kv = GateTokens(shape=shape, b_shape=shape)
            proc.in_ports.k.connect(self.kv.a)
            proc.in_ports.v.connect(self.kv.b)
            self.kv_sum = AxisSum(in_shape=shape, axis=0, shift=p["count_shift"])
            self.kv.s_out.connect(self.kv_sum.a_in)
            lif = {"shape": (d,), "du": 4095, "dv": p["inner_dv"], "vth": p["inner_vth"]}
            if p.get("reset") is not None:
                interval, offset = p["reset"]
                self.neuron = LIFReset(reset_interval=interval, reset_offset=offset, **lif)
            else:
                self.neuron = LIF(**lif)
            self.kv_sum.s_out.connect(self.neuron.a_in)
            self.gate = GateTokens(shape=shape, b_shape=(d,))
            proc.in_ports.q.connect(self.gate.a)
            self.neuron.s_out.connect(self.gate.b)
            self.gate.s_out.connect(proc.out_ports.s_out)
            return
        if p["variant"] == "lrf_dyn":
            self.core = Dendrites(
                shape=shape,
                dyn_a=p["dyn_a"],
                dyn_gamma=p["dyn_gamma"],
                dyn_c=p["dyn_c"],
                input_mode=p["input_mode"],
                count_shift=p["count_shift"],
            )
            for port in ("q", "k", "v"):
                getattr(proc.in_ports, port).connect(getattr(self.core, port))
        else:
            heads = p["heads"]
            axnor = p["variant"] == "axnor"
            a_shift = p["a_shift"] if axnor else 0
            a_int = p["a_int"] if axnor else np.zeros(heads, dtype=np.int64)
            self.scores = SpikeScores(
                q_shape=shape, k_shape=shape, heads=heads, a_int=a_int, a_shift=a_shift
            )
            proc.in_ports.q.connect(self.scores.q)
            proc.in_ports.k.connect(self.scores.k)
            self.core = ScoreAccumulate(
                scores_shape=(heads, n, n),
                v_shape=shape,
                count_shift=p["count_shift"],
                score_shift=a_shift,
            )
            self.scores.s_out.connect(self.core.scores)
            proc.in_ports.v.connect(self.core.v)
        if p.get("local_weight") is None:
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
