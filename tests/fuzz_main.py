"""Coverage-guided fuzzing of spikeport's file readers with atheris (libFuzzer for Python).

    python tests/fuzz_main.py --target all --seconds 5      # short run (part of `make test`)
    python tests/fuzz_main.py --each --seconds 60           # `make fuzz`: every target in turn

Targets are those of ``tests/fuzz_targets.py``; ``all`` fuzzes them together (the first
input byte picks the target). spikeport's modules are instrumented for coverage; the corpus
starts from each target's valid seed files. A finding (an exception other than a
``SpikeportError``, a multi-line error, an input taking over ``--timeout`` seconds, or memory
past ``--rss-mb``) makes the run exit non-zero and leaves ``crash-*`` / ``timeout-*`` files
in ``--artifacts`` (default: the corpus directory) to reproduce it with ``--replay FILE``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzz_targets as ft  # noqa: E402

MODULES = (
    "spikeport.budget",
    "spikeport.hdf5",
    "spikeport.value_range",
    "spikeport.ir",
    "spikeport.ir.storage",
    "spikeport.ir.manifest",
    "spikeport.ir.metadata",
    "spikeport.converters.netx_import",
    "spikeport.converters.nir_import",
    "spikeport.models.checkpoint",
    "spikeport.models.registry",
    "spikeport.data",
    "spikeport.data.arrays",
    "spikeport.data.cifar",
    "spikeport.data.safe_pickle",
    "spikeport.data.imagefolder",
    "spikeport.data.events",
    "spikeport.data.record",
)
"""Imported under atheris's instrumentation (coverage feedback) before fuzzing starts."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="all", choices=["all", *ft.TARGETS])
    p.add_argument("--each", action="store_true", help="every target in turn, --seconds each")
    p.add_argument("--seconds", type=int, default=5, help="fuzzing time (per target with --each)")
    p.add_argument("--runs", type=int, default=-1, help="stop after this many inputs")
    p.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed")
    p.add_argument("--timeout", type=int, default=20, help="seconds one input may take")
    p.add_argument("--rss-mb", type=int, default=3072, help="memory limit of the process")
    p.add_argument("--corpus", type=Path, default=None, help="corpus directory (kept)")
    p.add_argument("--artifacts", type=Path, default=None, help="where crash files go")
    p.add_argument("--replay", type=Path, default=None, help="run one saved input and exit")
    return p


def _select(name: str) -> tuple[list[ft.Target], bool]:
    """Targets to fuzz and whether the first byte selects among them."""
    if name == "all":
        return list(ft.TARGETS.values()), True
    return [ft.TARGETS[name]], False


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.each:
        for name in ft.TARGETS:
            cmd = [sys.executable, __file__, "--target", name, "--seconds", str(args.seconds)]
            cmd += ["--seed", str(args.seed), "--timeout", str(args.timeout)]
            print(f"== fuzzing {name} for {args.seconds} s", flush=True)
            if subprocess.run(cmd).returncode != 0:
                return 1
        return 0
    import atheris

    os.environ["SPIKEPORT_MEMORY_BUDGET"] = ft.FUZZ_BUDGET

    with atheris.instrument_imports(include=["spikeport"]):
        for module in MODULES:
            __import__(module)
    targets, prefixed = _select(args.target)
    ws = ft.Workspace()

    def one_input(data: bytes) -> None:
        if prefixed:
            if not data:
                return
            target, data = targets[data[0] % len(targets)], data[1:]
        else:
            target = targets[0]
        ft.check(target, ws, data)

    if args.replay is not None:
        one_input(args.replay.read_bytes())
        print(f"{args.replay}: no finding")
        return 0
    corpus = args.corpus or Path(tempfile.mkdtemp(prefix="spikeport-corpus-"))
    corpus.mkdir(parents=True, exist_ok=True)
    for i, target in enumerate(targets):
        for j, seed in enumerate(target.seeds(ws)):
            prefix = bytes([i]) if prefixed else b""
            (corpus / f"seed-{target.name}-{j}").write_bytes(prefix + seed)
    artifacts = args.artifacts or corpus
    libfuzzer = [
        sys.argv[0],
        str(corpus),
        f"-max_total_time={args.seconds}",
        f"-runs={args.runs}",
        f"-seed={args.seed}",
        f"-timeout={args.timeout}",
        f"-rss_limit_mb={args.rss_mb}",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
    ]
    atheris.Setup(libfuzzer, one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
