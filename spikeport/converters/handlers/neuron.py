"""Neuron handlers: spikeport MultiStepLIF and SpikingJelly 2.0.0 LIFNode(step_mode='m').

Both are leaves (they loop over T in Python); the IR LIF node carries tau, v_threshold,
v_reset and decay_input. Input must be time-major [T, B, ...].
"""

from __future__ import annotations

from spikeport.converters.registry import Call, TensorValue, TraceContext, handles
from spikeport.ir import LIF
from spikeport.models.neuron import MultiStepLIF


def _lif(ctx: TraceContext, call: Call, tau: float, v_th: float, v_reset, decay_input: bool):
    (x,) = call.tensor_args()
    if x.lead != ("T", "B"):
        raise call.fail(f"input {x.shape} is not time-major [T, B, ...]")
    rec = LIF(
        ctx.unique(call.path),
        tau=float(tau),
        v_threshold=float(v_th),
        v_reset=None if v_reset is None else float(v_reset),
        decay_input=bool(decay_input),
    )
    ctx.add(rec, x.name)
    return TensorValue(rec.name, x.lead, tuple(call.out.shape))


@handles(MultiStepLIF)
def multistep_lif(ctx: TraceContext, call: Call) -> TensorValue:
    m: MultiStepLIF = call.module
    return _lif(ctx, call, m.tau, m.v_threshold, m.v_reset, m.decay_input)


try:  # SpikingJelly is optional at run time
    from spikingjelly.activation_based.neuron import LIFNode as _SJLIFNode
except ImportError:  # pragma: no cover
    _SJLIFNode = None

if _SJLIFNode is not None:

    @handles(_SJLIFNode)
    def spikingjelly_lif(ctx: TraceContext, call: Call) -> TensorValue:
        m = call.module
        if type(m) is not _SJLIFNode:
            raise call.fail("subclasses of LIFNode are not supported")
        if getattr(m, "step_mode", "s") != "m":
            raise call.fail("only step_mode='m' (input [T, B, ...]) is supported")
        tau = float(m.tau.item() if hasattr(m.tau, "item") else m.tau)
        return _lif(ctx, call, tau, float(m.v_threshold), m.v_reset, m.decay_input)
