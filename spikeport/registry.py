"""One rule for every name -> implementation table in spikeport: a name is registered once.

The IR's node types, the simulator's executors, the converter's handlers and passes all
register through :func:`register`, which refuses a second, different entry under a name
already taken (two modules both claiming ``"Dense"`` would otherwise silently replace one
another, depending on import order).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar

V = TypeVar("V")


class DuplicateRegistrationError(TypeError):
    """A second, different implementation registered under a name that is already taken."""


def _origin(value: Any) -> str:
    module = getattr(value, "__module__", None)
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    return f"{module}.{name}" if module and name else repr(value)


def register(table: MutableMapping[Any, V], key: Any, value: V, what: str) -> V:
    """``table[key] = value``, refusing a key that already holds a different value.

    The same object, or an object of the same module and qualified name (a module that is
    imported again), counts as the same registration. `what` names the table in the error
    (e.g. "simulator executor for node type").
    """
    old = table.get(key)
    if old is not None and old is not value and _origin(old) != _origin(value):
        raise DuplicateRegistrationError(
            f"{what} {key!r} is already registered ({_origin(old)}); refusing {_origin(value)}"
        )
    table[key] = value
    return value


def registrar(
    table: MutableMapping[Any, Any], what: str, check: Callable[[Any], Any] | None = None
) -> Callable[..., Callable[[V], V]]:
    """A decorator factory for `table`: ``@deco(key, ...)`` registers the decorated object
    under every key (through :func:`register`); ``check(key)`` validates each key first
    (e.g. that an attention variant exists)."""

    def keys(*names: Any) -> Callable[[V], V]:
        def deco(value: V) -> V:
            for name in names:
                if check is not None:
                    check(name)
                register(table, name, value, what)
            return value

        return deco

    return keys
