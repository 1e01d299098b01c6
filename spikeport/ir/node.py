"""The base node record and the node-type registry.

A node is a frozen dataclass that says *what* an operation is (fields with units and bit
widths); it never says how to run it (the simulator and the Lava emitter do that). Adding
a node type is a one-file change: define the dataclass with the `@node` decorator and it
is registered for shape inference, validation and save/load.

Shapes are per sample and per timestep: batch and time are never part of a node's shape.
Images are (C, H, W) (PyTorch order), token sequences (N, D), vectors (D,).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

from spikeport.ir.errors import GraphError
from spikeport.ir.intformat import IntFormat
from spikeport.registry import register

Shape = tuple[int, ...]

NODE_TYPES: dict[str, type[Node]] = {}
"""Registry: node type name (the class name, as written in graph.json) -> class."""

N = TypeVar("N", bound="Node")


@dataclasses.dataclass(frozen=True, eq=False)
class Node:
    """Base record: every node has a unique `name` within its graph.

    Subclasses declare which fields hold integer or float tensors (`int_tensors`,
    `float_tensors`); those are copied to read-only numpy arrays on construction (integer
    tensors in their storage type, `int_dtype`; float tensors in their float type), so a
    node cannot be changed after it is built. Equality compares tensors by value and dtype.
    """

    name: str

    ports: ClassVar[tuple[str, ...]] = ("in",)
    """Input port names, in order. Single-input nodes use ("in",); Input has none."""
    level: ClassVar[str] = "float"
    """"float" (pre-lowering), "int" (lowered, Loihi fixed point) or "any"."""
    int_tensors: ClassVar[tuple[str, ...]] = ()
    float_tensors: ClassVar[tuple[str, ...]] = ()
    int_dtypes: ClassVar[Mapping[str, str]] = {}
    """Storage type of integer tensor fields narrower than int64 (e.g. ``{"weight": "int16"}``);
    the others are int64. Construction refuses a value outside the type (never wraps), and
    ``save`` writes the tensor in it. Backends cast to a wider type before arithmetic."""
    added_fields: ClassVar[tuple[str, ...]] = ()
    """Fields added after schema version 1: graph.json omits them at their default, and an
    artifact written before they existed loads with the default (same meaning)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise GraphError(f"node name {self.name!r}: must be a non-empty string without '/'")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in self.int_tensors and value is not None:
                value = self._int_array(f.name, value)
            elif f.name in self.float_tensors and value is not None:
                value = self._float_array(f.name, value)
            elif isinstance(value, list):
                value = _to_tuple(value)
            elif isinstance(value, np.bool_):
                value = bool(value)
            elif isinstance(value, np.integer):
                value = int(value)
            elif isinstance(value, np.floating):
                value = float(value)
            elif isinstance(value, np.ndarray):
                raise GraphError(
                    f"{self.name}: field {f.name!r} of {type(self).__name__} is not a tensor field"
                )
            object.__setattr__(self, f.name, value)
        self._check_fields()

    # -- construction helpers -------------------------------------------------------------
    def _int_array(self, field: str, value: Any) -> np.ndarray:
        arr = np.asarray(value)
        if arr.dtype == bool:
            arr = arr.astype(np.int64)
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.issubdtype(arr.dtype, np.floating) or not np.all(arr == np.round(arr)):
                raise GraphError(f"{self.name}: field {field!r} must hold integers")
        dtype = self.int_dtype(field)
        bad = outside(arr, dtype)
        if bad is not None:
            raise self.fail(f"{field} value {bad} outside {dtype}")
        out = np.array(arr, dtype=dtype, copy=True)
        out.flags.writeable = False
        return out

    def _float_array(self, field: str, value: Any) -> np.ndarray:
        arr = np.asarray(value)
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise GraphError(f"{self.name}: field {field!r} must hold real numbers")
        dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64
        out = np.array(arr, dtype=dtype, copy=True)
        out.flags.writeable = False
        return out

    def _check_fields(self) -> None:
        """Structural checks of this node's own fields; raise via `self.fail`."""

    def fail(self, message: str) -> GraphError:
        """A GraphError naming this node: `raise self.fail("...")`."""
        return GraphError(f"{self.name} ({type(self).__name__}): {message}")

    # -- what backends and validation read ----------------------------------------------
    @classmethod
    def int_dtype(cls, field: str) -> np.dtype:
        """Storage type of integer tensor field `field`: its `int_dtypes` entry, else int64."""
        return np.dtype(cls.int_dtypes.get(field, np.int64))

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        """Per-sample output shape given the shape on each input port."""
        raise NotImplementedError(type(self).__name__)

    def formats(self) -> dict[str, IntFormat]:
        """Integer format each integer field must fit (checked by `validate`)."""
        return {}

    def check(self) -> None:
        """Value-range checks beyond `formats()` (called by `validate`)."""

    def tensors(self) -> dict[str, np.ndarray]:
        """Tensor fields that are set (name -> array)."""
        names = self.int_tensors + self.float_tensors
        return {k: getattr(self, k) for k in names if getattr(self, k) is not None}

    def params(self) -> dict[str, Any]:
        """Non-tensor fields except `name`."""
        names = set(self.int_tensors + self.float_tensors) | {"name"}
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in names
        }

    def stored_params(self) -> dict[str, Any]:
        """:meth:`params` as graph.json stores them: `added_fields` at their default left out."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        return {
            k: v for k, v in self.params().items() if k not in self.added_fields or v != defaults[k]
        }

    def replace(self: N, **changes: Any) -> N:
        """A copy with some fields changed (nodes are immutable)."""
        return dataclasses.replace(self, **changes)

    # -- value equality ---------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if not (
                    isinstance(a, np.ndarray)
                    and isinstance(b, np.ndarray)
                    and a.dtype == b.dtype
                    and a.shape == b.shape
                    and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
                ):
                    return False
            elif a != b:
                return False
        return True

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.name))

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                parts.append(f"{f.name}=<{v.dtype} {v.shape}>")
            else:
                parts.append(f"{f.name}={v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def node(cls: type[N]) -> type[N]:
    """Class decorator: make `cls` a frozen node dataclass and register it by class name."""
    for field, dtype in cls.int_dtypes.items():
        if field not in cls.int_tensors or np.dtype(dtype).kind not in "iu":
            raise TypeError(f"{cls.__name__}.int_dtypes[{field!r}]: not an integer tensor field")
    out = dataclasses.dataclass(frozen=True, eq=False)(cls)
    return register(NODE_TYPES, cls.__name__, out, "IR node type")


def outside(values: np.ndarray, dtype: np.dtype) -> int | float | None:
    """The extreme value of `values` (integers or integral floats) outside the range of
    integer type `dtype`, or None when all fit."""
    if values.size == 0:
        return None
    info = np.iinfo(dtype)
    lo, hi = values.min(), values.max()
    if lo < info.min:
        return _plain(lo)
    if hi >= info.max + 1:  # not `> max`: float(2**63 - 1) rounds to 2**63
        return _plain(hi)
    return None


def _plain(value: Any) -> int | float:
    value = value.item()
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _to_tuple(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_to_tuple(v) for v in value)
    return value


# -- small shared helpers for node definitions ------------------------------------------------
def single_input(node_: Node, inputs: Mapping[str, Shape]) -> Shape:
    """The one input shape of a single-port node."""
    return tuple(inputs[node_.ports[0]])


def pair(node_: Node, field: str, value: Any) -> tuple[int, int]:
    """Normalise an int or 2-sequence field to a (H, W) tuple of ints."""
    if isinstance(value, int | np.integer):
        return (int(value), int(value))
    if isinstance(value, tuple | list | np.ndarray) and len(value) == 2:
        return (int(value[0]), int(value[1]))
    raise node_.fail(f"field {field!r} must be an int or a pair of ints, got {value!r}")


def conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """PyTorch/Lava convolution output length along one axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def set_field(node_: Node, field: str, value: Any) -> None:
    """Assign during __post_init__ (frozen dataclass)."""
    object.__setattr__(node_, field, value)
