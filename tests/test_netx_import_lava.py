"""The importer carries exactly the integers `lava.lib.dl.netx.hdf5.Network` gives Lava.

Reference: netx itself (lava-dl 0.6.0) building the same files, read back from the Lava
processes' Var inits and proc_params. Layout differences are undone explicitly: Lava
shapes are (X, Y, C) = reversed (C, H, W), Lava conv kernels are (C_out, W, H, C_in) and
flipped, and sigma-delta vth/bias are pre-scaled by 2**(spike_exp + state_exp).
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np
import pytest

from spikeport import ir
from spikeport.converters.netx_import import load_netx

NETX_DIR = Path(sysconfig.get_paths()["purelib"]) / "tests/lava/lib/dl/netx"
NETS = {
    "tiny": ("tiny.net", None),
    "mnist": ("mnist.net", None),
    "ntidigits": ("gts/ntidigits/ntidigits.net", 5),
    "pilotnet_lif": ("gts/pilotnet_lif/network.net", None),
    "pilotnet_sdnn": ("gts/pilotnet_sdnn/network.net", None),
    "pilotnet_sdnn_square": ("gts/pilotnet_sdnn/square_network.net", None),
}

pytestmark = pytest.mark.lava


@pytest.fixture(scope="module")
def netx():
    try:
        from spikeport.deploy.lava.compat import ensure_lava
    except ImportError as exc:  # the compatibility layer is another module's job
        pytest.skip(f"spikeport.deploy.lava.compat not available: {exc}")
    from spikeport.errors import LavaNotAvailableError

    try:
        ensure_lava()
    except LavaNotAvailableError as exc:
        pytest.skip(str(exc))
    from lava.lib.dl.netx import hdf5

    return hdf5


def init(var) -> np.ndarray:
    return np.asarray(var.init)


def lava_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(reversed(shape))


def to_lava(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """An IR neuron-shaped (broadcastable) array in Lava's (X, Y, C) layout."""
    return np.transpose(np.broadcast_to(arr, shape))


@pytest.mark.parametrize("key", sorted(NETS))
def test_importer_integers_equal_netx_process_parameters(netx, key: str) -> None:
    rel, num_layers = NETS[key]
    g = load_netx(NETX_DIR / rel, num_layers=num_layers)
    net = netx.Network(net_config=str(NETX_DIR / rel), num_layers=num_layers)
    entries = [e for e in g.meta["layers"] if e["type"] != "flatten"]
    entries = [e for e in entries if any(not isinstance(g.node(n), ir.Input) for n in e["nodes"])]
    assert len(entries) == len(net.layers)
    checked = 0
    for entry, block in zip(entries, net.layers, strict=True):
        nodes = [g.node(n) for n in entry["nodes"]]
        neuron = nodes[-1]
        syn = next((n for n in nodes if isinstance(n, ir.Conv | ir.Dense)), None)
        assert tuple(int(d) for d in block.shape) == lava_shape(neuron.shape)
        if isinstance(syn, ir.Dense):
            s = block.synapse
            assert np.array_equal(init(s.weights), syn.weight)
            assert s.proc_params["weight_exp"] == syn.weight_exp
            assert s.proc_params["num_weight_bits"] == syn.num_weight_bits
            assert int(init(s.num_message_bits)) == syn.num_message_bits
            if syn.delay is None:
                assert type(s).__name__ == "Dense"
            else:
                assert np.array_equal(init(s.delays), syn.delay)
        elif isinstance(syn, ir.Conv):
            s = block.synapse
            lava_w = syn.weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)
            assert np.array_equal(init(s.weight), lava_w)
            assert tuple(init(s.stride)) == syn.stride[::-1]
            assert tuple(init(s.padding)) == syn.padding[::-1]
            assert tuple(init(s.dilation)) == syn.dilation[::-1]
            assert int(init(s.groups)) == syn.groups
            assert int(init(s.num_message_bits)) == syn.num_message_bits
        n = block.neuron
        kind = type(n).__name__
        if isinstance(neuron, ir.CubaLIF):
            assert kind == "LIF"
            assert (int(init(n.du)), int(init(n.dv)), int(init(n.vth))) == (
                neuron.du,
                neuron.dv,
                neuron.vth,
            )
            assert int(init(n.bias_exp)) == neuron.bias_exp
            want = np.broadcast_to(init(n.bias_mant), lava_shape(neuron.shape))
            assert np.array_equal(want, to_lava(neuron.bias_mant, neuron.shape))
        elif isinstance(neuron, ir.SigmaDelta | ir.Delta):
            assert kind == type(neuron).__name__
            scale = 1 << (neuron.spike_exp + neuron.state_exp)
            assert int(init(n.vth)) == neuron.vth * scale
            assert (int(init(n.spike_exp)), int(init(n.state_exp))) == (
                neuron.spike_exp,
                neuron.state_exp,
            )
            if isinstance(neuron, ir.SigmaDelta):
                want = np.broadcast_to(init(n.bias), lava_shape(neuron.shape))
                assert np.array_equal(want, to_lava(neuron.bias, neuron.shape) * scale)
        else:
            assert isinstance(neuron, ir.Sigma) and kind == "Sigma"
        checked += 1
    assert checked == len(net.layers) > 0
