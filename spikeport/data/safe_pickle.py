"""Reading the CIFAR python batches (pickles) without letting them run code.

A pickle names callables (``GLOBAL module name``) that the unpickler calls; a hostile file
names ``os.system`` or ``builtins.eval``. :class:`CifarUnpickler` resolves only the few
globals a CIFAR batch holds (numpy's array and dtype reconstructors, under their numpy 1
and numpy 2 module names, and Python 3's latin-1 bytes encoder for protocol-2 files);
anything else is refused before it is called.

The unpickler's own memory is bounded too: :func:`check_opcodes` reads the opcodes first
(``pickletools.genops``, which runs nothing) and refuses memo indices beyond the opcodes
seen so far (CPython's unpickler sizes its memo table by the largest index: a 24-byte file
naming index 175,726,962 made it allocate 2.8 GB; found by fuzzing), and the arrays the
pickle declares are checked against :mod:`spikeport.budget` before numpy allocates them.
"""

from __future__ import annotations

import codecs
import io
import pickle
import pickletools
from pathlib import Path
from typing import Any

import numpy as np

from spikeport import budget
from spikeport.errors import DataError, first_line


class Refused(pickle.UnpicklingError):
    """A global outside the allow-list; the message is its ``module.name``."""


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes: latin-1 only."""
    if encoding != "latin1" or not isinstance(text, str):
        raise Refused(f"_codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1")


_MEMO_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"})


def check_opcodes(data: bytes) -> None:
    """Refuse a pickle whose memo indices exceed its opcode count (a memory bomb), reading
    the opcodes without running them. Raises ``pickle.UnpicklingError`` (or ValueError for
    an unreadable opcode stream)."""
    for count, (op, arg, pos) in enumerate(pickletools.genops(io.BytesIO(data))):
        if op.name in _MEMO_OPS and not 0 <= arg <= count:
            raise pickle.UnpicklingError(f"memo index {arg} at byte {pos}")


def _sized_array(cls: Any, shape: Any, dtype: Any, *args: Any) -> np.ndarray:
    """``numpy.ndarray(shape, dtype, ...)`` (and numpy's ``_reconstruct(ndarray, shape,
    dtype)``), refused past the memory budget before numpy allocates."""
    if cls is not np.ndarray:
        raise Refused(f"array class {cls!r}")
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    budget.require("an array the pickle declares", budget.nbytes(dims, np.dtype(dtype).itemsize))
    return np.ndarray(dims, dtype, *args)


class _ArrayClass:
    """What the pickle's ``numpy.ndarray`` global resolves to: calling it allocates only
    within the budget; numpy's reconstructor receives it as the array class."""

    def __call__(self, shape: Any, dtype: Any = float, *args: Any) -> np.ndarray:
        return _sized_array(np.ndarray, shape, dtype, *args)


_NDARRAY = _ArrayClass()


def _reconstruct(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's ``_reconstruct(ndarray, shape, dtype)``: an array the BUILD opcode fills."""
    return _sized_array(np.ndarray if cls is _NDARRAY else cls, shape, dtype)


def _allowed() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {("_codecs", "encode"): _latin1_bytes}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = _reconstruct
    allowed[("numpy", "ndarray")] = _NDARRAY
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
    budget.require(f"{path} (a CIFAR batch, read whole)", path.stat().st_size)
    data = path.read_bytes()
    try:
        check_opcodes(data)
        obj = CifarUnpickler(io.BytesIO(data), encoding="bytes").load()
    except budget.BudgetError as exc:
        raise DataError(f"{path}: {exc}") from None
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
