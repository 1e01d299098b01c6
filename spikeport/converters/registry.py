"""The front-end handler registry: one handler per torch module type, function or tensor method.

A handler turns one torch.fx call into IR nodes::

    @handles(nn.Conv2d)
    def conv2d(ctx: TraceContext, call: Call) -> TensorValue: ...

Keys are module classes (looked up along the MRO, so subclasses are handled), plain
functions (``operator.add``, ``torch.flatten``) or ``"Tensor.<method>"`` strings.
Handlers live in ``spikeport.converters.handlers`` (one small module per family).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spikeport.errors import UnsupportedError
from spikeport.ir import Graph, Node
from spikeport.registry import registrar

Handler = Callable[["TraceContext", "Call"], Any]
HANDLERS: dict[Any, Handler] = {}


handles = registrar(HANDLERS, "converter handler for")
"""Decorator ``@handles(key, ...)``: the decorated function is the handler of every key (a key
has one handler: a second registration is refused)."""


def key_name(key: Any) -> str:
    if isinstance(key, str):
        return key
    module = getattr(key, "__module__", "") or ""
    name = getattr(key, "__qualname__", None) or getattr(key, "__name__", repr(key))
    if module.startswith("torch.nn.modules"):
        return f"nn.{name}"
    if module in ("_operator", "operator"):
        return f"operator.{name}"
    if module.startswith("torch") or "_VariableFunctions" in name:
        return f"torch.{getattr(key, '__name__', name)}"
    return name


def supported_names(kind: str) -> list[str]:
    """Names of registered keys of one kind: "module", "function" or "method"."""
    out = []
    for key in HANDLERS:
        if kind == "method" and isinstance(key, str):
            out.append(key)
        elif kind == "module" and isinstance(key, type):
            out.append(key_name(key))
        elif kind == "function" and not isinstance(key, str | type):
            out.append(key_name(key))
    return sorted(set(out))


def module_handler(module: Any) -> Handler | None:
    for cls in type(module).__mro__:
        if cls in HANDLERS:
            return HANDLERS[cls]
    return None


@dataclass(frozen=True)
class TensorValue:
    """A traced tensor: IR node `name` holds it; `lead` names its leading non-sample axes.

    lead entries: "T" (time), "B" (batch), "TB" (time and batch merged, T-major), "1" (a
    singleton axis about to become T). `shape` is the full example shape; the IR node's
    per-sample shape is ``shape[len(lead):]``.
    """

    name: str
    lead: tuple[str, ...]
    shape: tuple[int, ...]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.shape[len(self.lead) :]


@dataclass(frozen=True)
class Call:
    """One torch.fx call: `path` is the module path (call_module) or the fx node name."""

    path: str
    kind: str
    target: Any
    module: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    out: Any
    """The concrete example output (a tensor) computed while tracing."""

    def tensor_args(self) -> list[TensorValue]:
        return [a for a in self.args if isinstance(a, TensorValue)]

    def fail(self, message: str) -> UnsupportedError:
        what = key_name(type(self.module)) if self.module is not None else key_name(self.target)
        return UnsupportedError(f"{self.path}: {what} — {message}")


@dataclass
class TraceContext:
    """What handlers build into: the IR graph, T and the example batch size."""

    graph: Graph
    T: int
    batch: int
    meta: dict[str, Any] = field(default_factory=dict)
    _names: set[str] = field(default_factory=set)

    def unique(self, base: str) -> str:
        """A node name derived from `base` not yet used in the graph."""
        base = base.replace("/", ".") or "node"
        name, i = base, 1
        while name in self._names or name in self.graph:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    def add(self, node: Node, inputs: Any) -> str:
        self.graph.add(node, inputs)
        self._names.add(node.name)
        return node.name

    def lead_of(self, shape: tuple[int, ...], like: TensorValue) -> tuple[str, ...]:
        """The leading axes of an output `shape` computed from `like` (same batch/time)."""
        t, b = self.T, self.batch
        if "T" in like.lead or "TB" in like.lead:
            if len(shape) >= 2 and shape[0] == t and shape[1] == b:
                return ("T", "B")
            if shape and shape[0] == t * b:
                return ("TB",)
        if like.lead == ("1", "B") and len(shape) >= 2 and shape[:2] == (1, b):
            return ("1", "B")
        if shape and shape[0] == b and like.lead in (("B",), ("1", "B")):
            return ("B",)
        raise UnsupportedError(
            f"cannot tell the time/batch axes of shape {shape} (from {like.name}, "
            f"axes {like.lead}); spikeport needs tensors laid out [T, B, ...] or [T*B, ...]"
        )
