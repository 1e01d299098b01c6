"""Dense and Conv as ONNX ops.

* Dense -> (binary: ``Cast(Not(Equal(x, 0)))``) ``MatMul`` with Lava's effective (clipped,
  LSB-truncated) int64 weights, ``Mul`` by 2**weight_exp or an exact floor division, and the
  one-step synaptic delay as state ``<name>:a``.
* Conv -> ``Conv`` in float64 (exact: every partial sum is bounded below 2**53, checked at
  export), ``Cast`` back to int64, 24-bit wrap with ``Add``/``Mod``/``Sub``, state ``<name>:a``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikeport.deploy.onnx.builder import EXACT
from spikeport.deploy.onnx.emitter import emits
from spikeport.errors import UnsupportedError
from spikeport.ir.int_nodes import STATE_LIMIT


@emits("Dense")
def dense(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    from spikeport.hw_models.sim.kernels.dense import effective_weights

    w = effective_weights(rec.weight, rec.num_weight_bits, rec.sign_mode)
    xb = b.binary(x, rec.num_message_bits > 0, rec.name)
    acc = b.op("MatMul", [xb, b.const(f"{rec.name}.weight", w.T.astype(np.int64))], rec.name)
    acc = b.shift(acc, rec.weight_exp, rec.name)
    return b.delayed(rec.name, acc, shapes[rec.name])


def message_bound(rec: Any) -> int:
    """Largest message magnitude into a synapse (1 for binary spikes)."""
    return 1 if rec.num_message_bits == 0 else 1 << rec.num_message_bits


@emits("Conv")
def conv(b, rec, ins, x, shapes, graph):  # type: ignore[no-untyped-def]
    w = np.asarray(rec.weight, dtype=np.int64)
    bound = message_bound(rec) * int(np.abs(w).reshape(len(w), -1).sum(1).max(initial=0))
    if bound >= EXACT:
        raise UnsupportedError(f"{rec.name} (Conv): partial sums may exceed 2**53 in float64")
    xb = b.binary(x, rec.num_message_bits > 0, rec.name)
    xf = b.op("Cast", [xb], rec.name, to=b.tp.DOUBLE)
    ph, pw = rec.padding
    y = b.op(
        "Conv",
        [xf, b.const(f"{rec.name}.weight", w.astype(np.float64))],
        rec.name,
        kernel_shape=list(w.shape[2:]),
        strides=list(rec.stride),
        dilations=list(rec.dilation),
        pads=[ph, pw, ph, pw],
        group=rec.groups,
    )
    yi = b.op("Cast", [y], rec.name, to=b.tp.INT64)
    half = b.const(f"{rec.name}.half", np.array(STATE_LIMIT, np.int64))
    full = b.const(f"{rec.name}.full", np.array(2 * STATE_LIMIT, np.int64))
    wrapped = b.op("Sub", [b.op("Mod", [b.op("Add", [yi, half], rec.name), full], rec.name,
                                fmod=0), half], rec.name)  # fmt: skip
    return b.delayed(rec.name, wrapped, shapes[rec.name])
