"""spikeport's fixed-point kernels equal Lava's own fixed_pt ProcessModels, bit for bit.

`lava_fixed_point_reference.py` (run once, in a subprocess) drives Lava's LIF, LIFReset,
Dense, DelayDense, Conv, Delta, SigmaDelta and Sigma on random integer cases with the edge
cases that matter (clipping and LSB truncation of mixed / inhibitory / excitatory weights,
negative weight_exp flooring, du=0 and du=-1, u wrap, v saturation, LIFReset phases, axonal
delays, graded messages, Conv's ignored weight_exp and 24-bit wrap, cum_error) and records
every step. Here the kernels replay the same inputs; every step's u, v, spikes and
activations must be identical. Lava's values are the independent reference.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spikeport.hw_models.sim.kernels import (
    ConvSynapse,
    CubaLifNeuron,
    DeltaEncoder,
    DenseSynapse,
    SigmaDecoder,
    SigmaDeltaNeuron,
    lava_conv_weight,
)

pytestmark = pytest.mark.lava
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    path = tmp_path_factory.mktemp("lava") / "ref.npz"
    proc = subprocess.run(
        [sys.executable, str(HERE / "lava_fixed_point_reference.py"), str(path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _case(ref: dict[str, np.ndarray], case: str) -> dict[str, np.ndarray]:
    prefix = f"{case}/"
    got = {k[len(prefix) :]: v for k, v in ref.items() if k.startswith(prefix)}
    assert got, f"no reference data for {case}"
    return got


def _params(c: dict[str, np.ndarray], prefix: str) -> dict[str, object]:
    """Constructor arguments saved under `prefix`: 0-d -> scalar, (H, W)-style pairs -> tuple."""
    out: dict[str, object] = {}
    for k, v in c.items():
        if not k.startswith(prefix):
            continue
        name = k[len(prefix) :]
        if v.ndim == 0:
            out[name] = v.item()
        elif name in ("stride", "padding", "dilation"):
            out[name] = tuple(int(e) for e in v)
        else:
            out[name] = v
    return out


def _lava(c: dict[str, np.ndarray], key: str) -> np.ndarray:
    v = c[f"lava/{key}"]
    assert np.array_equal(v, np.round(v)), key
    return v.astype(np.int64)


def _replay_lif(lif: CubaLifNeuron, a_seq: np.ndarray) -> tuple[np.ndarray, ...]:
    """Feed [T, *shape] activations (batch of 1); return u, v, spikes as [T, *shape]."""
    lif.reset(1)
    us, vs, ss = [], [], []
    for a in a_seq:
        ss.append(lif.step(a[None])[0])
        us.append(lif.u[0].copy())
        vs.append(lif.v[0].copy())
    return np.stack(us), np.stack(vs), np.stack(ss)


@pytest.mark.parametrize(
    "case",
    [
        "mixed_du0",
        "wrap_saturate",
        "inhibitory_graded",
        "excitatory_exp",
        "lif_reset",
        "threshold_equal",
        "excitatory_nwb9",
    ],
)
def test_dense_and_lif_match_lava_every_step(ref: dict[str, np.ndarray], case: str) -> None:
    c = _case(ref, case)
    dense = DenseSynapse(c["w"], **_params(c, "dense_"))
    a = np.stack([dense.step(x[None])[0] for x in c["x"]])
    assert np.array_equal(a, _lava(c, "a"))
    lif_kw = _params(c, "lif_")
    lif = CubaLifNeuron((c["w"].shape[0],), **lif_kw)
    u, v, s = _replay_lif(lif, a)
    assert np.array_equal(u, _lava(c, "lif_u"))
    assert np.array_equal(v, _lava(c, "lif_v"))
    assert np.array_equal(s, _lava(c, "s"))


def test_reference_cases_exercise_the_edge_cases(ref: dict[str, np.ndarray]) -> None:
    """The quirks were actually hit (otherwise the comparisons above prove less)."""
    w = _case(ref, "wrap_saturate")
    u, v = _lava(w, "lif_u"), _lava(w, "lif_v")
    assert (np.diff(u[:, 0]) < 0).any()  # u of the w=254 neuron wrapped
    assert (v == 2**23 - 1).any() and (v == -(2**23 - 1)).any()  # v saturated both ways
    assert _lava(_case(ref, "mixed_du0"), "s").any()
    assert _lava(_case(ref, "lif_reset"), "s").any()
    assert (np.abs(_lava(_case(ref, "conv_graded_wrap"), "a")) > 2**22).any()
    assert _lava(_case(ref, "sigma_delta"), "s").any()
    t = _case(ref, "threshold_equal")
    assert (_lava(t, "lif_v")[1:, 0] == 64).all() and not _lava(t, "s")[:, 0].any()
    assert _lava(t, "s")[1:, 1].all()


def test_delay_dense_matches_lava(ref: dict[str, np.ndarray]) -> None:
    c = _case(ref, "delay_dense")
    dense = DenseSynapse(c["w"], weight_exp=int(c["weight_exp"]), delay=c["delays"])
    a = np.stack([dense.step(x[None])[0] for x in c["x"]])
    assert np.array_equal(a, _lava(c, "a"))


@pytest.mark.parametrize("case", ["conv_binary", "conv_graded_wrap", "conv_wide"])
def test_conv_matches_lava(ref: dict[str, np.ndarray], case: str) -> None:
    c = _case(ref, case)
    kw = _params(c, "conv_")
    kw.pop("weight_exp", None)  # Lava ignores it; the kernel has no such parameter
    conv = ConvSynapse(
        lava_conv_weight(c["w"]),
        stride=kw.pop("stride", (1, 1))[::-1],  # Lava (X, Y) -> (H, W)
        padding=kw.pop("padding", (0, 0))[::-1],
        dilation=kw.pop("dilation", (1, 1))[::-1],
        **kw,
    )
    # Lava (X, Y, C) <-> spikeport (C, H, W) = (C, Y, X)
    a = np.stack([conv.step(x.transpose(2, 1, 0)[None])[0] for x in c["x"]])
    a_lava = _lava(c, "a").transpose(0, 3, 2, 1)
    assert np.array_equal(a, a_lava)
    if "lif_vth" in c:
        lif = CubaLifNeuron(a.shape[1:], **_params(c, "lif_"))
        u, v, s = _replay_lif(lif, a)
        assert np.array_equal(u, _lava(c, "lif_u").transpose(0, 3, 2, 1))
        assert np.array_equal(v, _lava(c, "lif_v").transpose(0, 3, 2, 1))
        assert np.array_equal(s, _lava(c, "s").transpose(0, 3, 2, 1))


def test_delta_encoder_matches_lava(ref: dict[str, np.ndarray]) -> None:
    c = _case(ref, "delta")
    enc = DeltaEncoder(
        (16,), vth=int(c["vth"]), spike_exp=int(c["spike_exp"]), state_exp=int(c["state_exp"])
    )
    enc.reset(1)
    s = np.stack([enc.step(x[None])[0] for x in c["x"]])
    assert np.array_equal(s, _lava(c, "s"))


@pytest.mark.parametrize("case", ["sigma_delta", "sigma_delta_cum"])
def test_sigma_delta_and_sigma_match_lava(ref: dict[str, np.ndarray], case: str) -> None:
    c = _case(ref, case)
    dense = DenseSynapse(c["w"], num_message_bits=16, weight_exp=-6)
    sd = SigmaDeltaNeuron(
        (10,),
        vth=int(c["vth"]),
        bias=c["bias"],
        spike_exp=int(c["spike_exp"]),
        state_exp=int(c["state_exp"]),
        cum_error=bool(c["cum_error"]),
    )
    sigma = SigmaDecoder((10,))
    sd.reset(1)
    sigma.reset(1)
    s_seq, sig_seq = [], []
    for x in c["x"]:
        s = sd.step(dense.step(x[None]))
        s_seq.append(s[0])
        sig_seq.append(sigma.step(s)[0])
    assert np.array_equal(np.stack(s_seq), _lava(c, "s"))
    assert np.array_equal(np.stack(sig_seq), _lava(c, "sigma"))
