"""lower-lrf-dyn: LRF-Dyn IntAttention -> a stateful integer dendritic neuron node.

References: the converter's integer LRF-Dyn formula (``hw_models.sim.int_attention.lrf_dyn_int``,
a dense k x k fixed-point matrix-vector recursion) and, for small cases, a plain Python
loop over tokens / channels / compartments written here from the paper's recursion.
"""

from __future__ import annotations

import numpy as np
import pytest
from attention_graphs import lowered as lower_core
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeport.errors import UnsupportedError
from spikeport.hw_models.sim import int_attention as ia
from spikeport.hw_models.sim.engine import Simulator
from spikeport.hw_models.sim.kernels.dendritic import run_dendrites
from spikeport.ir import Graph
from spikeport.ir.int_attention import IntAttention


def random_dyn(rng: np.random.Generator, dim: int, k: int) -> dict[str, np.ndarray]:
    """Quantised LRF-Dyn parameters: tridiagonal A (diag 0..4095, couplings +-1638),
    gamma and readout +-8192 (12 fractional bits)."""
    a = np.zeros((dim, k, k), dtype=np.int64)
    idx = np.arange(k)
    a[:, idx, idx] = rng.integers(0, 4096, (dim, k))
    a[:, idx[:-1], idx[1:]] = rng.integers(-1638, 1639, (dim, k - 1))
    a[:, idx[1:], idx[:-1]] = rng.integers(-1638, 1639, (dim, k - 1))
    return {
        "dyn_a": a,
        "dyn_gamma": rng.integers(-8192, 8193, (dim, k)),
        "dyn_c": rng.integers(-8192, 8193, (dim, k)),
    }


def attention(dyn: dict, heads: int, d: int, mode: str, m: int) -> IntAttention:
    return IntAttention(
        "att", variant="lrf_dyn", heads=heads, head_dim=d, count_shift=m, input_mode=mode, **dyn
    )


def lowered(att: IntAttention, n: int) -> Graph:
    return lower_core(att, n, "lower-lrf-dyn")


def loop_reference(u: np.ndarray, a: np.ndarray, gamma: np.ndarray, c: np.ndarray) -> np.ndarray:
    """y[n, ch] in 2^-12 units for one sample u [N, D], Python ints, no vectorisation."""

    def trunc(x: int) -> int:  # x / 4096 toward zero
        return x // 4096 if x >= 0 else -((-x) // 4096)

    n_tok, dim = u.shape
    k = gamma.shape[1]
    y = np.zeros((n_tok, dim), dtype=np.int64)
    for ch in range(dim):
        x = [0] * k
        for n in range(n_tok):
            x = [
                trunc(sum(int(a[ch, i, j]) * x[j] for j in range(k)))
                + int(gamma[ch, i]) * int(u[n, ch])
                for i in range(k)
            ]
            y[n, ch] = trunc(sum(int(c[ch, i]) * x[i] for i in range(k)))
    return y


@settings(max_examples=30, deadline=None)
@given(
    heads=st.integers(1, 2),
    d=st.sampled_from([1, 4, 6]),
    k=st.sampled_from([1, 2, 8]),
    n=st.integers(1, 12),
    m=st.integers(0, 14),
    mode=st.sampled_from(["kv_gate_q", "kv", "v"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_dendritic_node_equals_converter_integer_formula(heads, d, k, n, m, mode, seed):
    rng = np.random.default_rng(seed)
    dyn = random_dyn(rng, heads * d, k)
    g = lowered(attention(dyn, heads, d, mode, m), n)
    assert type(g.node("att")).__name__ == "DendriticAttention"
    x = {p: (rng.random((3, 2, n, heads * d)) < rng.random()).astype(np.int64) for p in "qkv"}
    res = Simulator(g).run({p: np.moveaxis(v, 0, 1) for p, v in x.items()})
    want = ia.lrf_dyn_int(x["q"], x["k"], x["v"], **dyn, input_mode=mode, count_shift=m)
    np.testing.assert_array_equal(res.outputs["att"], want)


def test_dendritic_kernel_equals_plain_token_loop():
    rng = np.random.default_rng(7)
    dim, k, n = 5, 8, 20
    dyn = random_dyn(rng, dim, k)
    g = lowered(attention(dyn, 1, dim, "v", 12), n)
    node = g.node("att")
    u = (rng.random((n, dim)) < 0.4).astype(np.int64)
    y, _ = run_dendrites(u, node.decay, node.up, node.down, node.gamma, node.readout)
    np.testing.assert_array_equal(
        y, loop_reference(u, dyn["dyn_a"], dyn["dyn_gamma"], dyn["dyn_c"])
    )


def test_state_bytes_is_k_d_heads_registers_and_the_register_holds_the_state():
    rng = np.random.default_rng(3)
    heads, d, k, n = 2, 6, 8, 64
    dyn = random_dyn(rng, heads * d, k)
    dyn["dyn_a"][:, np.arange(k), np.arange(k)] = 4095  # slowest decay: the largest state
    node = lowered(attention(dyn, heads, d, "v", 8), n).node("att")
    assert node.state_bytes == k * d * heads * node.state_bits // 8
    assert node.state_bits % 8 == 0
    _, peak = run_dendrites(
        np.ones((n, heads * d), np.int64),
        node.decay,
        node.up,
        node.down,
        node.gamma,
        node.readout,
    )
    assert peak < 1 << (node.state_bits - 1)  # signed register holds the all-ones peak
    # the node keeps only k-vectors per channel: no N x N or d x d matrix
    for arr in node.tensors().values():
        assert arr.shape in ((heads * d, k), (heads * d, k - 1))


def test_dense_transition_matrix_is_refused_naming_the_node():
    rng = np.random.default_rng(0)
    dyn = random_dyn(rng, 2, 4)
    dyn["dyn_a"][1, 0, 3] = 5
    with pytest.raises(UnsupportedError, match="att: dyn_a is not tridiagonal"):
        lowered(attention(dyn, 1, 2, "kv", 4), 5)
