"""The simulator's CUBA LIF time loop alone: time per neuron-step, this tree vs a git revision.

Runs ``CubaLifNeuron.run_sequence`` (``kernels/lif.py`` + ``kernels/loops.py``) on random
integer activations of the shapes the simulator hands it for Spikformer (``[T, batch,
neurons]``: Spikformer-4-384's token LIFs at batch 16, N = 64 tokens x 384 and x 1536; the
8-512 ImageNet stem LIF at batch 4, 64 x 112 x 112 with a per-channel bias), with the
converted models' parameters (du = 4095: the current does not persist; dv = 2048), plus a
generic du/dv case and a long small run like lava-dl's ntidigits (3,000 steps x 256). With
``--baseline REV`` the same cases also run through the kernel of git revision REV (its
``lif.py`` and ``loops.py``, loaded from ``git show``), and every case's spikes and final u, v
are checked equal between the two. Median of 5 warm runs; the machine is shared, so the load
average is printed beside the table.

Run: .venv/bin/python benchmarks/lif_kernel.py [--baseline adf61e2] [--threads 2]
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LOOPS = "spikeport.hw_models.sim.kernels.loops"

# name: (T, batch, channels, per-channel size, du, dv, activation spread, a dtype)
CASES = {
    "4-384 q/k/v LIF [4, 16, 64x384]": (4, 16, 384, 64, 4095, 2048, 600, np.int32),
    "4-384 fc1 LIF [4, 16, 64x1536]": (4, 16, 1536, 64, 4095, 2048, 600, np.int32),
    "8-512 stem LIF [4, 4, 64x112x112]": (4, 4, 64, 112 * 112, 4095, 2048, 600, np.int32),
    "attention LIF, int64 a [4, 16, 64x384]": (4, 16, 384, 64, 4095, 2048, 300, np.int64),
    "generic du 300, dv 700 [4, 16, 64x384]": (4, 16, 384, 64, 300, 700, 600, np.int32),
    "ntidigits-like [3000, 1, 256]": (3000, 1, 256, 1, 4095, 3000, 600, np.int32),
}


def baseline_kernel(rev: str) -> type:
    """``CubaLifNeuron`` as of git revision `rev` (its lif.py importing its own loops.py)."""
    where = Path(f"/tmp/spikeport_lif_{rev}")
    where.mkdir(exist_ok=True)
    for name in ("loops", "lif"):
        src = subprocess.run(
            ["git", "show", f"{rev}:spikeport/hw_models/sim/kernels/{name}.py"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        target = where / f"old_{name}.py"
        text = src.replace(LOOPS, "old_loops")
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
    sys.path.insert(0, str(where))
    return importlib.import_module("old_lif").CubaLifNeuron


def case_inputs(case: tuple, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    steps, batch, channels, per, du, dv, spread, dtype = case
    a = rng.normal(spread / 4, spread, (steps, batch, channels * per)).astype(dtype)
    bias = rng.integers(-200, 200, (channels, 1)) * np.ones((1, per), np.int64)
    kw = dict(du=du, dv=dv, vth=spread // 2, bias_mant=bias.reshape(-1), bias_exp=3)
    return a, kw | dict(reset_interval=steps, reset_offset=1)


def timed(kernel_class: type, a: np.ndarray, kw: dict, repeats: int) -> tuple[float, tuple]:
    """Median seconds of `repeats` warm runs and the last run's (spikes, u, v)."""
    lif = kernel_class((a.shape[2],), **kw)
    times = []
    for _ in range(repeats + 1):
        lif.reset(a.shape[1])
        t0 = time.perf_counter()
        spikes, _ = lif.run_sequence(a)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:]), (spikes, lif.u, lif.v)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="git revision to compare with (e.g. adf61e2)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="substrings of case names to run")
    args = parser.parse_args()

    import numba

    numba.set_num_threads(args.threads)
    new_class = importlib.import_module("spikeport.hw_models.sim.kernels.lif").CubaLifNeuron
    old_class = baseline_kernel(args.baseline) if args.baseline else None
    rng = np.random.default_rng(0)
    print(f"{args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    print(f"{'case':42s} {'new ns/step':>12s} {'old ns/step':>12s} {'speed-up':>9s} same")
    same_all = True
    for name, case in CASES.items():
        if args.only and not any(s in name for s in args.only):
            continue
        a, kw = case_inputs(case, rng)
        per_step = 1e9 / a.size
        new_s, new_out = timed(new_class, a, kw, args.repeats)
        line = f"{name:42s} {new_s * per_step:12.3f}"
        if old_class is not None:
            old_s, old_out = timed(old_class, a, kw, args.repeats)
            same = all(np.array_equal(x, y) for x, y in zip(new_out, old_out, strict=True))
            same_all &= same
            line += f" {old_s * per_step:12.3f} {old_s / new_s:8.2f}x {'yes' if same else 'NO'}"
        print(line + f"  (spike rate {new_out[0].mean():.2f})")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0 if same_all else 1


if __name__ == "__main__":
    sys.exit(main())
