"""Adding an attention type touches only the files docs/extending.md lists: a toy variant
defined here (a torch core and an IR variant, nothing else) is trained-shape built, traced,
quantised, lowered, simulated, exported to ONNX and counted without any other change.

The toy, ``xnor_half``: a-XNOR attention with the co-silence weight fixed at a = 1/2 (no
parameter). Its independent reference is the registered ``axnor`` variant with a = 1/2
(``a_logit = 0``: sigmoid(0) = 0.5 exactly): the same model must give the same float logits,
and its conversion (lowered) the very same integer nodes (so the Lava emitter, which runs
those primitives for the lowered axnor graph in test_lava_emit_transformer.py, runs it too).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeport.converters.float_eval import run_float
from spikeport.converters.passes import QuantConfig
from spikeport.converters.pipeline import convert_model
from spikeport.hw_models.sim.classification import direct_input
from spikeport.hw_models.sim.engine import Simulator
from spikeport.hw_models.sim.int_eval import run_int
from spikeport.ir import attention
from spikeport.ir.attention.axnor import xnor_scores
from spikeport.ir.attention.scores import ScoreAttention
from spikeport.ir.attention.variant import check_a_int
from spikeport.models.attention import CoreSpec, register_core, unregister_core
from spikeport.models.attention.axnor import axnor_attention
from spikeport.models.attention.core import AttentionCore
from spikeport.models.digits import PIXEL_MAX
from spikeport.models.registry import build_model
from spikeport.models.train import digits_config

NAME = "xnor_half"


# -- the toy, file 1 of the recipe: the torch core -------------------------------------------
class XnorHalfCore(AttentionCore):
    """``sim(Q, K) V * scale`` with sim = #(q AND k) + #(NOT q AND NOT k) / 2."""

    name = NAME
    emits_spikes = False

    def forward(self, q, k, v):  # type: ignore[no-untyped-def]
        self.check_inputs(q, k, v)
        return axnor_attention(q, k, v, torch.tensor(0.5), self.scale)

    @classmethod
    def reference(cls, node, q, k, v):  # type: ignore[no-untyped-def]
        return axnor_attention(q, k, v, torch.tensor(0.5), node.scale)


# -- file 2: the IR variant ------------------------------------------------------------------
class XnorHalf(ScoreAttention):
    """Integer form: a-XNOR with a_int = 2^(p-1) in every head; lowered by its own pass."""

    name = NAME
    formula = "S_1/2 V * scale"
    fused = False
    lowering_pass = "lower-attention"

    def check_int(self, node):  # type: ignore[no-untyped-def]
        check_a_int(node)

    def int_params(self, node, a_shift):  # type: ignore[no-untyped-def]
        return {"a_int": np.full(node.heads, 1 << (a_shift - 1)), "a_shift": a_shift}, {}

    def scores(self, graph, rec, q, k):  # type: ignore[no-untyped-def]
        return xnor_scores(graph, rec, q, k)


@pytest.fixture
def toy():
    """Register the toy (the recipe's two list entries), and remove it afterwards."""
    attention.register(XnorHalf())
    register_core(NAME, CoreSpec(__name__, "XnorHalfCore", (), False))
    try:
        yield
    finally:
        unregister_core(NAME)
        attention.unregister(NAME)


def _pair(seed: int = 3):
    """The toy model and the same model with an a = 1/2 a-XNOR core (same weights)."""
    shape = dict(embed_dim=32, depth=1, num_heads=2, T=4)
    torch.manual_seed(seed)
    toy = build_model(digits_config(NAME, **shape)).eval()
    ref = build_model(digits_config("axnor", **shape)).eval()
    state = toy.state_dict()
    for key, value in ref.state_dict().items():
        if key.endswith("a_logit"):
            state[key] = torch.zeros_like(value)  # sigmoid(0) = 1/2 exactly
    ref.load_state_dict(state)
    return toy, ref


@pytest.fixture(scope="module")
def images():
    from spikeport.models.digits import load_digits_split

    return load_digits_split().x_test[:24]


