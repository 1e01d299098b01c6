"""Fuzz targets: bytes -> one of spikeport's readers of untrusted files.

The oracle of every target: any input gives a result or a ``SpikeportError``, never another
exception (nor a hang or an out-of-memory kill: the memory budget is pinned low). Each target
writes the input over one file of a valid layout (templates built once per process in a
temporary directory) and runs the reader on it, as a user's command would:

==================  ==========================================================================
``ir-graph``        graph.json of an artifact (manifest re-recorded, so the parser is reached)
``ir-tensors``      tensors.h5 of an artifact (manifest re-recorded)
``ir-manifest``     manifest.json of an artifact
``netx``            a lava-dl ``.net`` file -> ``load_netx``
``nir``             a ``.nir`` file -> ``load_nir``
``checkpoint``      a ``model.pt`` -> ``from_checkpoint``
``data-npz``        ``npz:FILE`` -> open + read a batch
``data-cifar``      ``cifar10:DIR`` (its ``test_batch``) -> open + read
``data-image``      ``imagefolder:DIR`` (one image) -> open + read
``data-events``     ``dvs-events:DIR`` (one sample) -> open + read
``data-record``     an artifact's ``data.json`` -> ``read_record``
==================  ==========================================================================

Used by ``tests/test_fuzz_properties.py`` (hypothesis) and ``tests/fuzz_main.py`` (atheris,
coverage-guided; ``make fuzz``).
"""

from __future__ import annotations

import functools
import io
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

FUZZ_BUDGET = "64M"
"""SPIKEPORT_MEMORY_BUDGET while fuzzing (set by the callers: fuzz_main for its process,
the property tests for their module): a declared size past it must be refused."""


@dataclass(frozen=True)
class Target:
    """``run(ws, data)`` feeds ``data`` to a reader; ``seeds(ws)`` are valid inputs."""

    name: str
    run: Callable[[Workspace, bytes], None]
    seeds: Callable[[Workspace], list[bytes]]


class Workspace:
    """Templates (valid files) under a temporary directory, built on first use."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="spikeport-fuzz-"))

    def scratch(self, name: str) -> Path:
        """An empty directory ``name`` (emptied if it exists)."""
        d = self.root / "scratch" / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d

    @functools.cached_property
    def artifact(self) -> Path:
        """An int graph with convert-like meta, saved (graph.json, tensors.h5, manifest)."""
        from ir_examples import int_graph

        from spikeport import ir

        g = int_graph()
        g.meta = {
            "T": 4,
            "time_major": False,
            "source": "fuzz",
            "input_scale": 16.0,
            "readout": "delay",
            "readout_scale": 3.5,
            "level": "int",
            "passes": ["quantize"],
            "output_lead": ["B"],
        }
        return ir.save(g, self.root / "artifact")

    @functools.cached_property
    def float_artifact(self) -> Path:
        from ir_examples import float_graph

        from spikeport import ir

        return ir.save(float_graph(), self.root / "float_artifact")

    @functools.cached_property
    def nir_file(self) -> Path:
        import nir

        rng = np.random.default_rng(0)
        graph = nir.NIRGraph.from_list(
            nir.Input(input_type=np.array([2, 6, 6])),
            nir.Conv2d(
                input_shape=(6, 6),
                weight=rng.normal(size=(3, 2, 3, 3)),
                stride=1,
                padding=1,
                dilation=1,
                groups=1,
                bias=np.zeros(3),
            ),
            nir.LIF(
                tau=np.full((3, 6, 6), 2e-4),
                r=np.ones((3, 6, 6)),
                v_leak=np.zeros((3, 6, 6)),
                v_threshold=np.ones((3, 6, 6)),
                v_reset=np.zeros((3, 6, 6)),
            ),
            nir.Flatten(input_type={"input": np.array([3, 6, 6])}, start_dim=0, end_dim=-1),
            nir.Affine(weight=rng.normal(size=(4, 108)), bias=np.zeros(4)),
            nir.Output(output_type=np.array([4])),
        )
        path = self.root / "graph.nir"
        nir.write(str(path), graph)
        return path

    @functools.cached_property
    def netx_files(self) -> list[Path]:
        """The smallest lava-dl example network, when lava-dl's tests are installed."""
        import sysconfig

        tiny = Path(sysconfig.get_paths()["purelib"]) / "tests/lava/lib/dl/netx/tiny.net"
        return [tiny] if tiny.is_file() else []

    @functools.cached_property
    def checkpoint(self) -> Path:
        import torch

        from spikeport.models.checkpoint import save_model
        from spikeport.models.registry import build_model
        from spikeport.models.train import digits_config

        torch.manual_seed(0)
        model = build_model(digits_config("ssa", embed_dim=8, depth=1, num_heads=1))
        return save_model(model, self.root / "model.pt")

    @functools.cached_property
    def cifar_dir(self) -> Path:
        from data_fixtures import write_cifar10

        write_cifar10(self.root / "cifar", per_batch=2)
        return self.root / "cifar"

    @functools.cached_property
    def image_dir(self) -> Path:
        from data_fixtures import write_imagefolder

        write_imagefolder(self.root / "images", classes=("a", "b"), per_class=2)
        return self.root / "images"

    @functools.cached_property
    def events_dir(self) -> Path:
        from data_fixtures import write_events

        write_events(self.root / "events", 8, 8, per_class=1)
        return self.root / "events"


