"""Simulator vs Lava speed on lava-dl's ntidigits network (3,000 steps, axonal delays).

Runs the same input through Lava (netx, Loihi2SimCfg fixed_pt, CPU) and through spikeport
(netx importer + bit-accurate simulator), checks that all 242 x 3,000 output spikes are
identical, and prints the wall-clock ratio (issue 4 target: simulator >= 300x faster).
Times exclude imports; Lava's includes compiling its process graph, as a user would wait.
The simulator (import of the .net file included) is timed as the median of 5 runs (the
machine may be shared: the 1-minute load average is printed and recorded); Lava runs once.

Run: .venv/bin/python benchmarks/sim_vs_lava.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import record_vs_lava  # noqa: E402

from spikeport.converters.netx_import import load_netx  # noqa: E402
from spikeport.deploy.lava.compat import ensure_lava, surface_child_errors  # noqa: E402
from spikeport.deploy.lava.groundtruth import netx_test_dir  # noqa: E402
from spikeport.hw_models.sim.engine import Simulator  # noqa: E402

TARGET = 300.0


def run_lava(net_path: Path, x: np.ndarray) -> tuple[np.ndarray, float]:
    ensure_lava()
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    start = time.perf_counter()
    net = netx.hdf5.Network(net_config=str(net_path), num_layers=5)
    source = io.source.RingBuffer(data=x)
    sink = io.sink.RingBuffer(shape=net.out_layer.shape, buffer=x.shape[1])
    source.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    with surface_child_errors():
        net.run(
            condition=RunSteps(num_steps=x.shape[1]), run_cfg=Loihi2SimCfg(select_tag="fixed_pt")
        )
        out = sink.data.get()
        net.stop()
    return out.T.astype(np.int64), time.perf_counter() - start  # [T, 242]


def run_sim(net_path: Path, x: np.ndarray) -> tuple[np.ndarray, float, dict[str, int]]:
    start = time.perf_counter()
    graph = load_netx(net_path, num_layers=5)
    sim = Simulator(graph)
    res = sim.run(x.T.reshape(1, x.shape[1], *sim.shapes["input"]))
    seconds = time.perf_counter() - start
    return res.outputs[graph.outputs[0]][:, 0], seconds, res.totals()


def main() -> int:
    gts = netx_test_dir() / "gts" / "ntidigits"
    x = np.load(gts / "input.npy")  # (64, 3000) binary
    runs = [run_sim(gts / "ntidigits.net", x) for _ in range(5)]
    sim_out, _, totals = runs[0]
    sim_times = [r[1] for r in runs]
    sim_s = statistics.median(sim_times)
    same = all(np.array_equal(r[0], sim_out) for r in runs)
    load = os.getloadavg()[0]
    lava_out, lava_s = run_lava(gts / "ntidigits.net", x)
    identical = bool(np.array_equal(sim_out, lava_out)) and same
    print(f"steps {x.shape[1]}, output spikes {int(sim_out.sum())}, identical: {identical}")
    print(f"Lava      {lava_s:8.2f} s")
    print(
        f"spikeport {sim_s:8.3f} s   median of 5 (min {min(sim_times):.3f} s; synaptic "
        f"events {totals['synaptic_events']:,})"
    )
    print(f"load avg  {load:8.1f}   (1 min, before the Lava run; {os.cpu_count()} cores)")
    record_vs_lava(
        "sim_vs_lava_ntidigits",
        lava_seconds=lava_s,
        simulator_seconds=sim_s,
        target=TARGET,
        identical=identical,
        simulator_seconds_min=round(min(sim_times), 4),
        load_average=round(load, 1),
        steps=int(x.shape[1]),
    )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
