"""`spikeport.outputs`: an output is checked before work, written into a temporary sibling and
published by one rename; a failure leaves the old output untouched; a second writer is refused.
(The commands' use of it: test_reliability_outputs_cli.py; kills and races between processes:
test_reliability_outputs_kill.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from output_trees import tree

from spikeport import outputs
from spikeport.outputs import MARKER, OutputError, claim, lock


def _write_dir(path: Path, files: dict[str, str], force: bool = False) -> None:
    with claim(path, kind="dir", option="--out", force=force) as tmp:
        for name, text in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text)


@pytest.fixture(params=["renameat2", "plain rename"])
def rename_mode(request, monkeypatch):
    """Run a test with Linux's renameat2 and with the portable fallback (two renames / link)."""
    if request.param == "plain rename":
        monkeypatch.setattr(outputs, "_libc_renameat2", lambda: None)
    return request.param


def test_directory_output_is_published_whole_with_marker_and_no_leftovers(tmp_path, rename_mode):
    out = tmp_path / "sub" / "art"
    _write_dir(out, {"graph.json": "{}", "float/graph.json": "{}"})
    assert tree(out) == {
        "graph.json": b"{}",
        "float/graph.json": b"{}",
        MARKER: (out / MARKER).read_bytes(),
    }
    assert sorted(os.listdir(out.parent)) == ["art"]  # no temporary, no lock file left
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())  # not mkdtemp's 0700


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_existing_output_is_refused_without_force_and_replaced_whole_with_it(tmp_path, rename_mode):
    out = tmp_path / "art"
    _write_dir(out, {"a.txt": "old", "b.txt": "old"})
    with pytest.raises(OutputError, match="exists; pass --force"):
        _write_dir(out, {"a.txt": "new"})
    assert (out / "b.txt").read_text() == "old"
    _write_dir(out, {"a.txt": "new"}, force=True)
    assert sorted(os.listdir(out)) == [MARKER, "a.txt"]  # b.txt of the old output is gone
    assert (out / "a.txt").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["art"]


def test_failure_during_the_work_leaves_the_old_output_untouched(tmp_path, rename_mode):
    out = tmp_path / "art"
    _write_dir(out, {"a.txt": "old"})
    before = tree(out)
    with pytest.raises(RuntimeError), claim(out, kind="dir", option="--out", force=True) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("the work failed")
    assert tree(out) == before
    assert sorted(os.listdir(tmp_path)) == ["art"]


def test_file_output_is_published_whole_and_replaced_only_with_force(tmp_path, rename_mode):
    out = tmp_path / "model.onnx"
    with claim(out, kind="file", option="-o") as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".onnx" and tmp != out
        tmp.write_bytes(b"one")
    with (
        pytest.raises(OutputError, match="exists; pass --force"),
        claim(out, kind="file", option="-o"),
    ):
        pass
    with claim(out, kind="file", option="-o", force=True) as tmp:
        tmp.write_bytes(b"two")
    assert out.read_bytes() == b"two" and sorted(os.listdir(tmp_path)) == ["model.onnx"]


@pytest.mark.parametrize(
    ("out", "inputs", "message"),
    [
        ("art", ["art"], "is the input"),
        ("art/graph.json", ["art"], "is inside the input"),
        ("runs", ["runs/model.pt"], "holds the input"),
        ("model.pt", ["model.pt"], "is the input"),
    ],
)
def test_output_equal_to_inside_or_holding_an_input_is_refused_even_with_force(
    tmp_path, out, inputs, message
):
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "graph.json").write_text("{}")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "model.pt").write_bytes(b"weights")
    (tmp_path / "model.pt").write_bytes(b"weights")
    before = tree(tmp_path)
    kind = "file" if Path(out).suffix else "dir"
    with pytest.raises(OutputError, match=message):
        with claim(
            tmp_path / out,
            kind=kind,
            option="-o",
            force=True,
            inputs=[tmp_path / i for i in inputs],
        ):
            pytest.fail("the work must not start")
    assert tree(tmp_path) == before


def test_directory_spikeport_did_not_write_is_never_replaced(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputError, match=f"not written by spikeport \\(no {MARKER}"):
        _write_dir(out, {"a": "b"}, force=True)
    assert (out / "thesis.tex").read_text() == "years of work"


def test_empty_directory_counts_as_absent(tmp_path):
    _write_dir(tmp_path / "empty", {})  # created first: an empty directory needs no --force
    (tmp_path / "e2").mkdir()
    _write_dir(tmp_path / "e2", {"x": "y"})
    assert (tmp_path / "e2" / "x").read_text() == "y"


def test_current_directory_and_its_ancestors_are_refused(tmp_path, monkeypatch):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    for out in (".", str(tmp_path)):
        with pytest.raises(OutputError, match="current directory"):
            _write_dir(Path(out), {}, force=True)


def test_unwritable_parent_is_refused_before_the_work(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(OutputError, match="cannot create"):
        with claim(tmp_path / "file" / "out", kind="dir", option="--out"):
            pytest.fail("the work must not start")


def test_second_writer_of_the_same_output_is_refused_while_the_first_holds_it(tmp_path):
    out = tmp_path / "art"
    with claim(out, kind="dir", option="--out") as tmp:
        with pytest.raises(OutputError, match="another process is writing it"):
            with claim(out, kind="dir", option="--out", force=True):
                pytest.fail("the second writer must not start")
        (tmp / "a").write_text("first")
    assert (out / "a").read_text() == "first"
    _write_dir(out, {"a": "second"}, force=True)  # the lock is released afterwards
    assert (out / "a").read_text() == "second"


def test_output_that_appears_meanwhile_is_not_clobbered_without_force(tmp_path, rename_mode):
    """A writer that bypassed the lock (another program) created the path during our work:
    ours is dropped with an error, theirs stays whole."""
    for kind, make in (("dir", lambda p: (p.mkdir(), (p / "x").write_text("theirs"))),
                       ("file", lambda p: p.write_text("theirs"))):  # fmt: skip
        out = tmp_path / f"out-{kind}"
        with pytest.raises(OutputError, match="appeared while this command ran"):
            with claim(out, kind=kind, option="--out") as tmp:
                make(out)
                (tmp / "x").write_text("ours") if kind == "dir" else tmp.write_text("ours")
        got = (out / "x") if kind == "dir" else out
        assert got.read_text() == "theirs"
    assert sorted(os.listdir(tmp_path)) == ["out-dir", "out-file"]


def test_temporaries_left_by_a_killed_writer_are_removed_by_the_next_claim(tmp_path):
    stale = tmp_path / ".art.tmp-deadbeef"
    stale.mkdir()
    (stale / "tensors.h5").write_bytes(b"\0" * 100)
    (tmp_path / ".art.lock").write_text("")  # a killed holder's lock file (its flock is gone)
    (tmp_path / ".other.tmp-1").mkdir()  # another output's temporary: not ours to remove
    _write_dir(tmp_path / "art", {"a": "b"})
    assert sorted(os.listdir(tmp_path)) == [".other.tmp-1", "art"]


def test_lock_alone_guards_a_workspace(tmp_path):
    with lock(tmp_path / "ws", option="--out"):
        with (
            pytest.raises(OutputError, match="another process"),
            lock(tmp_path / "ws", option="--out"),
        ):
            pass
    with lock(tmp_path / "ws", option="--out"):
        pass
