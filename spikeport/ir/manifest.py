"""``manifest.json``: the sha256 of every file of an artifact directory.

An artifact (``spikeport convert``'s output, or any :func:`spikeport.ir.save` directory) is
graph.json + tensors.h5 and whatever else its writer put beside them (``float/``,
``report.json``, ``data.json``). The manifest records the SHA-256 of each such file, by
path relative to the directory, so that a bit flip, a swapped tensor, a truncated copy or a
file from another artifact is refused by :func:`verify` naming the file:

    {"format": "spikeport-manifest", "version": 1, "algorithm": "sha256",
     "files": {"graph.json": "<64 hex digits>", "tensors.h5": "...", "float/graph.json": ...}}

:func:`write` records the files it is given (``save`` records graph.json and tensors.h5) or
every regular file under the directory (``seal``-style, what ``convert`` does last). Paths
must stay inside the directory (no ``..``, no absolute paths, no symbolic links). The
manifest guards against corruption and mix-ups, not against someone who rewrites it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from spikeport.ir.errors import ArtifactError
from spikeport.outputs import MARKER

FILE = "manifest.json"
FORMAT = "spikeport-manifest"
VERSION = 1
ALGORITHM = "sha256"
OWN_FILES = ("graph.json", "tensors.h5", "report.json", "data.json")
"""Files spikeport itself reads from an artifact: each present one must be listed."""
_CHUNK = 1 << 20


def digest(path: Path) -> str:
    """SHA-256 of the file's bytes, hex."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def write(directory: str | Path, files: Iterable[str] | None = None) -> Path:
    """Write ``directory/manifest.json`` for ``files`` (relative POSIX paths), by default
    every regular file under ``directory`` except this manifest; atomically replaced."""
    d = Path(directory)
    names = sorted(files) if files is not None else _all_files(d)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "algorithm": ALGORITHM,
        "files": {name: digest(_inside(d, name)) for name in names},
    }
    tmp = d / f"{FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(d / FILE)
    return d / FILE


def read(directory: str | Path) -> dict[str, str]:
    """The manifest's {relative path: sha256}; ArtifactError when absent or malformed."""
    d = Path(directory)
    path = d / FILE
    if not path.is_file():
        raise ArtifactError(
            f"{path}: not found (an artifact written before spikeport kept manifests, or "
            "not by spikeport): re-create it with `spikeport convert` (or `spikeport.ir.save`)"
        )
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ArtifactError(f"{path}: not a spikeport manifest (format != {FORMAT!r})")
    if doc.get("version") != VERSION or doc.get("algorithm") != ALGORITHM:
        raise ArtifactError(
            f"{path}: manifest version {doc.get('version')!r} / algorithm "
            f"{doc.get('algorithm')!r} not supported (this spikeport reads {VERSION} / {ALGORITHM})"
        )
    files = doc.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in files.items()
    ):
        raise ArtifactError(f"{path}: 'files' must map paths to sha256 hex digests")
    for name in files:
        _inside(d, name)
    return files


def verify(directory: str | Path, required: Iterable[str] = ()) -> dict[str, str]:
    """Check every listed file's sha256, that each of ``required`` is listed, and that each
    of :data:`OWN_FILES` present in the directory is listed; returns the listing."""
    d = Path(directory)
    files = read(d)
    for name in required:
        if name not in files:
            raise ArtifactError(f"{d / FILE}: does not list {name}")
    for name in OWN_FILES:
        if name not in files and (d / name).exists():
            raise ArtifactError(f"{d / name}: not listed in {FILE} (not part of this artifact)")
    for name, want in files.items():
        path = _inside(d, name)
        if not path.is_file():
            raise ArtifactError(f"{path}: listed in {FILE} but missing")
        if digest(path) != want.lower():
            raise ArtifactError(
                f"{path}: sha256 differs from {FILE} (the file was changed or damaged "
                "after it was written)"
            )
    return files


def _inside(d: Path, name: str) -> Path:
    """``d / name`` for a relative path that stays inside ``d`` and crosses no symlink."""
    rel = PurePosixPath(name)
    if rel.is_absolute() or not rel.parts or any(p in ("", ".", "..") for p in rel.parts):
        raise ArtifactError(f"{d / FILE}: path {name!r} is not a plain path inside the artifact")
    path = d.joinpath(*rel.parts)
    for parent in [path, *list(path.parents)[: len(rel.parts) - 1]]:
        if parent.is_symlink():
            raise ArtifactError(f"{parent}: a symbolic link (an artifact holds plain files only)")
    return path


def _all_files(d: Path) -> list[str]:
    out = []
    for root, dirs, files in os.walk(d):
        dirs.sort()
        for f in files:
            rel = Path(root, f).relative_to(d).as_posix()
            if rel not in (FILE, MARKER):  # MARKER: added when the output is published
                out.append(rel)
    return sorted(out)
