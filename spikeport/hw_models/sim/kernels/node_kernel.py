"""How a kernel is built from an IR node: one rule for every kernel.

A kernel's constructor takes exactly the integers Lava's process receives, under the same
names as the fields of the IR node it runs (``ir/int_nodes.py``), so
``Kernel.from_node(node)`` passes each constructor parameter the node's field of that name.
"""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

K = TypeVar("K", bound="NodeKernel")


class NodeKernel:
    """Mixin: :meth:`from_node` for a kernel whose parameters are named as its node's fields."""

    @classmethod
    def from_node(cls: type[K], node: Any) -> K:
        """The kernel of IR node `node`: every constructor parameter the node has a field
        for gets that field (parameters it lacks keep their defaults; a required one it
        lacks is an error naming both)."""
        args = {}
        for name, param in inspect.signature(cls).parameters.items():
            if hasattr(node, name):
                args[name] = getattr(node, name)
            elif param.default is inspect.Parameter.empty:
                raise TypeError(f"{cls.__name__}: node {node.name!r} has no field {name!r}")
        return cls(**args)
