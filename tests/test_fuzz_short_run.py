"""A short coverage-guided fuzz run (atheris) over every untrusted-input reader finds nothing.

Bounded to a few seconds of fuzzing with a fixed seed; ``make fuzz`` runs each target for
longer. A finding prints the input's traceback and leaves a ``crash-*`` file to replay with
``python tests/fuzz_main.py --target all --replay FILE``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_a_short_coverage_guided_fuzz_run_finds_nothing(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    cmd = [sys.executable, str(TESTS / "fuzz_main.py"), "--target", "all"]
    cmd += ["--seconds", "4", "--seed", "1", "--corpus", str(corpus)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    log = run.stdout[-4000:] + run.stderr[-4000:]
    assert run.returncode == 0, log
    assert "Done " in run.stderr and "stat::number_of_executed_units" in run.stderr, log
    executed = int(run.stderr.split("stat::number_of_executed_units:")[1].split()[0])
    assert executed > 20, log  # it fuzzed, not only read the seeds
    assert not list(corpus.glob("crash-*")) and not list(corpus.glob("timeout-*"))
