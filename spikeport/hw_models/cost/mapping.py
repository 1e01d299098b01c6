"""Resource mapping: partition layers onto neuromorphic cores under a target's limits, and the
memory footprint of weights, neuron state and attention state.

Model of a core (Loihi-style; limits from the hardware table): at most ``neurons_per_core``
neurons, ``synaptic_memory_bytes_per_core`` of synapses (each stored explicitly, ``weight_bits``
wide - convolution weights are expanded per output neuron, as Loihi 1 stores them), at most
``fan_in_axons_per_core`` distinct input axons and ``fan_out_axons_per_core`` output edges
(one per (neuron, destination core)). A layer gets its own cores (no sharing between layers);
per layer the neurons per core is the largest n with

* ``n <= neurons_per_core``
* ``n x fan_in_nz x weight_bits / 8 <= synaptic_memory_bytes_per_core``
* ``min(inputs, n x fan_in) <= fan_in_axons_per_core`` (inputs shared by neighbours are not
  de-duplicated: an upper bound for convolutions, exact for dense layers)
* ``n x dest_cores <= fan_out_axons_per_core``, ``dest_cores`` = cores of the next layer
  (every neuron assumed to reach every next-layer core: exact for dense, an upper bound for
  convolutions).

A layer whose single neuron already breaks a limit is reported in ``violations`` (on Loihi it
would need its inputs split over dendritic compartments).

Attention state (per head, held across the tokens of one timestep): SSA/a-XNOR/LRF-SSA with
``K^T V`` first keep a d x d matrix of counts (``ceil(log2(N + 1))`` bits each), with
``Q K^T`` first an N x N matrix (``ceil(log2(d + 1))`` bits); LRF-Dyn keeps ``k x d`` dendritic
states (``state_bits`` each); SDSA keeps one d-vector of column sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from spikeport.errors import SpikeportError
from spikeport.hw_models.cost.analytical import run_hooked
from spikeport.hw_models.cost.hardware import HardwareModel
from spikeport.ir.attention import variant


@dataclass(frozen=True)
class LayerResources:
    """One connection layer as neurons and synapses, per timestep and sample.

    Geometry (a Linear is a 1-D, kernel-1 convolution over its rows/tokens): ``out_channels``
    x ``positions`` output neurons; each reads ``in_per_group`` channels of its group over a
    ``kernel``^``dims`` window with ``stride``. ``fan_in_nz``: non-zero weights per neuron
    (mean); ``params``: weight count.
    """

    name: str
    kind: str
    out_channels: int
    positions: int
    in_per_group: int
    groups: int
    dims: int
    kernel: int
    stride: int
    fan_in_nz: float
    params: int

    @property
    def neurons(self) -> int:
        return self.out_channels * self.positions

    @property
    def fan_in(self) -> int:
        return self.in_per_group * self.kernel**self.dims

    def tile(self, n: int) -> tuple[int, int]:
        """(channels, positions) held by a core of ``n`` neurons: channels first."""
        c = min(self.out_channels, n)
        return c, max(1, min(self.positions, n // self.out_channels))

    def input_axons(self, n: int) -> int:
        """Distinct inputs a core of ``n`` neurons reads (square tile of positions)."""
        c, p = self.tile(n)
        side = math.ceil(p ** (1 / self.dims))
        window = ((side - 1) * self.stride + self.kernel) ** self.dims
        groups_in_core = math.ceil(c * self.groups / self.out_channels)
        return groups_in_core * self.in_per_group * window

    def dest_cores_per_neuron(self, n: int) -> int:
        """Cores of this layer (as a consumer, ``n`` neurons per core) one input reaches:
        the channel splits at its position, x 2^dims tiles when the kernel spans a border."""
        c, _ = self.tile(n)
        channel_splits = math.ceil(self.out_channels / c)
        return channel_splits * (1 if self.kernel == 1 else 2**self.dims)


@dataclass(frozen=True)
class AttentionState:
    """State an attention core holds per inference step: ``bits`` (all heads)."""

    name: str
    kind: str
    heads: int
    tokens: int
    head_dim: int
    order: str
    bits: int


@dataclass(frozen=True)
class LayerMapping:
    name: str
    neurons: int
    neurons_per_core: int
    cores: int
    synapse_bytes: float
    binding: str  # which limit set neurons_per_core
    violations: tuple[str, ...] = ()


@dataclass(frozen=True)
class MappingReport:
    """Cores and chips on ``hardware``; memory in bytes; ``label`` is always "estimate"."""

    hardware: str
    layers: tuple[LayerMapping, ...]
    cores: int
    chips: int
    weight_bytes_compact: float  # parameters x weight_bits
    synapse_bytes_expanded: float  # synapses as stored per core
    neuron_state_bytes: float
    attention: tuple[AttentionState, ...]
    attention_state_bytes: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    label: str = "estimate"

    @property
    def inference_memory_bytes(self) -> float:
        """Compact weights + neuron state + attention state."""
        return self.weight_bytes_compact + self.neuron_state_bytes + self.attention_state_bytes


def attention_state_bits(
    kind: str,
    heads: int,
    tokens: int,
    head_dim: int,
    order: str,
    state_bits: int,
    compartments: int = 8,
) -> int:
    """Bits of attention state held per inference step (all heads) by a core of variant
    `kind` (``AttentionVariant.state_bits`` of ``spikeport.ir.attention``)."""
    return variant(kind).state_bits(heads, tokens, head_dim, order, state_bits, compartments)


def collect_resources(
    model: nn.Module,
    inputs: torch.Tensor,
    timesteps: int,
    attention_order: Literal["dxd", "nxn", "auto"] = "dxd",
    state_bits: int = 24,
    time_major: bool = False,
) -> tuple[list[LayerResources], list[AttentionState], int]:
    """Run ``model(inputs)`` (batch of 1 sample: ``[1, ...]``, or ``[T, 1, ...]`` when
    ``time_major``) and record per-layer neurons and synapses, attention state and the
    number of LIF neurons (per timestep)."""
    if inputs.shape[1 if time_major else 0] != 1:
        raise SpikeportError("collect_resources: pass a batch of exactly one sample")
    layers: dict[str, LayerResources] = {}
    attn: dict[str, AttentionState] = {}
    lif_neurons: dict[str, int] = {}

    def per_step(t: torch.Tensor) -> int:
        # Batch of one: a multi-step call has leading dim T (T*B or [T, B, ...]).
        return t.numel() // t.shape[0] if t.dim() > 1 and t.shape[0] == timesteps else t.numel()

    def conn_hook(name):
        def hook(mod, args, out):
            if name in layers:
                return
            if isinstance(mod, nn.Linear):
                cout, cin, groups, dims, kern, stride = (
                    mod.out_features,
                    mod.in_features,
                    1,
                    1,
                    1,
                    1,
                )
            else:
                cout, groups = mod.out_channels, mod.groups
                cin, dims = mod.in_channels // groups, len(mod.kernel_size)
                kern, stride = max(mod.kernel_size), max(mod.stride)
            layers[name] = LayerResources(
                name=name,
                kind=type(mod).__name__.lower(),
                out_channels=cout,
                positions=max(1, per_step(out) // cout),
                in_per_group=cin,
                groups=groups,
                dims=dims,
                kernel=kern,
                stride=stride,
                fan_in_nz=float((mod.weight != 0).sum()) / cout,
                params=int(mod.weight.numel()),
            )

        return hook

    def lif_hook(name):
        def hook(mod, args, out):
            lif_neurons[name] = per_step(args[0])

        return hook

    def attn_hook(name):
        def hook(mod, args):
            t, b, h, n, d = args[0].shape
            order = attention_order if attention_order != "auto" else ("dxd" if d <= n else "nxn")
            kc = int(getattr(mod, "compartments", 8))
            bits = attention_state_bits(mod.name, h, n, d, order, state_bits, kc)
            attn[name] = AttentionState(name, mod.name, h, n, d, order, bits)

        return hook

    run_hooked(model, inputs, conn=conn_hook, attn=attn_hook, lif=lif_hook)
    return list(layers.values()), list(attn.values()), sum(lif_neurons.values())


def _largest(n_max: int, ok) -> int:
    """Largest n in [1, n_max] with ok(n) (ok monotone: true up to some n); 0 if none."""
    if not ok(1):
        return 0
    lo, hi = 1, n_max
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _neurons_per_core(
    r: LayerResources, hw: HardwareModel, weight_bits: int, dest_per_neuron: int
) -> tuple[int, str, tuple[str, ...]]:
    """Largest neurons per core meeting every limit the target states, the limit that binds,
    and violations no split can fix (then one neuron per core is reported)."""
    n = r.neurons
    binding = "layer size"
    violations: list[str] = []
    lim = hw.limit("neurons_per_core")
    if lim is not None and lim < n:
        n, binding = int(lim), "neurons_per_core"
    mem = hw.limit("synaptic_memory_bytes_per_core")
    per_neuron_bytes = r.fan_in_nz * weight_bits / 8
    if mem is not None and per_neuron_bytes > 0:
        cap = math.floor(mem / per_neuron_bytes)
        if cap < 1:
            violations.append(
                f"one neuron's synapses ({per_neuron_bytes:.0f} B) exceed core memory"
            )
        elif cap < n:
            n, binding = cap, "synaptic_memory_bytes_per_core"
    fan_in = hw.limit("fan_in_axons_per_core")
    if fan_in is not None:
        cap = _largest(n, lambda m: r.input_axons(m) <= fan_in)
        if cap < 1:
            violations.append(f"fan-in {r.input_axons(1)} > {int(fan_in)} axons per core")
        elif cap < n:
            n, binding = cap, "fan_in_axons_per_core"
    fan_out = hw.limit("fan_out_axons_per_core")
    if fan_out is not None and dest_per_neuron > 0:
        cap = math.floor(fan_out / dest_per_neuron)
        if cap < 1:
            violations.append(f"fan-out to {dest_per_neuron} cores > {int(fan_out)} edges per core")
        elif cap < n:
            n, binding = cap, "fan_out_axons_per_core"
    return max(1, n), binding, tuple(violations)


def map_to_cores(
    layers: list[LayerResources],
    attention: list[AttentionState],
    lif_neurons: int,
    hw: HardwareModel,
) -> MappingReport:
    """Partition ``layers`` (in execution order) onto cores of ``hw``; memory footprint."""
    weight_bits = hw.format_bits("weight_bits", 8)
    state_bits = hw.format_bits("state_bits", 24)
    mapped: list[LayerMapping] = []
    dest = 0
    for r in reversed(layers):  # fan-out needs the next layer's split
        n, binding, viol = _neurons_per_core(r, hw, weight_bits, dest)
        cores = math.ceil(r.neurons / n)
        mapped.append(
            LayerMapping(
                name=r.name,
                neurons=r.neurons,
                neurons_per_core=n,
                cores=cores,
                synapse_bytes=r.neurons * r.fan_in_nz * weight_bits / 8,
                binding=binding,
                violations=viol,
            )
        )
        dest = r.dest_cores_per_neuron(n)
    mapped.reverse()
    total_cores = sum(m.cores for m in mapped)
    per_chip = hw.limit("cores_per_chip")
    chips = math.ceil(total_cores / per_chip) if per_chip else 1
    notes = [
        "each layer on its own cores; convolution synapses expanded per neuron",
        "a core holds all output channels of a square tile of positions (channels split first)",
        "fan-out counted towards the next layer in execution order only",
        "neuron state: u and v per LIF neuron, state_bits each",
        "attention state per step; q/k/v spikes are streamed, not stored",
    ]
    attn_bytes = sum(a.bits for a in attention) / 8
    return MappingReport(
        hardware=hw.name,
        layers=tuple(mapped),
        cores=total_cores,
        chips=chips,
        weight_bytes_compact=sum(r.params for r in layers) * weight_bits / 8,
        synapse_bytes_expanded=sum(m.synapse_bytes for m in mapped),
        neuron_state_bytes=lif_neurons * 2 * state_bits / 8,
        attention=tuple(attention),
        attention_state_bytes=attn_bytes,
        notes=tuple(notes),
    )


def format_mapping(report: MappingReport) -> str:
    """Plain-text summary: per-layer cores and the binding limit, totals, memory."""
    lines = [f"Mapping on {report.hardware} (ESTIMATE)"]
    w = max((len(m.name) for m in report.layers), default=5)
    for m in report.layers:
        flag = f"  VIOLATION: {'; '.join(m.violations)}" if m.violations else ""
        lines.append(
            f"  {m.name.ljust(w)}  neurons {m.neurons:>9}  per core {m.neurons_per_core:>5}  "
            f"cores {m.cores:>7}  ({m.binding}){flag}"
        )
    lines.append(f"  total cores {report.cores}, chips {report.chips}")
    lines.append(
        f"  memory: weights {report.weight_bytes_compact / 1e6:.3f} MB (compact), synapses "
        f"{report.synapse_bytes_expanded / 1e6:.3f} MB (expanded per core), neuron state "
        f"{report.neuron_state_bytes / 1e6:.3f} MB, attention state "
        f"{report.attention_state_bytes / 1e3:.3f} kB"
    )
    return "\n".join(lines) + "\n"
