"""Read a lava-dl netx `.net` HDF5 network into a lowered (integer) IR graph.

The IR carries exactly the integers `lava.lib.dl.netx.hdf5.Network` (lava-dl 0.6.0) hands
to Lava's processes, re-laid out in spikeport's conventions (PyTorch (C, H, W) order and
cross-correlation kernels instead of Lava's (X, Y, C) and flipped kernels):

* `input` with a neuron -> Input + that neuron (CUBA/LOIHI: CubaLIF, SDNN: Delta); the
  file's scalar input weight/bias are never applied by netx, so they are only recorded in
  `graph.meta["input_transform"]`. Without a neuron -> Input only.
* `conv` -> Conv (weights as stored, truncated to int, no exponent) + neuron.
* `dense` -> Dense (weights passed through netx's weight-bit optimisation, giving the
  mantissa, weight_exp and num_weight_bits Lava receives; `delay` -> per-synapse delays
  clipped to 0..62) + neuron. A dense layer without a neuron gets netx's default
  integrator (iDecay 0, vDecay 4096, vThMant 1 << 17).
* `flatten` -> Flatten before the next layer (C-major, as netx's transpose + flatten).
* Neurons: CUBA/LOIHI -> CubaLIF(du = iDecay - 1, dv = vDecay, vth = vThMant,
  bias_mant = bias, bias_exp = 6); SDNN -> Delta (input layer), Sigma (`sigma_output`) or
  SigmaDelta (vth = vThMant, bias, spike_exp, state_exp = 6, ReLU whatever `activation`).

Everything else (pool, average, concat, convT, unpool, dense_rec, complex dense, RF
neurons) raises UnsupportedError naming the layer. Nothing is unpickled: only numeric and
string datasets are read with h5py, from a file without links to other files whose declared
sizes fit the memory budget (:mod:`spikeport.hdf5`); a NaN, infinite or out-of-range value
(:mod:`spikeport.value_range`) in any numeric field is refused naming the layer and field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from spikeport import hdf5, ir
from spikeport.errors import SpikeportError, UnsupportedError
from spikeport.value_range import check_values

NETX_STATE_EXP = 6
"""netx's fixed `state_exp` for sigma-delta neurons and `bias_exp` for LIF neurons."""
NETX_MAX_DELAY = 62
DEFAULT_READOUT = {"type": "CUBA", "iDecay": 0, "vDecay": 4096, "vThMant": 1 << 17}
"""netx's neuron for a dense layer without one (its `1 << 18 - 1` is 1 << 17 in Python)."""
SUPPORTED = ("input", "flatten", "dense", "conv")
UNSUPPORTED = ("pool", "average", "concat", "convT", "unpool", "dense_rec", "dense_comp")


def load_netx(
    path: str | Path,
    *,
    num_layers: int | None = None,
    input_message_bits: int = 0,
    input_shape: tuple[int, ...] | None = None,
    reset_interval: int | None = None,
    reset_offset: int = 0,
    spike_exp: int = 6,
) -> ir.Graph:
    """Import a netx `.net` file; keyword arguments mean what they mean for `netx.hdf5.Network`.

    num_layers: read only the first `num_layers` layer groups.
    input_message_bits: message width arriving at the first synapse when the input layer
        has no neuron (0 = binary spikes).
    input_shape: (C, H, W) or (N,) when the file has no input layer.
    reset_interval, reset_offset: make every LIF a LIFReset, phase offset per layer as netx.
    spike_exp: sigma-delta message exponent (netx default 6).
    """
    path = Path(path)
    if not path.is_file():
        raise SpikeportError(f"{path}: netx file not found")
    with hdf5.open_checked(path, "a netx .net file") as f:
        if not isinstance(f.get("layer"), h5py.Group):
            raise SpikeportError(f"{path}: no /layer group (not a netx .net file)")
        layers = f["layer"]
        keys = sorted(layers.keys(), key=lambda k: int(k) if re.fullmatch("[0-9]+", k) else -1)
        if [k for k in keys] != [str(i) for i in range(len(keys))]:
            listed = keys if len(keys) <= 8 else [*keys[:8], "..."]
            raise SpikeportError(f"{path}: /layer keys {listed} are not 0..{len(keys) - 1}")
        count = len(keys) if num_layers is None else min(num_layers, len(keys))
        builder = _Builder(path, input_message_bits, reset_interval, reset_offset, spike_exp)
        if input_shape is not None:
            builder.add_input(tuple(int(d) for d in input_shape), neuron=None, index=None)
        for i in range(count):
            group = layers[str(i)]
            if not isinstance(group, h5py.Group):
                raise SpikeportError(f"{builder.where(i)}: not a group")
            builder.add_layer(i, group)
    return builder.finish()


