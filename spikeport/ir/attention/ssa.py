"""``ssa``: Spikformer's spiking self-attention, ``out = (Q K^T) V * scale`` per head.

Integer form: ``a = (C V) << m`` with C = popcount(q & k) (N x N) and m = count_shift.
Lowered: ``AndPopcount`` -> ``SpikeAccumulate`` (see :mod:`.scores`).
"""

from __future__ import annotations

from spikeport.ir.attention.scores import ScoreAttention


class SSA(ScoreAttention):
    name = "ssa"
    formula = "(Q K^T) V * scale"


VARIANT = SSA()
