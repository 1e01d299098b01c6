"""Outputs that never destroy data: every command writes into a temporary sibling of its
output and renames it into place when complete.

``with claim(path, kind="dir", option="--out", force=..., inputs=[...]) as tmp:`` checks the
output BEFORE any work, holds an exclusive lock on it while the work runs, yields a fresh
temporary sibling (``.NAME.tmp-XXXX``, a directory or a file) to write into, and on success
publishes it in one rename; on any exception (or a kill) the temporary is dropped and the old
output, if any, is left as it was. The guarantees:

* Refused before work: an output equal to, inside, or containing one of the command's inputs
  (or the current directory); an existing output without ``force`` (an empty directory counts
  as absent); an existing directory that spikeport did not write (no ``MARKER`` file inside),
  even with ``force``; a parent that cannot be created or written.
* Atomic: a directory is swapped in with ``renameat2(RENAME_EXCHANGE)`` (Linux), so at every
  instant the path holds the old complete output or the new one; where that call is missing,
  the old output is renamed aside first (an instant with none). A file is renamed over.
* Exclusive: a second process claiming the same path while the first holds it gets a one-line
  error at once (``flock`` on ``.NAME.lock``); without ``force``, a path that appears by other
  means meanwhile is not overwritten (``RENAME_NOREPLACE`` / ``link``).
* Temporaries left by a killed writer are removed by the next claim of the same path.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import glob
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from spikeport.errors import SpikeportError

MARKER = ".spikeport-output"
"""File inside every directory spikeport writes: it may be replaced with ``--force``."""

_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100


class OutputError(SpikeportError):
    """An output path that cannot be written without destroying data, or is busy."""


def owned(path: str | Path) -> bool:
    """True for a directory spikeport wrote (it holds ``MARKER``)."""
    return (Path(path) / MARKER).is_file()


def _empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _check(p: Path, kind: str, option: str, force: bool, inputs: list) -> None:
    """Refuse ``p`` as a ``kind`` ("dir" | "file") output (see the module docstring)."""
    where = f"{option} {p}"
    real = p.resolve()
    for inp in inputs:
        src = Path(inp).resolve()
        if _within(real, src):
            rel = "is" if real == src else "is inside"
            raise OutputError(f"{where}: {rel} the input {inp}; choose another output path")
        if _within(src, real):
            raise OutputError(
                f"{where}: holds the input {inp}, which writing it would destroy; "
                "choose another output path"
            )
    if _within(Path.cwd().resolve(), real):
        raise OutputError(f"{where}: is (or holds) the current directory")
    if not os.path.lexists(p) or _empty_dir(p):
        return
    if kind == "dir":
        if not p.is_dir() or p.is_symlink():
            raise OutputError(f"{where}: exists and is not a directory")
        if not owned(p):
            raise OutputError(
                f"{where}: exists and was not written by spikeport (no {MARKER} inside); "
                "it is never replaced, remove it yourself or choose another path"
            )
    elif p.is_dir():
        raise OutputError(f"{where}: is a directory, expected a file")
    if not force:
        raise OutputError(f"{where}: exists; pass --force to replace it")


@contextlib.contextmanager
def lock(path: str | Path, *, option: str) -> Iterator[Path]:
    """Hold the exclusive lock of output ``path`` (its parent is created); one line if busy."""
    p = Path(path)
    parent = p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{option} {p}: cannot create {parent}: {exc.strerror}") from None
    lock_path = parent / f".{p.name}.lock"
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"{option} {p}: cannot write in {parent}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(
                f"{option} {p}: another process is writing it (lock {lock_path})"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder before us removed this lock file: take the new one
    try:
        _remove_temporaries(p)
        yield p
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)


@contextlib.contextmanager
def claim(
    path: str | Path,
    *,
    kind: str,
    option: str,
    force: bool = False,
    inputs: Iterable[str | Path] = (),
) -> Iterator[Path]:
    """Check and lock output ``path``, yield a temporary sibling, publish it on success."""
    if kind not in ("dir", "file"):
        raise ValueError(f"kind must be 'dir' or 'file', not {kind!r}")
    inputs = list(inputs)
    p = Path(path)
    _check(p, kind, option, force, inputs)
    with lock(p, option=option):
        _check(p, kind, option, force, inputs)  # again, now under the lock
        prefix = f".{p.name}.tmp-"
        if kind == "dir":
            tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=p.parent))
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=p.suffix, dir=p.parent)
            os.close(fd)
            tmp = Path(name)
        tmp.chmod((0o777 if kind == "dir" else 0o666) & ~_umask())  # mk*temp: owner only
        try:
            yield tmp
            if kind == "dir":
                (tmp / MARKER).write_text("spikeport output; --force may replace this directory\n")
            _publish(tmp, p, force=force, option=option)
        finally:
            _remove(tmp)


def _publish(tmp: Path, dst: Path, *, force: bool, option: str) -> None:
    """Rename ``tmp`` onto ``dst``: exchange with an old directory, never clobber unless forced."""
    if os.path.lexists(dst) and (force or _empty_dir(dst)):
        if not tmp.is_dir():
            os.replace(tmp, dst)
        elif not _renameat2(tmp, dst, _RENAME_EXCHANGE):  # else tmp now holds the old output
            aside = tmp.with_name(tmp.name + "-old")
            os.rename(dst, aside)  # without the exchange call: an instant with no output
            os.rename(tmp, dst)
            _remove(aside)
        return
    try:
        if not _renameat2(tmp, dst, _RENAME_NOREPLACE):
            if tmp.is_dir():
                os.rename(tmp, dst)  # fails on a non-empty directory that appeared meanwhile
            else:
                os.link(tmp, dst)  # fails if dst appeared meanwhile
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
            raise
        raise OutputError(
            f"{option} {dst}: appeared while this command ran (another writer?); not replaced"
        ) from None


@functools.cache
def _libc_renameat2():  # noqa: ANN202  (a ctypes function or None)
    return getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """``renameat2(src, dst, flags)``; False where the call or the flag is not supported."""
    fn = _libc_renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(dst))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _remove_temporaries(p: Path) -> None:
    """Drop temporaries a killed writer of ``p`` left (only called under ``p``'s lock)."""
    pattern = os.path.join(glob.escape(str(p.parent)), f".{glob.escape(p.name)}.tmp-*")
    for stale in glob.glob(pattern):
        _remove(Path(stale))