class _Builder:
    def __init__(
        self,
        path: Path,
        input_message_bits: int,
        reset_interval: int | None,
        reset_offset: int,
        spike_exp: int,
    ) -> None:
        self.path = path
        self.graph = ir.Graph(ir.plain_name(path.stem))
        self.graph.meta = {
            "source": "netx",
            "file": path.name,
            "spike_exp": spike_exp,
            "reset_interval": reset_interval,
            "layers": [],
        }
        self.last: str | None = None
        self.message_bits = input_message_bits
        self.reset_interval = reset_interval
        self.reset_offset = reset_offset + 1  # netx: "time starts from 1 in hardware"
        self.spike_exp = spike_exp
        self.flatten_next = False

    # -- layers -----------------------------------------------------------------------------
    def add_layer(self, i: int, group: h5py.Group) -> None:
        try:
            self._add_layer(i, group)
        except ir.GraphError as exc:  # a node refused its fields: say which file and layer
            raise SpikeportError(f"{self.where(i)}: {exc}") from None

    def _add_layer(self, i: int, group: h5py.Group) -> None:
        kind = _string(group, "type", self.where(i))
        if kind == "input":
            shape = _shape(group, self.where(i))
            self.add_input(shape, neuron=group.get("neuron"), index=i, group=group)
        elif kind == "flatten":
            self.flatten_next = True
            self.record(i, kind, [])
        elif kind == "conv":
            self.add_conv(i, group)
        elif kind == "dense":
            self.add_dense(i, group)
        elif kind in UNSUPPORTED:
            raise UnsupportedError(
                f"{self.where(i)}: layer type {kind!r} is not supported "
                f"(netx supports: {', '.join(SUPPORTED)})"
            )
        else:
            raise UnsupportedError(
                f"{self.where(i)}: unknown layer type {kind!r} (supported: {', '.join(SUPPORTED)})"
            )

    def add_input(
        self,
        shape: tuple[int, ...],
        neuron: Any,
        index: int | None,
        group: h5py.Group | None = None,
    ) -> None:
        if self.graph.input_names:
            raise UnsupportedError(f"{self.where(index)}: a second input layer is not supported")
        name = "input"
        params = _neuron_params(neuron, self.where(index)) if neuron is not None else None
        if params is None:
            kind = "spikes" if self.message_bits == 0 else "graded"
        else:
            kind = "graded" if params["type"] == "SDNN" else "spikes"
        self.graph.add(ir.Input(name, shape=shape, kind=kind))
        self.last = name
        nodes = [name]
        if params is not None:
            if group is not None:
                self.graph.meta["input_transform"] = {
                    "weight": _int_scalar(group, "weight", 64, self.where(index)),
                    "bias": _int_scalar(group, "bias", 0, self.where(index)),
                }
            neuron_node = self.neuron(f"layer{index}.neuron", shape, params, None, index, True)
            self.graph.add(neuron_node, self.last)
            self.last = neuron_node.name
            nodes.append(neuron_node.name)
        self.record(index, "input", nodes)

    def add_conv(self, i: int, group: h5py.Group) -> None:
        where = self.where(i)
        shape = _shape(group, where)
        weight = _int_array(group, "weight", where)
        if weight.ndim == 5 and weight.shape[4] == 1:  # SLAYER-1 kernels (out, in, kH, kW, 1)
            weight = weight.reshape(weight.shape[:4])
        if weight.ndim != 4:
            raise SpikeportError(f"{where}: conv weight has shape {weight.shape}")
        conv = ir.Conv(
            f"layer{i}.conv",
            weight=weight,
            stride=_pair(group, "stride", where),
            padding=_pair(group, "padding", where),
            dilation=_pair(group, "dilation", where),
            groups=_int_scalar(group, "groups", 1, where),
            num_message_bits=self.message_bits,
        )
        params = _neuron_params(_required(group, "neuron", where), where)
        self.add_synapse(i, "conv", conv, shape, params, group)

    def add_dense(self, i: int, group: h5py.Group) -> None:
        where = self.where(i)
        if "weight" not in group and ("weight/real" in group or "weight/imag" in group):
            raise UnsupportedError(f"{where}: complex dense layers are not supported")
        shape = (int(np.prod(_shape(group, where))),)
        weight = _int_array(group, "weight", where)
        if weight.ndim == 1:
            weight = weight.reshape(shape[0], -1)
        mantissa, num_weight_bits, weight_exp = optimize_weight_bits(weight, where)
        delay = None
        if "delay" in group:
            delay = _delays(_int_array(group, "delay", where), mantissa.shape, where)
        dense = ir.Dense(
            f"layer{i}.dense",
            weight=mantissa,
            weight_exp=weight_exp,
            num_weight_bits=num_weight_bits,
            num_message_bits=self.message_bits,
            delay=delay,
        )
        neuron = group.get("neuron")
        params = _neuron_params(neuron, where) if neuron is not None else dict(DEFAULT_READOUT)
        self.add_synapse(i, "dense", dense, shape, params, group)

    def add_synapse(
        self,
        i: int,
        kind: str,
        synapse: ir.Node,
        shape: tuple[int, ...],
        params: dict[str, Any],
        group: h5py.Group,
    ) -> None:
        if self.last is None:
            raise SpikeportError(
                f"{self.where(i)}: input shape unknown (no input layer; pass input_shape=)"
            )
        nodes = []
        if self.flatten_next:
            flat = ir.Flatten(f"layer{i}.flatten_in")
            self.graph.add(flat, self.last)
            self.last = flat.name
            nodes.append(flat.name)
            self.flatten_next = False
        self.graph.add(synapse, self.last)
        bias = _int_array(group, "bias", self.where(i)) if "bias" in group else None
        neuron = self.neuron(f"layer{i}.neuron", shape, params, bias, i, False)
        self.graph.add(neuron, synapse.name)
        self.last = neuron.name
        self.record(i, kind, [*nodes, synapse.name, neuron.name])

    # -- neurons ---------------------------------------------------------------------------
    def neuron(
        self,
        name: str,
        shape: tuple[int, ...],
        p: dict[str, Any],
        bias: np.ndarray | None,
        index: int | None,
        is_input: bool,
    ) -> ir.Node:
        where = self.where(index)
        kind = p["type"]
        if kind in ("CUBA", "LOIHI"):
            bias_mant = 0 if bias is None else _broadcast_bias(bias, shape, where)
            extra: dict[str, Any] = {}
            if self.reset_interval is not None:
                extra = {"reset_interval": self.reset_interval, "reset_offset": self.reset_offset}
            node = ir.CubaLIF(
                name,
                shape=shape,
                du=_need_int(p, "iDecay", where) - 1,
                dv=_need_int(p, "vDecay", where),
                vth=_need_int(p, "vThMant", where),
                bias_mant=bias_mant,
                bias_exp=NETX_STATE_EXP,
                **extra,
            )
            self.message_bits = int(p.get("messageBits", 0))
        elif kind == "SDNN":
            bits = int(p.get("messageBits", 16))
            if is_input:
                node = ir.Delta(
                    name,
                    shape=shape,
                    vth=_need_int(p, "vThMant", where),
                    spike_exp=self.spike_exp,
                    state_exp=NETX_STATE_EXP,
                )
            elif p.get("sigma_output"):
                if bias is not None:
                    raise UnsupportedError(f"{where}: a sigma_output layer cannot take a bias")
                node = ir.Sigma(name, shape=shape)
            else:
                node = ir.SigmaDelta(
                    name,
                    shape=shape,
                    vth=_need_int(p, "vThMant", where),
                    bias=0 if bias is None else _broadcast_bias(bias, shape, where),
                    spike_exp=self.spike_exp,
                    state_exp=NETX_STATE_EXP,
                    act_mode="relu",
                )
            self.message_bits = bits
        elif "RF" in kind:
            raise UnsupportedError(f"{where}: resonate-and-fire neuron {kind!r} is not supported")
        else:
            raise UnsupportedError(
                f"{where}: neuron type {kind!r} is not supported (CUBA, LOIHI, SDNN)"
            )
        self.reset_offset += 1
        return node

    # -- bookkeeping -----------------------------------------------------------------------
    def where(self, index: int | None) -> str:
        return f"{self.path}: layer {index}" if index is not None else f"{self.path}"

    def record(self, index: int | None, kind: str, nodes: list[str]) -> None:
        if index is not None:
            self.graph.meta["layers"].append({"index": index, "type": kind, "nodes": nodes})

    def finish(self) -> ir.Graph:
        if not self.graph.input_names:
            raise SpikeportError(f"{self.path}: no input layer (pass input_shape=)")
        if self.last is not None:
            self.graph.set_outputs([self.last])
        try:
            ir.validate(self.graph)
        except ir.GraphError as exc:
            raise SpikeportError(f"{self.path}: {exc}") from None
        return self.graph


