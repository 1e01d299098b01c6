"""``lrf_ssa``: SSA plus the LRF local term, ``out = (Q K^T) V * scale + local(V)``.

local(V): two depth-wise 3x3 convolutions over the token grid (H, W), dilations
``local_dilation``, weights ``local_weight`` [2, D, 1, 3, 3] (integer: 8 bits + sign, scaled
by 2^local_shift). Lowered: ``AndPopcount`` -> ``SpikeAccumulate``, ``LocalTerm`` + ``Add``.
"""

from __future__ import annotations

from typing import Any

from spikeport.ir.attention.scores import ScoreAttention


class LrfSsa(ScoreAttention):
    name = "lrf_ssa"
    formula = "(Q K^T) V * scale + local(V)"

    def check_float(self, node: Any) -> None:
        self.check_int(node)

    def check_int(self, node: Any) -> None:
        if node.local_weight is None:
            raise node.fail("lrf_ssa needs local_weight")


VARIANT = LrfSsa()
