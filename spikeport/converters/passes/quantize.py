"""``quantize``: float graph -> Loihi fixed point, following Lava's conventions (lava.md §1, §1.5).

Runs after fold-batchnorm, fold-input-scale and merge-attention-scale. Per layer it picks a
state scale S (integers of u/v per float unit of membrane potential) and emits exactly the
integers Lava's process constructors take:

* Synapse + LIF (``H = (1 - 1/tau) V + W x + b``, spike ``H >= theta``, reset 0) ->
  Dense/Conv + CubaLIF. Weights: 8-bit mantissa + sign, even values in [-256, 254] (Lava
  drops the LSB of mixed-sign weights, so we quantise to that grid and its truncation is a
  no-op), ``W_int = W S / (64 * 2^weight_exp)``. ``vth = theta S / 64`` (Lava compares
  ``v > vth << 6``); S is chosen so that vth is an integer. ``du = 4095`` (Lava's du+1
  offset makes the current decay 4096/4096: u = a << 6 each step), ``dv = 4096 / tau``,
  ``bias = round(b S)`` as a 13-bit mantissa << bias_exp (0..7). Conv ignores weight_exp in
  Lava, so Conv layers use weight_exp 0; Dense picks weight_exp so that vth keeps >= 9 bits
  while the worst-case current ``64 * 2^e * max_row sum|W_int| * x_max`` stays inside the
  24-bit u register (no wrap possible).
* Attention + LIF -> IntAttention + CubaLIF with ``a`` in units of 2^-m counts
  (u = a << 6: S = 2^(m+6) per count); m is the largest shift (<= 10) that keeps the worst
  case inside 24 bits. Integer inputs make threshold ties common (``V/2 + A = 8``), and
  SpikingJelly fires on ``>=`` while Lava fires on ``>``: vth = ceil(theta 2^m) - 1 makes
  ``v > vth << 6`` equal ``v >= theta S`` whenever v is a multiple of 64, which holds for
  count inputs while m >= T - 1 (the report flags it).
* TokenMean -> TimeMean -> Linear (readout) -> Transpose + Dense(ones) token sum +
  Dense(head, weights W / N) + CubaLIF readout neuron that never spikes (vth = 2^17, as netx
  readouts) with dv = 0, whose final v is T * S * logits.
* Residual Adds, MaxPool2d and layout nodes stay; graded messages get num_message_bits.
* Input (float) -> Input (graded) integers ``round(x * input_scale)``.

Every decision is recorded in ``graph.meta['quantization']`` (the per-layer report).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikeport.converters.passes.graph_edit import kind, single_consumer, source
from spikeport.converters.passes.manager import Pass
from spikeport.errors import UnsupportedError
from spikeport.ir import (
    Conv,
    CubaLIF,
    Dense,
    Graph,
    Reshape,
    Transpose,
    infer_shapes,
)
from spikeport.ir.int_attention import DYN_FRAC_BITS, IntAttention

U_MAX = (1 << 23) - 1
VTH_MAX = 1 << 17
BIAS_MANT_MAX = 4095
W_MAX = 254  # largest even mantissa Lava keeps for mixed-sign weights
ACT_SHIFT = 6


@dataclass(frozen=True)
class QuantConfig:
    """input_scale: integers per input unit (digits pixels x/16 -> 16); input_max: largest
    input value (float); count_shift_max: largest attention fraction shift m; a_shift:
    a-XNOR coefficient bits p (a = a_int / 2^p); min_vth: smallest threshold mantissa a
    Dense layer aims for before its weight exponent is raised; clip_search: also try scales
    that clip the largest weights (least squared weight error)."""

    input_scale: float = 1.0
    input_max: float = 1.0
    count_shift_max: int = 10
    a_shift: int = 12
    min_vth: int = 512
    clip_search: bool = True


def _even(x: np.ndarray) -> np.ndarray:
    return np.clip(2 * np.rint(x / 2.0), -256, W_MAX).astype(np.int64)


def _mantissa(x: np.ndarray, conv: bool) -> np.ndarray:
    """Weight mantissas Lava keeps: Dense drops the LSB of mixed-sign weights (even values in
    [-256, 254]); fixed-point Conv neither clips nor truncates (all of [-256, 255])."""
    if conv:
        return np.clip(np.rint(x), -256, 255).astype(np.int64)
    return _even(x)


def _mantissa_float(x: np.ndarray, conv: bool) -> None:
    """:func:`_mantissa` in place on float64 `x` (same values, kept as float64)."""
    if conv:
        np.rint(x, out=x)
    else:
        x /= 2.0
        np.rint(x, out=x)
        x *= 2.0
    np.clip(x, -256, 255 if conv else W_MAX, out=x)


def _bias(b: np.ndarray) -> tuple[np.ndarray, int, int]:
    """(mantissa, exp, number saturated) for integer bias values b (added to v each step)."""
    big = float(np.abs(b).max(initial=0.0))
    exp = 0
    while exp < 7 and big / (1 << exp) > BIAS_MANT_MAX:
        exp += 1
    mant = np.rint(b / (1 << exp))
    sat = int(np.sum(np.abs(mant) > BIAS_MANT_MAX))
    return np.clip(mant, -BIAS_MANT_MAX - 1, BIAS_MANT_MAX).astype(np.int64), exp, sat


def _floor_offset(weight_exp: int) -> float:
    """Mean error Lava's floor shift ``acc >> k`` (k = -weight_exp > 0) adds to u (<< 6),
    for uniformly distributed low bits: -(2^k - 1) / 2^(k+1) activation units. Returned
    negated, in u/v units, to be added to the bias (unbiased rounding on average)."""
    k = -weight_exp
    return 0.0 if k <= 0 else 64.0 * ((1 << k) - 1) / (1 << (k + 1))


def _message_bits(bound: int) -> int:
    return 0 if bound <= 1 else int(bound).bit_length() + 1


def _rel_err(approx: np.ndarray, exact: np.ndarray) -> float:
    den = float(np.linalg.norm(exact))
    return float(np.linalg.norm(approx - exact)) / den if den else 0.0


def _tau_decay(lif) -> tuple[int, float]:
    dv_f = 4096.0 / lif.tau
    return int(round(dv_f)), abs(round(dv_f) - dv_f)


class Quantize(Pass):
    name = "quantize"
    description = (
        "Loihi fixed point (Lava conventions): Dense/Conv + CubaLIF, IntAttention, readout"
    )

    def __init__(
        self,
        config: QuantConfig | None = None,
        input_means: dict[str, np.ndarray] | None = None,
    ) -> None:
        """`input_means[synapse]`: mean input per input feature (Linear: last axis; Conv2d:
        per input channel) in float units, measured on calibration data (training images).
        When given, each layer's bias absorbs the mean shift its weight rounding causes
        (bias correction, Nagel et al. 2019)."""
        self.config = config or QuantConfig()
        self.input_means = input_means or {}

    # -- driver ---------------------------------------------------------------------------
    def run(self, graph: Graph) -> int:
        cfg = self.config
        self.shapes = infer_shapes(graph)
        self.bound: dict[str, int] = {}
        self.unit: dict[str, float] = {}
        self.rows: list[dict[str, Any]] = []
        self.T = int(graph.meta.get("T", 1))
        count = 0
        for name in list(graph.topological_order()):
            if name not in graph:
                continue
            k = kind(graph, name)
            rec = graph.node(name)
            if k == "Input":
                if rec.kind == "float":
                    graph.replace(rec.replace(kind="graded"))
                    graph.meta["input_scale"] = cfg.input_scale
                    self.bound[name] = int(math.ceil(cfg.input_max * cfg.input_scale))
                    self.unit[name] = 1.0 / cfg.input_scale
                else:
                    self.bound[name], self.unit[name] = 1, 1.0
            elif k in ("Conv2d", "Linear"):
                if self._is_readout_head(graph, name):
                    continue
                lif = single_consumer(graph, name)
                if lif is None or kind(graph, lif) != "LIF":
                    raise UnsupportedError(
                        f"{name}: {k} not followed by a LIF neuron (only synapse -> LIF pairs "
                        "and the readout head can be quantised)"
                    )
                self._synapse_lif(graph, name, lif)
            elif k == "Attention":
                self._attention(graph, name)
            elif k == "LIF":
                raise UnsupportedError(
                    f"{name}: LIF fed by {kind(graph, source(graph, name))}; quantisation "
                    "needs a synapse or attention in front of every LIF"
                )
            elif k == "TokenMean":
                self._readout(graph, name)
            elif k == "BatchNorm":
                raise UnsupportedError(f"{name}: BatchNorm that could not be folded into a synapse")
            elif k == "Add":
                ins = graph.inputs_of(name)
                self.bound[name] = self.bound[ins["a"]] + self.bound[ins["b"]]
                self.unit[name] = 1.0
            elif k in ("MaxPool2d", "Reshape", "Flatten", "Transpose"):
                src = source(graph, name)
                self.bound[name], self.unit[name] = self.bound[src], self.unit[src]
            elif rec.level == "float":
                raise UnsupportedError(f"{name}: {k} has no fixed-point mapping")
            count += 1
        graph.meta["quantization"] = {
            "scheme": "loihi-fixed-point (lava-nc 0.10.0 conventions)",
            "input_scale": cfg.input_scale,
            "T": self.T,
            "layers": self.rows,
        }
        graph.meta["level"] = "int"
        return count

    # -- synapse + LIF --------------------------------------------------------------------
    def _lif_params(self, lif_name: str, lif) -> tuple[int, float]:
        if lif.decay_input:
            raise UnsupportedError(f"{lif_name}: decay_input=True; run fold-input-scale first")
        if lif.v_reset != 0.0:
            raise UnsupportedError(
                f"{lif_name}: v_reset={lif.v_reset} (Loihi resets v to 0; soft reset unsupported)"
            )
        return _tau_decay(lif)

    def _rounding_shift(
        self, name: str, w: np.ndarray, w_back: np.ndarray, unit: float
    ) -> np.ndarray:
        """Mean pre-activation shift (float units, per output) caused by weight rounding."""
        mean = self.input_means.get(name)
        if mean is None:
            return np.zeros(w.shape[0])
        mu = np.asarray(mean, dtype=np.float64) / unit  # mean integer message
        dw = (w_back - w).reshape(w.shape[0], w.shape[1], -1).sum(-1)
        return dw @ mu

    def _weights(
        self, w: np.ndarray, theta: float, e: int, wmax: float, xb: int, conv: bool, search: bool
    ) -> tuple[int, int, float, np.ndarray, float]:
        """(e, vth, S, W_int, worst-case |u|) at weight exponent e. With `search`, larger
        scales (up to 2x, clipping the largest weights) are tried and the one with the least
        squared weight error whose worst-case current fits 24 bits is kept.

        Candidates are evaluated in one reused float64 buffer (mantissas are small integers,
        exact in float64, so row sums and errors equal those of the int64 mantissas); only the
        chosen candidate's int64 mantissas are materialised."""
        vth0 = min(VTH_MAX, max(1, math.floor(W_MAX * theta * 2.0**e / wmax)))
        step = 64.0 * 2.0**e
        buf = np.empty(w.shape, dtype=np.float64)
        best = None
        tried: set[int] = set()
        for j in range(17 if search else 1):
            vth = min(VTH_MAX, math.floor(vth0 * (1 + j / 16)))
            if vth in tried:  # same scale, same error: never strictly better
                continue
            tried.add(vth)
            s = 64.0 * vth / theta
            np.multiply(w, s, out=buf)
            buf /= step
            _mantissa_float(buf, conv)
            row = np.abs(buf).reshape(buf.shape[0], -1).sum(1).max(initial=0)
            u_bound = step * float(row) * xb
            buf *= 64.0
            buf *= 2.0**e
            buf /= s
            buf -= w
            np.square(buf, out=buf)
            err = float(np.sum(buf))
            if best is None or (u_bound <= U_MAX and err < best[0]):
                best = (err, (e, vth, s, u_bound))
        e, vth, s, u_bound = best[1]
        return e, vth, s, _mantissa(w * s / step, conv), u_bound

    def _synapse_lif(self, graph: Graph, name: str, lif_name: str) -> None:
        syn, lif = graph.node(name), graph.node(lif_name)
        dv, dv_err = self._lif_params(lif_name, lif)
        src = source(graph, name)
        xb, unit = self.bound[src], self.unit[src]
        is_conv = kind(graph, name) == "Conv2d"
        w = np.asarray(syn.weight, dtype=np.float64) * unit
        b = np.zeros(w.shape[0]) if syn.bias is None else np.asarray(syn.bias, np.float64)
        theta = float(lif.v_threshold)
        if theta <= 0:
            raise UnsupportedError(f"{lif_name}: threshold {theta} must be > 0 on Loihi")
        wmax = float(np.abs(w).max(initial=0.0)) or 1e-30
        exps = [0] if is_conv else list(range(-8, 8))
        chosen = None
        for e in exps:
            cand = self._weights(w, theta, e, wmax, xb, is_conv, search=False)
            if chosen is None or cand[4] <= U_MAX:
                chosen = cand
            if cand[4] > U_MAX or cand[1] >= self.config.min_vth:
                break
        if self.config.clip_search:
            chosen = self._weights(w, theta, chosen[0], wmax, xb, is_conv, search=True)
        e, vth, s, w_int, u_bound = chosen
        w_back = w_int * 64.0 * 2.0**e / s
        shift = self._rounding_shift(name, w, w_back, unit)
        bias_mant, bias_exp, bias_sat = _bias(np.rint((b - shift) * s + _floor_offset(e)))
        shape = self.shapes[lif_name]
        bits = _message_bits(xb)
        if is_conv:
            new = Conv(
                name,
                weight=w_int,
                stride=syn.stride,
                padding=syn.padding,
                dilation=syn.dilation,
                groups=syn.groups,
                num_message_bits=bits,
            )
            bias_mant = bias_mant.reshape(-1, 1, 1)
        else:
            new = Dense(name, weight=w_int, weight_exp=e, num_message_bits=bits)
        graph.replace(new)
        graph.replace(
            CubaLIF(
                lif_name,
                shape=shape,
                du=4095,
                dv=dv,
                vth=vth,
                bias_mant=bias_mant,
                bias_exp=bias_exp,
            )
        )
        self.bound[name], self.unit[name] = 0, 1.0
        self.bound[lif_name], self.unit[lif_name] = 1, 1.0
        b_back = (bias_mant.reshape(-1) * 2.0**bias_exp) / s
        self.rows.append(
            {
                "layer": name,
                "neuron": lif_name,
                "kind": "Conv" if is_conv else "Dense",
                "weight_min": float(w.min()),
                "weight_max": float(w.max()),
                "weight_exp": e,
                "mantissa_min": int(w_int.min()),
                "mantissa_max": int(w_int.max()),
                "state_scale": s,
                "vth": vth,
                "dv": dv,
                "dv_rounding": dv_err,
                "input_bound": xb,
                "num_message_bits": bits,
                "weight_rel_error": _rel_err(w_back, w),
                "weight_max_abs_error": float(np.abs(w_back - w).max(initial=0.0)),
                "bias_rel_error": _rel_err(b_back, b),
                "bias_exp": bias_exp,
                "bias_saturated": bias_sat,
                "bias_correction_max": float(np.abs(shift).max(initial=0.0)),
                "u_worst_case": u_bound,
                "wrap_risk": u_bound > U_MAX,
                "v_saturation_possible": 2 * u_bound + float(np.abs(b * s).max(initial=0)) > U_MAX,
            }
        )

    # -- attention ------------------------------------------------------------------------
    def _attention(self, graph: Graph, name: str) -> None:
        rec = graph.node(name)
        n_tok, dim = self.shapes[name]
        cfg = self.config
        params: dict[str, Any] = {}
        row: dict[str, Any] = {"layer": name, "kind": f"IntAttention/{rec.variant}"}
        if rec.variant == "sdsa":
            lif_theta, tau = rec.sdsa_threshold, 2.0
            m = self._count_shift(float(n_tok) * tau)
            vth = max(0, math.ceil(lif_theta * tau * 2**m) - 1)
            new = IntAttention(
                name,
                variant="sdsa",
                heads=rec.heads,
                head_dim=rec.head_dim,
                count_shift=m,
                inner_vth=vth,
                inner_dv=2048,
            )
            graph.replace(new)
            self.bound[name], self.unit[name] = 1, 1.0
            row.update(count_shift=m, vth=vth, state_scale=64.0 * 2**m * tau)
            row.update(exact_ties=m >= self.T - 1, u_worst_case=64.0 * 2**m * n_tok)
            self.rows.append(row)
            return
        lif_name = single_consumer(graph, name)
        if lif_name is None or kind(graph, lif_name) != "LIF":
            raise UnsupportedError(f"{name}: attention output must feed one LIF neuron")
        lif = graph.node(lif_name)
        dv, _ = self._lif_params(lif_name, lif)
        if rec.scale != 1.0:
            raise UnsupportedError(f"{name}: scale {rec.scale} != 1; run merge-attention-scale")
        count_bound = float(n_tok * rec.head_dim)
        if rec.variant == "lrf_dyn":
            count_bound = _dyn_bound(rec, n_tok)
        local_bound = 0.0
        if rec.local_weight is not None:
            lw = np.asarray(rec.local_weight, dtype=np.float64)
            local_bound = float(np.abs(lw).sum(axis=(0, 2, 3, 4)).max())
        m = self._count_shift(count_bound + local_bound)
        theta = float(lif.v_threshold)
        vth = max(0, math.ceil(theta * 2**m) - 1)
        row.update(count_shift=m, vth=vth, state_scale=64.0 * 2**m, dv=dv)
        row.update(
            exact_ties=m >= self.T - 1, u_worst_case=64.0 * 2**m * (count_bound + local_bound)
        )
        if rec.variant == "axnor":
            a = np.broadcast_to(np.asarray(rec.a, dtype=np.float64), (rec.heads,))
            a_int = np.rint(a * 2**cfg.a_shift).astype(np.int64)
            params.update(a_int=a_int, a_shift=cfg.a_shift)
            row.update(
                a=a.tolist(),
                a_int=a_int.tolist(),
                a_error=float(np.abs(a_int / 2**cfg.a_shift - a).max()),
            )
        if rec.local_weight is not None:
            lw = np.asarray(rec.local_weight, dtype=np.float64) * 2**m
            r = math.ceil(math.log2(max(np.abs(lw).max(), 1e-30) / 255.0))
            lw_int = np.clip(np.rint(lw / 2.0**r), -256, 255).astype(np.int64)
            params.update(
                local_weight=lw_int, local_shift=r, local_dilation=rec.local_dilation, grid=rec.grid
            )
            row.update(local_shift=r, local_rel_error=_rel_err(lw_int * 2.0**r, lw))
        if rec.variant == "lrf_dyn":
            one = 1 << DYN_FRAC_BITS
            dyn = {
                f: np.rint(np.asarray(getattr(rec, f), np.float64) * one).astype(np.int64)
                for f in ("dyn_a", "dyn_gamma", "dyn_c")
            }
            params.update(dyn, input_mode=rec.input_mode)
            row.update(
                dyn_rel_error=max(
                    _rel_err(dyn[f] / one, np.asarray(getattr(rec, f), np.float64)) for f in dyn
                ),
                dyn_max_int=int(max(np.abs(v).max() for v in dyn.values())),
            )
        new = IntAttention(
            name,
            variant=rec.variant,
            heads=rec.heads,
            head_dim=rec.head_dim,
            count_shift=m,
            **params,
        )
        graph.replace(new)
        graph.replace(CubaLIF(lif_name, shape=self.shapes[lif_name], du=4095, dv=dv, vth=vth))
        row["neuron"] = lif_name
        row["wrap_risk"] = row["u_worst_case"] > U_MAX
        self.rows.append(row)
        self.bound[name], self.unit[name] = 0, 1.0
        self.bound[lif_name], self.unit[lif_name] = 1, 1.0

    def _count_shift(self, bound: float) -> int:
        m = self.config.count_shift_max
        while m > 0 and 64.0 * 2**m * bound > U_MAX:
            m -= 1
        return m

    # -- readout --------------------------------------------------------------------------
    def _is_readout_head(self, graph: Graph, name: str) -> bool:
        if kind(graph, name) != "Linear" or name not in graph.outputs:
            return False
        src = source(graph, name)
        return kind(graph, src) in ("TimeMean", "TokenMean")

    def _readout(self, graph: Graph, name: str) -> None:
        tmean = single_consumer(graph, name)
        head = single_consumer(graph, tmean) if tmean else None
        if (
            tmean is None
            or kind(graph, tmean) != "TimeMean"
            or head is None
            or kind(graph, head) != "Linear"
            or head not in graph.outputs
        ):
            raise UnsupportedError(
                f"{name}: token mean must feed mean over time then the output Linear head"
            )
        tm = graph.node(name)
        src = source(graph, name)
        in_shape = self.shapes[src]
        if len(in_shape) != 2:
            raise UnsupportedError(
                f"{name}: token mean of a {len(in_shape)}-d input (needs (N, D))"
            )
        axis = tm.axis % 2
        n_tok, dim = in_shape[axis], in_shape[1 - axis]
        xb = self.bound[src]
        lin = graph.node(head)
        w = np.asarray(lin.weight, dtype=np.float64) / n_tok
        b = np.zeros(w.shape[0]) if lin.bias is None else np.asarray(lin.bias, np.float64)
        wmax = float(np.abs(w).max(initial=0.0)) or 1e-30
        sum_bound = n_tok * xb
        chosen = None
        for e in range(7, -9, -1):
            s = W_MAX * 64.0 * 2.0**e / wmax
            w_int = _even(w * s / (64.0 * 2.0**e))
            row_sum = float(np.abs(w_int).sum(1).max(initial=0))
            v_bound = self.T * (
                64.0 * 2.0**e * row_sum * sum_bound + float(np.abs(b * s).max(initial=0))
            )
            chosen = (e, s, w_int, v_bound)
            if v_bound <= U_MAX:
                break
        e, s, w_int, v_bound = chosen
        bias_mant, bias_exp, bias_sat = _bias(np.rint(b * s + _floor_offset(e)))
        # rebuild: [Transpose] -> token-sum Dense -> Reshape -> head Dense -> readout CubaLIF
        for n in (head, tmean, name):
            graph.remove(n)
        last = src
        if axis == 0:
            last = graph.add(Transpose(f"{name}.tokens_last", perm=(1, 0)), last).name
        bits_in = _message_bits(xb)
        graph.add(
            Dense(name, weight=np.ones((1, n_tok), dtype=np.int64), num_message_bits=bits_in), last
        )
        graph.add(Reshape(f"{name}.flat", shape=(dim,)), name)
        graph.add(
            Dense(head, weight=w_int, weight_exp=e, num_message_bits=_message_bits(sum_bound)),
            f"{name}.flat",
        )
        readout = f"{head}.readout"
        graph.add(
            CubaLIF(
                readout,
                shape=(w.shape[0],),
                du=4095,
                dv=0,
                vth=VTH_MAX,
                bias_mant=bias_mant,
                bias_exp=bias_exp,
            ),
            head,
        )
        graph.set_outputs([readout])
        graph.meta["readout"] = readout
        graph.meta["readout_scale"] = s * self.T
        w_back = w_int * 64.0 * 2.0**e / s
        self.rows.append(
            {
                "layer": head,
                "neuron": readout,
                "kind": "Dense (readout)",
                "weight_min": float(w.min()),
                "weight_max": float(w.max()),
                "weight_exp": e,
                "mantissa_min": int(w_int.min()),
                "mantissa_max": int(w_int.max()),
                "state_scale": s,
                "vth": VTH_MAX,
                "input_bound": sum_bound,
                "weight_rel_error": _rel_err(w_back, w),
                "weight_max_abs_error": float(np.abs(w_back - w).max(initial=0.0)),
                "bias_rel_error": _rel_err(bias_mant * 2.0**bias_exp / s, b),
                "bias_exp": bias_exp,
                "bias_saturated": bias_sat,
                "v_worst_case": v_bound,
                "wrap_risk": False,
                "v_saturation_possible": v_bound > U_MAX,
            }
        )


def _dyn_bound(rec, n_tok: int) -> float:
    """Largest |y_n| (counts) of the LRF-Dyn dendrites over n_tok tokens of 0/1 input."""
    a = np.asarray(rec.dyn_a, dtype=np.float64)
    g = np.asarray(rec.dyn_gamma, dtype=np.float64)[..., None]
    c = np.asarray(rec.dyn_c, dtype=np.float64)
    total = np.zeros(a.shape[0])
    x = g
    for _ in range(n_tok):
        total += np.abs((c[..., None] * x).sum(-2))[..., 0]
        x = a @ x
    return float(total.max(initial=0.0))