# -- targets -------------------------------------------------------------------------------
def _artifact_with(ws: Workspace, name: str, data: bytes, template: Path | None = None) -> Path:
    """A copy of the artifact template with file ``name`` replaced by ``data``, re-sealed."""
    from spikeport.ir import manifest

    d = ws.scratch("artifact")
    src = template or ws.artifact
    for f in ("graph.json", "tensors.h5", "manifest.json"):
        shutil.copyfile(src / f, d / f)
    (d / name).write_bytes(data)
    if name != "manifest.json":
        manifest.write(d, ["graph.json", "tensors.h5"])
    return d


def _load_artifact(d: Path) -> None:
    from spikeport import ir

    ir.load(d)


def run_ir_graph(ws: Workspace, data: bytes) -> None:
    # the first byte picks the template (int or float graph) whose tensors.h5 is used
    template = ws.float_artifact if data[:1] == b"F" else ws.artifact
    _load_artifact(_artifact_with(ws, "graph.json", data[1:], template))


def seeds_ir_graph(ws: Workspace) -> list[bytes]:
    return [
        b"I" + (ws.artifact / "graph.json").read_bytes(),
        b"F" + (ws.float_artifact / "graph.json").read_bytes(),
    ]


def run_ir_tensors(ws: Workspace, data: bytes) -> None:
    _load_artifact(_artifact_with(ws, "tensors.h5", data))


def run_ir_manifest(ws: Workspace, data: bytes) -> None:
    _load_artifact(_artifact_with(ws, "manifest.json", data))


def run_netx(ws: Workspace, data: bytes) -> None:
    from spikeport.converters.netx_import import load_netx

    path = ws.scratch("netx") / "net.net"
    path.write_bytes(data)
    load_netx(path)


def run_nir(ws: Workspace, data: bytes) -> None:
    from spikeport.converters.nir_import import load_nir

    path = ws.scratch("nir") / "graph.nir"
    path.write_bytes(data)
    load_nir(path)


def run_checkpoint(ws: Workspace, data: bytes) -> None:
    from spikeport.models.checkpoint import from_checkpoint

    path = ws.scratch("ckpt") / "model.pt"
    path.write_bytes(data)
    from_checkpoint(path)


def _read_some(spec: str) -> None:
    from spikeport.data import open_dataset

    for split in ("test", "train"):
        ds = open_dataset(spec, split)
        ds.read(np.arange(min(len(ds), 3)))


