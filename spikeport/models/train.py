"""Training the small digits Spikformer (CIFAR layout) on :func:`load_digits_split`.

The model is Spikformer's CIFAR layout adapted to 8x8 grey images: 1 input channel, only the
last stem stage pools (8x8 -> 4x4, N = 16 tokens), 2 blocks, width 64, 4 heads, T = 4.
Training is seeded and deterministic on CPU (fixed thread count, seeded init and batch order):
AdamW with a cosine learning-rate schedule, cross-entropy on the logits. The final-epoch model
is reported; the test set is used only once, after training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikeport.models.digits import NUM_CLASSES, DigitsSplit, load_digits_split
from spikeport.models.firing import measure_firing_rates
from spikeport.models.registry import ModelConfig, build_model

DIGITS_POOLING = (False, False, False, True)


SMALL_SHAPE: dict[str, Any] = dict(embed_dim=64, depth=2, num_heads=4, T=4)
"""The small Spikformer's default shape: width 64, 2 blocks, 4 heads, T = 4."""


def spikformer_config(
    attention: str = "ssa",
    *,
    attention_options: Mapping[str, Any] | None = None,
    **fields: Any,
) -> ModelConfig:
    """A small Spikformer, CIFAR layout: :data:`SMALL_SHAPE` overridden by ``fields``
    (ModelConfig fields: the shape, and those the data decides: num_classes, in_channels,
    img_size, pool_stages, dataset)."""
    return ModelConfig(
        arch="spikformer-cifar",
        attention=attention,
        attention_options=dict(attention_options or {}),
        **{**SMALL_SHAPE, **fields},
    )


def digits_config(attention: str = "ssa", **shape: Any) -> ModelConfig:
    """The digits model: Spikformer CIFAR layout, 1 channel, 8x8 -> 4x4 tokens; ``shape``:
    overrides of :data:`SMALL_SHAPE` and attention_options."""
    return spikformer_config(
        attention,
        **shape,
        num_classes=NUM_CLASSES,
        in_channels=1,
        img_size=8,
        pool_stages=DIGITS_POOLING,
        dataset="digits",
    )


MAX_TOKEN_SIDE = 8


def data_config(ds: Any, dataset: str, attention: str = "ssa", **shape: Any) -> ModelConfig:
    """A Spikformer CIFAR-layout model for the samples of the Dataset ``ds`` (opened from
    the spec ``dataset``): channels, square side and classes from the data, T from
    time-major frames (else ``shape``'s T); the last stem stages pool until the token grid
    is at most MAX_TOKEN_SIDE per side (CIFAR 32 -> 8 as the official layout, DVS 128 -> 8).
    ``shape`` as for :func:`spikformer_config`."""
    from spikeport.errors import DataError
    from spikeport.models.sps import pooled_size

    channels, height, width = ds.sample_shape[-3:]
    if height != width:
        raise DataError(f"{ds.source}: samples are {height}x{width}; the model needs square ones")
    pools = 0
    while pools < 4 and pooled_size(height, (True,) * pools) > MAX_TOKEN_SIDE:
        pools += 1
    if ds.layout == "time-major":
        shape = {**shape, "T": ds.sample_shape[0]}
    return spikformer_config(
        attention,
        **shape,
        num_classes=ds.num_classes,
        in_channels=channels,
        img_size=height,
        pool_stages=(False,) * (4 - pools) + (True,) * pools,
        dataset=dataset,
    )


def data_splits(spec: Any, T: int | None = None) -> tuple[Any, Any]:
    """The train and test splits (``spikeport.data`` Datasets) of the spec ``spec``, its path
    made absolute (``.spec`` is what model.pt records); ``T``: frames for raw events (default
    4), refused when time-major frames have another T."""
    from spikeport.data import open_dataset, parse_spec
    from spikeport.errors import DataError

    spec = parse_spec(spec).resolved()
    train, test = (open_dataset(spec, split, T=T or 4) for split in ("train", "test"))
    if T and train.layout == "time-major" and train.sample_shape[0] != T:
        raise DataError(f"--T {T}: the frames of {spec} have T = {train.sample_shape[0]}")
    return train, test


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser and schedule. ``lr`` is the peak AdamW rate (cosine decay to 0)."""

    epochs: int = 12
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-2
    seed: int = 0
    threads: int = 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FIRING_RATE_SAMPLES = 512  # test samples (spread over the split) for the firing rates


def model_batches(ds: Any, batch_size: int = 256) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``ds``'s batches as the model takes them (time-major frames as ``[T, B, ...]``)."""
    from spikeport.data import model_layout

    for x, y in ds.batches(batch_size):
        yield torch.from_numpy(model_layout(x, ds.layout)), torch.from_numpy(y)


@torch.no_grad()
def evaluate(model: nn.Module, ds: Any) -> float:
    """Top-1 accuracy (fraction) on the Dataset ``ds``, in eval mode."""
    was_training = model.training
    model.eval()
    correct = 0
    for x, y in model_batches(ds):
        correct += int((model(x).argmax(-1) == y).sum())
    model.train(was_training)
    return correct / len(ds)


