"""Lowered (integer) nodes following Lava's fixed-point process models (lava-nc 0.10.0).

Each field holds exactly the integer Lava's process constructor receives, so a backend
never re-derives quantisation. The Lava quirks a backend must reproduce are stated here
(details and Lava source lines: docs/semantics.md):

* Dense: weights clipped to 8 bits + sign and LSB-truncated by `num_weight_bits` and the
  sign mode; output `(W @ s) << weight_exp` (arithmetic >> when negative); one-step delay.
* Conv: Lava's fixed-point Conv ignores `weight_exp`/`num_weight_bits`; output wraps to
  24 bits; one-step delay.
* CubaLIF: effective current decay (du + 1)/4096 (Lava's ds_offset); u wraps at 24 bits,
  v saturates at +-(2**23 - 1); spike when v > vth << 6 (strict); v reset to 0, u kept.

Layouts differ from Lava's (X, Y, C): spikeport keeps PyTorch order (C, H, W) and
cross-correlation kernels (C_out, C_in/groups, kH, kW); the Lava emitter transposes and
flips (netx does the same: `weight[:, :, ::-1, ::-1]`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from spikeport.ir.checks import check_conv_fields, conv_output_shape
from spikeport.ir.intformat import IntFormat
from spikeport.ir.node import Node, Shape, node, single_input

WEIGHT = IntFormat(9, True)
"""Synaptic weight mantissa: 8 bits + sign, -256..255 (Lava clips to this range)."""
STATE = IntFormat(24, True)
"""u, v, Conv a_out and SDNN state registers: 24-bit two's complement."""
STATE_LIMIT = 1 << (STATE.bits - 1)
"""2**23: a CubaLIF's u wraps past +-STATE_LIMIT, its v saturates at +-(STATE_LIMIT - 1)."""
ACT_SHIFT = 6
"""Lava shifts a synaptic activation a left by 6 bits before adding it to u (u += a << 6)."""
VTH_SHIFT = 6
"""A CubaLIF spikes when v > vth << VTH_SHIFT (strictly)."""
DECAY_BITS = 12
"""Decays are 12-bit fractions: x (4096 - d) / 4096, truncated toward zero."""
DS_OFFSET = 1
"""Lava adds 1 to du (``ds_offset``): the effective current decay is (du + 1) / 4096."""
DU_FULL = (1 << DECAY_BITS) - DS_OFFSET
"""du = 4095 decays u fully every step, so u = a << 6: the current is the step's input."""
BIAS_MANT = IntFormat(13, True)
"""LIF bias mantissa: 13-bit signed, -4096..4095."""
MAX_DELAY = 62
"""Longest synaptic delay Lava's DelayDense / Loihi supports, in timesteps."""
WEIGHT_STORAGE = "int16"
"""Storage type of weight-mantissa tensors (``Node.int_dtypes``): the narrowest numpy
integer holding WEIGHT (9 bits); a consumer casts before arithmetic (int16 sums wrap)."""
DELAY_STORAGE = "int8"
"""Storage type of synaptic-delay tensors: holds 0..MAX_DELAY."""


def _check_message_bits(n: Node, bits: int) -> None:
    if not isinstance(bits, int) or not 0 <= bits <= 32:
        raise n.fail(f"num_message_bits must be an int in 0..32 (0 = binary), got {bits!r}")


def _check_neuron_shape(n: Node, shape: Shape) -> None:
    if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise n.fail(f"shape must be a non-empty tuple of positive ints, got {shape}")


def _same_shape(n: Node, inputs: Mapping[str, Shape], shape: Shape) -> Shape:
    got = single_input(n, inputs)
    if got != tuple(shape):
        raise n.fail(f"input shape {got} does not match neuron shape {tuple(shape)}")
    return tuple(shape)


def _broadcastable(n: Node, field: str, arr: np.ndarray, shape: Shape) -> None:
    try:
        np.broadcast_shapes(arr.shape, tuple(shape))
    except ValueError:
        raise n.fail(f"{field} of shape {arr.shape} does not broadcast to {tuple(shape)}") from None
    if np.broadcast_shapes(arr.shape, tuple(shape)) != tuple(shape):
        raise n.fail(f"{field} of shape {arr.shape} does not broadcast to {tuple(shape)}")


