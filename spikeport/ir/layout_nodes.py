"""Layout nodes (no arithmetic, usable in float and lowered graphs): flatten, reshape, transpose.

Axes are per-sample axes (batch and time excluded). Flatten of (C, H, W) is C-major,
as in PyTorch and as netx's `transpose([2, 1, 0]).flatten()` of Lava's (X, Y, C).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from spikeport.ir.node import Node, Shape, node, single_input


def _axis(n: Node, axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise n.fail(f"axis {axis} out of range for a {ndim}-d input")
    return axis % ndim


@node
class Flatten(Node):
    """Merge per-sample axes start_dim..end_dim (inclusive) into one, row-major."""

    start_dim: int = 0
    end_dim: int = -1

    level = "any"

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        x = single_input(self, inputs)
        a, b = _axis(self, self.start_dim, len(x)), _axis(self, self.end_dim, len(x))
        if a > b:
            raise self.fail(f"start_dim {self.start_dim} after end_dim {self.end_dim} for {x}")
        return (*x[:a], math.prod(x[a : b + 1]), *x[b + 1 :])


@node
class Reshape(Node):
    """Row-major reshape of the per-sample tensor to `shape` (one entry may be -1)."""

    shape: Shape = ()

    level = "any"

    def _check_fields(self) -> None:
        if not self.shape or sum(d == -1 for d in self.shape) > 1:
            raise self.fail(f"shape must be non-empty with at most one -1, got {self.shape}")
        if any(d == 0 or d < -1 for d in self.shape):
            raise self.fail(f"shape entries must be positive or -1, got {self.shape}")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        x = single_input(self, inputs)
        total, known = math.prod(x), math.prod(d for d in self.shape if d != -1)
        if -1 in self.shape:
            if total % known:
                raise self.fail(f"cannot reshape {x} to {self.shape}")
            return tuple(total // known if d == -1 else d for d in self.shape)
        if known != total:
            raise self.fail(f"cannot reshape {x} ({total} elements) to {self.shape}")
        return tuple(self.shape)


@node
class Transpose(Node):
    """Permute per-sample axes: output axis i is input axis perm[i]."""

    perm: tuple[int, ...] = ()

    level = "any"

    def _check_fields(self) -> None:
        if sorted(self.perm) != list(range(len(self.perm))):
            raise self.fail(f"perm {self.perm} is not a permutation of 0..{len(self.perm) - 1}")

    def output_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        x = single_input(self, inputs)
        if len(x) != len(self.perm):
            raise self.fail(f"perm {self.perm} does not match {len(x)}-d input {x}")
        return tuple(x[i] for i in self.perm)
