"""The table of node emitters: one function per IR node type turns a node into ONNX ops.

``fn(b, rec, ins, x, shapes, graph) -> tensor``: `b` the :class:`~.builder.Builder`, `rec`
the node, `ins` {port: tensor}, `x` the ``in`` port's tensor (or None), `shapes` every
node's per-sample shape, `graph` the IR graph; it returns the tensor holding the node's
value this step. Register with ``@emits("NodeType", ...)`` (one emitter per type).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spikeport.deploy.onnx.builder import Builder
from spikeport.registry import registrar

Emit = Callable[[Builder, Any, dict[str, str], "str | None", dict, Any], str]

EMITTERS: dict[str, Emit] = {}
"""IR node type name -> its ONNX emitter."""


emits = registrar(EMITTERS, "ONNX emitter for node type")
"""Decorator: ``@emits("NodeType", ...)`` emits nodes of these types with the function."""