@node
class Dense(Node):
    """Integer fully connected synapse (Lava `Dense` / `DelayDense`), applied on the last axis.

    weight: int [out, in], Lava `weights` (mantissa; 8 bits + sign, -256..255).
    weight_exp: output scale 2**weight_exp (Loihi -8..7).
    num_weight_bits: weight bits kept; Lava drops 8 - num_weight_bits (+1 when mixed sign)
        LSBs. 1..9 (netx passes 9 for odd mixed-sign weights: nothing dropped).
    num_message_bits: input message width, 0 = binary spikes, else graded signed integers.
    delay: optional int [out, in] synaptic delays in timesteps (0..62, Lava DelayDense),
        applied on top of the one-step Dense delay.
    Output: signed integer activation per output neuron (unbounded int32 in Lava).
    """

    weight: np.ndarray = None  # type: ignore[assignment]
    weight_exp: int = 0
    num_weight_bits: int = 8
    num_message_bits: int = 0
    delay: np.ndarray | None = None

    level = "int"
    int_tensors = ("weight", "delay")
    int_dtypes = {"weight": WEIGHT_STORAGE, "delay": DELAY_STORAGE}

    @property
    def sign_mode(self) -> str:
        """ "excitatory" (all >= 0), "inhibitory" (all <= 0) or "mixed": Lava's rule."""
        if self.weight.size == 0 or self.weight.min() >= 0:
            return "excitatory"
        if self.weight.max() <= 0:
            return "inhibitory"
        return "mixed"

    def _check_fields(self) -> None:
        if self.weight is None or self.weight.ndim != 2:
            raise self.fail("weight must be a 2-D int array [out, in]")
        if self.delay is not None and self.delay.shape != self.weight.shape:
            raise self.fail(f"delay shape {self.delay.shape} != weight shape {self.weight.shape}")
        _check_message_bits(self, self.num_message_bits)

    def formats(self) -> dict[str, IntFormat]:
        return {"weight": WEIGHT}

    def check(self) -> None:
        if not -8 <= self.weight_exp <= 7:
            raise self.fail(f"weight_exp {self.weight_exp} outside -8..7")
        if not 1 <= self.num_weight_bits <= 9:
            raise self.fail(f"num_weight_bits {self.num_weight_bits} outside 1..9")
        if self.delay is not None and self.delay.size:
            lo, hi = int(self.delay.min()), int(self.delay.max())
            if lo < 0 or hi > MAX_DELAY:
                raise self.fail(f"delay range {lo}..{hi} outside 0..{MAX_DELAY}")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        x = single_input(self, inputs)
        n_out, n_in = self.weight.shape
        if not x or x[-1] != n_in:
            raise self.fail(f"input shape {x} does not end in weight in-features {n_in}")
        return (*x[:-1], n_out)


@node
class Conv(Node):
    """Integer 2-D convolution synapse (Lava `Conv`), input and output (C, H, W).

    weight: int [C_out, C_in/groups, kH, kW], cross-correlation (PyTorch) orientation,
        8 bits + sign.
    stride, padding, dilation: (H, W) pairs; groups: channel groups.
    weight_exp, num_weight_bits: recorded for other targets; Lava's fixed-point Conv
        ignores both, so a graph meant to match Lava keeps weight_exp = 0.
    num_message_bits: input message width, 0 = binary spikes.
    Output: a_out wrapped to 24-bit signed, delivered one step later.
    """

    weight: np.ndarray = None  # type: ignore[assignment]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    weight_exp: int = 0
    num_weight_bits: int = 8
    num_message_bits: int = 0

    level = "int"
    int_tensors = ("weight",)
    int_dtypes = {"weight": WEIGHT_STORAGE}

    def _check_fields(self) -> None:
        check_conv_fields(self, "a 4-D int array")
        if min(self.stride) < 1 or min(self.dilation) < 1 or min(self.padding) < 0:
            raise self.fail("stride/dilation must be >= 1 and padding >= 0")
        _check_message_bits(self, self.num_message_bits)

    def formats(self) -> dict[str, IntFormat]:
        return {"weight": WEIGHT}

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return conv_output_shape(self, inputs)


@node
class CubaLIF(Node):
    """Loihi current-based LIF neuron (Lava `LIF`, or `LIFReset` when reset_interval is set).

    shape: neuron shape, (C, H, W) or (N,).
    du: Lava `du`; the effective current decay is (du + 1)/4096 per step (Lava's
        ds_offset), so du = -1 means no current decay (netx passes iDecay - 1). -1..4095.
    dv: voltage decay dv/4096 per step, 0..4096 (4096 = v forgets each step).
    vth: threshold mantissa, spike when v > vth << 6; 0..2**17 (Loihi's 17-bit mantissa,
        plus netx's "never spikes" readout value 1 << 17).
    bias_mant: int, broadcastable to shape, 13-bit signed; bias = bias_mant << bias_exp,
        added to v every step.
    bias_exp: 0..7.
    reset_interval, reset_offset: LIFReset: u and v are zeroed every `reset_interval`
        steps at phase `reset_offset` (Lava time starts at 1).
    Input: graded synaptic activation a (u += a << 6). State u, v: 24-bit. Output: binary spikes.
    """

    shape: Shape = ()
    du: int = 4095
    dv: int = 0
    vth: int = 10
    bias_mant: np.ndarray = 0  # type: ignore[assignment]
    bias_exp: int = 0
    reset_interval: int | None = None
    reset_offset: int = 0

    level = "int"
    int_tensors = ("bias_mant",)

    def _check_fields(self) -> None:
        _check_neuron_shape(self, self.shape)
        _broadcastable(self, "bias_mant", self.bias_mant, self.shape)
        for f in ("du", "dv", "vth", "bias_exp", "reset_offset"):
            if not isinstance(getattr(self, f), int):
                raise self.fail(f"{f} must be an int, got {getattr(self, f)!r}")
        if self.reset_interval is not None and (
            not isinstance(self.reset_interval, int) or self.reset_interval < 1
        ):
            raise self.fail(
                f"reset_interval must be None or an int >= 1, got {self.reset_interval!r}"
            )

    def formats(self) -> dict[str, IntFormat]:
        return {"bias_mant": BIAS_MANT}

    def check(self) -> None:
        if not -1 <= self.du <= 4095:
            raise self.fail(f"du {self.du} outside -1..4095")
        if not 0 <= self.dv <= 4096:
            raise self.fail(f"dv {self.dv} outside 0..4096")
        if not 0 <= self.vth <= 1 << 17:
            raise self.fail(f"vth {self.vth} outside 0..{1 << 17}")
        if not 0 <= self.bias_exp <= 7:
            raise self.fail(f"bias_exp {self.bias_exp} outside 0..7")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return _same_shape(self, inputs, self.shape)


