"""``spikeport train``: train a small Spikformer on real data and write model.pt + metrics.json.

``--dataset digits`` (default) trains the digits model; any other ``--dataset SPEC``
(``spikeport.data``: ``cifar10:DIR``, ``imagefolder:DIR,crop=N``, ``dvs-frames:DIR``, ...)
trains a Spikformer CIFAR-layout model shaped by the data (``models.train.data_config``) on
its train split (without augmentation) and reports accuracy on its test split; model.pt
records the spec (absolute path) so ``spikeport convert`` finds the data again.
"""

from __future__ import annotations

import argparse
from types import ModuleType

from spikeport.commands.options import (
    add_force,
    add_threads,
    positive_float,
    positive_int,
    timesteps,
)
from spikeport.models.attention import ATTENTION_TYPES

HELP = "train a small Spikformer on digits or your own data (--dataset SPEC)"
DESCRIPTION = (
    "Train a Spikformer (CIFAR layout) with one attention variant on the "
    "digits (8x8 -> 4x4 tokens) or on a --dataset SPEC; writes DIR/model.pt and "
    "DIR/metrics.json."
)

ATTENTIONS = ATTENTION_TYPES


def add_arguments(p: argparse.ArgumentParser) -> None:
    from spikeport.commands.options import add_data_argument

    add_data_argument(p, "digits", flag="--dataset", default="digits")
    p.add_argument("--attention", default="ssa", help=f"one of: {', '.join(ATTENTIONS)}")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    add_force(p, "output directory")
    p.add_argument("--epochs", type=positive_int, default=None, help="training epochs (default 12)")
    p.add_argument("--seed", type=int, default=0, help="init / batch-order seed (default 0)")
    p.add_argument("--embed-dim", type=positive_int, default=64, help="model width (default 64)")
    p.add_argument("--depth", type=positive_int, default=2, help="Transformer blocks (default 2)")
    p.add_argument("--heads", type=positive_int, default=4, help="attention heads (default 4)")
    p.add_argument(
        "--T",
        type=timesteps,
        default=None,
        help="time steps (default 4; event data: its frames)",
    )
    p.add_argument(
        "--attn-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="attention option, repeatable, VALUE parsed as JSON when it can be "
        "(e.g. per_head=true, a_init=0.2, token_input=kv)",
    )
    p.add_argument("--lr", type=positive_float, default=None, help="peak AdamW learning rate")
    p.add_argument("--batch-size", type=positive_int, default=None, help="batch size (default 64)")
    add_threads(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def parse_options(items: list[str]) -> dict[str, object]:
    """``["per_head=true", "token_input=kv"]`` -> ``{"per_head": True, "token_input": "kv"}``."""
    import json

    from spikeport.errors import SpikeportError

    options: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SpikeportError(f"--attn-opt {item!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


def run(args: argparse.Namespace) -> int:
    from spikeport.errors import SpikeportError

    if args.attention not in ATTENTIONS:
        raise SpikeportError(
            f"--attention {args.attention!r} is not supported; supported: {', '.join(ATTENTIONS)}"
        )
    from spikeport.models import train as training
    from spikeport.outputs import claim

    data = [args.dataset.path] if args.dataset.path is not None else []
    with claim(args.out, kind="dir", option="--out", force=args.force, inputs=data) as tmp:
        model, metrics = _train(args, training)
        training.save_run(tmp, model, metrics)
    print(
        f"{args.attention}: test accuracy {100 * metrics['test_accuracy']:.2f} % "
        f"({metrics['n_test']} images), trained in {metrics['train_seconds']:.1f} s -> {args.out}"
    )
    return 0


def _train(args: argparse.Namespace, training: ModuleType) -> tuple:
    """(model, metrics) trained as ``args`` say, on digits or on ``--dataset SPEC``."""

    shape = dict(
        embed_dim=args.embed_dim,
        depth=args.depth,
        num_heads=args.heads,
        attention_options=parse_options(args.attn_opt),
    )
    overrides = {
        k: getattr(args, k) for k in ("epochs", "lr", "batch_size") if getattr(args, k) is not None
    }
    settings = training.TrainSettings(seed=args.seed, threads=args.threads, **overrides)
    progress = not args.no_progress
    if args.dataset.kind == "digits":
        config = training.digits_config(args.attention, T=args.T or 4, **shape)
        model, metrics = training.train_digits(config, settings, progress=progress)
    else:
        train, test = training.data_splits(args.dataset, args.T)
        config = training.data_config(train, train.spec, args.attention, T=args.T or 4, **shape)
        model, metrics = training.train_classifier(
            config, settings, train, test, progress=progress, dataset=train.spec
        )
    return model, metrics
