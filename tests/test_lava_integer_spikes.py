"""The integer-spike processes (SDT-V3's I-LIF and its attention product) in Lava compute what
the simulator computes, with graded (3-bit) messages into Lava's own Conv and Dense.

References: the simulator's executors (``hw_models.sim.kernels.integer``: rounding by
``divmod``, product as ``q (k^T v)``), written independently of the Lava process models
(rounding by ``floor((2x + vth) / (2 vth))`` with a tie correction, product as ``(q k^T) v``).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lava.magma")

from spikeport import ir  # noqa: E402
from spikeport.deploy.lava.runner import compare, default_probes  # noqa: E402
from spikeport.errors import UnsupportedError  # noqa: E402

pytestmark = pytest.mark.lava


def _block() -> ir.Graph:
    """graded image -> Conv -> I-LIF -> Conv (graded 3-bit) -> I-LIF -> tokens ->
    q/k/v Dense (graded) -> I-LIFs -> (Q K^T) V -> I-LIF -> Dense."""
    rng = np.random.default_rng(11)
    g = ir.Graph("ilif")
    g.add(ir.Input("x", shape=(2, 4, 4), kind="graded"))
    g.add(
        ir.Conv(
            "c1", weight=rng.integers(-40, 60, (4, 2, 3, 3)), padding=(1, 1), num_message_bits=6
        ),
        "x",
    )
    g.add(
        ir.GradedSpike(
            "s1", shape=(4, 4, 4), vth=300, bias=rng.integers(-200, 400, (4, 1, 1)), max_value=4
        ),
        "c1",
    )
    g.add(ir.Conv("c2", weight=rng.integers(-20, 40, (4, 4, 1, 1)), num_message_bits=3), "s1")
    g.add(ir.GradedSpike("s2", shape=(4, 4, 4), vth=31, max_value=4), "c2")
    g.add(ir.Reshape("tok", shape=(4, 16)), "s2")
    g.add(ir.Transpose("tokT", perm=(1, 0)), "tok")
    for p, width in (("q", 4), ("k", 4), ("v", 8)):
        g.add(
            ir.Dense(f"{p}_fc", weight=rng.integers(-30, 60, (width, 4)), num_message_bits=3),
            "tokT",
        )
        g.add(ir.GradedSpike(f"{p}_s", shape=(16, width), vth=40, max_value=4), f"{p}_fc")
    g.add(
        ir.IntLinearAttention("att", heads=2, shift=1, max_value=4, out_bits=24),
        {"q": "q_s", "k": "k_s", "v": "v_s"},
    )
    g.add(ir.GradedSpike("s3", shape=(16, 8), vth=301, max_value=4), "att")
    g.add(ir.Dense("out", weight=rng.integers(-9, 9, (3, 8)), num_message_bits=3), "s3")
    return g


def test_integer_spike_block_in_lava_equals_simulator() -> None:
    g = _block()
    rng = np.random.default_rng(2)
    x = rng.integers(0, 64, (1, 3, 2, 4, 4))
    result = compare(g, x, 6, probes=default_probes(g))
    assert result.identical, [(r.node, r.mismatches) for r in result.rows if r.mismatches]
    for name in ("s1", "s2", "q_s", "v_s", "s3"):  # spread over 0..4: the check is not vacuous
        values = set(np.unique(result.lava_probes[(name, "out")]).tolist())
        assert len(values) >= 4, (name, values)


def test_virtual_step_form_is_refused_by_the_emitter() -> None:
    from spikeport.deploy.lava.emitter import emit

    g = ir.Graph("v")
    g.add(ir.Input("a", shape=(3,), kind="graded"))
    g.add(ir.GradedSpike("s", shape=(3,), vth=2, max_value=4, virtual_steps=4), "a")
    with pytest.raises(UnsupportedError, match="layer-synchronously"):
        emit(g, {"a": np.zeros((4, 3), dtype=np.int64)}, 4)


def test_graded_spike_ties_in_lava_round_to_even() -> None:
    g = ir.Graph("ties")
    g.add(ir.Input("a", shape=(8,), kind="graded"))
    g.add(ir.GradedSpike("s", shape=(8,), vth=4, bias=np.full(8, 2), max_value=7), "a")
    a = np.array([[-4, 0, 4, 8, 12, 16, 28, 40]])  # (a + 2) / 4 = -.5, .5, 1.5, ..., 7.5, 10.5
    result = compare(g, a[:, None], 1, probes=["s"])
    assert result.identical
    assert result.lava_probes[("s", "out")][0, 0].tolist() == [0, 0, 2, 2, 4, 4, 7, 7]


@pytest.mark.slow
def test_converted_sdt_v3_in_lava_equals_simulator() -> None:
    """A small SDT-V3 (2 attention blocks) converted and retimed: one image, every node's
    output at every step and the readout v, Lava's process models vs the simulator."""
    import torch
    from conversion_checks import lava_matches_simulator
    from model_references import randomise

    from spikeport.converters.pipeline import convert_model
    from spikeport.models.registry import build_model, default_config

    small = dict(embed_dim=16, depth=2, num_heads=2, num_classes=5, img_size=16)
    config = default_config("sdt-v3", **small, arch_options={"stage_widths": [4, 8, 8, 16]})
    torch.manual_seed(0)
    model = randomise(build_model(config), seed=3).float()
    graph = convert_model(model, (3, 16, 16)).quantized
    assert {"GradedSpike", "IntLinearAttention"} <= {type(n).__name__ for n in graph}
    x = torch.from_numpy(np.random.default_rng(4).random((1, 3, 16, 16)) * 3)
    result = lava_matches_simulator(graph, x, [])
    spikes = result.lava_probes[("block4.1.attn.attn_spike", "out")]
    assert len(np.unique(spikes)) >= 3  # graded values, not a silent network
    assert len(np.unique(result.lava_probes[(graph.meta["readout"], "v")])) > 2
