"""Lean conversion: tracing on a FakeTensor example (shapes only) builds the same float IR, and
the same quantised IR, as tracing on real data; a forward that needs tensor values still
converts; tracing leaves the model's state alone; the IR owns its weights; --list-passes
ends with the retime pass."""

from __future__ import annotations

import pytest
import torch
from model_references import tiny_config
from torch import nn

from spikeport.cli import main
from spikeport.converters import torch_fx
from spikeport.converters.passes import PassManager, QuantConfig
from spikeport.converters.passes.retime import Retime
from spikeport.converters.pipeline import EXAMPLE_BATCH, default_passes
from spikeport.converters.torch_fx import to_ir
from spikeport.models.neuron import MultiStepLIF
from spikeport.models.registry import build_model
from spikeport.models.train import digits_config

VARIANTS = ["ssa", "axnor", "lrf_ssa", "lrf_dyn", "sdsa"]


def _seeded(cfg) -> nn.Module:
    """Random weights and non-trivial BatchNorm statistics (so folding changes weights)."""
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 1.5)
    return model


def _to_ir_real(model: nn.Module, example: torch.Tensor, monkeypatch, **kw):
    """to_ir with the trace run on the real example (PyTorch computes every value)."""
    real = torch_fx.trace
    with monkeypatch.context() as mp:
        mp.setattr(torch_fx, "trace", lambda m, e: real(m, e, fake=False))
        return to_ir(model, example, **kw)


CASES = [(f"digits-{v}", digits_config(v, embed_dim=32, depth=1, num_heads=2)) for v in VARIANTS]
CASES.append(("imagenet-layout", tiny_config("spikformer-imagenet", embed_dim=48, num_heads=4)))


@pytest.mark.parametrize(("name", "cfg"), CASES, ids=[c[0] for c in CASES])
def test_fake_trace_builds_the_graphs_a_real_trace_builds(name, cfg, monkeypatch):
    model = _seeded(cfg)
    example = torch.zeros(EXAMPLE_BATCH, cfg.in_channels, cfg.img_size, cfg.img_size)
    fake = to_ir(model, example, name=name)
    real = _to_ir_real(model, example, monkeypatch, name=name)
    assert fake.same_as(real)
    config = QuantConfig(input_scale=16.0, input_max=1.0)
    q_fake = PassManager([Retime()]).run(default_passes(config).run(fake))
    q_real = PassManager([Retime()]).run(default_passes(config).run(real))
    assert q_fake.same_as(q_real)
    assert any(type(n).__name__ == "CubaLIF" or type(n).__name__ == "LIFReset" for n in q_fake)


class _CheckedLIF(MultiStepLIF):
    """A LIF whose forward branches on tensor values (fake tensors cannot evaluate that)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x.abs() > 1e9).any()):
            raise ValueError("input out of range")
        return super().forward(x)


class _Net(nn.Module):
    T = 3

    def __init__(self, lif: nn.Module) -> None:
        super().__init__()
        self.fc = nn.Linear(5, 4)
        self.lif = lif

    def forward(self, x):
        return self.lif(self.fc(x.unsqueeze(0).repeat(3, 1, 1))).mean(0)


def test_value_dependent_forward_still_converts(monkeypatch):
    torch.manual_seed(0)
    net = _Net(_CheckedLIF(tau=2.0)).eval()
    graph = to_ir(net, torch.zeros(EXAMPLE_BATCH, 5))
    plain = _Net(MultiStepLIF(tau=2.0)).eval()
    plain.load_state_dict(net.state_dict())
    assert graph.same_as(_to_ir_real(plain, torch.zeros(EXAMPLE_BATCH, 5), monkeypatch))


def test_tracing_leaves_spikingjelly_state_alone():
    from spikingjelly.activation_based.neuron import LIFNode

    lif = LIFNode(tau=2.0, step_mode="m")
    net = _Net(lif).eval()
    before = dict(lif._memories)
    to_ir(net, torch.zeros(EXAMPLE_BATCH, 5))
    assert lif._memories == before and isinstance(lif.v, float)
    x = torch.rand(EXAMPLE_BATCH, 5) * 4
    with torch.no_grad():
        assert net(x).shape == (EXAMPLE_BATCH, 4)  # no fake tensor left in the neuron


def test_ir_owns_its_weights():
    net = _Net(MultiStepLIF(tau=2.0)).eval()
    graph = to_ir(net, torch.zeros(EXAMPLE_BATCH, 5))
    (lin,) = [n for n in graph if type(n).__name__ == "Linear"]
    saved = lin.weight.copy()
    with torch.no_grad():
        net.fc.weight.add_(1.0)
    assert (lin.weight == saved).all() and not lin.weight.flags.writeable


def test_list_passes_ends_with_retime(capsys):
    assert main(["convert", "--list-passes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [ln.split()[0] for ln in lines]
    assert names[-1] == "retime" and names.count("retime") == 1
    assert "final" in lines[-1] and "Lava" in lines[-1]
    assert names[:-1] == default_passes(lower=True).names()
