"""Float node shape rules agree with the PyTorch modules they stand for."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from spikeport import ir


@pytest.mark.parametrize(
    "c_in, c_out, k, stride, padding, dilation, groups, hw",
    [
        (3, 8, 3, 1, 1, 1, 1, (8, 8)),
        (3, 6, 5, 2, 0, 1, 3, (16, 13)),
        (4, 4, 3, (1, 2), (3, 2), 3, 4, (12, 9)),
        (2, 4, (3, 1), 2, (1, 0), (2, 1), 1, (7, 5)),
    ],
)
def test_conv_shapes_match_torch(c_in, c_out, k, stride, padding, dilation, groups, hw) -> None:
    mod = torch.nn.Conv2d(c_in, c_out, k, stride, padding, dilation, groups)
    want = tuple(mod(torch.zeros(1, c_in, *hw)).shape[1:])
    w = mod.weight.detach().numpy()
    x = {"in": (c_in, *hw)}
    assert (
        ir.Conv2d(
            "c", weight=w, stride=stride, padding=padding, dilation=dilation, groups=groups
        ).output_shape(x)
        == want
    )
    wi = np.zeros(w.shape, np.int64)
    assert (
        ir.Conv(
            "c", weight=wi, stride=stride, padding=padding, dilation=dilation, groups=groups
        ).output_shape(x)
        == want
    )


@pytest.mark.parametrize("k, stride, padding", [(2, None, 0), (3, 2, 1), (3, 1, 1), (2, 3, 0)])
def test_maxpool_shape_matches_torch(k, stride, padding) -> None:
    mod = torch.nn.MaxPool2d(k, stride, padding)
    want = tuple(mod(torch.zeros(1, 5, 11, 9)).shape[1:])
    assert (
        ir.MaxPool2d("p", kernel_size=k, stride=stride, padding=padding).output_shape(
            {"in": (5, 11, 9)}
        )
        == want
    )


def test_layout_shapes_match_torch() -> None:
    x = torch.zeros(1, 4, 3, 5)  # batch + (C, H, W)
    for a, b in itertools.combinations_with_replacement(range(3), 2):
        want = tuple(torch.flatten(x, a + 1, b + 1).shape[1:])
        assert ir.Flatten("f", start_dim=a, end_dim=b).output_shape({"in": (4, 3, 5)}) == want
    for perm in itertools.permutations(range(3)):
        want = tuple(x.permute(0, *(p + 1 for p in perm)).shape[1:])
        assert ir.Transpose("t", perm=perm).output_shape({"in": (4, 3, 5)}) == want
    assert ir.Reshape("r", shape=(-1, 5)).output_shape({"in": (4, 3, 5)}) == (12, 5)
    with pytest.raises(ir.GraphError, match="r \\(Reshape\\): cannot reshape"):
        ir.Reshape("r", shape=(7, -1)).output_shape({"in": (4, 3, 5)})


def test_linear_and_token_mean_shapes() -> None:
    lin = torch.nn.Linear(8, 3)
    node = ir.Linear("l", weight=lin.weight.detach().numpy(), bias=lin.bias.detach().numpy())
    assert node.output_shape({"in": (16, 8)}) == tuple(lin(torch.zeros(16, 8)).shape)
    assert ir.TokenMean("m").output_shape({"in": (16, 8)}) == (8,)
    assert ir.BatchNorm("bn", mean=np.zeros(8), var=np.ones(8), axis=-1).output_shape(
        {"in": (16, 8)}
    ) == (16, 8)
    with pytest.raises(ir.GraphError, match="bn \\(BatchNorm\\): axis 0"):
        ir.BatchNorm("bn", mean=np.zeros(8), var=np.ones(8)).output_shape({"in": (16, 8)})


def test_attention_field_rules() -> None:
    with pytest.raises(ir.GraphError, match="att \\(Attention\\): axnor needs a"):
        ir.Attention("att", variant="axnor", heads=2, head_dim=4)
    with pytest.raises(ir.GraphError, match="a must lie in"):
        ir.Attention("att", variant="axnor", heads=2, head_dim=4, a=np.array(1.5))
    with pytest.raises(ir.GraphError, match="variant 'softmax'"):
        ir.Attention("att", variant="softmax")
    a = np.zeros((4, 3, 3))
    a[:, 0, 2] = 1.0
    with pytest.raises(ir.GraphError, match="dyn_a must be tridiagonal"):
        ir.Attention(
            "att",
            variant="lrf_dyn",
            heads=1,
            head_dim=4,
            dyn_a=a,
            dyn_gamma=np.ones((4, 3)),
            dyn_c=np.ones((4, 3)),
        )
    att = ir.Attention(
        "att",
        variant="lrf_ssa",
        heads=2,
        head_dim=4,
        grid=(3, 5),
        local_weight=np.zeros((2, 8, 1, 3, 3)),
    )
    assert att.output_shape({"q": (15, 8), "k": (15, 8), "v": (15, 8)}) == (15, 8)
    with pytest.raises(ir.GraphError, match="grid \\(3, 5\\) does not hold 16 tokens"):
        att.output_shape({"q": (16, 8), "k": (16, 8), "v": (16, 8)})
