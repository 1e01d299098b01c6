"""Argument pieces shared by the subcommands: number validators for argparse ``type=`` and the
``--force`` flag. A bad value is an argparse error, which the CLI prints as one line
``spikeport: error: argument --lr: ...`` with exit status 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from spikeport import budget


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


def timesteps(text: str) -> int:
    """A model's T: 1..``budget.MAX_T`` (--T of convert and train)."""
    return _bounded(text, budget.require_T)


def step_count(text: str) -> int:
    """Simulated steps of one run: 1..``budget.MAX_STEPS`` (--steps of energy, lava, export)."""
    return _bounded(text, budget.require_steps)


def _bounded(text: str, check: Callable[[str, object], int]) -> int:
    try:
        return check("value", positive_int(text))
    except budget.BudgetError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("value = ")) from None


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


DATA_HELP = (
    "data set SPEC: digits | cifar10:DIR | cifar100:DIR | imagefolder:DIR | npz:FILE | "
    "dvs-frames:DIR | dvs-events:DIR, then ,KEY=VALUE preprocessing options "
    "(README: Bring your own data)"
)


def data_spec(text: str):  # noqa: ANN201  (spikeport.data.DataSpec; imported lazily)
    """An argparse ``type=`` for ``--data SPEC`` (grammar: ``spikeport.data.spec``)."""
    from spikeport.data import parse_spec
    from spikeport.errors import DataError

    try:
        return parse_spec(text)
    except DataError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--data ")) from None


def add_data_argument(
    parser: argparse.ArgumentParser,
    default_help: str,
    *,
    flag: str = "--data",
    default: str | None = None,
    random: bool = False,
) -> None:
    """``--data SPEC`` (or ``flag``), parsed to a ``DataSpec``; ``random``: the literal
    ``random`` (Bernoulli spikes) is accepted too and stays a string."""
    kind = data_spec
    if random:

        def kind(text: str):  # noqa: ANN202
            return text if text == "random" else data_spec(text)

    extra = " | random (Bernoulli spikes)" if random else ""
    parser.add_argument(
        flag,
        type=kind,
        default=default,
        metavar="SPEC",
        help=f"{DATA_HELP}{extra}; default: {default_help}",
    )
