"""netx `.net` import: the networks shipped in the lava-dl 0.6.0 wheel.

References, independent of the importer: the files read directly with h5py here, the
netx mapping of lava-dl 0.6.0 ``lava/lib/dl/netx/hdf5.py`` (du = iDecay - 1, bias_exp = 6,
...), Lava's weight truncation rule, and what `lava.lib.dl.netx.hdf5.Network` itself builds.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import h5py
import numpy as np
import pytest

from spikeport import ir
from spikeport.converters.netx_import import load_netx, optimize_weight_bits
from spikeport.errors import SpikeportError, UnsupportedError

NETX_DIR = Path(sysconfig.get_paths()["purelib"]) / "tests/lava/lib/dl/netx"
NETS = {
    "tiny": ("tiny.net", None),
    "mnist": ("mnist.net", None),
    "ntidigits": ("gts/ntidigits/ntidigits.net", 5),  # layer 5 is 'average' (as netx's test)
    "pilotnet_lif": ("gts/pilotnet_lif/network.net", None),
    "pilotnet_sdnn": ("gts/pilotnet_sdnn/network.net", None),
    "pilotnet_sdnn_square": ("gts/pilotnet_sdnn/square_network.net", None),
}

pytestmark = pytest.mark.skipif(not NETX_DIR.is_dir(), reason="lava-dl test networks not installed")


def net_path(key: str) -> Path:
    return NETX_DIR / NETS[key][0]


def load(key: str) -> ir.Graph:
    return load_netx(net_path(key), num_layers=NETS[key][1])


def raw_layers(key: str) -> list[dict]:
    """Each layer group read with plain h5py (no importer code)."""
    out = []
    with h5py.File(net_path(key), "r") as f:
        n = len(f["layer"]) if NETS[key][1] is None else NETS[key][1]
        for i in range(n):
            grp = f["layer"][str(i)]
            rec = {"type": grp["type"][0].decode()}
            for k, v in grp.items():
                if k == "neuron":
                    rec["neuron"] = {kk: vv[()] for kk, vv in v.items()}
                elif k != "type":
                    rec[k] = v[()]
            out.append(rec)
    return out


def layer_nodes(g: ir.Graph, index: int) -> dict[str, ir.Node]:
    entry = next(e for e in g.meta["layers"] if e["index"] == index)
    return {type(g.node(n)).__name__: g.node(n) for n in entry["nodes"]}


def test_shipped_networks_are_all_covered() -> None:
    shipped = {p.relative_to(NETX_DIR).as_posix() for p in NETX_DIR.rglob("*.net")}
    shipped.discard("recurrent_example.net")  # written by lava-dl's own test run, if ever
    assert shipped == {v[0] for v in NETS.values()}


@pytest.mark.parametrize("key", sorted(NETS))
def test_network_imports_validates_and_matches_file(key: str) -> None:
    g = load(key)
    shapes = ir.validate(g)
    layers = raw_layers(key)
    synapse_layers = [i for i, L in enumerate(layers) if L["type"] in ("conv", "dense")]
    assert sum(isinstance(n, ir.Conv | ir.Dense) for n in g) == len(synapse_layers)
    for i in synapse_layers:
        L = layers[i]
        nodes = layer_nodes(g, i)
        syn = nodes.get("Conv") or nodes.get("Dense")
        neuron = next(n for t, n in nodes.items() if t not in ("Conv", "Dense", "Flatten"))
        want = tuple(int(d) for d in L["shape"])
        if L["type"] == "dense":
            want = (int(np.prod(want)),)
            w = L["weight"].astype(np.int64).reshape(want[0], -1)
            assert (L["outFeatures"], L["inFeatures"]) == w.shape
            # lossless: mantissa * 2**weight_exp is the file's weight
            m = syn.weight
            if syn.weight_exp <= 0:
                assert np.array_equal(m, w << -syn.weight_exp)
            # and Lava's LSB truncation (k = 8 - bits + mixed) keeps every mantissa intact
            k = 8 - syn.num_weight_bits + int(syn.sign_mode == "mixed")
            assert np.array_equal((m >> k) << k, m)
            assert m.min() >= -256 and m.max() <= 255
            if "delay" in L:
                d = np.clip(L["delay"], 0, 62).astype(np.int64)
                assert np.array_equal(syn.delay, np.repeat(d[:, None], w.shape[1], axis=1))
            else:
                assert syn.delay is None
        else:
            w = L["weight"].astype(np.int64)
            assert np.array_equal(syn.weight, w.reshape(w.shape[:4]))
            assert syn.stride == tuple(L["stride"]) and syn.padding == tuple(L["padding"])
            assert syn.dilation == tuple(L["dilation"]) and syn.groups == int(L["groups"])
            assert (int(L["outChannels"]), int(L["inChannels"])) == syn.weight.shape[:2]
            assert tuple(L["kernelSize"]) == syn.weight.shape[2:]
        assert shapes[syn.name] == want and shapes[neuron.name] == want
        check_neuron(neuron, L, want, is_input=False)
    first = layers[0]
    assert first["type"] == "input"
    assert shapes["input"] == tuple(int(d) for d in first["shape"])
    if "neuron" in first:
        check_neuron(
            layer_nodes(g, 0)[type(g.node("layer0.neuron")).__name__],
            first,
            shapes["input"],
            is_input=True,
        )
    assert g.outputs == [f"layer{synapse_layers[-1]}.neuron"]


def check_neuron(neuron: ir.Node, L: dict, shape: tuple[int, ...], is_input: bool) -> None:
    """The netx mapping table, applied to the raw file values."""
    cfg = L.get("neuron", {"type": b"CUBA", "iDecay": 0, "vDecay": 4096, "vThMant": 1 << 17})
    kind = cfg["type"].decode() if isinstance(cfg["type"], bytes) else cfg["type"]
    bias = L.get("bias") if not is_input else None
    if kind in ("CUBA", "LOIHI"):
        assert isinstance(neuron, ir.CubaLIF)
        assert (neuron.du, neuron.dv, neuron.vth) == (
            cfg["iDecay"] - 1,
            cfg["vDecay"],
            cfg["vThMant"],
        )
        assert neuron.bias_exp == 6
        want_bias = np.zeros(shape, np.int64)
        if bias is not None:
            b = np.asarray(bias).astype(np.int64)
            want_bias[...] = b.reshape(-1, *([1] * (len(shape) - 1))) if len(shape) > 1 else b
        assert np.array_equal(np.broadcast_to(neuron.bias_mant, shape), want_bias)
    else:
        assert kind == "SDNN"
        if is_input:
            assert isinstance(neuron, ir.Delta)
        elif cfg.get("sigma_output"):
            assert isinstance(neuron, ir.Sigma)
            return
        else:
            assert isinstance(neuron, ir.SigmaDelta) and neuron.act_mode == "relu"
        assert neuron.vth == cfg["vThMant"]
        assert (neuron.spike_exp, neuron.state_exp) == (6, 6)


@pytest.mark.parametrize("key", sorted(NETS))
def test_imported_network_round_trips_through_save_load(key: str, tmp_path: Path) -> None:
    g = load(key)
    back = ir.load(ir.save(g, tmp_path / key))
    assert back.same_as(g)


def test_ntidigits_average_layer_is_refused_with_its_index() -> None:
    with pytest.raises(UnsupportedError, match="ntidigits.net: layer 5: layer type 'average'"):
        load_netx(net_path("ntidigits"))


def test_input_transform_is_recorded_not_applied() -> None:
    g = load("tiny")
    assert g.meta["input_transform"] == {"weight": 36, "bias": 34}  # tiny.net layer 0
    assert not np.any(g.node("layer0.neuron").bias_mant)


def test_reset_interval_gives_each_lif_its_netx_phase() -> None:
    g = load_netx(net_path("mnist"), reset_interval=16, reset_offset=2)
    lifs = [n for n in g if isinstance(n, ir.CubaLIF)]
    # netx: offset starts at reset_offset + 1 and grows by one per layer, input included
    assert [n.reset_offset for n in lifs] == [3, 4, 5, 6]
    assert all(n.reset_interval == 16 for n in lifs)


# -- weight-bit optimisation ------------------------------------------------------------
def test_optimize_weight_bits_hand_computed() -> None:
    # mixed [-3, 5]: scale = min(127/5, 128/3) = 25.4 -> floor(log2) 4, +1 -> 5 bits of shift;
    # odd weights -> n = 0, minus 1 for sign -> bits = 8 - 5 + 1 = 4
    m, bits, exp = optimize_weight_bits(np.array([[-3, 5]]))
    assert (m.tolist(), bits, exp) == ([[-96, 160]], 4, -5)
    # excitatory [0, 4, 8]: scale 255/8 -> shift 4; divisible by 4 -> n = 2 -> bits 2
    m, bits, exp = optimize_weight_bits(np.array([[0, 4, 8]]))
    assert (m.tolist(), bits, exp) == ([[0, 64, 128]], 2, -4)
    # inhibitory [-256, -2]: scale 1 -> shift 0; divisible by 2 -> n = 1 -> bits 7
    m, bits, exp = optimize_weight_bits(np.array([[-256, -2]]))
    assert (m.tolist(), bits, exp) == ([[-256, -2]], 7, 0)


def test_optimize_weight_bits_refuses_unmappable_weights() -> None:
    with pytest.raises(UnsupportedError, match="all-zero"):
        optimize_weight_bits(np.zeros((2, 2)))
    with pytest.raises(UnsupportedError, match="exceed"):
        optimize_weight_bits(np.array([[0, 300]]))


# -- refusals on synthetic files ----------------------------------------------------------
def write_net(path: Path, layers: list[dict]) -> Path:
    with h5py.File(path, "w") as f:
        for i, spec in enumerate(layers):
            grp = f.create_group(f"layer/{i}")
            for k, v in spec.items():
                if k == "neuron":
                    ng = grp.create_group("neuron")
                    for nk, nv in v.items():
                        ng[nk] = nv
                elif k == "type":
                    grp["type"] = np.array([v.encode()], dtype="S10")
                else:
                    grp[k] = v
    return path


CUBA = {"type": "CUBA", "iDecay": 1024, "vDecay": 128, "vThMant": 80}


def test_synthetic_dense_network_with_input_delays_and_readout(tmp_path: Path) -> None:
    w = np.array([[2.0, -4.0, 6.0], [8.0, 0.0, -2.0]], np.float32)
    path = write_net(
        tmp_path / "d.net",
        [
            {"type": "input", "shape": np.array([3])},
            {
                "type": "dense",
                "shape": np.array([2]),
                "weight": w,
                "delay": np.array([1.0, 70.0, 3.0]),
                "bias": np.array([5.0, -7.9]),
                "neuron": CUBA,
            },
            {"type": "dense", "shape": np.array([1]), "weight": np.array([[3.0, 1.0]])},
        ],
    )
    g = load_netx(path)
    d = g.node("layer1.dense")
    # per-input delays (size == in-features), clipped to 62
    assert d.delay.tolist() == [[1, 62, 3], [1, 62, 3]]
    assert g.node("layer1.neuron").bias_mant.tolist() == [5, -7]  # truncation toward zero
    readout = g.node("layer2.neuron")
    assert (readout.du, readout.dv, readout.vth) == (-1, 4096, 131072)
    assert g.node("input").kind == "spikes" and g.outputs == ["layer2.neuron"]


@pytest.mark.parametrize(
    "layer, message",
    [
        ({"type": "pool", "shape": np.array([1, 2, 2])}, "layer 1: layer type 'pool'"),
        ({"type": "dense_rec", "shape": np.array([2])}, "layer 1: layer type 'dense_rec'"),
        ({"type": "blend", "shape": np.array([2])}, "layer 1: unknown layer type 'blend'"),
        (
            {
                "type": "dense",
                "shape": np.array([2]),
                "weight": np.ones((2, 4)),
                "neuron": {"type": "RF_PHASE", "vThMant": 1},
            },
            "layer 1: resonate-and-fire",
        ),
        (
            {
                "type": "dense",
                "shape": np.array([2]),
                "weight": np.ones((2, 4)),
                "neuron": {"type": "ALIF", "vThMant": 1},
            },
            "layer 1: neuron type 'ALIF'",
        ),
    ],
)
def test_unsupported_layers_are_named(tmp_path: Path, layer: dict, message: str) -> None:
    path = write_net(tmp_path / "u.net", [{"type": "input", "shape": np.array([4])}, layer])
    with pytest.raises(UnsupportedError, match=message):
        load_netx(path)


def test_malformed_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpikeportError, match="netx file not found"):
        load_netx(tmp_path / "missing.net")
    (tmp_path / "text.net").write_text("not hdf5")
    with pytest.raises(SpikeportError, match="text.net: not an HDF5 file"):
        load_netx(tmp_path / "text.net")
    with h5py.File(tmp_path / "empty.net", "w"):
        pass
    with pytest.raises(SpikeportError, match="empty.net: no /layer group"):
        load_netx(tmp_path / "empty.net")
    path = write_net(
        tmp_path / "bad.net",
        [
            {"type": "input", "shape": np.array([4])},
            {"type": "dense", "shape": np.array([2]), "weight": np.ones((2, 5)), "neuron": CUBA},
        ],
    )
    with pytest.raises(SpikeportError, match=r"bad.net: layer1.dense \(Dense\): input shape"):
        load_netx(path)
