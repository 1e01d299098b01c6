"""Reading the CIFAR python batches (pickles) without letting them run code.

A pickle names callables (``GLOBAL module name``) that the unpickler calls; a hostile file
names ``os.system`` or ``builtins.eval``. :class:`CifarUnpickler` resolves only the few
globals a CIFAR batch holds (numpy's array and dtype reconstructors, under their numpy 1
and numpy 2 module names, and Python 3's latin-1 bytes encoder for protocol-2 files);
anything else is refused before it is called.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from spikeport.errors import DataError, first_line


class Refused(pickle.UnpicklingError):
    """A global outside the allow-list; the message is its ``module.name``."""


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes: latin-1 only."""
    if encoding != "latin1" or not isinstance(text, str):
        raise Refused(f"_codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1")


def _allowed() -> dict[tuple[str, str], Any]:
    from numpy._core.multiarray import _reconstruct

    allowed: dict[tuple[str, str], Any] = {("_codecs", "encode"): _latin1_bytes}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = _reconstruct
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    return allowed


class CifarUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, bytes, str, numbers, lists and dicts; nothing else."""

    ALLOWED = _allowed()

    def find_class(self, module: str, name: str) -> Any:
        found = self.ALLOWED.get((module, name))
        if found is None:
            raise Refused(f"{module}.{name}")
        return found


def load_batch(path: Path) -> Any:
    """The object in the CIFAR batch file ``path`` (bytes keys, as the official files)."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with path.open("rb") as f:
            obj = CifarUnpickler(f, encoding="bytes").load()
    except Refused as exc:
        raise DataError(
            f"{path}: refusing to unpickle (it contains {exc}): loading it would allow "
            "arbitrary code to run; a CIFAR batch holds only numpy arrays, lists, dicts and bytes"
        ) from None
    except Exception as exc:  # a damaged pickle fails in the unpickler or in an allowed
        # constructor (numpy's reconstructor) with any exception type (found by fuzzing)
        raise DataError(
            f"{path}: not a readable CIFAR batch ({type(exc).__name__}: {first_line(exc)})"
        ) from None
    _check_plain(obj, path)
    return obj


def _check_plain(obj: Any, path: Path) -> None:
    """No object arrays (their items could only be pickle-built plain values, but a CIFAR
    batch never has them, so refuse rather than reason about them)."""
    values = obj.values() if isinstance(obj, dict) else ()
    for v in values:
        if isinstance(v, np.ndarray) and v.dtype.hasobject:
            raise DataError(f"{path}: an array of Python objects; a CIFAR batch has none")
