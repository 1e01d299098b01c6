"""Helpers of the output-reliability tests: lava-dl's tiny netx network and a directory's
files as bytes (to prove an output or an input unchanged, byte for byte)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


def tiny_net() -> Path:
    """lava-dl's tests/lava/lib/dl/netx/tiny.net (skips the test where it is not installed)."""
    for entry in sys.path:
        p = Path(entry) / "tests" / "lava" / "lib" / "dl" / "netx" / "tiny.net"
        if p.is_file():
            return p
    pytest.skip("lava-dl's netx networks are not installed")


def tree(d: Path) -> dict[str, bytes]:
    """{path relative to ``d``: bytes} of every file below ``d``."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}
