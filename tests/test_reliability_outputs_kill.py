"""Outputs under SIGKILL and concurrent writers, with real `spikeport` processes: a kill at any
point leaves the old complete output (or, once published, the new complete one) and nothing a
later run trips over; a second writer of the same output is refused while the first writes."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from output_trees import tiny_net, tree

from spikeport import ir
from spikeport.cli import main
from spikeport.converters.netx_import import load_netx
from spikeport.outputs import MARKER

REPO = Path(__file__).resolve().parents[1]


def _spawn(*argv: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "spikeport", *argv],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(pattern: str, proc: subprocess.Popen, timeout: float = 180.0) -> bool:
    """Poll until a path matching ``pattern`` exists (True) or ``proc`` ended (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if glob.glob(pattern):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.001)
    proc.kill()
    pytest.fail(f"nothing matched {pattern} in {timeout} s")


@pytest.fixture
def artifact(tmp_path) -> Path:
    return ir.save(load_netx(tiny_net()), tmp_path / "tiny")


def _energy_argv(artifact: Path, out: Path, *extra: str) -> list[str]:
    return ["energy", str(artifact), "--data", "random", "--out", str(out), *extra]


def _is_complete_new(out: Path) -> bool:
    doc = json.loads((out / "report.json").read_text())
    names = set(os.listdir(out))
    return list(doc["hardware"]) == ["loihi"] and {"report.md", "index.html", MARKER} <= names


@pytest.mark.parametrize(
    "kill_when",
    [
        ".e.lock",  # the output is claimed, the work has not started writing
        ".e.tmp-*/report.json",  # mid-write: report.json written, plots under way
        ".e.tmp-*/index.html",  # the last file written, just before the rename
    ],
)
def test_sigkill_leaves_the_old_complete_output_or_the_new_complete_one(
    tmp_path, artifact, capsys, kill_when
):
    out = tmp_path / "e"
    assert main(_energy_argv(artifact, out, "--samples", "1", "--hw", "loihi2")) == 0
    old = tree(out)
    capsys.readouterr()

    proc = _spawn(*_energy_argv(artifact, out, "--samples", "200", "--hw", "loihi", "--force"))
    _wait_for(str(tmp_path / kill_when), proc)
    proc.kill()
    proc.wait(timeout=60)
    assert tree(out) == old or _is_complete_new(out)

    # a later run is not disturbed by what the killed one left (temporary, lock file)
    assert main(_energy_argv(artifact, out, "--samples", "1", "--hw", "loihi", "--force")) == 0
    assert _is_complete_new(out)
    assert sorted(os.listdir(tmp_path)) == ["e", "tiny"]


def test_sigkill_during_export_leaves_the_old_file(tmp_path, artifact):
    out = tmp_path / "model.net"
    out.write_bytes(b"the old export")
    proc = _spawn("export", str(artifact), "--format", "netx", "-o", str(out), "--force")
    _wait_for(str(tmp_path / ".model.net.tmp-*"), proc)
    proc.kill()
    proc.wait(timeout=60)
    assert out.read_bytes() == b"the old export" or load_netx(out).name


def test_second_writer_is_refused_while_the_first_writes_and_the_first_wins_whole(
    tmp_path, artifact, capsys
):
    out = tmp_path / "e"
    first = _spawn(*_energy_argv(artifact, out, "--samples", "2000", "--hw", "loihi"))
    assert _wait_for(str(tmp_path / ".e.tmp-*"), first), first.communicate()[1]
    rc = main(_energy_argv(artifact, out, "--samples", "1", "--hw", "loihi2", "--force"))
    err = capsys.readouterr().err
    assert first.poll() is None, "the first writer ended before the second tried"
    assert rc == 2 and "another process is writing it" in err and "\n" not in err.strip()
    _, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err
    assert _is_complete_new(out)
    assert sorted(os.listdir(tmp_path)) == ["e", "tiny"]


def test_two_writers_started_together_one_wins_whole_the_other_gets_an_error(tmp_path, artifact):
    out = tmp_path / "e"
    procs = [_spawn(*_energy_argv(artifact, out, "--samples", "50", "--hw", "loihi")) for _ in "ab"]
    results = [(p.communicate(timeout=600)[1], p.returncode)[::-1] for p in procs]  # (rc, err)
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 2], results
    (err,) = [e for rc, e in results if rc == 2]
    assert "another process is writing it" in err or "exists; pass --force" in err
    assert _is_complete_new(out)
