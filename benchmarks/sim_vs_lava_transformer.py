"""Simulator vs Lava speed on a converted digits spiking Transformer (SSA attention).

Uses ``out/models/ssa/model.pt`` (trained with ``spikeport train --dataset digits
--attention ssa`` when missing), converts it with ``spikeport convert --no-eval`` into
``out/bench/ssa`` (kept; redone when model.pt is newer), then runs N=2 digits test images
through Lava (emitted process graph, ``Loihi2SimCfg(select_tag='fixed_pt')``, CPU) and
through the bit-accurate simulator with ``spikeport.deploy.lava.runner.compare``. Every
node's output spikes at every step and the readout's v are compared; the speed ratio is
Lava seconds / simulator seconds as measured by ``compare`` (both include building their
run; Lava's includes compiling its process graph). The simulator runs once before
``compare`` (that first run in the process loads numba's compiled loops from their disk
cache, a per-process cost like an import; its time is recorded as
``simulator_first_run_seconds``).
Target: >= 1,000x (issue #14; 200x before), outputs identical.

Run: .venv/bin/python benchmarks/sim_vs_lava_transformer.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import record_vs_lava  # noqa: E402

TARGET = 1000.0
SAMPLES = 2
ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "out" / "models" / "ssa" / "model.pt"
ARTIFACT = ROOT / "out" / "bench" / "ssa"  # cached conversion (redone when model.pt is newer)


def _older(a: Path, b: Path) -> bool:
    return a.stat().st_mtime < b.stat().st_mtime


def spikeport(*args: str) -> None:
    cmd = [sys.executable, "-m", "spikeport", *args]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    if not MODEL.is_file():
        print(f"training {MODEL.parent} (missing)")
        spikeport("train", "--dataset", "digits", "--attention", "ssa", "--out", str(MODEL.parent))
    from spikeport.deploy.lava.compat import ensure_lava
    from spikeport.deploy.lava.runner import compare, default_probes
    from spikeport.report.energy_inputs import input_data, load_graph

    ensure_lava(netx=False)
    convert_s = None
    if not (ARTIFACT / "graph.json").is_file() or _older(ARTIFACT / "graph.json", MODEL):
        t0 = time.perf_counter()
        spikeport("convert", str(MODEL), "-o", str(ARTIFACT), "--no-eval", "--no-progress")
        convert_s = time.perf_counter() - t0
    graph = load_graph(ARTIFACT)
    data = input_data(graph, "digits", SAMPLES, None)
    probes = default_probes(graph)
    readout = graph.meta.get("readout")
    if readout in graph and (readout, "v") not in probes:
        probes.append((readout, "v"))
    from spikeport.hw_models.sim.engine import Simulator

    load = os.getloadavg()[0]
    # one run first: loads numba's compiled loops from their disk cache (once per process,
    # like an import); timed and recorded, but not part of the ratio
    first_s = Simulator(graph, probes).run(data.feed, data.steps).seconds
    result = compare(graph, data.feed, data.steps, probes=probes)
    identical = result.identical
    how = "cached" if convert_s is None else f"converted in {convert_s:.1f} s"
    print(f"model {MODEL.relative_to(ROOT)} ({how}: {ARTIFACT.relative_to(ROOT)})")
    print(f"data: {data.description}")
    print(
        f"{result.samples} samples x {result.steps} steps, {len(result.rows)} probes "
        f"(every node's output and the readout's v), identical: {identical}"
    )
    print(f"Lava      {result.lava_seconds:8.2f} s")
    print(f"spikeport {result.sim_seconds:8.3f} s   (first run in the process: {first_s:.3f} s)")
    print(f"load avg  {load:8.1f}   (1 min, before the runs; {os.cpu_count()} cores)")
    record_vs_lava(
        "sim_vs_lava_transformer_digits_ssa",
        lava_seconds=result.lava_seconds,
        simulator_seconds=result.sim_seconds,
        target=TARGET,
        identical=identical,
        samples=result.samples,
        steps=result.steps,
        probes=len(result.rows),
        simulator_first_run_seconds=round(first_s, 4),
        simulator_measure="second run in the process (the first loads numba's cached code)",
        load_average=round(load, 1),
    )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
