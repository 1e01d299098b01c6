"""The Lava compatibility layer: lazy import, the four repairs, worker tracebacks, and lava-dl's
own netx ground-truth tests passing through it.

Everything that runs Lava does so in a fresh subprocess: Lava forks workers and sets the
multiprocessing start method at import, which must not leak into the pytest process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _python(code: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_importing_spikeport_does_not_import_lava() -> None:
    proc = _python(
        """
        import sys
        import spikeport, spikeport.deploy.lava, spikeport.deploy.lava.compat
        import spikeport.deploy.lava.groundtruth, spikeport.hw_models
        loaded = sorted(m for m in sys.modules if m == 'lava' or m.startswith('lava.'))
        assert not loaded, loaded
        assert 'torchvision' not in sys.modules
        print('ok')
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_lava_is_broken_without_the_compat_layer() -> None:
    """Guards the premise: if this ever passes unpatched, the shims may be dropped."""
    proc = _python(
        """
        from lava.magma.compiler import var_model
        """
    )
    assert proc.returncode != 0
    assert "mutable default" in proc.stderr


@pytest.mark.lava
def test_ensure_lava_repairs_imports_reshape_and_netx_input() -> None:
    proc = _python(
        """
        import sys
        import numpy as np
        from spikeport.deploy.lava.compat import ensure_lava, applied_patches
        ensure_lava(); ensure_lava()                       # idempotent
        print(sorted(applied_patches()))
        from lava.magma.compiler import var_model
        a, b = var_model.CoreEncoder(), var_model.CoreEncoder()
        assert a.x == var_model.ByteEncoder() and a.x is not b.x   # one default per instance
        from lava.magma.core.process.ports.ports import ReshapePort
        port = ReshapePort(new_shape=(2, 3), old_shape=(6,))
        assert port.get_transform_func_fwd()(np.arange(6)).shape == (2, 3)
        assert port.get_transform_func_bwd()(np.arange(6).reshape(2, 3)).shape == (6,)
        from lava.lib.dl import netx, slayer
        assert 'torchvision' not in sys.modules
        from spikeport.deploy.lava.groundtruth import netx_test_dir
        net = netx.hdf5.Network(net_config=str(netx_test_dir() / 'tiny.net'))
        assert len(net) == 3                               # input + 2 conv (int() repair)
        """
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == str(
        [
            "conv-int8-geometry",
            "dataclass-defaults",
            "netx-scalar-input",
            "reshape-port",
            "slayer-torchvision",
        ]
    )


def test_lava_imports_after_the_start_method_was_fixed() -> None:
    """Lava calls mp.set_start_method('fork') at import; a process that already fixed the
    start method (as `spikeport demo` does before its Lava stage) must still import Lava."""
    broken = _python(
        """
        import multiprocessing as mp
        mp.get_start_method()
        import lava.magma.runtime.message_infrastructure.multiprocessing
        """
    )
    assert "context has already been set" in broken.stderr
    proc = _python(
        """
        import multiprocessing as mp
        mp.get_start_method()
        from spikeport.deploy.lava.compat import ensure_lava, applied_patches
        ensure_lava(netx=False)
        import lava.proc.io.sink
        print("fork-start-method" in applied_patches(), mp.get_start_method())
        """
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["True", "fork"]


@pytest.mark.lava
def test_worker_exception_surfaces_with_its_traceback() -> None:
    """A ProcessModel that raises in its worker: the parent error must name the real cause."""
    proc = _python(
        """
        import numpy as np
        from spikeport.deploy.lava.compat import ensure_lava, surface_child_errors, LavaRunError
        ensure_lava(netx=False)
        from lava.proc.dense.process import DelayDense
        from lava.proc.io.source import RingBuffer
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.magma.core.run_conditions import RunSteps
        src = RingBuffer(data=np.ones((2, 3), dtype=int))
        dd = DelayDense(weights=np.ones((2, 2)), delays=np.full((2, 2), 64))   # > 63: invalid
        src.s_out.connect(dd.s_in)
        try:
            with surface_child_errors():
                dd.run(condition=RunSteps(3), run_cfg=Loihi2SimCfg(select_tag='fixed_pt'))
        except LavaRunError as err:
            print('CAUGHT', str(err).splitlines()[0])
            print(err)                 # (no dd.stop(): after a worker error it would block)
        """,
        timeout=120,
    )
    assert "CAUGHT 1 Exception(s) occurred" in proc.stdout, proc.stdout + proc.stderr[-3000:]
    assert "expects values between 0 and 63" in proc.stdout
    assert "Traceback" in proc.stdout


@pytest.mark.lava
@pytest.mark.slow
def test_lava_dl_netx_ground_truths_pass(tmp_path: Path) -> None:
    """lava-dl 0.6.0's own test_hdf5.py + test_blocks.py (18 CPU tests, ~80 s) all pass."""
    report = tmp_path / "netx.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "spikeport.deploy.lava.groundtruth", f"--junitxml={report}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    outcome: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}.{case.get('name')}"
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcome[name] = kinds[0] if kinds else "passed"
    must_pass = {
        "TestHdf5Netx.test_tinynet",
        "TestHdf5Netx.test_pilotnet_sdnn",
        "TestHdf5Netx.test_pilotnet_sdnn_spike_exp",
        "TestHdf5Netx.test_axonal_delay_ntidigits",
        "TestHdf5Netx.test_mnist",
        "TestLIFBlocks.test_input",
        "TestLIFBlocks.test_conv",
        "TestLIFBlocks.test_dense",
        "TestSDNBlocks.test_input",
        "TestSDNBlocks.test_conv",
        "TestSDNBlocks.test_dense",
        "TestRFBlocks.test_input",
        "TestRFBlocks.test_dense",
    }
    assert must_pass <= set(outcome), sorted(must_pass - set(outcome))
    assert {n: o for n, o in outcome.items() if o != "passed"} == {}
    assert len(outcome) == 18


def test_missing_lava_raises_an_actionable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from spikeport.deploy.lava import compat
    from spikeport.errors import LavaNotAvailableError

    monkeypatch.setattr(compat.importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(LavaNotAvailableError, match="make setup"):
        compat.ensure_lava()
    assert not compat.lava_available()
