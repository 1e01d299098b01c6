"""The spiking-Transformer papers' analytical operation count, every ambiguity an option.

Paper convention (Spikformer/SDT/QKFormer; Spikingformer's energy script):
``SOP^l = fr^l x T x FLOPs^l`` with ``fr^l`` the firing rate of layer l's *input* and
``FLOPs^l`` its MAC count per timestep; the first (encoding) layer, fed the analog image, is
counted as ``FLOPs^1`` MACs (x T: the image is presented every step); spike x spike attention
products are added analytically; ``E = E_MAC x MACs + E_AC x SOPs`` (4.6 / 0.9 pJ).

:func:`count_model` runs a torch model on a batch with forward hooks on ``nn.Conv1d``,
``nn.Conv2d``, ``nn.Conv3d``, ``nn.Linear`` (connection layers), BatchNorm, LIF neurons (any
module with ``v_threshold``, or snnTorch-style ``threshold`` + ``beta``) and attention cores
(modules with ``num_heads``, ``head_dim`` and a ``name`` that is a variant of
``spikeport.ir.attention``, whose ``paper_ops`` counts them, called as
``core(q, k, v)`` on ``[T, B, h, N, d]`` spikes) and returns per-layer :class:`LayerOps` per
inference. Input classes: *binary* (all 0/1), *graded* (non-negative integers <=
``max_graded_value``, e.g. SEW residual sums), *analog* (anything else). Spike products
inside QKFormer / SDT-V3 blocks and I-LIF integer spikes (rescaled to their counts, so
graded) are handled by :mod:`~spikeport.hw_models.cost.blocks`.

Each connection layer also gets its NeuroBench-style *effective* count: the number of
(non-zero input, non-zero weight) pairs, computed as ``sum_i [x_i != 0] * fanout_nz(i)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import torch
from torch import nn

from spikeport.errors import SpikeportError
from spikeport.hw_models.cost import blocks
from spikeport.hw_models.cost.energy import LayerOps
from spikeport.ir import attention

CONNECTION_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
HookFactory = Callable[[str], Callable]
"""Module name -> the hook to register on that module."""


@dataclass(frozen=True)
class Convention:
    """Counting options; the defaults are the papers' (the Spikingformer energy script's
    choices; docs/hardware_models.md lists each option with its source).

    * ``first_layer_times_t``: encoding layer MACs x T (official script) or once.
    * ``graded_spikes``: integer-valued inputs counted as AC with their rate (Spikformer's
      published numbers) or as dense MAC (Spikingformer ``Nspks_max = 1``, NeuroBench).
    * ``max_graded_value``: largest integer still treated as a graded spike (script: 30).
    * ``rate``: ``mean`` of the input tensor (an input of 2 counts twice; syops) or the
      ``nonzero`` fraction (SDT's "spike firing rate"). Equal for binary inputs.
    * ``batchnorm``: ``fused`` into the preceding layer (not counted) or ``counted`` as one
      MAC per element.
    * ``attention_order``: ``dxd`` (K^T V first, the energy script's ``T h N d^2`` terms),
      ``nxn`` (Q K^T first) or ``auto`` (the cheaper, as spikeport's cores execute).
    * ``attention_pair_rate``: rate of a spike x spike product: ``min`` of the two rates
      (energy script) or ``exact`` (counted coincidences).
    * ``head_as_mac``: classifier head (module named ``head``, fed the time-mean rate) as
      dense MAC once (script) or as ``fr x T x FLOPs`` ACs.
    * ``word_bits``: width of the words XNOR/AND/popcount operate on (a-XNOR, masks).
    * ``lrf_dyn_compartments``: dendrites k when the core does not say (paper: 8).
    * ``bias_adds``: one more add per output element of a connection layer with a bias,
      counted like the layer's other ops (syops / ptflops and so the Spikingformer energy
      script count it; the papers' FLOPs formulas do not: off). For :func:`count_model`;
      ``structure.model_structure`` takes its own ``bias_adds``.
    """

    timesteps: int
    first_layer_times_t: bool = True
    graded_spikes: Literal["ac", "mac"] = "ac"
    max_graded_value: int = 30
    rate: Literal["mean", "nonzero"] = "mean"
    batchnorm: Literal["fused", "counted"] = "fused"
    attention_order: Literal["dxd", "nxn", "auto"] = "dxd"
    attention_pair_rate: Literal["min", "exact"] = "min"
    head_as_mac: bool = True
    word_bits: int = 32
    lrf_dyn_compartments: int = 8
    bias_adds: bool = False

    def __post_init__(self) -> None:
        checks = {
            "timesteps": self.timesteps >= 1,
            "graded_spikes": self.graded_spikes in ("ac", "mac"),
            "max_graded_value": self.max_graded_value >= 1,
            "rate": self.rate in ("mean", "nonzero"),
            "batchnorm": self.batchnorm in ("fused", "counted"),
            "attention_order": self.attention_order in ("dxd", "nxn", "auto"),
            "attention_pair_rate": self.attention_pair_rate in ("min", "exact"),
            "word_bits": self.word_bits >= 1,
            "lrf_dyn_compartments": self.lrf_dyn_compartments >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise SpikeportError(f"counting convention: invalid {name}={getattr(self, name)!r}")

    def describe(self) -> str:
        return (
            f"analytical (SOP = fr x T x FLOPs, T={self.timesteps}; first layer MAC "
            f"{'x T' if self.first_layer_times_t else 'once'}; graded spikes as "
            f"{self.graded_spikes.upper()}; rate={self.rate}; BN {self.batchnorm}; attention "
            f"{self.attention_order}, pair rate {self.attention_pair_rate}; head "
            f"{'MAC' if self.head_as_mac else 'AC'}"
            f"{'; bias adds counted' if self.bias_adds else ''})"
        )

    def as_report(self) -> dict:
        """The options as a dict for reports; ``bias_adds`` only when on (documents written
        before it existed, and those with it off, stay byte-identical)."""
        out = asdict(self)
        if not self.bias_adds:
            del out["bias_adds"]
        return out


@dataclass(frozen=True)
class LayerStats:
    """What the hooks measured for one connection layer, per inference.

    ``dense_ops``: MACs as executed (all calls); ``flops``: MACs per timestep per sample;
    ``steps``: timesteps the layer processed (T, or 1 for a head fed a time average);
    ``rate``: input firing rate per the convention; ``input_class``: binary/graded/analog;
    ``effective``: (non-zero input, non-zero weight) pairs; ``neurobench_spiking``: every
    input element in {-1, 0, 1} (NeuroBench's AC/MAC test).
    """

    name: str
    kind: str
    dense_ops: float
    flops: float
    steps: int
    rate: float
    input_class: str
    effective: float
    neurobench_spiking: bool
    order: int


@dataclass(frozen=True)
class AnalyticalCount:
    """Per-layer counts per inference and the convention that produced them."""

    layers: tuple[LayerOps, ...]
    stats: tuple[LayerStats, ...]
    convention: Convention
    samples: int
    rates: Mapping[str, float] = field(default_factory=dict)

    @property
    def basis(self) -> str:
        return self.convention.describe()

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for lo in self.layers:
            for k, v in lo.counts().items():
                out[k] = out.get(k, 0.0) + v
        return out

    def effective_synops(self) -> dict[str, float]:
        """NeuroBench-comparable effective MACs/ACs per sample over connection layers."""
        macs = sum(s.effective for s in self.stats if not s.neurobench_spiking)
        acs = sum(s.effective for s in self.stats if s.neurobench_spiking)
        return {"Effective_MACs": macs, "Effective_ACs": acs}


# ----------------------------------------------------------------------------- hooks


@dataclass
class _Acc:
    kind: str
    order: int
    calls: int = 0
    leading: list = field(default_factory=list)
    dense: float = 0.0
    numel: float = 0.0
    total: float = 0.0
    nonzero: float = 0.0
    effective: float = 0.0
    binary: bool = True
    graded: bool = True
    nb_spiking: bool = True
    out_sum: float = 0.0
    qkv: list = field(default_factory=list)


def _classify(acc: _Acc, x: torch.Tensor, max_graded: int) -> None:
    x = x.detach()
    acc.numel += x.numel()
    acc.total += float(x.double().sum())
    acc.nonzero += float((x != 0).sum())
    is_int = bool(torch.all(x == torch.round(x))) if x.is_floating_point() else True
    acc.binary &= bool(torch.all((x == 0) | (x == 1)))
    acc.graded &= is_int and bool(torch.all((x >= 0) & (x <= max_graded)))
    acc.nb_spiking &= bool(torch.all((x == 0) | (x == 1) | (x == -1)))


def per_call_macs(mod: nn.Module, out: torch.Tensor, bias_adds: bool = False) -> float:
    """MACs of one call of a connection layer producing `out`; `bias_adds`: plus one add per
    output element for a layer with a bias (syops / ptflops count it; the papers' FLOPs
    formulas do not)."""
    fan_in = mod.in_features if isinstance(mod, nn.Linear) else None
    if fan_in is None:
        fan_in = (mod.in_channels // mod.groups) * math.prod(mod.kernel_size)
    extra = 1 if bias_adds and getattr(mod, "bias", None) is not None else 0
    return float(out.numel()) * (fan_in + extra)


def _effective_pairs(mod: nn.Module, x: torch.Tensor, out: torch.Tensor) -> float:
    """sum_i [x_i != 0] * fanout_nz(i): fan-out of each input over non-zero weights."""
    nz = (x.detach() != 0).to(torch.float64)
    w = (mod.weight.detach() != 0).to(torch.float64)
    if isinstance(mod, nn.Linear):
        return float((nz * w.sum(0)).sum())
    if mod.padding_mode != "zeros":
        raise SpikeportError(f"{type(mod).__name__}: padding_mode {mod.padding_mode!r} unsupported")
    batched = x.dim() == mod.weight.dim()
    ones = torch.ones_like(out.detach()[:1], dtype=torch.float64)
    if not batched:
        ones, nz = torch.ones_like(out.detach(), dtype=torch.float64).unsqueeze(0), nz.unsqueeze(0)
    transpose = {
        nn.Conv1d: torch.nn.functional.conv_transpose1d,
        nn.Conv2d: torch.nn.functional.conv_transpose2d,
        nn.Conv3d: torch.nn.functional.conv_transpose3d,
    }[type(mod)]
    padding = mod.padding
    if isinstance(padding, str):  # 'same' / 'valid'
        if padding == "valid":
            padding = (0,) * len(mod.kernel_size)
        else:
            raise SpikeportError(f"{type(mod).__name__}: padding='same' unsupported")
    # Fan-out in padded coordinates (no cropping), then the window [p, p + size) per dim;
    # inputs beyond the last output window get no fan-out (zero-padded at the end).
    fan = transpose(ones, w, stride=mod.stride, dilation=mod.dilation, groups=mod.groups)
    for i, p in enumerate(padding):
        dim = 2 + i
        size = nz.shape[dim]
        fan = fan.narrow(dim, p, min(size, fan.shape[dim] - p))
        if fan.shape[dim] < size:
            pad = [0, 0] * (fan.dim() - 1 - dim) + [0, size - fan.shape[dim]]
            fan = torch.nn.functional.pad(fan, pad)
    # The fan-out map is the same for every batch item: broadcast it.
    return float((nz * fan).sum())


def steps_of(leading: list[tuple[int, ...]], samples: int, t: int) -> int:
    """Timesteps a layer processed, from the leading dims of its calls' inputs."""
    steps = 0
    for shape in leading:
        if t > 1 and shape[0] == t * samples:
            steps += t
        elif t > 1 and len(shape) > 1 and shape[0] == t and shape[1] == samples:
            steps += t
        elif shape[0] == samples:
            steps += 1
        else:
            steps += t
    return max(steps, 1)


def _is_lif(mod: nn.Module) -> bool:
    if hasattr(mod, "v_threshold"):
        return True
    return hasattr(mod, "threshold") and hasattr(mod, "beta")


def run_hooked(
    model: nn.Module,
    inputs: torch.Tensor,
    *,
    conn: HookFactory,
    attn: HookFactory,
    lif: HookFactory,
    bn: HookFactory | None = None,
) -> None:
    """Run ``model(inputs)`` once without grad, each module hooked by the factory of its kind
    (called with the module's qualified name): forward hooks on connections
    (``CONNECTION_TYPES``), BatchNorms (when `bn` is given) and named LIFs, a forward pre-hook
    on attention cores. The first matching kind wins; the hooks are removed afterwards."""
    handles = []
    for name, mod in model.named_modules():
        if isinstance(mod, CONNECTION_TYPES):
            handles.append(mod.register_forward_hook(conn(name)))
        elif isinstance(mod, BN_TYPES):
            if bn is not None:
                handles.append(mod.register_forward_hook(bn(name)))
        elif _is_attention(mod):
            handles.append(mod.register_forward_pre_hook(attn(name)))
        elif _is_lif(mod) and name:
            handles.append(mod.register_forward_hook(lif(name)))
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        for h in handles:
            h.remove()


def _is_attention(mod: nn.Module) -> bool:
    return (
        getattr(mod, "name", None) in attention.names()
        and hasattr(mod, "num_heads")
        and hasattr(mod, "head_dim")
    )


def count_model(
    model: nn.Module,
    inputs: torch.Tensor,
    convention: Convention,
    *,
    samples: int | None = None,
    rate_overrides: Mapping[str, float | tuple[float, float, float]] | None = None,
    head_names: tuple[str, ...] = ("head",),
) -> AnalyticalCount:
    """Run ``model(inputs)`` once and count its operations per inference (per sample).

    ``samples``: batch size (default ``inputs.shape[0]``). ``rate_overrides``: firing rate
    per connection-layer name (module path) replacing the measured one, e.g. published
    per-layer rates; for an attention core the value is ``(fr_q, fr_k, fr_v)``. An override
    for a name that is not a hooked conv/linear layer or attention core is an error.
    """
    samples = int(samples if samples is not None else inputs.shape[0])
    if samples < 1:
        raise SpikeportError("count_model: empty batch")
    accs: dict[str, _Acc] = {}
    order = [0]

    def acc_for(name: str, kind: str) -> _Acc:
        if name not in accs:
            accs[name] = _Acc(kind=kind, order=order[0])
            order[0] += 1
        return accs[name]

    def conn_hook(name):
        def hook(mod, args, out):
            x = cap.integer_counts(args[0])
            a = acc_for(name or type(mod).__name__, type(mod).__name__.lower())
            a.calls += 1
            a.leading.append(tuple(x.shape[:2]))
            _classify(a, x, convention.max_graded_value)
            a.dense += per_call_macs(mod, out, convention.bias_adds)
            a.effective += _effective_pairs(mod, x, out)

        return hook

    def bn_hook(name):
        def hook(mod, args, out):
            a = acc_for(name, "batchnorm")
            a.calls += 1
            a.numel += args[0].numel()

        return hook

    def lif_hook(name):
        def hook(mod, args, out):
            a = acc_for(name, "lif")
            x = args[0].detach()
            a.calls += 1
            a.numel += x.numel()
            a.nonzero += float((x != 0).sum())
            spikes = out[0] if isinstance(out, tuple) else out
            a.out_sum += float((spikes.detach() != 0).sum())

        return hook

    def attn_hook(name):
        def hook(mod, args):
            a = acc_for(name, f"attention:{mod.name}")
            a.calls += 1
            q, k, v = (t.detach() for t in args[:3])
            a.qkv.append((q, k, v, mod))

        return hook

    with blocks.capture(model) as cap:
        run_hooked(model, inputs, conn=conn_hook, bn=bn_hook, attn=attn_hook, lif=lif_hook)
    count = _assemble(accs, convention, samples, dict(rate_overrides or {}), head_names)
    if not cap.calls:
        return count
    return replace(count, layers=cap.block_rows(count.layers, convention, samples))


def _assemble(
    accs: dict[str, _Acc],
    conv: Convention,
    samples: int,
    overrides: dict,
    head_names: tuple[str, ...],
) -> AnalyticalCount:
    for key, val in overrides.items():
        a = accs.get(key)
        if a is None or not (a.dense or a.kind.startswith("attention:")):
            raise SpikeportError(
                f"rate_overrides: '{key}' is not a conv/linear layer or attention core of the model"
            )
        want_triple = a.kind.startswith("attention:")
        if want_triple != isinstance(val, tuple | list) or (want_triple and len(val) != 3):
            kind = "(fr_q, fr_k, fr_v)" if want_triple else "one rate"
            raise SpikeportError(f"rate_overrides: '{key}' takes {kind}")
    t = conv.timesteps
    layers: list[LayerOps] = []
    stats: list[LayerStats] = []
    rates: dict[str, float] = {}
    first_done = False
    for name, a in sorted(accs.items(), key=lambda kv: kv[1].order):
        if a.kind == "batchnorm":
            if conv.batchnorm == "counted":
                layers.append(
                    LayerOps(
                        name,
                        "batchnorm",
                        macs=a.numel / samples,
                        note="BN counted: one MAC per element",
                    )
                )
            continue
        if a.kind == "lif":
            layers.append(
                LayerOps(
                    name,
                    "lif",
                    neuron_updates=a.numel / samples,
                    neuron_updates_active=a.nonzero / samples,
                    spikes=a.out_sum / samples,
                    note="neuron updates (papers ignore them)",
                )
            )
            continue
        if a.kind.startswith("attention:"):
            layers.append(_attention_ops(name, a, conv, samples, overrides.get(name)))
            continue
        dense = a.dense / samples
        steps = steps_of(a.leading, samples, t)
        flops = dense / steps
        cls = "binary" if a.binary else ("graded" if a.graded else "analog")
        rate = a.total / a.numel if conv.rate == "mean" else a.nonzero / a.numel
        if name in overrides:
            rate = float(overrides[name])
        rates[name] = rate
        is_head = name.split(".")[-1] in head_names
        role = "head" if is_head else "inner"
        if cls == "analog" and not first_done and not is_head:
            first_done, role = True, "first"
        layers.append(layer_ops(name, a.kind, role, conv, flops, dense, rate, cls))
        stats.append(
            LayerStats(
                name,
                a.kind,
                dense,
                flops,
                steps,
                rate,
                cls,
                a.effective / samples,
                a.nb_spiking,
                a.order,
            )
        )
    return AnalyticalCount(tuple(layers), tuple(stats), conv, samples, rates)


def layer_ops(
    name: str,
    kind: str,
    role: Literal["first", "head", "inner"],
    conv: Convention,
    flops: float,
    dense: float,
    rate: float,
    input_class: str,
) -> LayerOps:
    """One connection layer's counts per inference under `conv`.

    ``role``: ``first`` (the encoding layer fed the analog input: FLOPs x T, or once, as
    MAC), ``head`` (the classifier: dense MAC as executed, or fr x T x FLOPs ACs) or
    ``inner``; ``flops``: MACs per timestep per sample; ``dense``: MACs as executed (all
    steps); ``rate``: input firing rate; ``input_class``: binary / graded / analog.
    """
    t = conv.timesteps
    if role == "first":
        mult = t if conv.first_layer_times_t else 1
        return LayerOps(
            name, kind, macs=flops * mult, note=f"first (encoding) layer: FLOPs x {mult}, MAC"
        )
    if role == "head" and conv.head_as_mac:
        return LayerOps(name, kind, macs=dense, note="head: dense MAC as executed")
    if role == "head":
        return LayerOps(name, kind, acs=rate * t * flops, note=f"head as AC: fr={rate:.4g}")
    if input_class == "analog" or (input_class == "graded" and conv.graded_spikes == "mac"):
        return LayerOps(name, kind, macs=dense, note=f"{input_class} input: dense MAC")
    return LayerOps(
        name,
        kind,
        acs=rate * t * flops,
        note=f"{input_class} input: SOP = fr {rate:.4g} x T {t} x FLOPs {flops:.6g}",
    )


# ------------------------------------------------------------------------- attention


def _pair(conv: Convention, ra: float, rb: float, exact: float) -> float:
    return exact if conv.attention_pair_rate == "exact" else min(ra, rb)


def _coincidence(a: torch.Tensor, b: torch.Tensor, axis: int, products: int) -> float:
    """Exact rate of a spike x spike product summed along `axis`: sum over the other axes of
    nz(a) nz(b) counts along `axis`, over `products` (T B h x the product's terms)."""
    count = (a != 0).double().sum(axis) * (b != 0).double().sum(axis)
    return float(count.sum()) / products


def _attention_ops(
    name: str, a: _Acc, conv: Convention, samples: int, rates: tuple | None = None
) -> LayerOps:
    """Analytical counts of the spike x spike products of an attention core: per call, its
    variant's ``paper_ops`` (``spikeport.ir.attention``; each variant module states its
    formula) on q, k, v of shape [T, B, h, N, d] with rates fr_q, fr_k, fr_v; "pair" is
    min(fr_a, fr_b) (energy script) or the exact coincidence rate. A variant without
    ``paper_ops`` is refused (NotImplementedError naming it), never counted as zero.
    """
    kinds = ("acs", "macs", "and_words", "xnor_words", "popcount_words", "int_adds", "int_mults")
    ops = dict.fromkeys(kinds, 0.0)
    spec = attention.variant(a.kind.split(":", 1)[1])
    notes: set[str] = set()
    for q, k, v, mod in a.qkv:
        t, b, h, n, d = q.shape
        fq, fk, fv = (float(x.double().mean()) for x in (q, k, v))
        if rates is not None:
            fq, fk, fv = (float(r) for r in rates)
        order = conv.attention_order
        if order == "auto":
            order = "dxd" if d <= n else "nxn"
        call = attention.CoreCall(
            t,
            b,
            h,
            n,
            d,
            fq,
            fk,
            fv,
            exact_kv=_coincidence(k, v, -1, t * b * h * n * d * d),
            exact_qk=_coincidence(q, k, -2, t * b * h * n * n * d),
            exact_kv_elem=float(((k != 0) & (v != 0)).double().mean()),
            order=order,
            word_bits=conv.word_bits,
            pair=lambda ra, rb, exact: _pair(conv, ra, rb, exact),
            core=mod,
            compartments=conv.lrf_dyn_compartments,
        )
        spec.paper_ops(call, ops, notes)
    per = {key: val / samples for key, val in ops.items()}
    return replace(LayerOps(name, a.kind), **per, note="; ".join(sorted(notes)))
