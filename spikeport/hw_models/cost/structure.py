"""A model's analytical structure from one forward pass (on the meta device: nothing is
allocated, ImageNet models in a second), and the papers' counts from a table of per-layer
firing rates instead of measured ones (e.g. the rates a paper publishes).

:func:`model_structure` records, in execution order, every connection layer's MACs per
timestep per sample (``flops``; with ``bias_adds`` one more add per output element for a
layer with a bias, as syops / the Spikingformer energy script count), the timesteps it ran,
every attention core's ``[T, B, h, N, d]`` call shape, the calls of the blocks of
:mod:`~spikeport.hw_models.cost.blocks` and the BatchNorm elements.

:func:`count_from_rates` applies the paper convention (``Convention``) with the rates of a
table: the first connection layer without a rate is the encoding layer (MAC), the head
follows ``head_as_mac``, every other connection layer needs its input rate (``SOP = fr x T x
FLOPs``), each attention core ``(fr_q, fr_k, fr_v)`` (counted by its
``spikeport.ir.attention`` variant), each block its rates in ``blocks.RATE_KEYS`` order.
A missing or unknown name is an error naming it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from spikeport.errors import SpikeportError
from spikeport.hw_models.cost import blocks
from spikeport.hw_models.cost.analytical import (
    AnalyticalCount,
    Convention,
    LayerStats,
    layer_ops,
    per_call_macs,
    run_hooked,
    steps_of,
)
from spikeport.hw_models.cost.energy import LayerOps
from spikeport.ir.attention import CoreCall, variant


@dataclass
class Connection:
    """A connection layer: ``flops`` MACs per step per sample, ``dense`` over all calls."""

    name: str
    kind: str
    dense: float = 0.0
    leading: list[tuple[int, ...]] = field(default_factory=list)
    steps: int = 1

    @property
    def flops(self) -> float:
        return self.dense / self.steps


@dataclass(frozen=True)
class Core:
    """One attention-core call: variant name, ``[T, B, h, N, d]`` shape, the module."""

    name: str
    kind: str
    shape: tuple[int, int, int, int, int]
    module: nn.Module


@dataclass(frozen=True)
class Structure:
    """Connection layers, attention-core calls, block calls and BatchNorm elements (per
    sample) of one forward pass of a model at ``timesteps``."""

    connections: tuple[Connection, ...]
    cores: tuple[Core, ...]
    calls: tuple[blocks.BlockCall, ...]
    batchnorm: Mapping[str, float]
    timesteps: int
    order: tuple[str, ...]
    """Every counted name in execution order."""


def model_structure(
    model: nn.Module, input_shape: Sequence[int], timesteps: int, *, bias_adds: bool = False
) -> Structure:
    """Run `model` once on zeros of `input_shape` (batch first, one sample: ``[1, ...]``) on
    the device of its parameters (build it on ``torch.device("meta")`` to allocate nothing)."""
    if input_shape[0] != 1:
        raise SpikeportError(f"model_structure: one sample please, got shape {input_shape}")
    device = next(model.parameters()).device
    conns: dict[str, Connection] = {}
    cores: list[Core] = []
    bns: dict[str, float] = {}
    order: dict[str, None] = {}

    def conn(name):
        def hook(mod, args, out):
            c = conns.setdefault(name, Connection(name, type(mod).__name__.lower()))
            c.dense += per_call_macs(mod, out, bias_adds)
            c.leading.append(tuple(args[0].shape[:2]))
            order[name] = None

        return hook

    def attn(name):
        def hook(mod, args):
            cores.append(Core(name, mod.name, tuple(args[0].shape), mod))
            order[name] = None

        return hook

    def bn(name):
        def hook(mod, args, out):
            bns[name] = bns.get(name, 0.0) + args[0].numel()
            order[name] = None

        return hook

    def lif(name):
        return lambda mod, args, out: None

    was_training = model.training
    model.eval()
    try:
        with blocks.capture(model) as cap:
            run_hooked(
                model,
                torch.zeros(tuple(input_shape), device=device),
                conn=conn,
                attn=attn,
                lif=lif,
                bn=bn,
            )
    finally:
        model.train(was_training)
    for c in conns.values():
        c.steps = steps_of(c.leading, 1, timesteps)
    names = list(order)
    for call in cap.calls:
        if call.name not in order:
            names.append(call.name)
    return Structure(
        tuple(conns.values()), tuple(cores), tuple(cap.calls), bns, timesteps, tuple(names)
    )


def _core_ops(core: Core, rates: Sequence[float], conv: Convention) -> LayerOps:
    t, b, h, n, d = core.shape
    order = conv.attention_order
    if order == "auto":
        order = "dxd" if d <= n else "nxn"
    if conv.attention_pair_rate == "exact":
        raise SpikeportError(f"{core.name}: exact pair rates need measured spikes")
    fq, fk, fv = (float(r) for r in rates)
    nan = math.nan  # exact coincidence rates: unknown without spikes
    call = CoreCall(
        *core.shape, fq, fk, fv, nan, nan, nan, order, conv.word_bits,
        lambda a, b, exact: min(a, b), core.module, conv.lrf_dyn_compartments,
    )  # fmt: skip
    ops = dict.fromkeys(
        ("acs", "macs", "and_words", "xnor_words", "popcount_words", "int_adds", "int_mults"), 0.0
    )
    notes: set[str] = set()
    variant(core.kind).paper_ops(call, ops, notes)
    return LayerOps(core.name, f"attention:{core.kind}", note="; ".join(sorted(notes)), **ops)


def _check_rates(structure: Structure, rates: Mapping[str, Any]) -> None:
    known = {c.name for c in structure.connections} | {c.name for c in structure.cores}
    known |= {c.name for c in structure.calls}
    unknown = sorted(set(rates) - known)
    if unknown:
        raise SpikeportError(
            f"rates: {unknown[:3]} not a connection layer, attention core or counted block "
            "of the model"
        )


def count_from_rates(
    structure: Structure,
    rates: Mapping[str, Any],
    conv: Convention,
    *,
    head_names: tuple[str, ...] = ("head",),
) -> AnalyticalCount:
    """The paper-convention counts per inference of `structure` with the firing rates of
    `rates` (see the module docstring); ``conv.timesteps`` should be the model's T."""
    _check_rates(structure, rates)
    rows: dict[str, LayerOps] = {}
    stats: list[LayerStats] = []
    first_done = False
    missing: list[str] = []
    for i, c in enumerate(structure.connections):
        is_head = c.name.split(".")[-1] in head_names
        role = "head" if is_head else "inner"
        if c.name not in rates and not first_done and not is_head:
            first_done, role = True, "first"
        elif c.name not in rates and not (is_head and conv.head_as_mac):
            missing.append(c.name)
            continue
        rate = float(rates.get(c.name, 1.0))
        cls = "analog" if role == "first" else "binary"
        rows[c.name] = layer_ops(c.name, c.kind, role, conv, c.flops, c.dense, rate, cls)
        stats.append(
            LayerStats(c.name, c.kind, c.dense, c.flops, c.steps, rate, cls, math.nan, True, i)
        )
    for core in structure.cores:
        if core.name not in rates:
            missing.append(core.name)
            continue
        row = _core_ops(core, rates[core.name], conv)
        rows[core.name] = row if core.name not in rows else blocks.add_ops(rows[core.name], row)
    for call in structure.calls:
        keys = blocks.RATE_KEYS[call.kind]
        if call.name not in rates:
            missing.append(call.name)
            continue
        given = dict(zip(keys, _as_tuple(rates[call.name]), strict=True))
        row = blocks.block_ops(call, conv, 1, given)
        rows[call.name] = row if call.name not in rows else blocks.add_ops(rows[call.name], row)
    if missing:
        raise SpikeportError(
            f"rates: no rate for {len(missing)} layer(s), e.g. {', '.join(missing[:3])}"
        )
    if conv.batchnorm == "counted":
        for name, elements in structure.batchnorm.items():
            rows[name] = LayerOps(name, "batchnorm", macs=elements, note="BN counted")
    ordered = tuple(rows[n] for n in structure.order if n in rows)
    used = {k: float(v) for k, v in rates.items() if not isinstance(v, Sequence)}
    return AnalyticalCount(ordered, tuple(stats), conv, 1, used)


def _as_tuple(value: Any) -> tuple[float, ...]:
    return tuple(value) if isinstance(value, Sequence) else (value,)
