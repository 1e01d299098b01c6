"""The `spikeport` command line.

Subcommands: train | convert | simulate | lava | energy | report | export | demo.

Each subcommand lives in `spikeport/commands/<name>.py` and provides `HELP` (its line in
`spikeport --help`), `DESCRIPTION` (the top of `spikeport <name> --help`), `add_arguments(parser)`
and `run(args) -> int`; `build_parser` makes the subcommand parsers from them.

User mistakes raise `SpikeportError`; they are printed as one line (`spikeport: error: ...`)
with exit code 2, never as a traceback; so are argument errors (no usage block:
`spikeport COMMAND --help` shows it).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import NoReturn

from spikeport import __version__
from spikeport.errors import SpikeportError

# Order shown in --help; a module listed here but not present yet is skipped.
SUBCOMMANDS = ("train", "convert", "simulate", "lava", "energy", "report", "export", "demo")


class UsageError(SpikeportError):
    """A command line argparse refused (unknown option, bad value, missing argument)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is a one-line `UsageError` naming the --help to read."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _command_modules() -> list:
    import spikeport.commands as pkg

    present = {m.name for m in pkgutil.iter_modules(pkg.__path__)}
    return [importlib.import_module(f"spikeport.commands.{n}") for n in SUBCOMMANDS if n in present]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="spikeport",
        description="Deploy spiking Transformers to Loihi-style hardware: train, convert, "
        "simulate bit-accurately, run in Lava, estimate energy, export.",
    )
    parser.add_argument("--version", action="version", version=f"spikeport {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in _command_modules():
        command = sub.add_parser(
            mod.__name__.rpartition(".")[2], help=mod.HELP, description=mod.DESCRIPTION
        )
        mod.add_arguments(command)
        command.set_defaults(func=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            raise UsageError(
                f"unrecognized arguments: {' '.join(extra)} (see `spikeport {args.command} --help`)"
            )
        return int(args.func(args) or 0)
    except SpikeportError as exc:
        print(f"spikeport: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spikeport: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
