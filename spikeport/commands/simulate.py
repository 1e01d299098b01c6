"""``spikeport simulate ARTIFACT [--data SPEC]``: the bit-accurate simulator on a test split.

Data: ``--data SPEC`` (``spikeport.data``), else the spec recorded in the artifact's
``data.json``, else digits; read in batches, with the preprocessing ``convert`` recorded.

Prints accuracy, samples, seconds, throughput, per-layer firing rates and operation counts
(total and per node); ``--json`` prints one JSON object instead (no progress bar on stdout).
By default each node is computed over its T-step data window only (``Simulator.run(...,
windowed=True)``, identical values); ``--full-timing`` runs all T + L steps as Lava would.
"""

from __future__ import annotations

import argparse

from spikeport.commands.distributed_options import add_distributed_arguments, distributed_requested
from spikeport.commands.options import add_data_argument, positive_int

HELP = "run a converted artifact in the bit-accurate simulator on a test split"
DESCRIPTION = (
    "Evaluate a converted (quantised, retimed) IR artifact with spikeport's "
    "bit-accurate Loihi simulator on a dataset's test split: accuracy, throughput, "
    "firing rates and operation counts."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", help="artifact directory written by `spikeport convert`")
    add_data_argument(p, "the artifact's data.json, else digits")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--batch-size", type=positive_int, default=60, help="samples per simulator run")
    p.add_argument(
        "--probe",
        nargs="+",
        default=[],
        metavar="NODE",
        help="also report these nodes' output (non-zero count per window step, summed)",
    )
    p.add_argument("--limit", type=positive_int, default=None, help="only the first N test samples")
    p.add_argument(
        "--full-timing",
        action="store_true",
        help="simulate all T + L steps (warm-up and drain included) instead of data windows",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_distributed_arguments(p)


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from spikeport.errors import SpikeportError

    art = Path(args.artifact)
    if not art.is_dir():
        raise SpikeportError(f"{art}: no such artifact directory (run `spikeport convert`)")

    from spikeport.converters.passes.retime import retimed
    from spikeport.data import open_for_artifact, read_record
    from spikeport.hw_models.sim.classification import classify, output_window
    from spikeport.ir import load

    graph = load(art)
    if graph.meta.get("level") != "int":
        raise SpikeportError(
            f"{art}: not a quantised artifact (meta level {graph.meta.get('level')!r})"
        )
    graph = retimed(graph)  # a convert artifact already is; an older or hand-made one may not be
    for name in args.probe:
        if name not in graph:
            raise SpikeportError(f"--probe {name!r}: no node of that name in {art}/graph.json")
    show = not args.json and not args.no_progress
    shape = tuple(graph.node(graph.input_names[0]).shape)
    ds = open_for_artifact(art, args.data, shape, graph.meta.get("T"))
    if args.limit is not None:
        ds = ds[: args.limit]
    if distributed_requested(args):
        from spikeport.distributed import evaluation
        from spikeport.distributed.data import DataRef

        res = evaluation.classify(
            evaluation.Cluster.from_args(args, progress=show),
            str(art),
            DataRef(
                ds.spec,
                "test",
                options=(
                    ("input_shape", shape),
                    ("T", graph.meta.get("T")),
                    ("recorded", read_record(art)),
                ),
                limit=args.limit,
            ),
            batch_size=args.batch_size,
            probes=args.probe,
            windowed=not args.full_timing,
        )
    else:
        images, labels = ds.samples(), ds.labels()  # samples read batch by batch
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(images), unit="sample", desc="simulate", file=sys.stderr)
        try:
            res = classify(
                graph,
                images,
                labels,
                batch_size=args.batch_size,
                probes=args.probe,
                windowed=not args.full_timing,
                progress=None if bar is None else bar.update,
            )
        finally:
            if bar is not None:
                bar.close()
    probes = {
        name: {"window": list(output_window(graph, res.timing, name)), **per}
        for name, per in res.probes.items()
    }
    out = {
        "artifact": str(art),
        "data": ds.spec,
        "accuracy": res.accuracy,
        "samples": res.samples,
        "seconds": res.seconds,
        "throughput": res.throughput,
        "T": res.timing.T,
        "latency": res.timing.latency,
        "windowed": res.windowed,
        **res.ops,
        "ops": res.ops,
        "ops_full_run": res.ops_full_run,
        "firing_rates": res.firing_rates,
        "ops_per_node": res.ops_per_node,
        "probes": probes,
    }
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"artifact   {art}  (T = {res.timing.T}, latency L = {res.timing.latency} steps)")
    print(f"accuracy   {100 * res.accuracy:.2f} % on {res.samples} test samples of {ds.spec}")
    print(f"time       {res.seconds:.3f} s simulated ({res.throughput:.1f} samples/s)")
    print("operations (per-sample streaming work summed over samples):")
    for k, v in res.ops.items():
        print(f"  {k:16s} {v:>16,d}")
    print(f"{'layer':40s} {'firing rate':>11s} {'spikes':>14s} {'neuron upd.':>14s}")
    for name, rate in res.firing_rates.items():
        per = res.ops_per_node[name]
        print(f"{name:40s} {rate:11.4f} {per['spikes']:14,d} {per['neuron_updates']:14,d}")
    for name, per in res.ops_per_node.items():
        if name not in res.firing_rates and any(per.values()):
            ev, macs = per["synaptic_events"], per["dense_macs"]
            words = per["bitwise_words"] + per["popcount_words"]
            print(f"  {name:38s} events {ev:,d}  dense MACs {macs:,d}  words {words:,d}")
    for name, rec in probes.items():
        print(f"probe {name}: window {rec['window']}, non-zero per step {rec['nonzero_per_step']}")
    return 0
