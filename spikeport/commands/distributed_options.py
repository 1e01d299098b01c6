"""The ``--workers`` / ``--scheduler`` / ``--shard-size`` options shared by the evaluating
commands (no dask import: parsing them must stay cheap)."""

from __future__ import annotations

import argparse

from spikeport.commands.options import positive_int
from spikeport.errors import SpikeportError


def add_distributed_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the distributed-evaluation option group to a subcommand's parser."""
    g = parser.add_argument_group(
        "distributed evaluation (Dask; results identical to a single-process run)"
    )
    how = g.add_mutually_exclusive_group()
    how.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="N",
        help="start a local Dask cluster of N worker processes (1 thread each) for this run",
    )
    how.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="use an existing Dask cluster (e.g. tcp://host:8786); its workers must be able "
        "to import spikeport and read the artifact path",
    )
    g.add_argument(
        "--shard-size",
        type=positive_int,
        default=None,
        metavar="N",
        help="samples per shard (default: about 4 shards per worker)",
    )


def distributed_requested(args: argparse.Namespace) -> bool:
    """True when the user asked for distributed evaluation; checks the option values."""
    workers = getattr(args, "workers", None)
    scheduler = getattr(args, "scheduler", None)
    shard_size = getattr(args, "shard_size", None)
    if scheduler is not None and not scheduler.strip():
        raise SpikeportError("--scheduler: empty address")
    wanted = workers is not None or scheduler is not None
    if shard_size is not None and not wanted:
        raise SpikeportError("--shard-size needs --workers or --scheduler")
    return wanted
