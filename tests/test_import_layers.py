"""The package layering, checked from the source: every ``import`` in spikeport (module level
and inside functions, ``TYPE_CHECKING`` blocks included) goes from a package to one of a
lower layer, never up or sideways, so the sub-packages import each other without cycles.

The order (lowest first; docs/architecture.md explains it):

    errors and the other top-level modules < ir < hw_models.sim, data
    < models < converters < hw_models.cost < deploy < report < distributed < cli

Packages on one line of LAYERS are siblings: neither may import the other.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import spikeport

ROOT = Path(spikeport.__file__).resolve().parent

LAYERS: tuple[tuple[str, ...], ...] = (
    ("spikeport", "errors", "hw_models"),
    ("ir",),
    ("hw_models.sim", "data"),
    ("models",),
    ("converters",),
    ("hw_models.cost",),
    ("deploy",),
    ("report",),
    ("distributed",),
    ("cli", "__main__", "commands"),
)
"""Units of the layering, lowest first. A unit is a sub-package or top-level module of
spikeport, named relative to it ("hw_models.sim" is one unit, "hw_models" the empty parent
package); ``cli``, ``__main__`` and ``commands`` are one unit (the command line). Any other
top-level module (``registry.py``, ``budget.py``, ...) is a base utility: layer 0, where
modules may import each other (without cycles) but no sub-package."""
SAME_UNIT = {"__main__": "cli", "commands": "cli"}

SIM_ALLOWED_THIRD_PARTY = {"numpy", "numba"}
"""What the simulator may import besides the standard library, ir and the base modules."""


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(path: Path, known: set[str], root: Path = ROOT) -> list[tuple[str, int]]:
    """(imported module, line) of every import statement in the file at `path`: absolute
    and relative, ``from package import submodule`` resolved to the submodule."""
    mod = module_name(path, root)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub if sub in known else target, node.lineno))
    return found


def unit_of(module: str) -> str | None:
    """The layering unit of a spikeport module (None outside spikeport)."""
    parts = module.split(".")
    if parts[0] != "spikeport":
        return None
    if len(parts) == 1:
        return "spikeport"
    unit = ".".join(parts[1:3]) if parts[1] == "hw_models" and len(parts) > 2 else parts[1]
    return SAME_UNIT.get(unit, unit)


def layer_of(unit: str, root: Path = ROOT) -> int | None:
    for i, units in enumerate(LAYERS):
        if unit in units or any(SAME_UNIT.get(u) == unit for u in units):
            return i
    return 0 if (root / f"{unit}.py").is_file() else None


def source_files(root: Path = ROOT) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def unit_edges(root: Path = ROOT) -> dict[tuple[str, str], list[str]]:
    """{(importing unit, imported unit): ["module:line", ...]} between different units."""
    files = source_files(root)
    known = {module_name(p, root) for p in files}
    edges: dict[tuple[str, str], list[str]] = {}
    for path in files:
        mod = module_name(path, root)
        src = unit_of(mod)
        for target, line in imports_of(path, known, root):
            dst = unit_of(target)
            if dst is not None and src is not None and dst != src:
                edges.setdefault((src, dst), []).append(f"{mod}:{line}")
    return edges


def layering_violations(edges: dict[tuple[str, str], list[str]], root: Path = ROOT) -> list[str]:
    """Edges that go to a unit of the same or a higher layer (base utilities excepted), and
    units with no layer."""
    problems = []
    for (src, dst), where in sorted(edges.items()):
        a, b = layer_of(src, root), layer_of(dst, root)
        if a is None or b is None:
            missing = src if a is None else dst
            problems.append(f"{missing}: not in LAYERS (imported at {where[0]}); give it a layer")
        elif b > a or (b == a and a > 0):
            kind = "a sibling" if a == b else "a higher layer"
            problems.append(f"{src} -> {dst} ({kind}): {', '.join(where)}")
    return problems


def cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """The import cycles between units (each as a list of units, first repeated last)."""
    graph: dict[str, set[str]] = {}
    for src, dst in edges:
        graph.setdefault(src, set()).add(dst)
    found, state, stack = [], {}, []

    def visit(u: str) -> None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                found.append([*stack[stack.index(v) :], v])
            elif v not in state:
                visit(v)
        stack.pop()
        state[u] = 2

    for u in sorted(graph):
        if u not in state:
            visit(u)
    return found


def test_every_module_belongs_to_a_layer():
    units = {unit_of(module_name(p)) for p in source_files()}
    assert [u for u in sorted(units) if layer_of(u) is None] == []


def test_no_import_cycle_between_packages():
    assert cycles(unit_edges()) == []


def test_no_import_from_a_lower_layer_to_a_higher_one():
    assert layering_violations(unit_edges()) == []


def test_simulator_imports_only_ir_base_modules_numpy_and_numba():
    sim = ROOT / "hw_models" / "sim"
    files = source_files(ROOT)
    known = {module_name(p) for p in files}
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    bad = []
    for path in source_files(sim):
        for target, line in imports_of(path, known):
            top = target.split(".")[0]
            ours = unit_of(target)
            if ours is None and top not in stdlib and top not in SIM_ALLOWED_THIRD_PARTY:
                bad.append(f"{module_name(path)}:{line} imports {target}")
            if ours is not None and ours not in ("hw_models.sim", "ir") and layer_of(ours) != 0:
                bad.append(f"{module_name(path)}:{line} imports {target}")
    assert bad == []


def test_executor_base_and_executors_do_not_import_the_engine():
    files = source_files(ROOT)
    known = {module_name(p) for p in files}
    sim = ROOT / "hw_models" / "sim"
    base = [t for t, _ in imports_of(sim / "base.py", known) if t.startswith("spikeport.")]
    assert not [t for t in base if t.startswith("spikeport.hw_models")]
    for path in source_files(sim / "executors"):
        targets = [t for t, _ in imports_of(path, known)]
        assert "spikeport.hw_models.sim.engine" not in targets, module_name(path)


@pytest.mark.parametrize(
    "source, expect",
    [
        ("from spikeport.converters.passes.retime import Retime\n", "higher"),  # sim -> up
        ("def f():\n    from spikeport.hw_models.cost import energy\n", "higher"),
        ("from spikeport import data\n", "sibling"),  # sim <-> data
        ("from ..cost import hardware\n", "higher"),  # relative
    ],
)
def test_an_injected_upward_import_is_caught(tmp_path, source, expect):
    """The check can fail: a copy of the package with one bad import in the simulator is
    reported (and the clean copy is not)."""
    import shutil

    copy = tmp_path / "spikeport"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__", "*.nb[ci]"))
    before = set(layering_violations(unit_edges(copy), copy))
    (copy / "hw_models" / "sim" / "injected.py").write_text(source)
    new = set(layering_violations(unit_edges(copy), copy)) - before
    assert len(new) == 1
    (problem,) = new
    assert "hw_models.sim.injected" in problem and expect in problem


def test_an_injected_cycle_is_found():
    edges = {("ir", "converters"): ["x:1"], ("converters", "ir"): ["y:1"]}
    assert cycles(edges) == [["converters", "ir", "converters"]]
    assert len(layering_violations(edges)) == 1
    base = {("budget", "errors"): ["x:1"], ("errors", "budget"): ["y:1"]}
    assert cycles(base) and layering_violations(base) == []  # siblings at the base
