"""Range checks of a graph's name and ``graph.meta`` values, as read from graph.json.

``meta`` is free-form JSON, but the keys spikeport reads are checked on load so that a
damaged or hand-edited value is one line naming the key, not a wrong result: ``T`` (model
timesteps, 1..``budget.MAX_T``), ``input_scale`` / ``readout_scale`` / ``dt`` (finite, > 0),
booleans (``time_major``), strings, lists of strings, node names (``readout``) and the
``timing`` record (consistent with T, its node names in the graph, latencies 0..MAX_STEPS).
The graph name is a plain name (letters, digits, ``_ . + -``, not starting with ``.``):
commands build file names from it.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Collection
from typing import Any

from spikeport import budget
from spikeport.ir.errors import GraphError

NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}")
"""A graph name: used as a file stem by ``export`` (no separators, no leading dot)."""
LEVELS = ("float", "int")
SPIKE_EXP_MAX = 24


def check_name(name: object) -> str:
    """``name`` if it is a plain graph name, else GraphError."""
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise GraphError(
            f"graph name {name!r}: must be 1-128 letters, digits, '_', '.', '+' or '-', "
            "not starting with '.'"
        )
    return name


def plain_name(text: str, default: str = "graph") -> str:
    """``text`` (e.g. a file stem) made into a valid graph name."""
    cleaned = re.sub(r"[^A-Za-z0-9_.+-]", "_", str(text)).lstrip(".")[:128]
    return cleaned or default


def check_meta(meta: object, nodes: Collection[str]) -> dict[str, Any]:
    """A copy of ``meta`` after the checks in the module docstring; GraphError naming the
    key otherwise. ``nodes``: the graph's node names."""
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise GraphError(f"meta must be an object, not {type(meta).__name__}")
    for key, check in _CHECKS.items():
        if key in meta:
            check(f"meta.{key}", meta[key], nodes)
    timing = meta.get("timing")
    if timing is not None:
        if isinstance(timing, dict) and "T" in meta and timing.get("T") != meta["T"]:
            raise GraphError(f"meta.timing.T = {timing.get('T')} differs from meta.T = {meta['T']}")
        _timing("meta.timing", timing, nodes)
    return dict(meta)


# -- value checks: (where, value, node names) -> None, GraphError on a bad value ------------
def _T(where: str, value: Any, _: Collection[str]) -> None:
    try:
        budget.require_T(where, value)
    except budget.BudgetError as exc:
        raise GraphError(str(exc)) from None


def _positive(where: str, value: Any, _: Collection[str]) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise GraphError(f"{where} = {value!r}: must be a finite number > 0")


def _str_list(where: str, value: Any, _: Collection[str]) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GraphError(f"{where} = {value!r}: must be a list of strings")


def _node(where: str, value: Any, nodes: Collection[str]) -> None:
    if value is not None and (not isinstance(value, str) or value not in nodes):
        raise GraphError(f"{where} = {value!r}: not a node of the graph")


def _nodes(where: str, value: Any, nodes: Collection[str]) -> None:
    _str_list(where, value, nodes)
    for v in value:
        _node(where, v, nodes)


Check = Callable[[str, Any, Collection[str]], None]


def _instance(kind: type, what: str) -> Check:
    """``value`` must be a ``kind`` (``what`` in words); a list's or object's message names its
    type, not its value (which may be long)."""

    def check(where: str, value: Any, _: Collection[str]) -> None:
        if isinstance(value, kind):
            return
        if kind in (list, dict):
            raise GraphError(f"{where}: must be {what}, not {type(value).__name__}")
        raise GraphError(f"{where} = {value!r}: must be {what}")

    return check


_bool = _instance(bool, "true or false")
_str = _instance(str, "a string")
_list = _instance(list, "a list")
_dict = _instance(dict, "an object")


def _int_in(lo: int, hi: int, optional: bool = False) -> Check:
    def check(where: str, value: Any, _: Collection[str]) -> None:
        if optional and value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise GraphError(f"{where} = {value!r}: must be a whole number in {lo}..{hi}")

    return check


def _level(where: str, value: Any, _: Collection[str]) -> None:
    if value not in LEVELS:
        raise GraphError(f"{where} = {value!r}: must be one of {', '.join(LEVELS)}")


def _input_transform(where: str, value: Any, nodes: Collection[str]) -> None:
    _dict(where, value, nodes)
    for k, v in value.items():
        _int_in(-(1 << 31), (1 << 31) - 1)(f"{where}.{k}", v, nodes)


def _timing(where: str, rec: Any, nodes: Collection[str]) -> None:
    _dict(where, rec, nodes)
    for key in ("T", "latency", "node_latency"):
        if key not in rec:
            raise GraphError(f"{where}: missing {key!r}")
    _T(f"{where}.T", rec["T"], nodes)
    _int_in(0, budget.MAX_STEPS)(f"{where}.latency", rec["latency"], nodes)
    latency = _int_in(0, rec["latency"])
    _dict(f"{where}.node_latency", rec["node_latency"], nodes)
    for name, value in rec["node_latency"].items():
        _node(f"{where}.node_latency", name, nodes)
        latency(f"{where}.node_latency[{name!r}]", value, nodes)
    _node(f"{where}.readout", rec.get("readout"), nodes)
    if rec.get("readout") is not None and rec["readout"] not in rec["node_latency"]:
        raise GraphError(f"{where}.readout = {rec['readout']!r}: has no node_latency")
    for key in ("reset_neurons", "delays"):
        _nodes(f"{where}.{key}", rec.get(key, []), nodes)
    if "steps" in rec and rec["steps"] != rec["T"] + rec["latency"]:
        raise GraphError(f"{where}.steps = {rec['steps']!r}: must be T + latency")
    readout = rec.get("readout")
    if readout is not None and "readout_step" in rec:
        want = rec["node_latency"][readout] + rec["T"] - 1
        if rec["readout_step"] != want:
            raise GraphError(f"{where}.readout_step = {rec['readout_step']!r}: must be {want}")


_CHECKS: dict[str, Check] = {
    "T": _T,
    "time_major": _bool,
    "input_scale": _positive,
    "readout_scale": _positive,
    "dt": _positive,
    "readout": _node,
    "level": _level,
    "source": _str,
    "encoding": _str,
    "file": _str,
    "dropped": _str,
    "output_lead": _str_list,
    "passes": _str_list,
    "quantization": _dict,
    "layers": _list,
    "input_transform": _input_transform,
    "spike_exp": _int_in(0, SPIKE_EXP_MAX),
    "reset_interval": _int_in(1, budget.MAX_STEPS, optional=True),
}
