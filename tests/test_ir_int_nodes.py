"""Lowered integer nodes: construction, immutability, shapes and range checks."""

from __future__ import annotations

import numpy as np
import pytest

from spikeport import ir
from spikeport.errors import SpikeportError


def lif(name: str, shape: tuple[int, ...], **kw) -> ir.CubaLIF:
    args = dict(du=4095, dv=0, vth=80, bias_mant=0, bias_exp=6) | kw
    return ir.CubaLIF(name, shape=shape, **args)


def conv_net() -> ir.Graph:
    g = ir.Graph("conv_net")
    g.add(ir.Input("x", shape=(3, 16, 16)))
    g.add(lif("in_lif", (3, 16, 16), du=-1), "x")
    g.add(ir.Conv("c1", weight=np.ones((24, 3, 5, 5)), stride=2, padding=1), "in_lif")
    g.add(lif("l1", (24, 7, 7)), "c1")
    g.add(ir.Flatten("flat"), "l1")
    g.add(ir.Dense("d1", weight=np.ones((10, 24 * 7 * 7)), weight_exp=-1), "flat")
    g.add(lif("out", (10,)), "d1")
    return g


def test_conv_output_shape_matches_pytorch_formula() -> None:
    shapes = ir.validate(conv_net())
    # (16 + 2*1 - 5) // 2 + 1 = 7, computed by hand
    assert shapes["c1"] == (24, 7, 7)
    assert shapes["flat"] == (24 * 7 * 7,)
    assert shapes["out"] == (10,)


def test_dilated_grouped_conv_shape() -> None:
    c = ir.Conv("c", weight=np.zeros((8, 2, 3, 3)), groups=4, padding=3, dilation=3)
    assert c.output_shape({"in": (8, 10, 12)}) == (8, 10, 12)
    with pytest.raises(ir.GraphError, match="c \\(Conv\\).*not \\(C=8"):
        c.output_shape({"in": (4, 10, 12)})


def test_nodes_are_immutable_and_arrays_read_only() -> None:
    d = ir.Dense("d", weight=[[1, -2], [3, 4]])
    with pytest.raises(AttributeError):
        d.weight_exp = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        d.weight[0, 0] = 7
    assert d.weight.dtype == np.int16  # Dense.int_dtypes


def test_source_array_is_copied() -> None:
    w = np.array([[1, 2]])
    d = ir.Dense("d", weight=w)
    w[0, 0] = 99
    assert d.weight[0, 0] == 1


def test_equality_compares_tensors_by_value() -> None:
    a = ir.Dense("d", weight=np.array([[1, 2]]), weight_exp=1)
    assert a == ir.Dense("d", weight=[[1, 2]], weight_exp=1)
    assert a != ir.Dense("d", weight=[[1, 3]], weight_exp=1)
    assert a != ir.Dense("d", weight=[[1, 2]], weight_exp=2)
    assert a.replace(weight_exp=2) == ir.Dense("d", weight=[[1, 2]], weight_exp=2)


def test_synapse_tensors_are_held_in_their_storage_types() -> None:
    # weight mantissas (8 bits + sign, -256..255) in int16, delays (0..62) in int8; the
    # per-neuron tensors (shifted by their exponents downstream) stay int64
    w = np.array([[-256, 255, 0]])
    d = ir.Dense("d", weight=w, delay=[[0, 62, 1]])
    assert (d.weight.dtype, d.delay.dtype) == (np.int16, np.int8)
    assert d.weight.tolist() == w.tolist() and d.delay.tolist() == [[0, 62, 1]]
    assert ir.Conv("c", weight=np.full((1, 1, 3, 3), -256.0)).weight.dtype == np.int16
    local = ir.NODE_TYPES["LocalTerm"](
        "t", grid=(2, 2), dilation=(1,), weight=np.ones((1, 4, 1, 3, 3))
    )
    assert local.weight.dtype == np.int16
    assert lif("n", (2,), bias_mant=[4095, -4096]).bias_mant.dtype == np.int64
    assert (
        ir.Dense.int_dtype("weight") == np.int16 and ir.CubaLIF.int_dtype("bias_mant") == np.int64
    )


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda: ir.Dense("block.0.fc1", weight=[[40000, 0]]),
            r"^block\.0\.fc1 \(Dense\): weight value 40000 outside int16$",
        ),
        # 65541 would wrap to 5 in int16: refused, not wrapped
        (lambda: ir.Dense("d", weight=np.array([[65541]])), r"^d \(Dense\): weight value 65541 "),
        (lambda: ir.Dense("d", weight=[[-40000.0]]), "weight value -40000 outside int16"),
        (
            lambda: ir.Dense("d", weight=[[1]], delay=[[300]]),
            "d \\(Dense\\): delay value 300 outside int8",
        ),
        (
            lambda: ir.Conv("c", weight=np.full((1, 1, 1, 1), -32769)),
            "c \\(Conv\\): weight value -32769",
        ),
        # an int64 field refuses what int64 cannot hold (a uint64 used to wrap to negative)
        (
            lambda: lif("n", (1,), bias_mant=np.array([1 << 63], dtype=np.uint64)),
            f"bias_mant value {1 << 63} outside int64",
        ),
    ],
)
def test_a_tensor_outside_its_storage_type_is_refused_at_construction(build, message) -> None:
    with pytest.raises(ir.GraphError, match=message):
        build()


