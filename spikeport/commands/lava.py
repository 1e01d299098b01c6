"""``spikeport lava ARTIFACT``: run the graph in Lava and compare it with the simulator.

ARTIFACT is a ``spikeport convert`` directory or a lava-dl netx ``.net`` file. The emitted
Lava graph (``deploy/lava/emitter.py``) runs under ``Loihi2SimCfg(select_tag='fixed_pt')``
one sample at a time; the simulator runs the same graph and data. Prints a per-layer
agreement table (every non-layout node's output at every step; with ``--states`` also every
neuron's state variables; for a classifier the readout's v) and both wall times; ``--json``
prints one JSON object with ``identical``, ``samples``, ``lava_seconds``, ``sim_seconds``,
the per-probe rows and, for a classifier, both predictions.
"""

from __future__ import annotations

import argparse

from spikeport.commands.options import add_data_argument, positive_int, step_count

HELP = "run an artifact in Lava and compare it with the bit-accurate simulator"
DESCRIPTION = (
    "Emit the artifact's graph as Lava processes, run it with Lava's fixed-point "
    "models and the simulator on the same inputs, and report per-layer agreement."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", help="artifact directory (spikeport convert) or netx .net file")
    p.add_argument("--samples", type=positive_int, default=2, help="samples to run (default 2)")
    add_data_argument(
        p, "the artifact's data.json, else digits (random for a .net file)", random=True
    )
    p.add_argument("--steps", type=step_count, default=None, help="timesteps (default T + latency)")
    p.add_argument("--seed", type=int, default=0, help="seed of random input data")
    p.add_argument(
        "--states", action="store_true", help="also compare every neuron's state (slower)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    import json

    from spikeport.deploy.lava.compat import ensure_lava

    ensure_lava(netx=False)  # LavaNotAvailableError (one line) before any work
    from spikeport.deploy.lava.runner import compare, default_probes
    from spikeport.ir.timing import Timing
    from spikeport.report.energy_inputs import input_data, load_graph

    graph = load_graph(args.artifact)
    data = input_data(
        graph, args.data, args.samples, args.steps, seed=args.seed, artifact=args.artifact
    )
    probes = default_probes(graph, states=args.states)
    readout = graph.meta.get("readout")
    if readout in graph and (readout, "v") not in probes:
        probes.append((readout, "v"))
    result = compare(graph, data.feed, data.steps, probes=probes)
    timing = Timing.from_meta(graph.meta)
    if readout in graph:
        step = timing.readout_step if timing is not None else data.steps - 1
        for who, probed in (("lava", result.lava_probes), ("simulator", result.sim_probes)):
            v = probed[(readout, "v")][step]
            result.predictions[who] = [int(i) for i in v.reshape(len(v), -1).argmax(axis=1)]
    if args.json:
        doc = result.to_json()
        doc["artifact"] = str(args.artifact)
        doc["data"] = data.description
        if result.predictions:
            doc["predictions_identical"] = (
                result.predictions["lava"] == result.predictions["simulator"]
            )
        print(json.dumps(doc))
    else:
        print(_table(result))
        print(f"data: {data.description}")
        if result.predictions:
            same = result.predictions["lava"] == result.predictions["simulator"]
            print(
                f"predictions: lava {result.predictions['lava']}, simulator "
                f"{result.predictions['simulator']} ({'identical' if same else 'DIFFERENT'})"
            )
        print(
            f"wall time: lava {result.lava_seconds:.2f} s, simulator {result.sim_seconds:.3f} s "
            f"({result.samples} samples x {result.steps} steps)"
        )
        print("IDENTICAL: every probed integer matched" if result.identical else "MISMATCH")
    return 0 if result.identical else 1


def _table(result) -> str:  # noqa: ANN001
    rows = [("node", "type", "var", "values", "mismatches", "first bad step")]
    for r in result.rows:
        first = "-" if r.first_mismatch_step is None else str(r.first_mismatch_step)
        rows.append((r.node, r.kind, r.var, str(r.values), str(r.mismatches), first))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
