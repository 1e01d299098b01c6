"""``axnor``: a-XNOR attention (Xiao et al., CVPR 2025): SSA with co-silence credit ``a``.

Float: ``out = S_a V * scale``, ``S_a[i, j] = sum_c q_ic k_jc + a_h (1 - q_ic)(1 - k_jc)``;
``a`` of shape () or (heads,), in [0, 1]. Integer: ``a_int = round(a 2^p)`` (p = a_shift) and
``a = (((2^p - a_int) C + a_int X) V << m) >> p`` (floor), C = popcount(q & k),
X = popcount(~(q ^ k)). Lowered scores: one ``XnorPopcount`` when every head has the same
a_int (score_shift p), else ``AndPopcount`` + ``XnorPopcount`` (a_int 1, p 0: the plain XNOR
count) -> ``ScoreCombine`` (per-head a_int). Analytical count, ``nxn``: per (query, key)
pair ceil(d/w) AND + ceil(d/w) XNOR words, 2 ceil(d/w) popcounts, 2 int mults + 1 int add,
scores x V as SSA; ``dxd``: the matrix form ``(1+a) Q(K^T V) - a|q|(1^T V) - a(K1)^T V +
a d 1^T V``: SSA's ACs + 2 T h N d fr_v + T h N d fr_q ACs, 3 mults + 3 adds per output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikeport.ir.attention.scores import ScoreAttention
from spikeport.ir.attention.variant import CoreCall, check_a_int
from spikeport.ir.attention_nodes import AndPopcount, ScoreCombine, XnorPopcount, count_bits
from spikeport.ir.graph import Graph


def xnor_scores(graph: Graph, rec: Any, q: str, k: str) -> tuple[str, int]:
    """a-XNOR score primitive(s) for `rec`'s a_int [heads] / a_shift on split q, k;
    returns (scores node, score_shift = a_shift)."""
    name, d = rec.name, rec.head_dim
    qk = {"q": q, "k": k}
    a_int, p = np.asarray(rec.a_int), rec.a_shift
    if np.all(a_int == a_int[0]):
        xnor = XnorPopcount(
            f"{name}.xnor", head_dim=d, a_int=int(a_int[0]), a_shift=p, out_bits=count_bits(d << p)
        )
        graph.add(xnor, qk)
        return xnor.name, p
    graph.add(AndPopcount(f"{name}.and", head_dim=d, out_bits=count_bits(d)), qk)
    graph.add(
        XnorPopcount(f"{name}.xnor", head_dim=d, a_int=1, a_shift=0, out_bits=count_bits(d)), qk
    )
    graph.add(
        ScoreCombine(f"{name}.combine", heads=rec.heads, head_dim=d, a_int=a_int, a_shift=p),
        {"c_and": f"{name}.and", "c_xnor": f"{name}.xnor"},
    )
    return f"{name}.combine", p


class AXnor(ScoreAttention):
    name = "axnor"
    formula = "S_a V * scale, S_a = q.k + a (1 - q).(1 - k)"
    owned_fields = ("a",)
    owned_phrase = "a is only used by axnor"

    def check_float(self, node: Any) -> None:
        if node.a is None or node.a.shape not in ((), (node.heads,)):
            raise node.fail(f"axnor needs a of shape () or ({node.heads},)")
        if np.any(node.a < 0) or np.any(node.a > 1):
            raise node.fail("a must lie in [0, 1]")

    def check_int(self, node: Any) -> None:
        check_a_int(node)

    def int_params(self, node: Any, a_shift: int) -> tuple[dict[str, Any], dict[str, Any]]:
        a = np.broadcast_to(np.asarray(node.a, dtype=np.float64), (node.heads,))
        a_int = np.rint(a * 2**a_shift).astype(np.int64)
        error = float(np.abs(a_int / 2**a_shift - a).max())
        row = {"a": a.tolist(), "a_int": a_int.tolist(), "a_error": error}
        return {"a_int": a_int, "a_shift": a_shift}, row

    def scores(self, graph: Graph, rec: Any, q: str, k: str) -> tuple[str, int]:
        return xnor_scores(graph, rec, q, k)

    def paper_ops(self, call: CoreCall, ops: dict[str, float], notes: set[str]) -> None:
        c = call
        if c.order == "dxd":
            self.product_ops(c, ops)
            elems = c.t * c.b * c.h * c.n * c.d
            ops["acs"] += elems * (2 * c.fv + c.fq)
            ops["int_mults"] += 3 * elems
            ops["int_adds"] += 3 * elems
            notes.add(f"axnor {c.order}")
            return
        pairs = c.t * c.b * c.h * c.n * c.n
        ops["and_words"] += pairs * c.words
        ops["xnor_words"] += pairs * c.words
        ops["popcount_words"] += 2 * pairs * c.words
        ops["int_mults"] += 2 * pairs
        ops["int_adds"] += pairs
        ops["acs"] += pairs * c.d * c.fv
        notes.add("axnor nxn bit-packed")


VARIANT = AXnor()