# -- netx's weight handling (re-implemented from its documented behaviour) ---------------
def optimize_weight_bits(weight: np.ndarray, where: str = "weight") -> tuple[np.ndarray, int, int]:
    """netx's `optimize_weight_bits`: (mantissa, num_weight_bits, weight_exp) for Lava's Dense.

    The integer weights (8 bits + sign) are shifted left by `scale_bits` so that the
    largest magnitude fills the 8-bit (+sign) synapse, and weight_exp = -scale_bits undoes
    it; num_weight_bits = 8 - scale_bits - n, where 2**n is the largest power of two
    (<= 2**8) dividing every weight, less one for mixed signs. Mixed-sign weights outside
    [-256, 254] are clipped there first, as netx does.
    """
    w = np.asarray(weight, dtype=np.int64)
    if w.size == 0 or not np.any(w):
        raise UnsupportedError(f"{where}: an all-zero weight matrix cannot be mapped by netx")
    hi, lo = int(w.max()), int(w.min())
    if (hi > 254 and lo < 0) or (lo < -256 and hi > 0):
        w = np.clip(w, -256, 254)
        hi, lo = int(w.max()), int(w.min())
    if hi < 0:
        signed, scale = 0, -256 / lo
    elif lo >= 0:
        signed, scale = 0, 255 / hi
    else:
        signed, scale = 1, min(127 / hi if hi > 0 else np.inf, -128 / lo)
    if scale < 1 and not signed:
        raise UnsupportedError(
            f"{where}: weights {lo}..{hi} exceed the 8-bit single-sign synapse range"
        )
    scale_bits = int(np.floor(np.log2(scale))) + signed
    n = 8
    while n > 0 and np.any(w % (1 << n)):
        n -= 1
    n -= signed
    return w << scale_bits, 8 - scale_bits - n, -scale_bits


