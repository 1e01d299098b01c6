"""What the analytical count's hooks cannot see by themselves: spike products computed inside
a block's own forward, and integer-valued (I-LIF) spikes.

The hooks of :func:`~spikeport.hw_models.cost.analytical.count_model` see connection layers,
LIF neurons and attention cores. Two blocks of the new models multiply spikes in their own
forward; :func:`block_ops` counts one call of each (per call, ``w`` = word bits):

* ``TokenQKAttention`` (QKFormer's Q-K token attention, stages 1-2), q spikes ``[T, B, C, N]``,
  ``h`` heads of ``d = C / h`` channels. The per-head channel sum of Q is one AC per Q spike:
  ``T·B·C·N × r_q`` ACs. The token mask ``A_t = attn_lif(sum)`` (a neuron layer) gates K:
  ``T·B·N·ceil(C / w)`` AND words (``A_t`` replicated over its head's channels).
* ``MSAttentionLinear`` (SDT-V3), integer spikes q, k ``[B, C, H, W]``, v ``[B, 4C, H, W]``
  (no time axis, T = 1), ``N = H·W``, ``d = C / h``, ``dv = 4C / h``: ``(Q Kᵀ) V`` priced
  as SSA with a wider V: d x d order (``Kᵀ V`` first) ``T·B·h·N·d·dv × (pair(r_k, r_v) +
  r_q)`` ACs; N x N order ``T·B·h·N²·(d × pair(r_q, r_k) + dv × r_v)`` ACs.

Rates ``r`` are spikes per element per step; for integer spikes the mean integer count (a
spike of value s is s binary spikes of its virtual-timestep expansion), so ``r`` can exceed
1. ``pair(a, b)`` is ``min(a, b)`` (the energy script's rule) or, with
``attention_pair_rate="exact"``, the measured coincidences: the sum over tokens (d x d) or
channels (N x N) of the products of the two operands' per-head spike counts.

I-LIF outputs ``s / norm`` (modules with ``integers``, ``max_value`` and ``norm``, e.g.
``IntegerLIF``) feeding a connection layer are rescaled to the counts ``s`` by
:meth:`Capture.integer_counts`, so the count treats them as graded spikes: AC with
``SOP = mean(s) x T x FLOPs`` (each of the D virtual binary timesteps is a spike; the SDT-V3 /
SpikeYOLO authors' rate is "multiplied by D" but "not multiplied by T", BICLab/SpikeYOLO
#64) or dense MAC with ``graded_spikes="mac"``.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from spikeport.errors import SpikeportError
from spikeport.hw_models.cost.energy import LayerOps


@dataclass(frozen=True)
class BlockCall:
    """One call of a counted block: its kind, dims and (when measured) spike statistics.

    ``t, b, h, n, d, dv``: steps, batch, heads, tokens, q/k and v channels per head;
    ``sums``: total spikes of each operand (``q``, ``k``, ``v``) and ``exact_kv`` /
    ``exact_qk``: summed spike-count products (None on the meta device)."""

    name: str
    kind: str
    t: int
    b: int
    h: int
    n: int
    d: int
    dv: int
    sums: Mapping[str, float] | None = None
    exact_kv: float | None = None
    exact_qk: float | None = None

    def elements(self, operand: str) -> int:
        """Elements of an operand over the call: T·B·h·N·d (q, k) or ·dv (v)."""
        return self.t * self.b * self.h * self.n * (self.dv if operand == "v" else self.d)

    def rates(self) -> dict[str, float]:
        if self.sums is None:
            raise SpikeportError(f"{self.name}: no measured spikes; give its rates")
        return {k: v / self.elements(k) for k, v in self.sums.items()}


def _qkta(call: BlockCall, rates: Mapping[str, float], conv: Any) -> tuple[dict, str]:
    c = call
    channels = c.h * c.d
    acs = c.t * c.b * channels * c.n * rates["q"]
    words = c.t * c.b * c.n * math.ceil(channels / conv.word_bits)
    return {"acs": acs, "and_words": words}, "qkta: Q channel sums (AC), token mask AND K"


def _pair(conv: Any, a: float, b: float, exact: float | None, what: str) -> float:
    if conv.attention_pair_rate != "exact":
        return min(a, b)
    if exact is None:
        raise SpikeportError(f"{what}: exact pair rates need measured spikes (pair rate min)")
    return exact


def _linear_attention(call: BlockCall, rates: Mapping[str, float], conv: Any) -> tuple[dict, str]:
    c = call
    order = conv.attention_order
    if order == "auto":
        order = "dxd" if c.d <= c.n else "nxn"
    rq, rk, rv = rates["q"], rates["k"], rates["v"]
    if order == "dxd":
        base = c.t * c.b * c.h * c.n * c.d * c.dv
        exact = None if c.exact_kv is None else c.exact_kv / base
        acs = base * (_pair(conv, rk, rv, exact, c.name) + rq)
    else:
        qk = c.t * c.b * c.h * c.n * c.n * c.d
        exact = None if c.exact_qk is None else c.exact_qk / qk
        acs = qk * _pair(conv, rq, rk, exact, c.name) + c.t * c.b * c.h * c.n * c.n * c.dv * rv
    return {"acs": acs}, f"(Q K^T) V on integer spikes, {order}"


COUNTERS: dict[str, Callable[[BlockCall, Mapping[str, float], Any], tuple[dict, str]]] = {
    "qkta": _qkta,
    "linear_attention": _linear_attention,
}
"""Block kind -> its op count per call (ops by LayerOps field, note)."""

# block class name -> (kind, operand -> child module producing it)
BLOCKS: dict[str, tuple[str, dict[str, str]]] = {
    "TokenQKAttention": ("qkta", {"q": "q_lif"}),
    "MSAttentionLinear": ("linear_attention", {"q": "q_spike", "k": "k_spike", "v": "v_spike"}),
}
RATE_KEYS: dict[str, tuple[str, ...]] = {"qkta": ("q",), "linear_attention": ("q", "k", "v")}
"""The rates a block kind needs (a published-rates table gives them as a tuple)."""


def block_ops(
    call: BlockCall, conv: Any, samples: int, rates: Mapping[str, float] | None = None
) -> LayerOps:
    """The counts of one block call per sample; `rates` replace the measured ones."""
    ops, note = COUNTERS[call.kind](call, rates or call.rates(), conv)
    return LayerOps(
        call.name, f"block:{call.kind}", note=note, **{k: v / samples for k, v in ops.items()}
    )


def is_integer_spike(mod: nn.Module) -> bool:
    """An integer-spike neuron (I-LIF): emits ``integers(x) / norm``."""
    return all(hasattr(mod, a) for a in ("integers", "max_value", "norm"))


def _counts(out: torch.Tensor, mod: nn.Module) -> torch.Tensor:
    return out.detach() * float(getattr(mod, "norm", 1.0))


def _per_head(x: torch.Tensor, heads: int) -> torch.Tensor:
    """Spike counts summed per (sample, head, token) of ``[B, C, H, W]`` (heads split C)."""
    b, c = x.shape[:2]
    return x.reshape(b, heads, c // heads, -1).sum(2)


def _call(name: str, mod: nn.Module, kind: str, got: dict[str, torch.Tensor]) -> BlockCall:
    h = int(mod.num_heads)
    if kind == "qkta":
        q = got["q"]  # [T, B, C, N]
        t, b, c, n = q.shape
        dims = dict(t=t, b=b, h=h, n=n, d=c // h, dv=c // h)
    else:
        q, v = got["q"], got["v"]  # [B, C, H, W], [B, 4C, H, W]
        b, c = q.shape[:2]
        dims = dict(t=1, b=b, h=h, n=q[0, 0].numel(), d=c // h, dv=v.shape[1] // h)
    if q.is_meta:
        return BlockCall(name, kind, **dims)
    sums = {k: float(x.double().sum()) for k, x in got.items()}
    exact_kv = exact_qk = None
    if kind == "linear_attention":
        kh, vh = (_per_head(got[o].double(), h) for o in "kv")
        exact_kv = float((kh * vh).sum())
        qc = got["q"].double().flatten(2).sum(2)  # per (sample, channel) over tokens
        kc = got["k"].double().flatten(2).sum(2)
        exact_qk = float((qc * kc).sum())
    return BlockCall(name, kind, **dims, sums=sums, exact_kv=exact_kv, exact_qk=exact_qk)


class Capture:
    """Hooks recording block calls and I-LIF outputs during one model run."""

    def __init__(self) -> None:
        self.calls: list[BlockCall] = []
        self._integer: dict[int, tuple[weakref.ref, float]] = {}
        self._pending: dict[str, dict[str, torch.Tensor]] = {}

    def integer_counts(self, x: torch.Tensor) -> torch.Tensor:
        """`x` as integer spike counts when it is (a view of) an I-LIF output, else `x`."""
        if x.is_meta:
            return x
        hit = self._integer.get(x.untyped_storage().data_ptr())
        if hit is None or hit[0]() is None:
            return x
        return x.detach() * hit[1]

    def hooks(self, model: nn.Module) -> list:
        handles = []
        for name, mod in model.named_modules():
            if is_integer_spike(mod):
                handles.append(mod.register_forward_hook(self._integer_hook))
            spec = BLOCKS.get(type(mod).__name__)
            if spec is None:
                continue
            kind, children = spec
            for operand, child in children.items():
                handles.append(
                    getattr(mod, child).register_forward_hook(self._child_hook(name, operand))
                )
            handles.append(mod.register_forward_hook(self._block_hook(name, kind)))
        return handles

    def _integer_hook(self, mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
        if not out.is_meta:
            self._integer[out.untyped_storage().data_ptr()] = (weakref.ref(out), float(mod.norm))

    def _child_hook(self, block: str, operand: str) -> Callable:
        def hook(mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
            self._pending.setdefault(block, {})[operand] = _counts(out, mod)

        return hook

    def _block_hook(self, block: str, kind: str) -> Callable:
        def hook(mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
            self.calls.append(_call(block, mod, kind, self._pending.pop(block, {})))

        return hook

    def block_rows(
        self,
        layers: tuple[LayerOps, ...],
        conv: Any,
        samples: int,
        rates: Mapping[str, Mapping[str, float]] | None = None,
    ) -> tuple[LayerOps, ...]:
        """`layers` with one row per counted block (calls summed), each placed before its
        block's ``proj_conv`` row (or after the block's last row)."""
        rows: dict[str, LayerOps] = {}
        for call in self.calls:
            row = block_ops(call, conv, samples, (rates or {}).get(call.name))
            old = rows.get(call.name)
            rows[call.name] = row if old is None else add_ops(old, row)
        out = list(layers)
        for name, row in rows.items():
            inside = [i for i, lo in enumerate(out) if lo.name.startswith(name + ".")]
            proj = [i for i in inside if out[i].name.startswith(name + ".proj_conv")]
            at = proj[0] if proj else (inside[-1] + 1 if inside else len(out))
            out.insert(at, row)
        return tuple(out)


def add_ops(a: LayerOps, b: LayerOps) -> LayerOps:
    """The field-wise sum of two rows' counts (name, kind and note of `a`)."""
    return replace(a, **{k: getattr(a, k) + v for k, v in b.counts().items()})


@contextmanager
def capture(model: nn.Module) -> Iterator[Capture]:
    """Record block calls and I-LIF outputs while the caller runs `model` once."""
    cap = Capture()
    handles = cap.hooks(model)
    try:
        yield cap
    finally:
        for h in handles:
            h.remove()