def test_a_storage_type_for_a_non_integer_field_is_a_definition_error() -> None:
    with pytest.raises(TypeError, match=r"Bad\.int_dtypes\['shape'\]: not an integer tensor"):

        @ir.node
        class Bad(ir.Node):  # never registered: the check runs first
            shape: tuple[int, ...] = ()
            int_dtypes = {"shape": "int16"}

    assert "Bad" not in ir.NODE_TYPES


def test_float_weights_must_be_integral() -> None:
    with pytest.raises(SpikeportError, match="d.*weight.*integers"):
        ir.Dense("d", weight=[[0.5, 1.0]])


def test_sign_mode_follows_lava_rule() -> None:
    assert ir.Dense("d", weight=[[0, 3]]).sign_mode == "excitatory"
    assert ir.Dense("d", weight=[[0, -3]]).sign_mode == "inhibitory"
    assert ir.Dense("d", weight=[[-1, 3]]).sign_mode == "mixed"


@pytest.mark.parametrize(
    "bad, message",
    [
        (ir.Dense("w", weight=[[256, 0]]), "w \\(Dense\\): weight range 0..256 outside int9"),
        (ir.Dense("w", weight=[[-257, 0]]), "weight range -257..0"),
        (ir.Dense("w", weight=[[1]], weight_exp=8), "weight_exp 8 outside -8..7"),
        (ir.Dense("w", weight=[[1]], num_weight_bits=10), "num_weight_bits 10"),
        (ir.Dense("w", weight=[[1]], delay=[[63]]), "delay range 63..63 outside 0..62"),
        (ir.CubaLIF("w", shape=(1,), du=4096), "du 4096 outside -1..4095"),
        (ir.CubaLIF("w", shape=(1,), dv=4097), "dv 4097"),
        (ir.CubaLIF("w", shape=(1,), vth=(1 << 17) + 1), "vth 131073"),
        (ir.CubaLIF("w", shape=(2,), bias_mant=[4096, 0]), "bias_mant range 0..4096 outside int13"),
        (ir.CubaLIF("w", shape=(1,), bias_exp=8), "bias_exp 8 outside 0..7"),
        (ir.Delay("w", steps=63), "steps 63 outside 0..62"),
        (ir.XnorPopcount("w", head_dim=64, a_int=3, a_shift=4, out_bits=10), "cannot hold"),
    ],
)
def test_out_of_range_integer_fields_name_node_and_field(bad: ir.Node, message: str) -> None:
    g = ir.Graph()
    shape = (1,)
    if isinstance(bad, ir.XnorPopcount):
        g.add(ir.Input("q", shape=(4, 64)))
        g.add(bad, {"q": "q", "k": "q"})
    else:
        if isinstance(bad, ir.Dense):
            shape = (bad.weight.shape[1],)
        elif isinstance(bad, ir.CubaLIF):
            shape = bad.shape
        g.add(ir.Input("x", shape=shape))
        g.add(bad, "x")
    with pytest.raises(ir.GraphError, match=message):
        ir.validate(g)


def test_in_range_extremes_are_accepted() -> None:
    g = ir.Graph()
    g.add(ir.Input("x", shape=(2,)))
    g.add(ir.Dense("d", weight=[[-256, 255]], weight_exp=-8, delay=[[0, 62]]), "x")
    g.add(ir.CubaLIF("n", shape=(1,), du=-1, dv=4096, vth=1 << 17, bias_mant=[-4096]), "d")
    ir.validate(g)


def test_neuron_rejects_mismatched_input_shape() -> None:
    g = ir.Graph()
    g.add(ir.Input("x", shape=(5,)))
    g.add(lif("n", (4,)), "x")
    with pytest.raises(ir.GraphError, match="n \\(CubaLIF\\): input shape \\(5,\\)"):
        ir.validate(g)


def test_bias_must_broadcast_to_neuron_shape() -> None:
    with pytest.raises(ir.GraphError, match="bias_mant of shape \\(3,\\)"):
        lif("n", (4, 2, 2), bias_mant=np.zeros(3))
    assert lif("n", (4, 2, 2), bias_mant=np.zeros((4, 1, 1))).bias_mant.shape == (4, 1, 1)


def test_sdnn_nodes_shapes() -> None:
    g = ir.Graph()
    g.add(ir.Input("x", shape=(3, 4, 4), kind="graded"))
    g.add(ir.Delta("delta", shape=(3, 4, 4), vth=1, spike_exp=6, state_exp=6), "x")
    g.add(ir.Conv("c", weight=np.ones((2, 3, 3, 3)), num_message_bits=16), "delta")
    g.add(ir.SigmaDelta("sd", shape=(2, 2, 2), vth=2, bias=[[[1]], [[2]]]), "c")
    g.add(ir.Sigma("sig", shape=(2, 2, 2)), "sd")
    g.add(ir.Delay("dl", steps=3), "sig")
    assert ir.validate(g)["dl"] == (2, 2, 2)
    with pytest.raises(ir.GraphError, match="bias of shape \\(3,\\) does not broadcast"):
        ir.SigmaDelta("bad", shape=(2, 2, 2), vth=2, bias=[1, 2, 3])


def test_popcount_primitives_score_shape() -> None:
    x = ir.XnorPopcount("s", head_dim=16, a_int=5, a_shift=4, out_bits=9)
    assert x.output_shape({"q": (2, 8, 16), "k": (2, 6, 16)}) == (2, 8, 6)
    a = ir.AndPopcount("a", head_dim=16, out_bits=5)
    with pytest.raises(ir.GraphError, match="a \\(AndPopcount\\)"):
        a.output_shape({"q": (8, 16), "k": (6, 15)})