def _delays(delay: np.ndarray, weight_shape: tuple[int, int], where: str) -> np.ndarray:
    """netx's delay handling: clip to 0..62, broadcast per output (axonal) or per input."""
    delay = np.asarray(delay)
    if delay.size and delay.max() > NETX_MAX_DELAY:
        delay = np.clip(delay, 0, NETX_MAX_DELAY)
    n_out, n_in = weight_shape
    if delay.ndim == 0:
        full = np.full(weight_shape, delay)
    elif delay.ndim == 1 and delay.size == n_out:
        full = np.repeat(delay.reshape(-1, 1), n_in, axis=1)
    elif delay.ndim == 1 and delay.size == n_in:
        full = np.repeat(delay.reshape(1, -1), n_out, axis=0)
    elif delay.shape == weight_shape:
        full = delay
    else:
        raise SpikeportError(
            f"{where}: delay shape {delay.shape} does not fit weight {weight_shape}"
        )
    return full.astype(np.int64)  # Lava: delays.astype(int), truncation toward zero


def _broadcast_bias(bias: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
    """netx's bias rule on (C, H, W): scalar/1-D layers as is, neuron-wise, or per channel."""
    if len(shape) == 1:
        return bias
    lava_shape = tuple(reversed(shape))  # netx compares against its (X, Y, C) shape
    if tuple(bias.shape) == lava_shape:
        return np.transpose(bias)  # neuron-wise bias stored in Lava's (X, Y, C) order
    if bias.ndim == 1 and bias.shape[0] == shape[0]:
        return np.broadcast_to(bias.reshape(-1, *([1] * (len(shape) - 1))), shape).copy()
    raise SpikeportError(f"{where}: bias of shape {bias.shape} does not fit neurons {shape}")


# -- HDF5 reading ----------------------------------------------------------------------------
def _required(group: h5py.Group, key: str, where: str) -> Any:
    if key not in group:
        raise SpikeportError(f"{where}: missing field {key!r}")
    return group[key]


def _dataset(group: h5py.Group, key: str, where: str) -> np.ndarray:
    ds = _required(group, key, where)
    if not isinstance(ds, h5py.Dataset):
        raise SpikeportError(f"{where}: field {key!r} is not a numeric dataset")
    return hdf5.read(ds, f"{where}: field {key!r}")


def _int_array(group: h5py.Group, key: str, where: str) -> np.ndarray:
    """Like netx's NetDict: float values truncated toward zero to integers."""
    arr = _dataset(group, key, where)
    check_values(arr, f"{where}: field {key!r}")
    return arr.astype(np.int64)


def _int_scalar(group: h5py.Group, key: str, default: int, where: str) -> int:
    if key not in group:
        return default
    arr = _int_array(group, key, where).reshape(-1)
    if arr.size != 1:
        raise SpikeportError(f"{where}: field {key!r} must be a scalar")
    return int(arr[0])


def _pair(group: h5py.Group, key: str, where: str) -> tuple[int, int]:
    arr = _int_array(group, key, where).reshape(-1)
    if arr.size == 1:
        return (int(arr[0]), int(arr[0]))
    if arr.size != 2:
        raise SpikeportError(f"{where}: field {key!r} must hold 1 or 2 values")
    return (int(arr[0]), int(arr[1]))  # stored (H, W), as the IR expects


def _shape(group: h5py.Group, where: str) -> tuple[int, ...]:
    arr = _int_array(group, "shape", where).reshape(-1)
    if arr.size == 0 or np.any(arr < 1):
        raise SpikeportError(f"{where}: invalid shape {arr.tolist()}")
    return tuple(int(d) for d in arr)


def _string(group: h5py.Group, key: str, where: str) -> str:
    ds = _required(group, key, where)
    if not isinstance(ds, h5py.Dataset):
        raise SpikeportError(f"{where}: field {key!r} is not a dataset")
    value = hdf5.value(ds, f"{where}: field {key!r}")
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise SpikeportError(f"{where}: field {key!r} must hold one string")
        value = value.reshape(-1)[0]
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace")
    if isinstance(value, str):
        return value
    raise SpikeportError(f"{where}: field {key!r} is not a string")


def _neuron_params(neuron: Any, where: str) -> dict[str, Any]:
    """The neuron group as {key: python scalar}; `type` as a string."""
    if not isinstance(neuron, h5py.Group):
        raise SpikeportError(f"{where}: 'neuron' is not a group")
    out: dict[str, Any] = {"type": _string(neuron, "type", f"{where} neuron")}
    for key, ds in neuron.items():
        if key == "type" or not isinstance(ds, h5py.Dataset):
            continue
        value = hdf5.value(ds, f"{where}: neuron {key!r}")
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.reshape(-1)[0]
        if isinstance(value, np.bool_ | bool):
            out[key] = bool(value)
        elif isinstance(value, np.integer | np.floating | int | float):
            check_values(value, f"{where}: neuron {key!r}")
            out[key] = value.item() if isinstance(value, np.generic) else value
    return out


def _need_int(params: dict[str, Any], key: str, where: str) -> int:
    if key not in params:
        raise SpikeportError(f"{where}: neuron has no {key!r}")
    value = params[key]
    if float(value) != int(value):
        raise SpikeportError(f"{where}: neuron {key!r} = {value} is not an integer")
    return int(value)