def learned_a(model: nn.Module) -> dict[str, float | list[float]] | None:
    """a-XNOR co-silence weights by core path (None when the model has no a-XNOR core)."""
    found: dict[str, float | list[float]] = {}
    for name, mod in model.named_modules():
        if getattr(mod, "name", None) == "axnor" and hasattr(mod, "a"):
            found[name] = mod.a.detach().tolist()
    return found or None


def train_digits(
    config: ModelConfig,
    settings: TrainSettings = TrainSettings(),
    *,
    data: DigitsSplit | None = None,
    progress: bool = True,
    train_subset: int | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``config`` on the digits split (:func:`train_classifier`). ``train_subset``
    (tests) keeps the first n training images."""
    from spikeport.data import ArrayDataset

    data = data or load_digits_split(seed=0)
    classes = [str(i) for i in range(NUM_CLASSES)]
    train = ArrayDataset(data.x_train.numpy(), data.y_train.numpy(), "digits (train)", classes)
    test = ArrayDataset(data.x_test.numpy(), data.y_test.numpy(), "digits (test)", classes)
    if train_subset is not None:
        train = train[:train_subset]
    return train_classifier(config, settings, train, test, progress=progress, dataset="digits")


def train_classifier(
    config: ModelConfig,
    settings: TrainSettings,
    train: Any,
    test: Any,
    *,
    progress: bool = True,
    dataset: str | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``config`` on the ``spikeport.data`` Dataset ``train`` (reshuffled each epoch,
    read batch by batch), then evaluate once on ``test``; return the eval-mode model and its
    metrics: ``test_accuracy``, ``train_accuracy`` (fractions), ``train_seconds`` (wall
    clock of the training loop), ``firing_rates`` (per LIF path, on up to
    FIRING_RATE_SAMPLES test samples), ``learned_a``, the config and settings."""
    from tqdm.auto import tqdm

    from spikeport.data import model_layout

    old_threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        torch.manual_seed(settings.seed)
        model = build_model(config)
        model.train()
        gen = torch.Generator().manual_seed(settings.seed)
        opt = torch.optim.AdamW(
            model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
        )
        steps_per_epoch = math.ceil(len(train) / settings.batch_size)
        total = max(1, settings.epochs * steps_per_epoch)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
        )
        loss_fn = nn.CrossEntropyLoss()
        start = time.perf_counter()
        bar = tqdm(
            range(settings.epochs),
            desc=f"train {config.attention}",
            unit="epoch",
            disable=not progress,
            leave=True,
        )
        for _epoch in bar:
            order = torch.randperm(len(train), generator=gen)
            loss_sum, correct = 0.0, 0
            for i in range(0, len(order), settings.batch_size):
                idx = order[i : i + settings.batch_size]
                x, y = train.read(idx.numpy())
                y = torch.from_numpy(y)
                logits = model(torch.from_numpy(model_layout(x, train.layout)))
                loss = loss_fn(logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum += loss.item() * len(idx)
                correct += int((logits.argmax(-1) == y).sum())
            bar.set_postfix(loss=f"{loss_sum / len(order):.3f}", acc=f"{correct / len(order):.3f}")
        train_seconds = time.perf_counter() - start
        bar.close()
        model.eval()
        rate_batches = (x for x, _ in model_batches(test.spaced(FIRING_RATE_SAMPLES)))
        metrics: dict[str, Any] = {
            "dataset": dataset,
            "attention": config.attention,
            "test_accuracy": evaluate(model, test),
            "train_accuracy": evaluate(model, train),
            "train_seconds": round(train_seconds, 3),
            "n_train": len(train),
            "n_test": len(test),
            "n_params": sum(p.numel() for p in model.parameters()),
            "firing_rates": measure_firing_rates(model, rate_batches),
            "learned_a": learned_a(model),
            "config": config.to_dict(),
            "train_settings": settings.to_dict(),
            "run_key": run_key(config, settings),
            "torch_version": torch.__version__,
        }
        return model, metrics
    finally:
        torch.set_num_threads(old_threads)


RECIPE_VERSION = 1  # bump when the training code changes in a way that changes results


def run_key(config: ModelConfig, settings: TrainSettings) -> str:
    """Hash of everything that determines a training run (for caching trained models)."""
    import hashlib
    import json

    blob = json.dumps(
        {"config": config.to_dict(), "settings": settings.to_dict(), "recipe": RECIPE_VERSION},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_run(out_dir: str | Path, model: nn.Module, metrics: Mapping[str, Any]) -> Path:
    """Write ``out_dir/model.pt`` (spikeport format) and ``out_dir/metrics.json``."""
    import json

    from spikeport.models.checkpoint import save_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, out / "model.pt")
    (out / "metrics.json").write_text(json.dumps(dict(metrics), indent=2) + "\n")
    return out
