"""Docs name only code that exists: every ``spikeport.x.y`` dotted name and every
``spikeport/...`` path in README.md and docs/*.md resolves in the source tree.

Resolved from the source (no imports): the longest prefix of a dotted name that is a module
(``x/y.py`` or ``x/y/__init__.py``), then the rest as a name defined at that module's top level
(def, class, assignment, import) and, for a class, a name in its body. The ONNX exporter's own
``spikeport.*`` keys (inputs and metadata props, string constants in spikeport/deploy/onnx)
are names of the exported file, not of the package, and are accepted as such.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "spikeport"
DOCS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])
DOTTED = re.compile(r"(?<![\w.])spikeport(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(r"(?<![\w/.])spikeport/[\w/.-]*")


def _module_file(parts: list[str]) -> Path | None:
    """The module's source, ``__init__.py`` for a package, the folder for a namespace package
    (hw_models/sim, hw_models/cost), or None."""
    base = PACKAGE.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return base if base.is_dir() and any(base.glob("*.py")) else None


def _defined(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    """Names bound at the top level of ``body`` (the statement binding each)."""
    names: dict[str, ast.stmt] = {}
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        names[node.id] = stmt
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            for alias in stmt.names:
                names[(alias.asname or alias.name).split(".")[0]] = stmt
        elif isinstance(stmt, ast.If | ast.Try):  # TYPE_CHECKING blocks, optional imports
            names.update(_defined(stmt.body))
    return names


def _problem(name: str) -> str | None:
    """Why ``name`` does not resolve, or None."""
    parts = name.split(".")[1:]
    for cut in range(len(parts), -1, -1):
        module = _module_file(parts[:cut])
        if module is not None:
            break
    rest = parts[cut:]
    if not rest:
        return None
    if module.is_dir():
        return f"{rest[0]!r} is not a module of {module.relative_to(REPO)}"
    scope = _defined(ast.parse(module.read_text()).body)
    if rest[0] not in scope:
        return f"{rest[0]!r} is neither a module nor a name of {module.relative_to(REPO)}"
    stmt = scope[rest[0]]
    if len(rest) > 1 and isinstance(stmt, ast.ClassDef) and rest[1] not in _defined(stmt.body):
        return f"class {rest[0]} of {module.relative_to(REPO)} has no {rest[1]!r}"
    return None


def _onnx_keys() -> set[str]:
    keys = set()
    for path in (PACKAGE / "deploy" / "onnx").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if DOTTED.fullmatch(node.value):
                    keys.add(node.value)
    return keys


def _mentions(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    return sorted(
        {
            (doc.relative_to(REPO).as_posix(), m)
            for doc in DOCS
            for m in pattern.findall(doc.read_text())
        }
    )


def test_docs_name_only_modules_and_names_that_exist() -> None:
    onnx = _onnx_keys()
    mentions = [(doc, n) for doc, n in _mentions(DOTTED) if n not in onnx]
    assert len(mentions) >= 30  # the docs do name the package's modules
    bad = [f"{doc}: {n}: {why}" for doc, n in mentions if (why := _problem(n))]
    assert not bad, "\n".join(bad)


def test_docs_name_only_source_paths_that_exist() -> None:
    paths = [(doc, p.rstrip(".")) for doc, p in _mentions(PATH)]
    assert len(paths) >= 20
    bad = [f"{doc}: {p}" for doc, p in paths if not (REPO / p).exists()]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "name, resolves",
    [
        ("spikeport.ir.save", True),  # re-exported by ir/__init__.py
        ("spikeport.hw_models.cost.mapping.attention_state_bits", True),
        ("spikeport.ir.timing.Timing", True),
        ("spikeport.hw_models.sim", True),  # a namespace package
        ("spikeport.hw_models.reference_eval", False),  # the pre-#15 module
        ("spikeport.hw_models.sim.no_such_module", False),
        ("spikeport.ir.no_such_name", False),
        ("spikeport.errors.SpikeportError.no_such_attribute", False),
    ],
)
def test_the_resolver_tells_existing_from_missing_names(name: str, resolves: bool) -> None:
    assert (_problem(name) is None) == resolves
