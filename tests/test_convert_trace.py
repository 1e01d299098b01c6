"""torch.fx front end: the traced float graph reproduces trained digits models exactly (every
LIF's spikes and the logits), for all five attention variants; unsupported modules and
functions are reported with their path and type; SpikingJelly LIFNode user models trace."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeport.converters.float_eval import run_float
from spikeport.converters.torch_fx import to_ir
from spikeport.errors import UnsupportedError
from spikeport.models.neuron import MultiStepLIF

VARIANTS = ["ssa", "axnor", "lrf_ssa", "lrf_dyn", "sdsa"]


@pytest.fixture(scope="module")
def split(digits_split):
    return digits_split


@pytest.fixture(scope="module")
def small_model(digits_models):
    """A quickly trained small digits model per variant (the shared ``digits_models``)."""
    models = {}

    def get(attention: str) -> nn.Module:
        if attention not in models:
            models[attention] = digits_models.model(attention, "small")
        return models[attention]

    return get


def _lif_outputs(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
    ref: dict[str, torch.Tensor] = {}
    hooks = []
    for name, mod in model.named_modules():
        if isinstance(mod, MultiStepLIF) and ".core." not in f".{name}.":
            hooks.append(mod.register_forward_hook(lambda _m, _i, o, n=name: ref.__setitem__(n, o)))
    with torch.no_grad():
        logits = model(x)
    for h in hooks:
        h.remove()
    return logits, ref


@pytest.mark.parametrize("attention", VARIANTS)
def test_traced_graph_reproduces_pytorch_spikes_and_logits(small_model, split, attention):
    model = small_model(attention)
    graph = to_ir(model, torch.zeros(7, 1, 8, 8))
    x = split.x_test[:180]
    logits, ref = _lif_outputs(model, x)
    got: dict[str, torch.Tensor] = {}
    out = run_float(graph, x, observe=lambda n, v: got.__setitem__(n, v))
    assert set(ref) <= set(got), "every LIF module outside the cores is an IR LIF node"
    assert sum(int(ref[n].sum()) for n in ref) > 1000, "the model spikes"
    for name in ref:
        assert torch.equal(got[name], ref[name]), name
    assert torch.equal(out, logits)


def test_traced_graph_names_nodes_by_module_path(small_model):
    graph = to_ir(small_model("ssa"), torch.zeros(7, 1, 8, 8))
    kinds = {n.name: type(n).__name__ for n in graph}
    assert kinds["patch_embed.proj_conv"] == "Conv2d"
    assert kinds["block.0.attn.q_bn"] == "BatchNorm"
    assert kinds["block.0.attn.attn_lif"] == "LIF"
    assert kinds["block.0.attn.core"] == "Attention"
    assert graph.node("block.0.attn.attn_lif").v_threshold == 0.5
    assert graph.meta["T"] == 4 and graph.meta["encoding"] == "direct"


class _Gelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(self.fc(x))


class _Net(nn.Module):
    T = 2

    def __init__(self) -> None:
        super().__init__()
        self.body = _Gelu()

    def forward(self, x):
        return self.body(x.unsqueeze(0).repeat(2, 1, 1)).mean(0)


def test_unsupported_module_reports_path_and_type():
    with pytest.raises(UnsupportedError) as err:
        to_ir(_Net(), torch.zeros(7, 4))
    msg = str(err.value)
    assert msg.startswith("body.act: nn.GELU — not supported (supported modules:")
    assert "nn.Linear" in msg and "MultiStepLIF" in msg and "\n" not in msg


class _Sig(nn.Module):
    T = 2

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.sigmoid(self.fc(x.unsqueeze(0).repeat(2, 1, 1))).mean(0)


def test_unsupported_function_reports_name():
    with pytest.raises(UnsupportedError, match=r"^sigmoid: torch.sigmoid — not supported"):
        to_ir(_Sig(), torch.zeros(7, 4))


def test_spikingjelly_lifnode_user_model_traces_exactly():
    from spikingjelly.activation_based.neuron import LIFNode

    class UserNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 6, 3, padding=1)
            self.bn = nn.BatchNorm2d(6)
            self.lif1 = LIFNode(tau=2.0, step_mode="m")
            self.fc = nn.Linear(6 * 64, 10)
            self.lif2 = LIFNode(tau=2.0, v_threshold=0.5, step_mode="m")

        def forward(self, x):  # x: [T, B, 1, 8, 8]
            t, b = x.shape[:2]
            y = self.bn(self.conv(x.flatten(0, 1))).reshape(t, b, 6, 8, 8)
            y = self.lif1(y).flatten(2)
            return self.lif2(self.fc(y)).mean(0)

    torch.manual_seed(0)
    net = UserNet()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-0.2, 0.2)
        net.bn.running_var.uniform_(0.5, 1.5)
        net.conv.weight.mul_(4)
        net.fc.weight.mul_(8)
    net.eval()
    x = torch.rand(4, 30, 1, 8, 8)
    graph = to_ir(net, torch.zeros(4, 7, 1, 8, 8), T=4, time_major=True)
    assert [type(n).__name__ for n in graph].count("LIF") == 2
    with torch.no_grad():
        ref = net(x)
    assert ref.sum() > 0
    assert torch.equal(run_float(graph, x), ref)
