"""The simulator reproduces lava-dl's shipped netx ground truths bit for bit.

Networks are read with spikeport's own netx importer (``converters.netx_import``) and run by
``hw_models.sim.engine``; the references are the arrays in the lava-dl 0.6.0 wheel
(``site-packages/tests/lava/lib/dl/netx/gts``), produced by lava-dl / Loihi, not by us.
Layouts: lava-dl stores (X, Y, C, T) or (C, H, W, T); spikeport keeps [T, B, C, H, W].
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from spikeport import ir
from spikeport.converters.netx_import import load_netx
from spikeport.deploy.lava.groundtruth import netx_test_dir
from spikeport.errors import LavaNotAvailableError
from spikeport.hw_models.sim.engine import Simulator


def _netx_dir() -> Path:
    try:
        return netx_test_dir()
    except LavaNotAvailableError:
        pytest.skip("lava-dl's netx ground truths are not installed")


NETX = _netx_dir()
GTS = NETX / "gts"


def _time_first(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, -1, 0)


def _xyc_to_chw(a: np.ndarray) -> np.ndarray:
    """[T, X, Y, C] (Lava) -> [T, C, H, W] (spikeport)."""
    return a.transpose(0, 3, 2, 1)


def _neurons(g: ir.Graph) -> list[str]:
    return [n for n in g.topological_order() if n.endswith(".neuron")]


def _zeros(sim: Simulator, steps: int, batch: int = 1) -> np.ndarray:
    return np.zeros((batch, steps, *sim.shapes["input"]), dtype=np.int64)


def _run_tinynet(images: np.ndarray, probes: list) -> tuple[ir.Graph, object]:
    """tiny.net as lava-dl's test_tinynet runs it: image through the input layer's bias,
    u and v of layer i zeroed by a Reset process (interval 17, offset i - 1)."""
    g = load_netx(NETX / "tiny.net")
    neurons = _neurons(g)
    sim = Simulator(g, probes=[(neurons[i], v) for i, v in probes])
    steps = 17 + len(neurons)
    res = sim.run(
        _zeros(sim, steps, len(images)),
        steps,
        bias={neurons[0]: images},
        state_resets={n: (17, i - 1) for i, n in enumerate(neurons)},
    )
    return g, res


def test_tinynet_output_input_and_conv_layer_match_ground_truth() -> None:
    image = np.load(GTS / "tinynet" / "input_bias.npy").transpose(2, 1, 0)  # (C, H, W)
    g, res = _run_tinynet(image[None], [(0, "out"), (1, "out"), (1, "u")])
    neurons = _neurons(g)
    # end to end (lava-dl test_hdf5 test_tinynet): output steps 2..16 == gt steps 1..15
    out = res.outputs[g.outputs[0]][:, 0]
    gt = _time_first(np.load(GTS / "tinynet" / "output.npy")[0])
    assert gt[1:].sum() > 50
    assert np.array_equal(out[2:17], gt[1:])
    # input layer spikes (test_blocks test_input): step k == input.npy step k + 1
    spikes_in = res.probes[(neurons[0], "out")][:, 0]
    gt_in = _time_first(np.load(GTS / "tinynet" / "input.npy")[0])
    assert np.array_equal(spikes_in[:15], gt_in[1:16])
    # conv layer 1 spikes and currents (test_blocks test_conv; slayer current x 64 = Lava u)
    s1 = res.probes[(neurons[1], "out")][:16, 0].copy()
    s1[0] = 0  # lava-dl zeroes the first step (its state is reset after it)
    u1 = res.probes[(neurons[1], "u")][:16, 0]
    s_gt = _time_first(np.load(GTS / "tinynet" / "layer1.npy")[0])
    u_gt = _time_first(np.load(GTS / "tinynet" / "current.npy")[0]) * 64
    assert s_gt.sum() > 1000
    assert np.array_equal(s1, s_gt)
    assert np.array_equal(u1, u_gt)


def test_pilotnet_sdnn_output_is_bit_exact() -> None:
    g = load_netx(GTS / "pilotnet_sdnn" / "network.net")
    sim = Simulator(g)
    frame = np.load(GTS / "pilotnet_sdnn" / "input.npy")[..., 0].transpose(2, 1, 0)
    steps = len(_neurons(g))  # lava-dl runs len(net.layers) steps, source repeating the frame
    res = sim.run(np.broadcast_to(frame, (1, steps, *frame.shape)), steps)
    out = res.outputs[g.outputs[0]][:, 0, 0]
    gt = np.load(GTS / "pilotnet_sdnn" / "output.npy")[0]
    assert np.abs(gt).sum() > 0
    assert np.array_equal(out, gt)


def test_dense_block_spikes_match_over_2000_steps() -> None:
    """lava-dl test_blocks test_dense: Dense(weight.npy) -> LIF(vth 6, du 4095, dv 415)."""
    w = np.load(GTS / "dense" / "weight.npy")
    g = ir.Graph("dense")
    g.add(ir.Input("input", shape=(w.shape[1],)))
    g.add(ir.Dense("dense", weight=w), "input")
    g.add(ir.CubaLIF("neuron", shape=(w.shape[0],), du=4095, dv=415, vth=6, bias_exp=6), "dense")
    x = np.load(GTS / "dense" / "in.npy").T[None]  # [1, 2000, 200]
    res = Simulator(g).run(x)
    gt = np.load(GTS / "dense" / "out.npy").T
    assert gt.sum() > 1000
    assert np.array_equal(res.outputs["neuron"][:, 0], gt)


def test_ntidigits_every_output_step_matches() -> None:
    """Axonal delays (up to 62 steps) over all 3,000 steps. The ground truth is recorded one
    step later than the network's output (its step 0 is empty): gt[t + 1] == sim[t]."""
    g = load_netx(GTS / "ntidigits" / "ntidigits.net", num_layers=5)  # netx cannot read 'average'
    assert any(g.node(n).delay is not None for n in g.topological_order() if n.endswith("dense"))
    sim = Simulator(g)
    x = np.load(GTS / "ntidigits" / "input.npy")  # (64, 3000)
    res = sim.run(x.T.reshape(1, x.shape[1], *sim.shapes["input"]))
    out = res.outputs[g.outputs[0]][:, 0]  # [3000, 242]
    gt = np.load(GTS / "ntidigits" / "output.npy").T
    assert gt.sum() > 10000
    assert not gt[0].any()
    assert np.array_equal(out[:-1], gt[1:])


