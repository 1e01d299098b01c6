"""Type checks of a loaded node's parameters against its dataclass annotations.

graph.json is untrusted: a LIF's ``decay_input`` of ``"false"`` (a non-empty string, so
truthy) or a threshold of ``true`` would otherwise build a node that silently computes
something else. :func:`check_params` compares each parameter as read with the field's
annotation: ``bool`` fields hold booleans, ``int`` fields whole numbers (not booleans),
``float`` fields numbers, ``str`` fields strings, ``tuple[int, ...]`` / ``tuple[int, int]``
tuples of whole numbers, ``X | None`` either. Annotations of other forms are not checked.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any

from spikeport.ir.errors import GraphError
from spikeport.ir.node import Node


@functools.cache
def _hints(cls: type[Node]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_params(cls: type[Node], name: str, params: dict[str, Any]) -> None:
    """GraphError naming node ``name`` and the field of ``params`` (values as read, before
    the node normalises them: ``stride [1, 1.5]`` would become ``(1, 1)``) whose value does
    not have the annotated type."""
    hints = _hints(cls)
    for field, value in params.items():
        if field in hints and not _fits(value, hints[field]):
            annotation = next(f.type for f in dataclasses.fields(cls) if f.name == field)
            raise GraphError(
                f"{name} ({cls.__name__}): field {field!r} = {value!r} is not of type "
                f"{_name(annotation)}"
            )


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        if len(value) != len(args):
            return False
        return all(_fits(v, h) for v, h in zip(value, args, strict=True))
    return True  # a form this module does not check


def _name(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "?")
