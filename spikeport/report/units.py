"""Engineering notation for the numbers in reports (energies in J, op counts)."""

from __future__ import annotations

PREFIXES = (
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
    (1.0, ""),
    (1e-3, "m"),
    (1e-6, "u"),
    (1e-9, "n"),
    (1e-12, "p"),
)
"""(scale, SI prefix), largest first."""


def engineering(x: float, unit: str, *, micro: str = "u", tiny: str = ".3e") -> str:
    """``x`` scaled to an SI prefix with 3 decimals: 1.23e-6 J -> '1.230 uJ', a count ->
    '12.300 M'; 0 -> '0 J'; below 1 p (or NaN) unscaled, formatted as ``tiny``. ``micro`` is
    the prefix written for 1e-6 ('u' in plain text, 'µ' in Markdown and HTML)."""
    if x == 0:
        return f"0 {unit}".rstrip()
    for scale, prefix in PREFIXES:
        if abs(x) >= scale:
            prefix = micro if prefix == "u" else prefix
            return f"{x / scale:.3f} {prefix}{unit}".rstrip()
    return f"{x:{tiny}} {unit}".rstrip()
