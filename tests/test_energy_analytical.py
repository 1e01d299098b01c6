"""The papers' analytical convention: first-layer MACs, SOP = fr x T x FLOPs, attention terms,
and every ambiguity option, checked against hand computations written here term by term."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeport.errors import SpikeportError
from spikeport.hw_models.cost.analytical import Convention, count_model
from spikeport.hw_models.cost.energy import estimate
from spikeport.hw_models.cost.hardware import load_hardware_model
from spikeport.models.attention.ssa import SSACore

PAPER_T4 = Convention(timesteps=4)


def pattern(shape: tuple[int, ...], period: int, value: float = 1.0) -> torch.Tensor:
    """Deterministic spikes: every ``period``-th element (flat order) is ``value``."""
    n = 1
    for s in shape:
        n *= s
    flat = (torch.arange(n) % period == 0).float() * value
    return flat.reshape(shape)


def test_spikformer_first_conv_is_346816512_macs_at_t4():
    # Spikformer-8-512 stem conv: 3 -> 64, 3x3, pad 1, on 224x224, image repeated over T=4.
    conv = nn.Conv2d(3, 64, 3, padding=1, bias=False)
    x = torch.rand(1, 3, 224, 224).repeat(4, 1, 1, 1)  # [T*B, C, H, W], B = 1
    c = count_model(conv, x, PAPER_T4, samples=1)
    assert c.layers[0].macs == 346_816_512 == 64 * 224 * 224 * 3 * 3 * 3 * 4
    once = count_model(conv, x, Convention(timesteps=4, first_layer_times_t=False), samples=1)
    assert once.layers[0].macs == 86_704_128


@pytest.mark.slow
def test_spikformer_8_512_builder_first_layer_and_head_macs():
    from spikeport.models.registry import build_model, default_config

    model = build_model(default_config("spikformer-imagenet", T=4)).eval()
    c = count_model(model, torch.rand(1, 3, 224, 224), PAPER_T4)
    first = c.layers[0]
    assert first.name == "patch_embed.proj_conv" and first.macs == 346_816_512
    head = next(lo for lo in c.layers if lo.name == "head")
    assert (
        head.macs == 512 * 1000
    )  # 0.347329512 G MACs in the Spikingformer log adds 1,000 bias adds


class Tiny(nn.Module):
    """Analog image -> conv1 (encoding) -> fixed spikes (rate 1/4) -> conv2 -> fixed q/k/v
    spikes -> SSA -> fixed spikes (rate 1/2) -> linear head on the time mean."""

    T, B, H, W = 2, 3, 4, 4

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.core = SSACore(num_heads=2, head_dim=4)
        self.fc = nn.Linear(8 * 16, 10)
        self.head = nn.Linear(8 * 16, 5)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        t, b = self.T, self.B
        x = img.unsqueeze(0).repeat(t, 1, 1, 1, 1).flatten(0, 1)  # [T*B, 2, 4, 4]
        y = self.conv1(x)
        s = pattern(tuple(y.shape), 4)  # rate 0.25 into conv2
        y = self.conv2(s)  # [T*B, 8, 4, 4]
        shape = (t, b, 2, 16, 4)  # [T, B, h, N, d]
        q, k, v = pattern(shape, 2), pattern(shape, 4), pattern(shape, 8)
        y = self.core(q, k, v)
        s2 = pattern((t * b, 8 * 16), 2)  # rate 0.5 into fc
        z = self.fc(s2)
        rate_in = s2.reshape(t, b, -1).mean(0)  # time-mean rate, analog
        return self.head(rate_in) + z.reshape(t, b, -1).mean(0)[:, :5]


def test_paper_total_equals_hand_computation():
    m = Tiny()
    img = torch.rand(Tiny.B, 2, 4, 4)
    c = count_model(m, img, Convention(timesteps=2))
    by = {lo.name: lo for lo in c.layers}
    T, h, N, d = 2, 2, 16, 4
    flops1 = 4 * 4 * 4 * (2 * 9)  # out C*H*W x in C*k*k = 1152 per step
    flops2 = 8 * 4 * 4 * (4 * 9)  # 4608 per step
    flops_fc = 10 * 128
    flops_head = 5 * 128
    mac_first = flops1 * T  # image presented every step
    sop_conv2 = 0.25 * T * flops2
    sop_fc = 0.5 * T * flops_fc
    # SSA, d x d order, Spikingformer's T h N d^2 (min(fr_k, fr_v) + fr_q)
    sop_attn = T * h * N * d * d * (min(0.25, 0.125) + 0.5)
    mac_head = flops_head  # dense MAC once on the time-averaged rate
    assert by["conv1"].macs == mac_first == 2304
    assert by["conv2"].acs == pytest.approx(sop_conv2) and sop_conv2 == 2304
    assert by["fc"].acs == pytest.approx(sop_fc)
    assert by["core"].acs == pytest.approx(sop_attn) and sop_attn == 640
    assert by["head"].macs == mac_head
    energy_pj = 4.6 * (mac_first + mac_head) + 0.9 * (sop_conv2 + sop_fc + sop_attn)
    r = estimate(c.layers, load_hardware_model("cmos45nm"), c.basis)
    assert r.energy_per_inference_j == pytest.approx(energy_pj * 1e-12)


def test_bias_adds_add_one_op_per_output_element_of_each_layer_with_a_bias():
    # syops (the Spikingformer energy script) counts one add per output element of a layer
    # with a bias, priced like the layer's other ops; the papers' FLOPs do not (default off).
    img = torch.rand(Tiny.B, 2, 4, 4)
    plain = Tiny()
    off = count_model(plain, img, Convention(timesteps=2))
    on = count_model(plain, img, Convention(timesteps=2, bias_adds=True))
    T = 2
    out = {"conv1": 4 * 4 * 4, "conv2": 8 * 4 * 4, "fc": 10, "head": 5}  # per sample and step
    want = {
        "conv1": {"macs": out["conv1"] * T},  # encoding layer: MAC x T
        "conv2": {"acs": 0.25 * T * out["conv2"]},  # fr x T x adds
        "fc": {"acs": 0.5 * T * out["fc"]},
        "head": {"macs": out["head"]},  # dense, once on the time mean
    }
    before = {lo.name: lo.counts() for lo in off.layers}
    after = {lo.name: lo.counts() for lo in on.layers}
    assert set(before) == set(after)
    for name in before:
        kinds = set(before[name]) | set(after[name])
        delta = {k: after[name].get(k, 0.0) - before[name].get(k, 0.0) for k in kinds}
        expected = want.get(name, {})
        assert {k: v for k, v in delta.items() if v} == pytest.approx(expected), name
    assert sum(sum(d.values()) for d in want.values()) == 128 + 64 + 10 + 5
    assert on.basis == off.basis[:-1] + "; bias adds counted)"
    assert "bias_adds" not in off.convention.as_report() and on.convention.as_report()["bias_adds"]

    no_bias = Tiny()
    no_bias.conv2.register_parameter("bias", None)
    gone = count_model(no_bias, img, Convention(timesteps=2, bias_adds=True))
    conv2 = next(lo for lo in gone.layers if lo.name == "conv2")
    assert conv2.acs == pytest.approx(0.25 * T * 4608)  # no bias: no adds


def test_bias_adds_give_the_spikingformer_logs_mac_total():
    # Spikingformer-8-512 log: 0.347329512 G MACs = the stem conv (3 -> 64, 3x3, no bias,
    # 224^2, x T = 4) + the head 512 -> 1000 with its 1,000 bias adds.
    class StemAndHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 64, 3, padding=1, bias=False)
            self.head = nn.Linear(512, 1000)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.stem(x)
            return self.head(torch.rand(1, 512))

    x = torch.rand(1, 3, 224, 224).repeat(4, 1, 1, 1)  # [T*B, C, H, W], B = 1
    model = StemAndHead()
    on = count_model(model, x, Convention(timesteps=4, bias_adds=True), samples=1)
    off = count_model(model, x, PAPER_T4, samples=1)
    assert on.totals()["macs"] == 347_329_512 == 64 * 224 * 224 * 27 * 4 + 512 * 1000 + 1000
    assert off.totals()["macs"] == 347_329_512 - 1000


def test_rate_overrides_replace_measured_rates():
    c = count_model(
        Tiny(), torch.rand(3, 2, 4, 4), Convention(timesteps=2), rate_overrides={"conv2": 0.1766}
    )
    conv2 = next(lo for lo in c.layers if lo.name == "conv2")
    assert conv2.acs == pytest.approx(0.1766 * 2 * 8 * 16 * 36)
    with pytest.raises(SpikeportError, match="'nope' is not a conv/linear layer or attention core"):
        count_model(
            Tiny(), torch.rand(3, 2, 4, 4), Convention(timesteps=2), rate_overrides={"nope": 0.1}
        )


def test_attention_nxn_order_and_exact_pair_rate():
    t, b, h, n, d = 1, 1, 1, 4, 2
    core = SSACore(num_heads=h, head_dim=d)
    q = torch.tensor([[1, 0], [0, 0], [1, 1], [0, 0]], dtype=torch.float32)
    k = torch.tensor([[1, 1], [0, 0], [0, 0], [0, 0]], dtype=torch.float32)
    v = torch.tensor([[1, 0], [0, 0], [0, 1], [0, 0]], dtype=torch.float32)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.core = core

        def forward(self, x):
            return self.core(*(y.reshape(t, b, h, n, d) for y in (q, k, v)))

    fq, fk, fv = 3 / 8, 2 / 8, 2 / 8
    nxn = count_model(Wrap(), torch.zeros(1), Convention(timesteps=1, attention_order="nxn"))
    assert nxn.layers[0].acs == pytest.approx(n * n * d * (min(fq, fk) + fv))
    # exact Q K^T coincidences: q_i . k_j summed = (1 + 0 + 2 + 0) * ... by hand:
    # k row 0 = [1, 1]; q rows dot k row 0: 1, 0, 2, 0 -> 3 coincidences of N*N*d = 32 slots
    exact = count_model(
        Wrap(),
        torch.zeros(1),
        Convention(timesteps=1, attention_order="nxn", attention_pair_rate="exact"),
    )
    assert exact.layers[0].acs == pytest.approx(3 + n * n * d * fv)
    # d x d exact: K^T V coincidences = sum_n |k_n| |v_n| = 2 * 1 (row 0) = 2
    dxd = count_model(Wrap(), torch.zeros(1), Convention(timesteps=1, attention_pair_rate="exact"))
    assert dxd.layers[0].acs == pytest.approx(2 + n * d * d * fq)


class Graded(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 4)
        self.fc = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x):
        self.enc(x)
        # SEW-style integer spikes 0/1/2: rows sum 3 and 2 -> mean 10/16 = 0.625,
        # non-zero 6/16 = 0.375
        g = torch.tensor([[2.0, 0, 1, 0], [0, 2, 0, 0]]).repeat(2, 1)  # [T*B = 4, 4]
        return self.bn(self.fc(g))


def test_graded_spikes_rate_and_batchnorm_options():
    x = torch.rand(4, 4)  # T = 2, B = 2 -> leading 4 = T*B
    base = dict(timesteps=2)
    ac_mean = count_model(Graded().eval(), x, Convention(**base), samples=2)
    fc = next(lo for lo in ac_mean.layers if lo.name == "fc")
    assert fc.acs == pytest.approx(0.625 * 2 * 12)  # fr (mean) x T x FLOPs(4*3)
    nz = count_model(Graded().eval(), x, Convention(**base, rate="nonzero"), samples=2)
    assert next(lo for lo in nz.layers if lo.name == "fc").acs == pytest.approx(0.375 * 2 * 12)
    mac = count_model(Graded().eval(), x, Convention(**base, graded_spikes="mac"), samples=2)
    fc_mac = next(lo for lo in mac.layers if lo.name == "fc")
    assert fc_mac.macs == 2 * 12 and fc_mac.acs == 0  # dense MAC, T steps
    assert "bn" not in {lo.name for lo in ac_mean.layers}  # fused by default
    bn = count_model(Graded().eval(), x, Convention(**base, batchnorm="counted"), samples=2)
    assert next(lo for lo in bn.layers if lo.name == "bn").macs == 2 * 3  # T x 3 elements


def test_head_as_ac_option_uses_rate_times_t():
    m = Tiny()
    c = count_model(m, torch.rand(3, 2, 4, 4), Convention(timesteps=2, head_as_mac=False))
    head = next(lo for lo in c.layers if lo.name == "head")
    assert head.acs == pytest.approx(0.5 * 2 * 5 * 128) and head.macs == 0


def test_lif_neuron_updates_and_spikes_are_counted():
    from spikeport.models.neuron import MultiStepLIF

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lif = MultiStepLIF(tau=2.0, v_threshold=1.0)

        def forward(self, x):
            return self.lif(x)

    x = torch.tensor([[[2.0, 0.0, 0.5]], [[2.0, 0.0, 2.0]]])  # [T=2, B=1, 3]
    c = count_model(Net(), x, Convention(timesteps=2), samples=1)
    lo = c.layers[0]
    # H = V + (X - V)/2: step 0 -> [1, 0, 0.25] spikes [1,0,0]; step 1 -> [1, 0, 1.125] -> [1,0,1]
    assert (lo.neuron_updates, lo.neuron_updates_active, lo.spikes) == (6, 4, 3)


def test_invalid_convention_is_a_user_error():
    with pytest.raises(SpikeportError, match="invalid attention_order='qk'"):
        Convention(timesteps=4, attention_order="qk")


def _brute_effective(conv: nn.Conv2d, x: torch.Tensor) -> int:
    """Loop over output positions: count (non-zero input, non-zero weight) pairs."""
    w = conv.weight != 0
    xp = torch.nn.functional.pad(x != 0, [conv.padding[1]] * 2 + [conv.padding[0]] * 2)
    out = conv(x.float())
    cin_g = conv.in_channels // conv.groups
    cout_g = conv.out_channels // conv.groups
    (sh, sw), (dh, dw) = conv.stride, conv.dilation
    total = 0
    for b in range(x.shape[0]):
        for o in range(conv.out_channels):
            g = o // cout_g
            for i in range(out.shape[2]):
                for j in range(out.shape[3]):
                    for c in range(cin_g):
                        for ki in range(conv.kernel_size[0]):
                            for kj in range(conv.kernel_size[1]):
                                xi = xp[b, g * cin_g + c, i * sh + ki * dh, j * sw + kj * dw]
                                total += int(bool(xi) and bool(w[o, c, ki, kj]))
    return total


@pytest.mark.parametrize(
    "kw",
    [
        dict(stride=2, padding=1),
        dict(stride=(2, 1), padding=(1, 0)),
        dict(stride=1, padding=2, dilation=2),
        dict(stride=3, padding=0, groups=2),
        dict(stride=2, padding=(0, 2), dilation=(1, 2)),
    ],
)
def test_effective_pairs_match_brute_force(kw):
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, bias=False, **kw)
    with torch.no_grad():
        conv.weight[conv.weight.abs() < 0.1] = 0
    x = (torch.rand(2, 4, 7, 9) < 0.3).float()
    c = count_model(conv, x, Convention(timesteps=1))
    assert c.stats[0].effective * 2 == _brute_effective(conv, x)
