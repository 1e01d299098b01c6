"""Where event-driven synapses beat the dense product: the input rate crossover.

For Spikformer-4-384's synapse shapes (Dense 384 -> 384 and 384 -> 1536 over 64 tokens x 16
samples x 4 steps; Conv 3x3 of the patch-embedding stages at batch 16 x 4 steps) and binary
inputs at rates 2-60 % (Dense also with graded inputs: a residual stream's spike counts
1..4, as Spikformer's q/k/v and fc1 receive), times the two paths of the simulator's
kernels side by side: the event-driven gather/scatter-add (``kernels/events.py``) and the
float32 BLAS product (``DenseSynapse._float32_product``; im2col for Conv), forced through
the module's rate thresholds. Both give the same integers (checked here on every case).
Prints the ratio dense / events per rate and the largest rate at which the events path is
still faster; ``events.DENSE_EVENT_RATE``, ``DENSE_GRADED_EVENT_RATE`` and
``CONV_EVENT_RATE`` are set from these runs (docs/benchmarks.md). Median of 3 warm runs, 2
threads; the machine is shared, so the load average is printed beside the table.

Run: .venv/bin/python benchmarks/event_threshold.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import spikeport  # noqa: F401  first, as the CLI does: OpenBLAS's settings precede numpy

# isort: split
import numpy as np

RATES = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6)


def _median(fn) -> float:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _run(kernel, x: np.ndarray, out: np.ndarray):  # type: ignore[no-untyped-def]
    """One evaluation of `kernel` on `x` into the zero-filled `out`."""

    def run() -> None:
        out.fill(0)
        kernel.compute_into(x, out)

    return run


def main() -> int:
    import numba
    from threadpoolctl import threadpool_limits

    from spikeport.hw_models.sim.kernels import ConvSynapse, DenseSynapse, events

    numba.set_num_threads(2)
    rng = np.random.default_rng(0)
    cases = {
        "Dense 384->384 graded": (
            DenseSynapse(rng.integers(-255, 256, (384, 384)), num_message_bits=8),
            (4 * 16 * 64, 384),
            (4 * 16 * 64, 384),
        ),
        "Dense 384->1536 graded": (
            DenseSynapse(rng.integers(-255, 256, (1536, 384)), num_message_bits=8),
            (4 * 16 * 64, 384),
            (4 * 16 * 64, 1536),
        ),
        "Dense 384->384": (
            DenseSynapse(rng.integers(-255, 256, (384, 384))),
            (4 * 16 * 64, 384),
            (4 * 16 * 64, 384),
        ),
        "Dense 384->1536": (
            DenseSynapse(rng.integers(-255, 256, (1536, 384))),
            (4 * 16 * 64, 384),
            (4 * 16 * 64, 1536),
        ),
        "Conv 96->192 32x32": (
            ConvSynapse(rng.integers(-255, 256, (192, 96, 3, 3)), padding=(1, 1)),
            (64, 96, 32, 32),
            (64, 192, 32, 32),
        ),
        "Conv 384->384 8x8": (
            ConvSynapse(rng.integers(-255, 256, (384, 384, 3, 3)), padding=(1, 1)),
            (64, 384, 8, 8),
            (64, 384, 8, 8),
        ),
    }
    print(f"load average {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores")
    print(f"{'case':22s} " + " ".join(f"{r:>6.0%}" for r in RATES) + "   (dense s / events s)")
    names = ("DENSE_EVENT_RATE", "DENSE_GRADED_EVENT_RATE", "CONV_EVENT_RATE")
    saved = {n: getattr(events, n) for n in names}
    try:
        for name, (kernel, in_shape, out_shape) in cases.items():
            ratios = []
            for rate in RATES:
                x = (rng.random(in_shape) < rate).astype(np.int8)
                if kernel.graded:  # a residual stream's spike counts: 1..4 where non-zero
                    x *= rng.integers(1, 5, in_shape, dtype=np.int8)
                outs, secs = [], []
                for threshold in (1.0, -1.0):  # events always, then never
                    for n in names:
                        setattr(events, n, threshold)
                    out = np.zeros(out_shape, dtype=np.int32)
                    run = _run(kernel, x, out)
                    with threadpool_limits(limits=2):
                        secs.append(_median(run))
                    outs.append(out)
                assert np.array_equal(outs[0], outs[1]), f"{name}: the two paths differ"
                ratios.append(secs[1] / secs[0])
            faster = [r for r, q in zip(RATES, ratios, strict=True) if q > 1]
            print(
                f"{name:22s} "
                + " ".join(f"{q:6.2f}" for q in ratios)
                + f"   events faster up to {max(faster, default=0):.0%}"
            )
    finally:
        for n, v in saved.items():
            setattr(events, n, v)
    return 0


if __name__ == "__main__":
    sys.exit(main())
