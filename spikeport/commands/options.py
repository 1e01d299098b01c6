"""Argument pieces shared by the subcommands: number validators for argparse ``type=`` and the
``--force`` flag. A bad value is an argparse error, which the CLI prints as one line
``spikeport: error: argument --lr: ...`` with exit status 2.
"""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    """An integer >= 1 (counts: --epochs, --batch-size, --samples, --steps, --threads, ...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (scales and rates: --lr, --input-scale, --input-max, --dt)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def add_force(parser: argparse.ArgumentParser, what: str = "output") -> None:
    """``--force``: replace an existing output (one spikeport wrote; see spikeport.outputs)."""
    parser.add_argument(
        "--force",
        action="store_true",
        help=f"replace an existing {what} (only one spikeport wrote; never an input)",
    )


def add_threads(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: torch CPU threads, default 2."""
    parser.add_argument(
        "--threads", type=positive_int, default=2, help="torch CPU threads (default 2)"
    )