def run_data_npz(ws: Workspace, data: bytes) -> None:
    path = ws.scratch("npz") / "data.npz"
    path.write_bytes(data)
    _read_some(f"npz:{path}")


def seeds_data_npz(ws: Workspace) -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for shape in ((4, 1, 8, 8), (3, 2, 2, 4, 4)):
        buf = io.BytesIO()
        np.savez(buf, x=rng.random(shape, dtype=np.float32), y=np.arange(shape[0]) % 2)
        out.append(buf.getvalue())
    return out


def run_data_cifar(ws: Workspace, data: bytes) -> None:
    d = ws.scratch("cifar")
    for f in ws.cifar_dir.iterdir():
        shutil.copyfile(f, d / f.name)
    (d / "test_batch").write_bytes(data)
    _read_some(f"cifar10:{d}")


def run_data_image(ws: Workspace, data: bytes) -> None:
    d = ws.scratch("images")
    shutil.copytree(ws.image_dir, d, dirs_exist_ok=True)
    (d / "a" / "img_0.png").write_bytes(data)
    _read_some(f"imagefolder:{d},resize=8,crop=8")


def run_data_events(ws: Workspace, data: bytes) -> None:
    d = ws.scratch("events")
    shutil.copytree(ws.events_dir, d, dirs_exist_ok=True)
    (d / "a" / "s0.npz").write_bytes(data)
    _read_some(f"dvs-events:{d},T=4,size=8x8")


def run_data_record(ws: Workspace, data: bytes) -> None:
    from spikeport.data import read_record

    d = ws.scratch("record")
    (d / "data.json").write_bytes(data)
    read_record(d)


def seeds_data_record(ws: Workspace) -> list[bytes]:
    from spikeport.data import open_dataset, write_record

    d = ws.scratch("record-seed")
    write_record(d, open_dataset("digits"), "digits", calibration={"split": "train"})
    return [(d / "data.json").read_bytes()]


def _file(attr: str, index: int | None = None) -> Callable[[Workspace], list[bytes]]:
    def seeds(ws: Workspace) -> list[bytes]:
        value = getattr(ws, attr)
        paths = value if isinstance(value, list) else [value]
        return [p.read_bytes() for p in paths]

    return seeds


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("ir-graph", run_ir_graph, seeds_ir_graph),
        Target(
            "ir-tensors", run_ir_tensors, lambda ws: [(ws.artifact / "tensors.h5").read_bytes()]
        ),
        Target(
            "ir-manifest",
            run_ir_manifest,
            lambda ws: [(ws.artifact / "manifest.json").read_bytes()],
        ),
        Target("netx", run_netx, _file("netx_files")),
        Target("nir", run_nir, _file("nir_file")),
        Target("checkpoint", run_checkpoint, _file("checkpoint")),
        Target("data-npz", run_data_npz, seeds_data_npz),
        Target(
            "data-cifar", run_data_cifar, lambda ws: [(ws.cifar_dir / "test_batch").read_bytes()]
        ),
        Target(
            "data-image", run_data_image, lambda ws: [(ws.image_dir / "a/img_0.png").read_bytes()]
        ),
        Target(
            "data-events", run_data_events, lambda ws: [(ws.events_dir / "a/s0.npz").read_bytes()]
        ),
        Target("data-record", run_data_record, seeds_data_record),
    )
}


def check(target: Target, ws: Workspace, data: bytes) -> None:
    """Run ``target`` on ``data``: returns on a result or a SpikeportError; anything else
    propagates (a finding)."""
    from spikeport.errors import SpikeportError

    try:
        target.run(ws, data)
    except SpikeportError as exc:
        message = str(exc)
        if "\n" in message.strip():
            raise AssertionError(f"{target.name}: multi-line error: {message!r}") from None


def describe() -> str:
    return json.dumps(sorted(TARGETS))
