"""The emitted Lava graph computes the simulator's integers on lava-dl's netx networks.

Graphs come from lava-dl's shipped `.net` files (site-packages/tests/lava/lib/dl/netx)
through ``converters.netx_import``; every non-layout node's output and every neuron's state
is compared at every step. For tiny.net the emitted graph is also compared with netx's own
``hdf5.Network`` built from the same file (an independent Lava graph).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lava.magma")

from spikeport.converters.netx_import import load_netx  # noqa: E402
from spikeport.deploy.lava.compat import ensure_lava, surface_child_errors  # noqa: E402
from spikeport.deploy.lava.groundtruth import netx_test_dir  # noqa: E402
from spikeport.deploy.lava.runner import compare, default_probes, run_lava  # noqa: E402
from spikeport.errors import SpikeportError, UnsupportedError  # noqa: E402

pytestmark = pytest.mark.lava


def _netx(name: str) -> Path:
    path = netx_test_dir() / name
    if not path.is_file():
        pytest.skip(f"lava-dl test network {name} not installed")
    return path


def _spikes(shape: tuple[int, ...], steps: int, rate: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((1, steps, *shape)) < rate).astype(np.int64)


def _input_bias(graph, seed: int = 0) -> dict[str, np.ndarray]:  # noqa: ANN001
    """Random image on the input layer neuron's bias (netx's way of feeding images)."""
    name = "layer0.neuron"
    if name not in graph:
        return {}
    node = graph.node(name)
    rng = np.random.default_rng(seed)
    return {name: rng.integers(0, 4 * node.vth, node.shape)}


@pytest.mark.parametrize(
    ("name", "kwargs", "rate"),
    [
        ("tiny.net", {}, 0.4),
        ("mnist.net", {}, 0.3),
        ("gts/ntidigits/ntidigits.net", {"num_layers": 5}, 0.5),  # DelayDense, axonal delays
    ],
)
def test_emitted_netx_graph_equals_simulator_every_node_and_step(name, kwargs, rate) -> None:  # noqa: ANN001
    graph = load_netx(_netx(name), **kwargs)
    x = _spikes(graph.node("input").shape, 8, rate)
    bias = _input_bias(graph)
    probes = default_probes(graph, states=True)
    result = compare(graph, x, 8, probes=probes, bias=bias)
    bad = [(r.node, r.var, r.mismatches) for r in result.rows if not r.identical]
    assert result.identical, bad
    assert len(result.rows) == len(probes)
    # not vacuous: the second synapse layer's neurons integrate something
    second = [n.name for n in graph if type(n).__name__ == "CubaLIF"][1]
    lava = run_lava(graph, x, 8, probes=[(second, "u"), (second, "out")], bias=bias)
    assert np.any(lava.probes[(second, "u")] != 0)


@pytest.mark.slow
def test_emitted_pilotnet_sdnn_equals_simulator_graded_messages() -> None:
    """Delta / SigmaDelta / Sigma with graded messages, conv and dense, 4 steps."""
    graph = load_netx(_netx("gts/pilotnet_sdnn/network.net"))
    rng = np.random.default_rng(1)
    x = rng.integers(-52, 65, (1, 4, *graph.node("input").shape))
    probes = [p for p in default_probes(graph, states=True) if p[1] in ("out", "sigma")]
    result = compare(graph, x, 4, probes=probes)
    assert result.identical, [(r.node, r.var, r.mismatches) for r in result.rows if r.mismatches]
    lava = run_lava(graph, x, 4, probes=[("layer2.neuron", "out")])
    assert np.any(lava.probes[("layer2.neuron", "out")] != 0)


def test_comparison_detects_a_changed_parameter() -> None:
    """Lava on the true graph vs the simulator on a graph with one du changed: mismatches."""
    graph = load_netx(_netx("mnist.net"))
    x = _spikes(graph.node("input").shape, 6, 0.3)
    probes = [("layer1.neuron", "u"), ("layer1.neuron", "out")]
    bias = _input_bias(graph)
    lava = run_lava(graph, x, 6, probes=probes, bias=bias)
    from spikeport.hw_models.sim.engine import Simulator

    changed = graph.copy()
    n = changed.node("layer1.neuron")
    changed.replace(n.replace(du=max(-1, n.du - 300)))
    sim = Simulator(changed, probes).run(x, 6, bias=bias)
    assert np.any(lava.probes[probes[0]] != sim.probes[probes[0]])
    same = Simulator(graph, probes).run(x, 6, bias=bias)
    assert np.array_equal(lava.probes[probes[0]], same.probes[probes[0]])


def test_emitted_tinynet_equals_netx_network_every_layer() -> None:
    """tiny.net, image through the input layer's bias (lava-dl's test_tinynet input): our emitted
    graph and netx's own Network give the same u, v and spikes in every layer, every step."""
    ensure_lava()
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    path = _netx("tiny.net")
    steps = 6
    image = np.load(netx_test_dir() / "gts" / "tinynet" / "input_bias.npy").astype(int)  # (X,Y,C)
    x = np.zeros((1, steps, 3, 16, 16), dtype=np.int64)  # netx's input: the bias image only

    net = netx.hdf5.Network(net_config=str(path))
    net.in_layer.neuron.bias_mant.init = image
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    ref: dict[tuple[int, str], list[np.ndarray]] = {}
    with surface_child_errors():
        try:
            for _ in range(steps):
                net.run(condition=RunSteps(1), run_cfg=cfg)
                for i, layer in enumerate(net.layers):
                    for var in ("u", "v"):
                        ref.setdefault((i, var), []).append(getattr(layer.neuron, var).get())
        finally:
            net.stop()

    graph = load_netx(path)
    neurons = ["layer0.neuron", "layer1.neuron", "layer2.neuron"]
    probes = [(n, v) for n in neurons for v in ("u", "v")]
    ours = run_lava(
        graph, x, steps, probes=probes, bias={"layer0.neuron": image.transpose(2, 1, 0)}
    )
    for i, name in enumerate(neurons):
        for var in ("u", "v"):
            theirs = np.stack(ref[(i, var)]).transpose(0, 3, 2, 1)  # [T, X, Y, C] -> [T, C, H, W]
            got = ours.probes[(name, var)][:, 0]
            assert np.array_equal(got, theirs), f"{name}:{var}"
            if var == "v" or i > 0:  # the input layer's u stays 0: its image is a bias
                assert np.any(got != 0), f"{name}:{var} never moved"


def test_unsupported_node_is_refused_by_name() -> None:
    from spikeport import ir

    g = ir.Graph("g")
    g.add(ir.Input("x", shape=(4,)))
    g.add(ir.Linear("fc", weight=np.ones((2, 4))), "x")
    with pytest.raises(UnsupportedError, match="fc"):
        run_lava(g, np.zeros((1, 2, 4), dtype=int), 2, probes=["fc"])


def test_missing_input_data_is_a_spikeport_error() -> None:
    graph = load_netx(_netx("mnist.net"))
    with pytest.raises(SpikeportError, match="input"):
        run_lava(graph, {"nope": np.zeros((1, 2, 784))}, 2)