def _check_sdn(n: Node, vth: int, spike_exp: int, state_exp: int) -> None:
    for f, v in (("vth", vth), ("spike_exp", spike_exp), ("state_exp", state_exp)):
        if not isinstance(v, int):
            raise n.fail(f"{f} must be an int, got {v!r}")
    if vth < 0 or not 0 <= spike_exp <= 16 or not 0 <= state_exp <= 16:
        raise n.fail(
            f"need vth >= 0 and spike_exp, state_exp in 0..16 (got {vth}, {spike_exp}, {state_exp})"
        )


@node
class Delta(Node):
    """Delta encoder (Lava `Delta`, netx SDNN input layer): sends changes of its input.

    vth: threshold as passed to Lava's constructor; the state-scale threshold is
        vth << (spike_exp + state_exp).
    spike_exp, state_exp: message / state fixed-point exponents (netx: 6 and 6); the
        input is scaled << (spike_exp + state_exp), the output >> state_exp.
    cum_error: spike on accumulated error instead of the current delta.
    Output: graded signed integer messages (0 where no change is sent).
    """

    shape: Shape = ()
    vth: int = 0
    spike_exp: int = 0
    state_exp: int = 0
    cum_error: bool = False

    level = "int"

    def _check_fields(self) -> None:
        _check_neuron_shape(self, self.shape)
        _check_sdn(self, self.vth, self.spike_exp, self.state_exp)

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return _same_shape(self, inputs, self.shape)


@node
class SigmaDelta(Node):
    """Sigma-delta neuron (Lava `SigmaDelta`, netx SDNN hidden layer).

    sigma += a_in; act = ReLU(sigma + bias) (act_mode "relu") or sigma + bias ("unit");
    sends delta = act - act_prev (+ residue) when |delta| >= vth, shifted >> state_exp.
    vth, bias: as passed to Lava's constructor; the state-scale values are
        vth << (spike_exp + state_exp) and bias << (spike_exp + state_exp).
    bias: int, broadcastable to shape.
    Output: graded signed integer messages.
    """

    shape: Shape = ()
    vth: int = 0
    bias: np.ndarray = 0  # type: ignore[assignment]
    spike_exp: int = 0
    state_exp: int = 0
    act_mode: str = "relu"
    cum_error: bool = False

    level = "int"
    int_tensors = ("bias",)

    def _check_fields(self) -> None:
        _check_neuron_shape(self, self.shape)
        _check_sdn(self, self.vth, self.spike_exp, self.state_exp)
        _broadcastable(self, "bias", self.bias, self.shape)
        if self.act_mode not in ("relu", "unit"):
            raise self.fail(f"act_mode must be relu|unit, got {self.act_mode!r}")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return _same_shape(self, inputs, self.shape)


@node
class Sigma(Node):
    """Sigma accumulator (Lava `Sigma`, netx SDNN `sigma_output` layer): sigma += a_in, sends sigma.

    Output: the running sum, graded signed integer (int32 in Lava's Python model).
    """

    shape: Shape = ()

    level = "int"

    def _check_fields(self) -> None:
        _check_neuron_shape(self, self.shape)

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return _same_shape(self, inputs, self.shape)


@node
class Delay(Node):
    """Pure axonal delay: output at step t is the input of step t - `steps` (0 before).

    steps: delay in timesteps, 0..62. Shape-preserving; values pass through unchanged.
    """

    steps: int = 1

    level = "int"

    def _check_fields(self) -> None:
        if not isinstance(self.steps, int):
            raise self.fail(f"steps must be an int, got {self.steps!r}")

    def check(self) -> None:
        if not 0 <= self.steps <= MAX_DELAY:
            raise self.fail(f"steps {self.steps} outside 0..{MAX_DELAY}")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return single_input(self, inputs)
