"""Our effective synaptic-operation counts equal NeuroBench's ``SynapticOperations``.

NeuroBench 2.3.0 counts, per sample, the (non-zero input, non-zero weight) pairs of every
Linear/Conv layer, as ACs when every input element is in {-1, 0, 1}, else as MACs. Our
counter computes the same quantity a different way (``sum_i [x_i != 0] * fanout_nz(i)``).
Where definitions differ: the papers' ``fr x T x FLOPs`` counts every weight (zeros too) and
every output window uniformly, so it equals NeuroBench only for dense weights without
padding (checked below for the Linear layers); NeuroBench counts attention products (matmul
between activations) not at all, and integer (graded) spikes as MACs.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip("neurobench")
snn = pytest.importorskip("snntorch")

from neurobench.metrics.workload import SynapticOperations  # noqa: E402
from neurobench.models import TorchModel  # noqa: E402

from spikeport.hw_models.cost.analytical import Convention, count_model  # noqa: E402

T = 5


class Net(nn.Module):
    """conv (analog image) -> LIF -> conv (stride 2, padded) -> LIF -> linear -> LIF -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.lif1 = snn.Leaky(beta=0.5, threshold=0.3, init_hidden=True)
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.lif2 = snn.Leaky(beta=0.5, threshold=0.3, init_hidden=True)
        self.fc1 = nn.Linear(6 * 4 * 4, 20)
        self.lif3 = snn.Leaky(beta=0.5, threshold=0.3, init_hidden=True)
        self.fc2 = nn.Linear(20, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, T, 1, 8, 8]
        for m in (self.lif1, self.lif2, self.lif3):
            m.reset_mem()
        out = 0
        for t in range(x.shape[1]):
            s = self.lif1(self.conv1(x[:, t]))
            s = self.lif2(self.conv2(s))
            s = self.lif3(self.fc1(s.flatten(1)))
            out = out + self.fc2(s)
        return out / x.shape[1]


def _net() -> Net:
    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():  # some zero weights, so non-zero fan-out matters
        net.conv2.weight[:, 0] = 0
        net.fc1.weight[::3] = 0
        for m in (net.conv1, net.conv2, net.fc1, net.fc2):
            m.weight.mul_(3.0)
    return net


def _neurobench(net: Net, x: torch.Tensor) -> dict:
    model = TorchModel(net)
    model.register_hooks()
    metric = SynapticOperations()
    with torch.no_grad():
        preds = model(x)
    result = metric(model, preds, (x, torch.zeros(x.shape[0])))
    model.cleanup_hooks()
    return result


def test_effective_macs_and_acs_equal_neurobench():
    torch.manual_seed(1)
    x = torch.rand(3, T, 1, 8, 8)  # analog images, different every step
    x[x < 0.3] = 0.0
    net = _net()
    ours = count_model(net, x, Convention(timesteps=T)).effective_synops()
    nb = _neurobench(net, x)
    assert ours["Effective_ACs"] > 0 and ours["Effective_MACs"] > 0
    assert ours["Effective_MACs"] == pytest.approx(nb["Effective_MACs"], rel=1e-12)
    assert ours["Effective_ACs"] == pytest.approx(nb["Effective_ACs"], rel=1e-12)


def test_paper_sop_equals_neurobench_only_for_dense_unpadded_layers():
    torch.manual_seed(2)
    x = torch.rand(2, T, 1, 8, 8)
    net = _net()
    with torch.no_grad():
        net.fc1.weight[net.fc1.weight == 0] = 0.01  # dense fc1 again
    c = count_model(net, x, Convention(timesteps=T))
    stats = {s.name: s for s in c.stats}
    sop = {lo.name: lo.acs for lo in c.layers}
    # Linear with dense weights: fr x T x FLOPs == (non-zero inputs) x fan-out == effective.
    assert sop["fc1"] == pytest.approx(stats["fc1"].effective, rel=1e-12)
    # Padded conv with zeroed input-channel weights: the convention over-counts.
    assert sop["conv2"] > stats["conv2"].effective
