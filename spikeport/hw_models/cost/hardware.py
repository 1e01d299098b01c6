"""Hardware models as data: a typed loader for ``spikeport/hw_models/cost/targets/<name>.json``.

A hardware model is a table, not code: energy per operation (picojoules), resource limits per
core/chip, and integer formats, each figure carrying the ``source`` it was taken from and, for
figures that were derived or calibrated rather than read from a table, the ``derivation``.
Adding a target means writing one JSON file (schema in ``docs/hardware_models.md``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from spikeport.errors import SpikeportError

TARGETS_DIR = Path(__file__).resolve().parent / "targets"

# Operation kinds a target may price (pJ per operation). Counts of these kinds live in
# ``energy.LayerOps``; see ``energy.OP_FIELDS`` for which count each one prices.
ENERGY_KINDS: tuple[str, ...] = (
    "mac",  # multiply-accumulate on a non-spike operand
    "ac",  # accumulate triggered by a spike (= synaptic operation)
    "neuron_update",  # one neuron state update (when active/inactive are not distinguished)
    "neuron_update_active",  # update of a neuron that received input this step
    "neuron_update_inactive",  # update of a neuron that received no input this step
    "spike",  # emitting/delivering one spike message (within a tile on Loihi)
    "hop",  # one router hop of a spike message between tiles
    "and_word",  # bitwise AND of two `word_bits`-bit words
    "xnor_word",  # bitwise XNOR of two `word_bits`-bit words
    "popcount_word",  # popcount of one `word_bits`-bit word
    "int_add",  # integer add, `int_bits` wide
    "int_mult",  # integer multiply, `int_bits` wide
    "mem_read_bit",  # one bit read from on-chip SRAM
)

LIMIT_KINDS: tuple[str, ...] = (
    "cores_per_chip",
    "neurons_per_core",
    "synaptic_memory_bytes_per_core",
    "fan_in_axons_per_core",
    "fan_out_axons_per_core",
)

FORMAT_KINDS: tuple[str, ...] = ("word_bits", "int_bits", "weight_bits", "state_bits")

FIGURE_STATUSES: tuple[str, ...] = ("published", "derived", "calibrated", "unverified")


class HardwareModelError(SpikeportError):
    """A hardware-model data file that is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Figure:
    """One number with its provenance: ``value`` in ``unit``; ``source`` is a key of the
    model's ``sources``; ``status`` says whether it is read from the source (published),
    computed from published numbers (derived, with ``derivation``), fitted to a measurement
    (calibrated, with ``derivation``) or quoted without access to the primary text."""

    value: float
    unit: str
    source: str
    status: str = "published"
    derivation: str = ""
    note: str = ""


@dataclass(frozen=True)
class HardwareModel:
    """A target: per-op energies (``energy[kind].value`` in pJ), limits, formats, sources."""

    name: str
    title: str
    description: str
    sources: Mapping[str, str]
    energy: Mapping[str, Figure]
    limits: Mapping[str, Figure] = field(default_factory=lambda: MappingProxyType({}))
    formats: Mapping[str, Figure] = field(default_factory=lambda: MappingProxyType({}))
    path: str = ""

    def energy_j(self, kind: str) -> float | None:
        """Energy of one ``kind`` operation in joules, or None if this model does not price it."""
        fig = self.energy.get(kind)
        return None if fig is None else fig.value * 1e-12

    def limit(self, kind: str) -> float | None:
        """A resource limit (count or bytes), or None if the model does not state it."""
        fig = self.limits.get(kind)
        return None if fig is None else fig.value

    def format_bits(self, kind: str, default: int) -> int:
        fig = self.formats.get(kind)
        return default if fig is None else int(fig.value)


_UNITS = {"energy": ("pJ",), "limits": ("count", "bytes"), "formats": ("bits",)}
_ALLOWED_KINDS = {"energy": ENERGY_KINDS, "limits": LIMIT_KINDS, "formats": FORMAT_KINDS}
_TOP_KEYS = {"name", "title", "description", "sources", "energy", "limits", "formats"}


def _fail(path: Path, where: str, msg: str) -> HardwareModelError:
    return HardwareModelError(f"hardware model {path}: field '{where}': {msg}")


