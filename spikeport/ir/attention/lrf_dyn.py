"""``lrf_dyn``: LRF-Dyn (Zhang et al., ICLR 2026): attention replaced by dendritic dynamics.

Float: per channel, k compartments run causally over tokens n: ``X_n = A X_{n-1} + gamma u_n``,
``y_n = c . X_n``; ``u_n = k_n v_n`` (or v_n for input_mode "v"), output ``y_n * scale``
gated by q_n for input_mode "kv_gate_q", plus the local term when local_weight is set.
``dyn_a`` [D, k, k] tridiagonal, ``dyn_gamma``, ``dyn_c`` [D, k].

Integer: A, gamma, c with 12 fractional bits (``FRAC_BITS``); ``X_n = trunc(A X_{n-1} / 2^12)
+ G u_n``, ``y_n = trunc(c . X_n / 2^12)``, ``a = gate * (y_n >> (12 - m)) + local``.
Lowered (pass ``lower-lrf-dyn``): one ``DendriticAttention`` (tridiagonal as 12-bit decays and
couplings, register width from a bound) [+ ``LocalTerm`` + ``Add``]. State per step: k x d
registers per head. Analytical count per token, channel and step: (3k - 2) MACs (tridiagonal
A X) + k MACs (readout) + k x fr_u ACs (gamma u); u = k AND v: T N ceil(h d / w) AND words.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from spikeport.errors import UnsupportedError
from spikeport.ir.attention.splice import cut, finish
from spikeport.ir.attention.variant import AttentionVariant, CoreCall, relative_error
from spikeport.ir.dendritic_node import FRAC_BITS, DendriticAttention
from spikeport.ir.graph import Graph
from spikeport.ir.node import Node

DYN_FIELDS = ("dyn_a", "dyn_gamma", "dyn_c")


def tridiagonal(name: str, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(decay [D, k], up [D, k-1], down [D, k-1]) of integer A [D, k, k] (2^12 = 1.0);
    the inverse of ``DendriticAttention.transition``."""
    k = a.shape[-1]
    band = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) <= 1
    if np.any(a[:, ~band]):
        raise UnsupportedError(f"{name}: dyn_a is not tridiagonal; cannot lower to dendrites")
    diag = np.diagonal(a, axis1=1, axis2=2)
    decay = (1 << FRAC_BITS) - diag
    if np.any(decay < 0) or np.any(decay > 1 << FRAC_BITS):
        raise UnsupportedError(f"{name}: dyn_a diagonal outside 0..4096 (decay not 12-bit)")
    up = np.diagonal(a, offset=1, axis1=1, axis2=2)
    down = np.diagonal(a, offset=-1, axis1=1, axis2=2)
    return decay, up, down


