"""2-D convolution synapse, bit-exact with Lava's ``PyConvModelFixed``.

Lava (``lava/proc/conv/models.py`` L35-79, ``utils.py`` L67-84, L163-296) computes a *true*
convolution (scipy ``convolve2d``: the kernel is flipped) of the (X, Y, C) input with its
(C_out, X_k, Y_k, C_in/groups) weights, ignores ``weight_exp`` and ``num_weight_bits``, wraps
the result to signed 24 bits (``signed_clamp``: a true modulo) and sends it one step later.

spikeport keeps PyTorch's layout and orientation: input [batch, C, H, W], weight
[C_out, C_in/groups, kH, kW] applied as a cross-correlation. :func:`lava_conv_weight`
converts a Lava Conv weight to that form (netx does the inverse,
``weight[:, :, ::-1, ::-1]`` then a transpose).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from spikeport.hw_models.sim.kernels import events
from spikeport.hw_models.sim.kernels.arith import (
    FLOAT32_EXACT,
    FLOAT_EXACT,
    abs_max,
    exact_matmul,
    wrap_signed,
)
from spikeport.hw_models.sim.kernels.node_kernel import NodeKernel
from spikeport.ir.int_nodes import STATE

COLUMN_CHUNK_ELEMENTS = 1 << 22
"""conv2d_int builds its im2col matrix for about this many elements at a time (16 MiB in
float32): it is kH x kW times the input, the largest temporary of a convolution."""
CHUNK_ELEMENTS = 1 << 20
"""Frames are convolved together in chunks of about this many output elements."""


def lava_conv_weight(weight_xyc: np.ndarray) -> np.ndarray:
    """Lava Conv weight (C_out, X_k, Y_k, C_in) -> cross-correlation [C_out, C_in, kH, kW]."""
    w = np.asarray(weight_xyc)[:, ::-1, ::-1, :]  # undo the convolution's flip
    return np.ascontiguousarray(w.transpose(0, 3, 2, 1))


def conv2d_int(
    x: np.ndarray,
    weight: np.ndarray,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
) -> np.ndarray:
    """Exact integer cross-correlation, [B, C_in, H, W] x [C_out, C_in/g, kH, kW] -> int64.

    (H, W) pairs for stride/padding/dilation; output size as PyTorch's/Lava's
    ``(n + 2p - d(k-1) - 1) // s + 1``. Products go through :func:`exact_matmul`.
    """
    x = np.asarray(x)
    w = np.asarray(weight, dtype=np.int64)
    b, c_in, _, _ = x.shape
    # the im2col copy is made in the float type exact_matmul will use (float32 when every
    # partial sum stays below 2**24), so the column matrix is copied once, at 4 bytes
    colsum = int(np.abs(w).reshape(w.shape[0], -1).sum(axis=1).max()) if w.size else 0
    x_max = abs_max(x)
    if x_max * colsum < FLOAT32_EXACT:
        x = x.astype(np.float32)
    elif x_max * colsum < FLOAT_EXACT:
        x = x.astype(np.float64)
    else:
        x = x.astype(np.int64)
    c_out, c_in_g, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    win = sliding_window_view(xp, (span_h, span_w), axis=(2, 3))[
        :, :, ::sh, ::sw, ::dh, ::dw
    ]  # [B, C_in, Ho, Wo, kH, kW]
    ho, wo = win.shape[2], win.shape[3]
    out = np.empty((b, c_out, ho, wo), dtype=np.int64)
    co_g = c_out // groups
    step = max(1, COLUMN_CHUNK_ELEMENTS // max(1, ho * wo * c_in_g * kh * kw))
    for g in range(groups):
        wg = w[g * co_g : (g + 1) * co_g].reshape(co_g, -1).T  # [Cg*kH*kW, co_g]
        wf = wg.astype(x.dtype)
        for f in range(0, b, step):  # a column matrix of a few frames at a time
            n = min(step, b - f)
            cols = win[f : f + n, g * c_in_g : (g + 1) * c_in_g]  # [n, Cg, Ho, Wo, kH, kW]
            cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c_in_g * kh * kw)
            res = exact_matmul(cols, wg, colsum, wf)
            out[f : f + n, g * co_g : (g + 1) * co_g] = res.reshape(n, ho, wo, co_g).transpose(
                0, 3, 1, 2
            )
    return out


class ConvSynapse(NodeKernel):
    """Batched Lava Conv (fixed_pt): one-step delay, 24-bit wrapped output, no weight scaling.

    weight: int [C_out, C_in/groups, kH, kW] (cross-correlation); stride/padding/dilation:
    (H, W); num_message_bits: 0 = binary spikes (input != 0), else graded.
    """

    def __init__(
        self,
        weight: np.ndarray,
        *,
        stride: tuple[int, int] = (1, 1),
        padding: tuple[int, int] = (0, 0),
        dilation: tuple[int, int] = (1, 1),
        groups: int = 1,
        num_message_bits: int = 0,
    ) -> None:
        self.weight = np.asarray(weight).astype(np.int64)
        self.stride, self.padding, self.dilation = tuple(stride), tuple(padding), tuple(dilation)
        self.groups = int(groups)
        self.graded = int(num_message_bits) > 0
        self.buffer: np.ndarray | None = None
        self._events: dict[tuple[int, ...], tuple[np.ndarray, ...]] = {}
        self.pointwise = (self.weight.shape[2:], self.stride, self.padding, self.groups) == (
            (1, 1),
            (1, 1),
            (0, 0),
            1,
        )
        """A 1 x 1 convolution: per position, a Dense product over the channels."""
        self._pointwise32: np.ndarray | None = None
        w = np.abs(self.weight).reshape(len(self.weight), -1)
        self._colsum = int(w.sum(axis=1).max()) if w.size else 0
        """max over outputs of sum |w|: |a_out| <= max|input| * this before the wrap."""

    def reset(self, batch: int | None = None) -> None:
        """Empty the one-step pipeline (it is sized on the next step)."""
        self.buffer = None

    def compute(self, s: np.ndarray) -> np.ndarray:
        """The wrapped 24-bit activation for input `s` [B, C, H, W] (no pipeline)."""
        x = np.asarray(s)
        x = x.astype(np.int64) if self.graded else (x != 0).astype(np.int8)
        y = conv2d_int(x, self.weight, self.stride, self.padding, self.dilation, self.groups)
        if self._in_state_range(x):  # the wrap is the identity
            return y
        return wrap_signed(y, STATE.bits)

    def compute_into(
        self, s: np.ndarray, out: np.ndarray, synaptic: np.ndarray | None = None
    ) -> np.ndarray:
        """The wrapped 24-bit a_out of every frame of `s` [..., C, H, W], no latency, written
        into `out` [..., C_out, H_out, W_out] (int32 holds it exactly at half int64's
        memory). Returns `out`.

        Sparse frames (at most :data:`events.CONV_EVENT_RATE` of the inputs non-zero), and
        every frame of a shallow convolution (:data:`events.CONV_SHALLOW`), take the
        event-driven scatter-add (:func:`events.conv_events`, int16 weights); a 1 x 1
        convolution, being a Dense over channels, uses Dense's rate threshold and a float32
        product per frame (:meth:`_pointwise_product`); the others im2col and the float BLAS
        product in chunks of about :data:`CHUNK_ELEMENTS` outputs.
        (A negative CONV_EVENT_RATE switches the scatter-add off: the reference runs.)
        `synaptic`, when given (int64, one per frame), receives each frame's synaptic events
        (non-zero inputs x their non-zero fan-out)."""
        if not out.flags.c_contiguous:
            raise ValueError("compute_into: `out` must be C-contiguous (written through a view)")
        frame_in, frame_out = s.shape[-3:], out.shape[-3:]
        frames = np.ascontiguousarray(s).reshape(-1, *frame_in)
        flat_out = out.reshape(-1, *frame_out)
        shallow = self.weight[0].size < events.CONV_SHALLOW  # C_in/groups x kH x kW
        rate = 1.0 if shallow and events.CONV_EVENT_RATE >= 0 else events.CONV_EVENT_RATE
        if self.pointwise:  # a Dense over channels at every position: Dense's crossover
            rate = events.dense_rate(self.graded)
        if events.use_events(np.count_nonzero(frames), frames.size, rate):
            self._scatter(frames, flat_out.reshape(len(frames), -1), synaptic)
            return out
        if self.pointwise and self._in_state_range(frames):
            self._pointwise_product(frames, flat_out, synaptic)
            return out
        if synaptic is not None:
            fanout = self.fanout(frame_in).ravel()
            events.count_into(frames.reshape(len(frames), -1), fanout, synaptic)
        chunk = max(1, CHUNK_ELEMENTS // max(1, math.prod(frame_out)))
        for i in range(0, len(frames), chunk):
            flat_out[i : i + chunk] = self.compute(frames[i : i + chunk])
        return out

    def _in_state_range(self, x: np.ndarray) -> bool:
        """Whether every a_out of input messages `x` lies inside 24 bits (binary: max 1)."""
        return (abs_max(x) if self.graded else 1) * self._colsum < 1 << (STATE.bits - 1)

    def _pointwise_product(
        self, frames: np.ndarray, out: np.ndarray, synaptic: np.ndarray | None
    ) -> None:
        """A 1 x 1 convolution (stride 1, no padding, one group) as the float32 BLAS product
        ``W [C_out, C_in] @ frame [C_in, H * W]`` per frame, into `out` [F, C_out, H, W]; the
        caller checked ``max|input| * max_o sum|W[o]| < 2**23``: exact in float32 and inside
        the 24-bit range, so Lava's wrap is the identity. `synaptic` (int64 per frame), when
        given, receives ``(frame != 0) @ fanout`` (a float64 product: exact below 2**53)."""
        if self._pointwise32 is None:
            self._pointwise32 = self.weight[:, :, 0, 0].astype(np.float32)
        f, c_in, h, w = frames.shape
        chunk = max(1, CHUNK_ELEMENTS // max(1, len(self.weight) * h * w))
        flat = out.reshape(f, -1, h * w)
        for i in range(0, f, chunk):
            part = frames[i : i + chunk].reshape(-1, c_in, h * w)
            x = part.astype(np.float32) if self.graded else (part != 0).astype(np.float32)
            flat[i : i + chunk] = np.matmul(self._pointwise32, x)
        if synaptic is not None:
            fanout = self.fanout((c_in, h, w)).ravel().astype(np.float64)
            synaptic[:] = (frames.reshape(f, -1) != 0) @ fanout

    def fanout(self, in_shape: tuple[int, ...]) -> np.ndarray:
        """Non-zero synapses leaving each input position of a [C_in, H, W] frame."""
        return conv_fanout(
            in_shape, self.weight, self.stride, self.padding, self.dilation, self.groups
        )

    def _scatter(self, frames: np.ndarray, out: np.ndarray, synaptic: np.ndarray | None) -> None:
        """:func:`events.conv_events` over `frames` [F, C, H, W] into `out` [F, C_out * H_out *
        W_out] (int32 or int64), wrapped to 24 bits when the sums can leave that range."""
        c_in, h, w = frames.shape[1:]
        key = (c_in, h, w, out.shape[1])
        if key not in self._events:
            c_out, c_in_g, kh, kw = self.weight.shape
            co_g = c_out // self.groups
            wk = self.weight.reshape(self.groups, co_g, c_in_g, kh, kw).transpose(0, 2, 3, 4, 1)
            wk = np.ascontiguousarray(wk.reshape(c_in, kh, kw, co_g), dtype=np.int16)
            fan = np.ascontiguousarray(self.fanout((c_in, h, w)).transpose(1, 2, 0)).ravel()
            (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
            ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
            wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
            geometry = [h, w, c_in, c_out, ho, wo, sh, sw, ph, pw, dh, dw, c_in_g]
            self._events[key] = (wk, fan, np.array(geometry, dtype=np.int64))
        wk, fan, geometry = self._events[key]
        x = np.ascontiguousarray(frames.transpose(0, 2, 3, 1)).reshape(len(frames), -1)
        nonzero, ev = events.row_counts(len(frames), synaptic)
        if self._in_state_range(x):  # the wrap is the identity
            acc = out
        else:
            acc = np.empty(out.shape, dtype=np.int64)
        args = (x, events.words(x), wk, fan, geometry, not self.graded)
        events.conv_events(*args, acc, nonzero, ev)
        if acc is not out:
            out[...] = wrap_signed(acc, STATE.bits)

    def step(self, s: np.ndarray) -> np.ndarray:
        """Send last step's activation (zeros at the first step), then convolve `s`."""
        a = self.compute(s)
        out = np.zeros_like(a) if self.buffer is None else self.buffer
        self.buffer = a
        return out


def conv_fanout(
    in_shape: tuple[int, ...],
    weight: np.ndarray,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> np.ndarray:
    """Non-zero synapses leaving each input position, [C_in, H, W] (padding excluded)."""
    c_in, h, w = in_shape
    c_out, c_in_g, kh, kw = weight.shape
    co_g = c_out // groups
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    nz = (np.asarray(weight) != 0).reshape(groups, co_g, c_in_g, kh, kw).sum(axis=1)
    fan = np.zeros((c_in, h, w), dtype=np.int64)
    rows = np.arange(ho) * stride[0] - padding[0]
    cols = np.arange(wo) * stride[1] - padding[1]
    for i in range(kh):
        r = rows + i * dilation[0]
        r = r[(r >= 0) & (r < h)]
        for j in range(kw):
            c = cols + j * dilation[1]
            c = c[(c >= 0) & (c < w)]
            hits = nz[:, :, i, j].reshape(c_in)  # [groups * c_in_g] = [C_in]
            fan[:, r[:, None], c[None, :]] += hits[:, None, None]
    return fan
