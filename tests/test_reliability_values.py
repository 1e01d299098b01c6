"""NaN, infinite and absurd (1e30) weights are refused naming the tensor (#13).

Before: a NaN weight in a checkpoint crashed ``convert`` with a traceback in the quantiser,
and a 1e30 one converted with exit 0 after rounding every other weight of its layer to zero.
The files are damaged with torch / h5py / nir directly.
"""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
import torch

from spikeport.cli import main
from spikeport.converters.netx_import import load_netx
from spikeport.converters.nir_import import load_nir
from spikeport.errors import SpikeportError
from spikeport.models.checkpoint import from_checkpoint, save_model
from spikeport.models.registry import build_model
from spikeport.models.train import digits_config
from spikeport.value_range import ValueRangeError, check_values

TINY_NET = Path(sysconfig.get_paths()["purelib"]) / "tests/lava/lib/dl/netx/tiny.net"
BAD = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "1e30": 1e30}
WHAT = {"nan": "NaN", "inf": "infinite", "-inf": "infinite", "1e30": "1e\\+30, beyond"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = build_model(digits_config("ssa", embed_dim=16, depth=1, num_heads=2))
    return save_model(model, tmp_path_factory.mktemp("ckpt") / "model.pt")


def _damaged(checkpoint: Path, tmp_path: Path, key: str, value: float) -> Path:
    obj = torch.load(checkpoint, weights_only=True)
    obj["state_dict"][key].view(-1)[0] = value
    out = tmp_path / "damaged.pt"
    torch.save(obj, out)
    return out


@pytest.mark.parametrize("bad", sorted(BAD))
def test_checkpoint_with_a_bad_weight_is_refused_naming_it(checkpoint, tmp_path, bad) -> None:
    key = "block.0.mlp.fc1_linear.weight"
    path = _damaged(checkpoint, tmp_path, key, BAD[bad])
    with pytest.raises(ValueRangeError, match=rf"damaged\.pt: tensor '{key}': holds {WHAT[bad]}"):
        from_checkpoint(path)


def test_convert_refuses_a_nan_weight_in_one_line(checkpoint, tmp_path, capsys) -> None:
    key = "patch_embed.proj_bn.running_var"
    path = _damaged(checkpoint, tmp_path, key, float("nan"))
    assert main(["convert", str(path), "-o", str(tmp_path / "art"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and key in err and "NaN" in err
    assert not (tmp_path / "art").exists()


@pytest.mark.skipif(not TINY_NET.is_file(), reason="lava-dl test networks not installed")
@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("field", ["weight", "bias", "neuron/vThMant"])
def test_net_file_with_a_bad_value_is_refused_naming_layer_and_field(tmp_path, bad, field):
    path = tmp_path / "bad.net"
    shutil.copy(TINY_NET, path)
    with h5py.File(path, "a") as f:
        ds = f[f"layer/1/{field}"]
        data = np.asarray(ds[()], dtype=np.float64)
        data.flat[0] = BAD[bad]
        del f[f"layer/1/{field}"]
        f[f"layer/1/{field}"] = data
    name = field.split("/")[-1]
    with pytest.raises(SpikeportError, match=rf"bad\.net: layer 1.*'{name}': holds {WHAT[bad]}"):
        load_netx(path)


def _nir_graph(weight: np.ndarray, tau: float = 2e-4) -> nir.NIRGraph:
    return nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([3])),
        nir.Affine(weight=weight, bias=np.zeros(2)),
        nir.LIF(
            tau=np.full(2, tau),
            r=np.ones(2),
            v_leak=np.zeros(2),
            v_threshold=np.ones(2),
            v_reset=np.zeros(2),
        ),
        nir.Output(output_type=np.array([2])),
    )


@pytest.mark.parametrize("bad", sorted(BAD))
def test_nir_graph_with_a_bad_weight_is_refused_naming_the_node(bad) -> None:
    w = np.ones((2, 3))
    load_nir(_nir_graph(w))  # the undamaged graph imports
    w[1, 2] = BAD[bad]
    with pytest.raises(SpikeportError, match=rf"node .*: weight: holds {WHAT[bad]}"):
        load_nir(_nir_graph(w))


def test_nir_lif_with_a_non_finite_time_constant_is_refused() -> None:
    with pytest.raises(SpikeportError, match="LIF.*tau: holds infinite"):
        load_nir(_nir_graph(np.ones((2, 3)), tau=float("inf")))


def test_check_values_accepts_what_trained_models_hold() -> None:
    check_values(torch.randn(64, 64) * 10, "w")
    check_values(torch.tensor(123456789, dtype=torch.int64), "num_batches_tracked")
    check_values(np.array([2.0**31 - 1]), "edge")
    with pytest.raises(ValueRangeError):
        check_values(np.array([2.0**31]), "edge")


def test_a_damaged_zip_directory_is_a_one_line_checkpoint_error(checkpoint, tmp_path) -> None:
    """Found by fuzzing: zipfile.is_zipfile itself raised BadZipFile ("zipfiles that span
    multiple disks") on a checkpoint whose end record is preceded by a zip64 locator."""
    import struct

    from spikeport.errors import CheckpointError

    raw = checkpoint.read_bytes()
    end = raw.rindex(b"PK\x05\x06")  # end of central directory
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, 0, 2)  # "2 disks"
    path = tmp_path / "multi.pt"
    path.write_bytes(raw[:end] + locator + raw[end:])
    with pytest.raises(CheckpointError, match=r"multi\.pt: not a readable torch checkpoint"):
        from_checkpoint(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda obj: obj.pop("state_dict"), "without a 'state_dict' mapping"),
        (lambda obj: obj.update(config=[1, 2]), "without a 'config' mapping"),
        (lambda obj: obj["config"].update({1: 2}), r"unknown model config field\(s\) \['1'\]"),
    ],
)
def test_spikeport_model_files_missing_parts_are_refused(checkpoint, tmp_path, change, message):
    """Found by fuzzing: a model.pt without 'state_dict' raised KeyError; a config with an
    integer key crashed sorting the unknown fields."""
    from spikeport.errors import CheckpointError

    obj = torch.load(checkpoint, weights_only=True)
    change(obj)
    path = tmp_path / "parts.pt"
    torch.save(obj, path)
    with pytest.raises(SpikeportError, match=message):
        from_checkpoint(path)
    assert issubclass(CheckpointError, SpikeportError)


@pytest.mark.skipif(not TINY_NET.is_file(), reason="lava-dl test networks not installed")
def test_net_file_with_unreadable_string_storage_is_refused_naming_it(tmp_path) -> None:
    """Found by fuzzing: a damaged neuron 'type' string raised h5py's OSError."""
    path = tmp_path / "damaged.net"
    shutil.copy(TINY_NET, path)
    with h5py.File(path, "a") as f:
        del f["layer/1/neuron/type"]
        f.create_dataset(
            "layer/1/neuron/type", data=np.array([b"CUBA"] * 64), chunks=(64,), compression="gzip"
        )
        offset = f["layer/1/neuron/type"].id.get_chunk_info(0).byte_offset
    raw = bytearray(path.read_bytes())
    raw[offset : offset + 8] = b"\xff" * 8  # the compressed chunk no longer inflates
    path.write_bytes(bytes(raw))
    with pytest.raises(SpikeportError, match=r"damaged\.net: layer 1 neuron: field 'type'"):
        load_netx(path)
