"""netx export: a graph written as `.net` runs in lava-dl's own netx Network exactly as the
simulator computes it; round trip netx file -> import -> export -> netx Network identical to
netx on the original file; non-netx nodes refused by name."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from spikeport import ir
from spikeport.converters.netx_import import load_netx
from spikeport.deploy.lava.groundtruth import netx_test_dir
from spikeport.deploy.netx_export import export_netx, netx_layers
from spikeport.errors import UnsupportedError
from spikeport.hw_models.sim.engine import Simulator


def _netx(name: str) -> Path:
    try:
        path = netx_test_dir() / name
    except Exception:  # noqa: BLE001
        pytest.skip("lava-dl's netx test networks are not installed")
    if not path.is_file():
        pytest.skip(f"lava-dl test network {name} not installed")
    return path


def run_netx(path: Path, steps: int, *, kwargs=None, bias=None, x=None, state="v"):  # noqa: ANN001, ANN201
    """lava-dl's netx Network on `path`: each layer's `state` Var per step, [T, *Lava shape]."""
    from spikeport.deploy.lava.compat import ensure_lava, surface_child_errors

    ensure_lava()
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer

    net = netx.hdf5.Network(net_config=str(path), **(kwargs or {}))
    if bias is not None:
        net.in_layer.neuron.bias_mant.init = bias
    if x is not None:  # [T, C, H, W] input messages
        data = _to_lava_layout(x) if len(net.inp.shape) == 3 else x.reshape(len(x), -1)
        src = RingBuffer(data=np.moveaxis(data, 0, -1).astype(np.int32))
        src.s_out.connect(net.inp)
    out: list[list[np.ndarray]] = [[] for _ in net.layers]
    with surface_child_errors():
        try:
            for _ in range(steps):
                net.run(condition=RunSteps(1), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
                for i, layer in enumerate(net.layers):
                    var = state if hasattr(layer.neuron, state) else "sigma"
                    out[i].append(np.asarray(getattr(layer.neuron, var).get()).astype(np.int64))
        finally:
            net.stop()
    return [np.stack(o) for o in out]


def _to_lava_layout(arr: np.ndarray) -> np.ndarray:
    return arr.transpose(0, 3, 2, 1) if arr.ndim == 4 else arr


def _to_ir_layout(arr: np.ndarray) -> np.ndarray:
    """[T, X, Y, C] -> [T, C, H, W]; [T, N] unchanged."""
    return arr.transpose(0, 3, 2, 1) if arr.ndim == 4 else arr


@pytest.mark.lava
@pytest.mark.parametrize("name", ["mnist.net", "tiny.net"])
def test_round_trip_runs_identically_in_netx_and_equals_the_simulator(name, tmp_path) -> None:  # noqa: ANN001
    src = _netx(name)
    graph = load_netx(src)
    out = export_netx(graph, tmp_path / "exported.net")
    steps = 6
    shape = graph.node("layer0.neuron").shape
    rng = np.random.default_rng(0)
    image = rng.integers(0, 4 * graph.node("layer0.neuron").vth, shape)  # spikeport layout
    lava_bias = np.transpose(image) if len(shape) == 3 else image
    original = run_netx(src, steps, bias=lava_bias)
    again = run_netx(out.path, steps, kwargs=out.network_kwargs, bias=lava_bias)
    assert len(original) == len(again) == 1 + len(graph.meta["layers"]) - 1
    neurons = [n.name for n in graph if type(n).__name__ == "CubaLIF"]
    probes = [(n, "v") for n in neurons]
    zeros = np.zeros((1, steps, *graph.node("input").shape), dtype=np.int64)
    sim = Simulator(graph, probes).run(zeros, steps, bias={"layer0.neuron": image})
    for i, name_ in enumerate(neurons):
        assert np.array_equal(original[i], again[i]), name_
        assert np.array_equal(_to_ir_layout(again[i]), sim.probes[(name_, "v")][:, 0]), name_
    assert np.any(again[-1] != 0), "the last layer never moved: the comparison would be vacuous"


@pytest.mark.lava
def test_round_trip_with_axonal_delays_and_spike_input(tmp_path) -> None:  # noqa: ANN001
    """ntidigits (no input neuron, DelayDense layers): input_message_bits and delays survive."""
    src = _netx("gts/ntidigits/ntidigits.net")
    graph = load_netx(src, num_layers=5)
    out = export_netx(graph, tmp_path / "nti.net")
    steps = 8
    rng = np.random.default_rng(2)
    x = (rng.random((steps, 1, 1, 64)) < 0.5).astype(np.int64)
    original = run_netx(src, steps, kwargs={"num_layers": 5}, x=x)
    again = run_netx(out.path, steps, kwargs=out.network_kwargs, x=x)
    neurons = [n.name for n in graph if type(n).__name__ == "CubaLIF"]
    sim = Simulator(graph, [(n, "v") for n in neurons]).run(x[None], steps)
    for i, n in enumerate(neurons):
        assert np.array_equal(original[i], again[i]), n
        assert np.array_equal(again[i], sim.probes[(n, "v")][:, 0]), n
    assert np.any(again[0] != 0)
    with h5py.File(out.path) as f:
        assert f["layer/1/type"][0] == b"flatten"
        assert "delay" in f["layer/2"]


def test_layers_of_a_netx_graph(tmp_path) -> None:  # noqa: ANN001
    graph = load_netx(_netx("gts/pilotnet_sdnn/network.net"))
    kinds = [k for k, _ in netx_layers(graph)]
    assert kinds == ["input"] + ["conv"] * 4 + ["flatten"] + ["dense"] * 4
    out = export_netx(graph, tmp_path / "p.net")
    with h5py.File(out.path) as f:
        assert f["layer/9/neuron/sigma_output"][()]
        assert f["layer/0/type"][0] == b"input"
        np.testing.assert_array_equal(f["layer/1/weight"][()], graph.node("layer1.conv").weight)


def test_non_netx_nodes_are_refused_by_name(tmp_path) -> None:  # noqa: ANN001
    g = ir.Graph("g")
    g.add(ir.Input("x", shape=(4,)))
    g.add(ir.Dense("fc", weight=np.ones((4, 4), dtype=int)), "x")
    g.add(ir.CubaLIF("lif", shape=(4,)), "fc")
    g.add(ir.Dense("skip", weight=np.ones((4, 4), dtype=int)), "x")
    g.add(ir.Delay("late", steps=2), "skip")
    with pytest.raises(UnsupportedError, match=r"late \(Delay\).*x \(branch"):
        export_netx(g, tmp_path / "g.net")
    assert not (tmp_path / "g.net").exists()


def test_bias_exponent_netx_cannot_express_is_refused(tmp_path) -> None:  # noqa: ANN001
    g = ir.Graph("g")
    g.add(ir.Input("x", shape=(4,)))
    g.add(ir.Dense("fc", weight=np.ones((4, 4), dtype=int)), "x")
    g.add(ir.CubaLIF("lif", shape=(4,), bias_mant=3, bias_exp=2), "fc")
    with pytest.raises(UnsupportedError, match="lif.*bias_exp"):
        export_netx(g, tmp_path / "g.net")