def register_bits(a: np.ndarray, gamma: np.ndarray, tokens: int) -> int:
    """Register width (multiple of 8) for |X| after `tokens` steps of 0/1 drive:
    |X_n| <= r |X_{n-1}| + 1 + max|gamma|, r = max row sum |A| / 2^12 (the +1 covers the
    truncation)."""
    r = float(np.abs(a).sum(axis=-1).max(initial=0)) / (1 << FRAC_BITS)
    g = float(np.abs(gamma).max(initial=0)) + 1.0
    bound = 0.0
    for _ in range(tokens):
        bound = r * bound + g
    bits = int(np.ceil(bound)).bit_length() + 1  # + sign
    return -(-bits // 8) * 8


def response_bound(node: Any, tokens: int) -> float:
    """Largest |y_n| (counts) of the float dendrites over `tokens` tokens of 0/1 input."""
    a = np.asarray(node.dyn_a, dtype=np.float64)
    g = np.asarray(node.dyn_gamma, dtype=np.float64)[..., None]
    c = np.asarray(node.dyn_c, dtype=np.float64)
    total = np.zeros(a.shape[0])
    x = g
    for _ in range(tokens):
        total += np.abs((c[..., None] * x).sum(-2))[..., 0]
        x = a @ x
    return float(total.max(initial=0.0))


class LrfDyn(AttentionVariant):
    name = "lrf_dyn"
    formula = "q * (c . X_n) * scale, X_n = A X_{n-1} + gamma k_n v_n (+ local(V))"
    fused = True
    lowering_pass = "lower-lrf-dyn"
    owned_fields = DYN_FIELDS
    owned_phrase = "dyn_* fields are only used by lrf_dyn"

    def check_int(self, node: Any) -> None:
        if any(getattr(node, f) is None for f in DYN_FIELDS):
            raise node.fail("lrf_dyn needs dyn_a, dyn_gamma and dyn_c")

    def check_float(self, node: Any) -> None:
        self.check_int(node)
        k = node.dyn_gamma.shape[-1]
        if node.dyn_a.shape != (node.dim, k, k):
            raise node.fail(f"dyn_a shape {node.dyn_a.shape} != ({node.dim}, {k}, {k})")
        for f in ("dyn_gamma", "dyn_c"):
            if getattr(node, f).shape != (node.dim, k):
                raise node.fail(f"{f} shape {getattr(node, f).shape} != ({node.dim}, {k})")
        off = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) > 1
        if np.any(node.dyn_a[:, off]):
            raise node.fail("dyn_a must be tridiagonal")

    def count_bound(self, node: Any, tokens: int) -> float:
        return response_bound(node, tokens)

    def int_params(self, node: Any, a_shift: int) -> tuple[dict[str, Any], dict[str, Any]]:
        one = 1 << FRAC_BITS
        floats = {f: np.asarray(getattr(node, f), np.float64) for f in DYN_FIELDS}
        dyn = {f: np.rint(x * one).astype(np.int64) for f, x in floats.items()}
        row = {
            "dyn_rel_error": max(relative_error(dyn[f] / one, floats[f]) for f in dyn),
            "dyn_max_int": int(max(np.abs(v).max() for v in dyn.values())),
        }
        return {**dyn, "input_mode": node.input_mode}, row

    def lower(self, graph: Graph, name: str) -> None:
        rec = graph.node(name)
        a = np.asarray(rec.dyn_a)
        decay, up, down = tridiagonal(name, a)
        c = cut(graph, name)
        bits = register_bits(a, np.asarray(rec.dyn_gamma), c.tokens)
        if bits > 64:
            raise UnsupportedError(f"{name}: dendritic state needs more than 64 bits")

        def last(n: str) -> Node:
            return DendriticAttention(
                n,
                heads=rec.heads,
                head_dim=rec.head_dim,
                compartments=a.shape[-1],
                decay=decay,
                up=up,
                down=down,
                gamma=rec.dyn_gamma,
                readout=rec.dyn_c,
                input_mode=rec.input_mode,
                count_shift=rec.count_shift,
                state_bits=bits,
            )

        finish(graph, c, rec, last, dict(c.inputs))

    def state_bits(
        self, heads: int, tokens: int, head_dim: int, order: str, state_bits: int, compartments: int
    ) -> int:
        return heads * compartments * head_dim * state_bits

    def paper_ops(self, call: CoreCall, ops: dict[str, float], notes: set[str]) -> None:
        c = call
        kc = int(getattr(c.core, "compartments", c.compartments))
        token_input = getattr(c.core, "token_input", "kv")
        fu = c.fv if token_input == "v" else c.pair(c.fk, c.fv, c.exact_kv_elem)
        elems = c.t * c.b * c.h * c.n * c.d
        ops["macs"] += elems * ((3 * kc - 2) + kc)
        ops["acs"] += elems * kc * fu
        if token_input != "v":
            ops["and_words"] += c.t * c.b * c.n * math.ceil(c.h * c.d / c.word_bits)
        notes.add(f"lrf_dyn k={kc} serial recurrence")


VARIANT = LrfDyn()
