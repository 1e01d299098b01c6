"""The structure of an energy ``report.json`` (``energy_document``), checked before rendering:
every field the renderer and the plots read, with its type; a report that breaks it is one
line naming the file and the field (``hardware.loihi2.measured.layers[3].energy_j: expected a
finite number, got 'x'``).

A spec is a type (``float`` = a finite int or float, never a bool), a ``dict`` of field specs
(a key ending in ``?`` is optional; the key ``*`` specs every value of a free-keyed map), a
one-element ``list`` (every item), or ``Maybe(spec)`` (``None`` allowed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spikeport.errors import SpikeportError


@dataclass(frozen=True)
class Maybe:
    """``spec`` or ``None``."""

    spec: Any


ANY = object()

LAYER = {
    "name": str,
    "kind": str,
    "ops": {"*": float},
    "energy_j": float,
    "share": float,
    "not_modelled": [str],
}
ENERGY = {
    "basis": str,
    "layers": [LAYER],
    "energy_per_inference_j": float,
    "energy_by_op_j": {"*": float},
    "not_modelled_ops": {"*": float},
}
MAPPING = {
    "weight_bytes_compact": float,
    "neuron_state_bytes": float,
    "attention_state_bytes": float,
    "core_limits?": bool,
}
MODE = {
    "available": bool,
    "reason?": Maybe(str),
    "basis?": str,
    "convention?": Maybe({"*": ANY}),
    "options?": Maybe({"*": ANY}),
    "totals?": Maybe({"synaptic_events?": float, "dense_macs?": Maybe(float)}),
    "uncounted?": Maybe([str]),
    "firing_rates?": Maybe({"*": float}),
    "input_rates?": Maybe({"*": float}),
}
DOCUMENT = {
    "artifact": str,
    "graph": str,
    "data": {"description?": str},
    "energy_per_inference_j": {"*": {"measured": Maybe(float), "analytical": Maybe(float)}},
    "hardware": {
        "*": {"measured?": Maybe(ENERGY), "analytical?": Maybe(ENERGY), "mapping?": Maybe(MAPPING)}
    },
    "modes": {"measured": MODE, "analytical": MODE, "mapping?": MODE},
}


def check_document(doc: dict, path: str | Path) -> None:
    """Raise SpikeportError naming ``path`` and the first field that breaks ``DOCUMENT``."""
    _check(doc, DOCUMENT, "", path)
    missing = [hw for hw in doc["hardware"] if hw not in doc["energy_per_inference_j"]]
    if missing:
        raise SpikeportError(
            f"{path}: field energy_per_inference_j: no entry for hardware {missing[0]!r}"
        )


def _check(value: Any, spec: Any, where: str, path: str | Path) -> None:
    if isinstance(spec, Maybe):
        if value is None:
            return
        spec = spec.spec
    if spec is ANY:
        return
    if spec is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (ok and math.isfinite(value)):
            _fail(path, where, "a finite number", value)
    elif isinstance(spec, type):
        if not isinstance(value, spec):
            _fail(path, where, spec.__name__, value)
    elif isinstance(spec, list):
        if not isinstance(value, list):
            _fail(path, where, "a list", value)
        for i, item in enumerate(value):
            _check(item, spec[0], f"{where}[{i}]", path)
    else:
        if not isinstance(value, dict):
            _fail(path, where, "an object", value)
        for key, sub in spec.items():
            if key == "*":
                for k, v in value.items():
                    _check(v, sub, f"{where}.{k}" if where else k, path)
                continue
            name = key.rstrip("?")
            field = f"{where}.{name}" if where else name
            if name in value:
                _check(value[name], sub, field, path)
            elif not key.endswith("?"):
                raise SpikeportError(f"{path}: field {field} is missing")


def _fail(path: str | Path, where: str, expected: str, value: Any) -> None:
    shown = repr(value) if len(repr(value)) <= 40 else type(value).__name__
    raise SpikeportError(f"{path}: field {where or '(top)'}: expected {expected}, got {shown}")