def _figure(path: Path, section: str, kind: str, raw: Any, sources: Mapping[str, str]) -> Figure:
    where = f"{section}.{kind}"
    if not isinstance(raw, dict):
        raise _fail(path, where, "must be an object with value, unit, source")
    unknown = set(raw) - {"value", "unit", "source", "status", "derivation", "note"}
    if unknown:
        raise _fail(path, where, f"unknown key(s) {sorted(unknown)}")
    for key in ("value", "unit", "source"):
        if key not in raw:
            raise _fail(path, f"{where}.{key}", "missing")
    value = raw["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(path, f"{where}.value", f"must be a finite number, got {value!r}")
    if value <= 0:
        raise _fail(path, f"{where}.value", f"must be > 0, got {value!r}")
    if raw["unit"] not in _UNITS[section]:
        raise _fail(path, f"{where}.unit", f"must be one of {list(_UNITS[section])}")
    if raw["source"] not in sources:
        raise _fail(path, f"{where}.source", f"'{raw['source']}' is not a key of 'sources'")
    status = raw.get("status", "published")
    if status not in FIGURE_STATUSES:
        raise _fail(path, f"{where}.status", f"must be one of {list(FIGURE_STATUSES)}")
    derivation = raw.get("derivation", "")
    if status in ("derived", "calibrated") and not (isinstance(derivation, str) and derivation):
        raise _fail(path, f"{where}.derivation", f"required for a {status} figure")
    for key in ("derivation", "note"):
        if not isinstance(raw.get(key, ""), str):
            raise _fail(path, f"{where}.{key}", "must be a string")
    return Figure(
        value=float(value),
        unit=raw["unit"],
        source=raw["source"],
        status=status,
        derivation=derivation,
        note=raw.get("note", ""),
    )


def parse_hardware_model(data: Any, path: Path) -> HardwareModel:
    """Validate the decoded JSON ``data`` of ``path`` and build a :class:`HardwareModel`."""
    if not isinstance(data, dict):
        raise _fail(path, "<root>", "must be a JSON object")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _fail(path, sorted(unknown)[0], "unknown top-level key")
    for key in ("name", "title", "description"):
        if not isinstance(data.get(key), str) or not data.get(key):
            raise _fail(path, key, "missing or not a non-empty string")
    sources = data.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise _fail(path, "sources", "must be a non-empty object of citation key -> citation")
    for key, text in sources.items():
        if not isinstance(text, str) or not text:
            raise _fail(path, f"sources.{key}", "citation must be a non-empty string")
    sections: dict[str, Mapping[str, Figure]] = {}
    for section in ("energy", "limits", "formats"):
        raw = data.get(section, {})
        if section == "energy" and not raw:
            raise _fail(path, "energy", "must price at least one operation kind")
        if not isinstance(raw, dict):
            raise _fail(path, section, "must be an object")
        figs = {}
        for kind, fig in raw.items():
            if kind not in _ALLOWED_KINDS[section]:
                raise _fail(
                    path,
                    f"{section}.{kind}",
                    f"unknown kind; known: {list(_ALLOWED_KINDS[section])}",
                )
            figs[kind] = _figure(path, section, kind, fig, sources)
        sections[section] = MappingProxyType(figs)
    return HardwareModel(
        name=data["name"],
        title=data["title"],
        description=data["description"],
        sources=MappingProxyType(dict(sources)),
        energy=sections["energy"],
        limits=sections["limits"],
        formats=sections["formats"],
        path=str(path),
    )


def load_hardware_model_file(path: str | Path) -> HardwareModel:
    """Load and validate one hardware-model JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HardwareModelError(f"hardware model {path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HardwareModelError(
            f"hardware model {path}: invalid JSON at line {exc.lineno}: {exc.msg}"
        ) from None
    model = parse_hardware_model(data, path)
    if model.name != path.stem:
        raise _fail(path, "name", f"'{model.name}' must equal the file stem '{path.stem}'")
    return model


def available_hardware_models(directory: Path = TARGETS_DIR) -> tuple[str, ...]:
    """Names of the bundled targets (one JSON file each)."""
    return tuple(sorted(p.stem for p in directory.glob("*.json")))


def load_hardware_model(name_or_path: str | Path) -> HardwareModel:
    """Load a bundled target by name (``cmos45nm``, ``loihi``, ``loihi2``) or a file by path."""
    text = str(name_or_path)
    if text.endswith(".json") or "/" in text:
        return load_hardware_model_file(text)
    path = TARGETS_DIR / f"{text}.json"
    if not path.is_file():
        known = ", ".join(available_hardware_models())
        raise HardwareModelError(f"hardware model '{text}' not found; available: {known}")
    return load_hardware_model_file(path)