PILOTNET_LIF = ["input"] + [f"conv-{i}" for i in range(5)] + [f"fc-{i}" for i in range(3)]


def _run_pilotnet_lif(steps: int) -> tuple[ir.Graph, object]:
    g = load_netx(GTS / "pilotnet_lif" / "network.net", reset_interval=16)
    neurons = _neurons(g)
    sim = Simulator(g, probes=[(n, v) for n in neurons for v in ("out", "u", "v")])
    image = np.load(GTS / "pilotnet_lif" / "image.npy").transpose(2, 1, 0)
    return g, sim.run(_zeros(sim, steps), steps, bias={neurons[0]: image})


def _trace(name: str) -> np.ndarray:
    a = _time_first(np.load(GTS / "pilotnet_lif" / name))
    return _xyc_to_chw(a) if a.ndim == 4 else a


def test_pilotnet_lif_per_layer_traces_match_loihi_for_the_first_sample() -> None:
    """Loihi 2 traces (lava-dl test_hdf5_nx): spikes, u and v of every layer over the
    16-step sample. The hardware trace reads v = 128 on the step a neuron spikes where Lava's
    model holds 0 (it resets v to 0 either way: the next steps agree)."""
    g, res = _run_pilotnet_lif(16)
    neurons = _neurons(g)
    spikes_in = res.probes[(neurons[0], "out")][:, 0]
    assert np.array_equal(spikes_in, _trace("input-s.npy")[:16])
    for name, label in zip(neurons[1:], PILOTNET_LIF[1:], strict=False):
        s = res.probes[(name, "out")][:, 0]
        u = res.probes[(name, "u")][:, 0]
        v = res.probes[(name, "v")][:, 0]
        assert np.array_equal(s, _trace(f"{label}.npy")[:16]), label
        assert np.array_equal(u, _trace(f"{label}-u.npy")[:16]), label
        assert np.array_equal(np.where(s > 0, 128, v), _trace(f"{label}-v.npy")[:16]), label
    assert res.probes[(neurons[-2], "out")].sum() > 0  # fc-2 spiked: the whole stack is active


@pytest.mark.slow
@pytest.mark.lava
def test_pilotnet_lif_equals_lava_for_24_steps_across_the_reset(tmp_path: Path) -> None:
    """Lava's own run (netx, LIFReset every 16 steps) of every layer's u and v, 24 steps."""
    import subprocess

    script = Path(__file__).with_name("lava_pilotnet_lif_reference.py")
    ref = tmp_path / "lava.npz"
    proc = subprocess.run(
        [sys.executable, str(script), str(ref), "24"], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    g, res = _run_pilotnet_lif(24)
    lava = np.load(ref)
    for i, name in enumerate(_neurons(g)):
        for var in ("u", "v"):
            got = lava[f"{i}_{var}"]
            got = _xyc_to_chw(got) if got.ndim == 4 else got
            assert np.array_equal(res.probes[(name, var)][:, 0], got), (name, var)
