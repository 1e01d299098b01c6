"""Graph wiring, topological order and validate(): every error names the node at fault."""

from __future__ import annotations

import numpy as np
import pytest

from spikeport import ir


def chain() -> ir.Graph:
    g = ir.Graph("chain")
    g.add(ir.Input("x", shape=(4,)))
    g.add(ir.Dense("d", weight=np.ones((3, 4))), "x")
    g.add(ir.CubaLIF("n", shape=(3,)), "d")
    return g


def half_add(name: str) -> ir.Graph:
    """Input x (2,) into port ``a`` of an Add ``name``; its port ``b`` is left open."""
    g = ir.Graph()
    g.add(ir.Input("x", shape=(2,)))
    g.add(ir.Add(name), {"a": "x"})
    return g


def test_topological_order_and_default_outputs() -> None:
    g = ir.Graph()
    g.add(ir.Input("x", shape=(2,)))
    g.add(ir.LIF("a"), "x")
    g.add(ir.LIF("b"), "x")
    g.add(ir.Add("sum"), {"a": "a", "b": "b"})
    order = g.topological_order()
    assert order[0] == "x" and order[-1] == "sum" and set(order) == {"x", "a", "b", "sum"}
    assert g.outputs == ["sum"] and g.input_names == ["x"]
    assert [n.name for n in g] == order


def test_one_source_may_feed_two_ports() -> None:
    g = ir.Graph()
    g.add(ir.Input("x", shape=(2, 3)))
    g.add(ir.Add("double"), ["x", "x"])
    assert g.inputs_of("double") == {"a": "x", "b": "x"}
    assert g.edges() == [("x", "double", "a"), ("x", "double", "b")]
    assert ir.validate(g)["double"] == (2, 3)


def test_duplicate_name_and_unknown_input_are_refused() -> None:
    g = chain()
    with pytest.raises(ir.GraphError, match="n: a node with this name is already"):
        g.add(ir.LIF("n"), "x")
    with pytest.raises(ir.GraphError, match="m: input 'nope' is not a node"):
        g.add(ir.LIF("m"), "nope")
    with pytest.raises(ir.GraphError, match="m: no input port 'q'"):
        g.add(ir.LIF("m"), {"q": "x"})


def test_replace_keeps_edges_and_remove_drops_them() -> None:
    g = chain()
    g.replace(ir.CubaLIF("n", shape=(3,), vth=99))
    assert g.node("n").vth == 99 and g.inputs_of("n") == {"in": "d"}
    g.remove("n")
    assert "n" not in g and g.outputs == ["d"]


def test_validate_names_dangling_edge() -> None:
    g = chain()
    g.nx.add_edge("n", "ghost", ports=("in",))  # bypasses Graph.connect
    with pytest.raises(ir.GraphError, match="ghost: dangling edge \\(edge with n\\)"):
        ir.validate(g)


def test_validate_names_cycle() -> None:
    g = half_add("a")
    g.add(ir.LIF("b"), "a")
    g.connect("b", "a", "b")
    with pytest.raises(ir.GraphError, match="has a cycle"):
        ir.validate(g)


def test_validate_names_unconnected_port() -> None:
    g = half_add("sum")
    with pytest.raises(ir.GraphError, match="sum \\(Add\\): input port 'b' is not connected"):
        ir.validate(g)


def test_validate_names_shape_mismatch() -> None:
    g = ir.Graph()
    g.add(ir.Input("x", shape=(2, 3)))
    g.add(ir.Input("y", shape=(3, 2)))
    g.add(ir.Add("sum"), ["x", "y"])
    with pytest.raises(ir.GraphError, match=r"sum \(Add\): operand shapes differ"):
        ir.validate(g)


def test_validate_requires_an_input_and_known_outputs() -> None:
    g = ir.Graph("empty")
    with pytest.raises(ir.GraphError, match="graph empty: has no Input node"):
        ir.validate(g)
    g = chain()
    with pytest.raises(ir.GraphError, match="'zzz' is not a node"):
        g.set_outputs(["zzz"])


def test_validate_names_record_under_wrong_key() -> None:
    g = chain()
    g.nx.nodes["n"]["node"] = ir.CubaLIF("other", shape=(3,))
    with pytest.raises(ir.GraphError, match="n: record is named 'other'"):
        ir.validate(g)


def test_node_names_must_be_plain_strings() -> None:
    with pytest.raises(ir.GraphError, match="node name 'a/b'"):
        ir.LIF("a/b")
    with pytest.raises(ir.GraphError, match="node name ''"):
        ir.LIF("")


def test_intformat_ranges() -> None:
    assert (ir.IntFormat(9).min, ir.IntFormat(9).max) == (-256, 255)
    assert (ir.IntFormat(24).min, ir.IntFormat(24).max) == (-(2**23), 2**23 - 1)
    assert (ir.IntFormat(12, signed=False).min, ir.IntFormat(12, signed=False).max) == (0, 4095)
    assert ir.IntFormat(8, False).contains(np.array([0, 255]))
    assert not ir.IntFormat(8, False).contains(np.array([0, 256]))
    assert not ir.IntFormat(8).contains(np.array([0.5]))
    assert str(ir.IntFormat(8, True, -3)) == "int8*2^-3"