def _convert(model, images, lower=False):
    config = QuantConfig(input_scale=PIXEL_MAX)
    return convert_model(model, (1, 8, 8), config=config, calibration=images, lower=lower)


def test_toy_variant_traces_to_its_float_node_and_reproduces_the_model(toy, images):
    model, ref = _pair()
    with torch.no_grad():
        assert torch.equal(model(images), ref(images))  # the independent formula
        conv = _convert(model, images)
        cores = [n for n in conv.float_graph if type(n).__name__ == "Attention"]
        assert [c.variant for c in cores] == [NAME]
        assert torch.equal(run_float(conv.float_graph, images), model(images))


def test_toy_variant_is_always_lowered_to_the_primitives_of_a_half(toy, images):
    model, ref = _pair()
    toy_q = _convert(model, images).quantized  # no --lower-attention: a non-fused variant
    ref_q = _convert(ref, images, lower=True).quantized
    kinds = {type(n).__name__ for n in toy_q}
    assert "IntAttention" not in kinds and "XnorPopcount" in kinds
    assert toy_q.meta["passes"][-1] == "lower-attention"
    assert [n.name for n in toy_q] == [n.name for n in ref_q]
    for node in toy_q:
        assert node == ref_q.node(node.name), node.name
    xnor = next(n for n in toy_q if type(n).__name__ == "XnorPopcount")
    assert xnor.a_int == 1 << (xnor.a_shift - 1)  # a = 1/2


def test_toy_variant_simulates_exports_and_counts(toy, images):
    from spikeport.deploy.onnx import export_onnx, run_onnx
    from spikeport.hw_models.cost.analytical import Convention, count_model
    from spikeport.hw_models.cost.mapping import attention_state_bits
    from spikeport.hw_models.cost.measured import run_measured

    model, ref = _pair()
    q = _convert(model, images).quantized
    ref_q = _convert(ref, images).quantized  # fused axnor IntAttention
    x = images[:6].numpy()
    feed = direct_input(q, x)
    readout = (q.meta["readout"], "v")
    sim = Simulator(q, probes=[readout]).run(feed)
    fused = Simulator(ref_q, probes=[readout]).run(feed)
    assert np.array_equal(sim.probes[readout], fused.probes[readout])
    assert np.array_equal(run_int(q, x), run_int(ref_q, x))
    onnx_out = run_onnx(export_onnx(q), feed)
    for name, value in onnx_out.items():
        assert np.array_equal(value, sim.outputs[name]), name
    measured, _ = run_measured(q, feed)
    xnor = [n for n in measured.nodes if n.kind == "XnorPopcount"]
    assert xnor and xnor[0].counters["popcount_words"] > 0 and xnor[0].bitwise == "and+xnor"
    analytical = count_model(model, images[:2], Convention(timesteps=4))
    cores = [lo for lo in analytical.layers if lo.kind == f"attention:{NAME}"]
    assert len(cores) == 1 and cores[0].note == f"{NAME} dxd"  # its paper_ops counted it
    assert attention_state_bits(NAME, 2, 16, 16, "dxd", 24) == 2 * 16 * 16 * 5


def test_a_variant_without_a_lowering_fails_loudly(toy, images):
    class Unlowered(XnorHalf):
        name = "unlowered"

        def lower(self, graph, name):  # type: ignore[no-untyped-def]
            return super(ScoreAttention, self).lower(graph, name)

    attention.register(Unlowered())
    try:
        with pytest.raises(TypeError, match="already registered"):
            attention.register(Unlowered())
        register_core("unlowered", CoreSpec(__name__, "XnorHalfCore", (), False))
        try:
            model, _ = _pair()
            for mod in model.modules():
                if isinstance(mod, XnorHalfCore):
                    mod.name = "unlowered"  # an instance attribute: only this model
            with pytest.raises(NotImplementedError, match="'unlowered' does not define lower"):
                _convert(model, images)
        finally:
            unregister_core("unlowered")
    finally:
        attention.unregister("unlowered")
