"""Drive Lava's own fixed_pt ProcessModels on random integer cases and save every step.

Run as a script (in a subprocess: Lava forks workers): ``python lava_fixed_point_reference.py
OUT.npz``. For each case it saves the inputs and parameters it used (``<case>/...``) and Lava's
per-step outputs (``<case>/lava/...``): LIF u, v (read back after every step), spikes and
synapse activations (sink RingBuffers). ``tests/test_sim_kernels_vs_lava.py`` replays the same
inputs through spikeport's kernels and compares bit for bit. Not collected by pytest.
"""

from __future__ import annotations

import sys

import numpy as np

from spikeport.deploy.lava.compat import ensure_lava, surface_child_errors

ensure_lava(netx=False)

from lava.magma.core.run_conditions import RunSteps  # noqa: E402
from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: E402
from lava.proc.conv.process import Conv  # noqa: E402
from lava.proc.dense.process import DelayDense, Dense  # noqa: E402
from lava.proc.io.sink import RingBuffer as Sink  # noqa: E402
from lava.proc.io.source import RingBuffer as Source  # noqa: E402
from lava.proc.lif.process import LIF, LIFReset  # noqa: E402
from lava.proc.sdn.process import Delta, Sigma, SigmaDelta  # noqa: E402

T = 32
CFG = Loihi2SimCfg(select_tag="fixed_pt")
out: dict[str, np.ndarray] = {}


def save(case: str, **arrays: object) -> None:
    for k, v in arrays.items():
        out[f"{case}/{k}"] = np.asarray(v)


def run(case: str, root: object, steps: int, sinks: dict[str, Sink], lifs: dict[str, LIF]) -> None:
    """Run `steps` single steps, reading each LIF's u and v after every step."""
    trace = {f"{n}_{var}": [] for n in lifs for var in ("u", "v")}
    with surface_child_errors():
        for _ in range(steps):
            root.run(condition=RunSteps(1), run_cfg=CFG)
            for n, lif in lifs.items():
                trace[f"{n}_u"].append(lif.u.get().copy())
                trace[f"{n}_v"].append(lif.v.get().copy())
        got = {f"lava/{k}": np.stack(v) for k, v in trace.items()}
        for n, sink in sinks.items():
            got[f"lava/{n}"] = np.moveaxis(sink.data.get(), -1, 0)  # [T, ...]
        root.stop()
    save(case, **got)


def dense_lif(case: str, *, x, w, dense_kw, lif_kw, lif_cls=LIF) -> None:
    """Source -> Dense -> LIF (``lif_cls``), sinks on Dense a_out and LIF spikes."""
    n_out = w.shape[0]
    src = Source(data=x.T.copy())
    dense = Dense(weights=w, **dense_kw)
    lif = lif_cls(shape=(n_out,), **lif_kw)
    a_sink, s_sink = Sink(shape=(n_out,), buffer=T), Sink(shape=(n_out,), buffer=T)
    src.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    dense.a_out.connect(a_sink.a_in)
    lif.s_out.connect(s_sink.a_in)
    save(case, x=x, w=w, **{f"dense_{k}": v for k, v in dense_kw.items()})
    save(case, **{f"lif_{k}": v for k, v in lif_kw.items()})
    run(case, lif, T, {"a": a_sink, "s": s_sink}, {"lif": lif})


def main(path: str) -> None:
    rng = np.random.default_rng(20261123)

    # mixed-sign weights beyond the 9-bit range (clipped), LSB truncation, du=0 quirk, bias
    dense_lif(
        "mixed_du0",
        x=(rng.random((T, 40)) < 0.3).astype(int),
        w=rng.integers(-300, 300, (12, 40)),
        dense_kw={"weight_exp": 0, "num_weight_bits": 8},
        lif_kw=dict(du=0, dv=200, vth=300, bias_mant=rng.integers(-50, 50, 12), bias_exp=3),
    )
    # u wraps past 2**23, v saturates (netx's du=-1 "no decay" and never-spiking vth 2**17)
    dense_lif(
        "wrap_saturate",
        x=np.ones((T, 600), dtype=int),
        w=np.vstack([np.full(600, 254), np.full(600, 100), np.full(600, -256)]),
        dense_kw={"num_weight_bits": 8},
        lif_kw=dict(du=-1, dv=0, vth=1 << 17),
    )
    # all-inhibitory weights (truncated toward zero), graded input, weight_exp < 0 (floor)
    dense_lif(
        "inhibitory_graded",
        x=rng.integers(-100, 100, (T, 30)),
        w=rng.integers(-255, 1, (10, 30)),
        dense_kw={"weight_exp": -3, "num_weight_bits": 6, "num_message_bits": 8},
        lif_kw=dict(du=4095, dv=4096, vth=50),
    )
    # excitatory weights, few weight bits, weight_exp > 0, partial decays
    dense_lif(
        "excitatory_exp",
        x=(rng.random((T, 25)) < 0.5).astype(int),
        w=rng.integers(0, 256, (8, 25)),
        dense_kw={"weight_exp": 2, "num_weight_bits": 5},
        lif_kw=dict(du=1000, dv=50, vth=2000, bias_mant=rng.integers(-4096, 4096, 8), bias_exp=1),
    )
    # LIFReset: u and v zeroed every 5 steps at phase 2
    dense_lif(
        "lif_reset",
        x=(rng.random((T, 20)) < 0.4).astype(int),
        w=rng.integers(-256, 256, (6, 20)),
        dense_kw={"num_weight_bits": 9},
        lif_cls=LIFReset,
        lif_kw=dict(
            du=100, dv=300, vth=150, bias_mant=7, bias_exp=6, reset_interval=5, reset_offset=2
        ),
    )

    # v exactly at vth << 6 must not spike (strict >): a = 1, 2 -> u = v = 64, 128; vth 1 -> 64
    dense_lif(
        "threshold_equal",
        x=np.tile([1, 0], (T, 1)),
        w=np.array([[1, -1], [2, -1]]),
        dense_kw={"num_weight_bits": 9},
        lif_kw=dict(du=4095, dv=4096, vth=1),
    )
    # non-mixed weights with num_weight_bits 9: Lava shifts by -1 and the weights vanish
    dense_lif(
        "excitatory_nwb9",
        x=(rng.random((T, 10)) < 0.5).astype(int),
        w=rng.integers(0, 256, (4, 10)),
        dense_kw={"num_weight_bits": 9},
        lif_kw=dict(du=4095, dv=0, vth=10),
    )

    # DelayDense: per-synapse delays 0..5 on top of the one-step delay
    x = (rng.random((T, 15)) < 0.4).astype(int)
    w = rng.integers(-256, 256, (7, 15))
    delays = rng.integers(0, 6, (7, 15))
    src, dd = Source(data=x.T.copy()), DelayDense(weights=w, delays=delays, weight_exp=-1)
    sink = Sink(shape=(7,), buffer=T)
    src.s_out.connect(dd.s_in)
    dd.a_out.connect(sink.a_in)
    save("delay_dense", x=x, w=w, delays=delays, weight_exp=-1)
    run("delay_dense", dd, T, {"a": sink}, {})

    # Conv, binary input: stride/padding/dilation differ per axis, 2 groups -> LIF
    conv_case(
        "conv_binary",
        x=(rng.random((T, 9, 8, 4)) < 0.4).astype(int),  # [T, X, Y, C]
        w=rng.integers(-256, 256, (6, 3, 2, 2)),  # (C_out, X_k, Y_k, C_in/g)
        conv_kw={"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2), "groups": 2},
        lif_kw=dict(du=500, dv=700, vth=200),
    )
    # Conv, graded input large enough to wrap the 24-bit a_out; weight_exp is ignored
    conv_case(
        "conv_graded_wrap",
        x=rng.integers(-30000, 30000, (T, 5, 5, 8)),
        w=rng.integers(-256, 256, (3, 3, 3, 8)),
        conv_kw={"padding": (1, 1), "num_message_bits": 16, "weight_exp": 3},
        lif_kw=None,
    )

    # Conv wider than 127 pixels with > 127 output channels (Lava's int8 geometry Vars
    # overflow under numpy 2 without spikeport's compat patch)
    conv_case(
        "conv_wide",
        x=(rng.random((4, 130, 3, 2)) < 0.5).astype(int),
        w=rng.integers(-256, 256, (130, 3, 3, 2)),
        conv_kw={"padding": (1, 1)},
        lif_kw=None,
    )

    # SDNN: Delta encoder, Dense (graded) -> SigmaDelta (relu, with and without cum_error),
    # Sigma decoder
    xg = np.cumsum(rng.integers(-20, 21, (T, 16)), axis=0)
    src, delta = Source(data=xg.T.copy()), Delta(shape=(16,), vth=2, spike_exp=6, state_exp=6)
    d_sink = Sink(shape=(16,), buffer=T)
    src.s_out.connect(delta.a_in)
    delta.s_out.connect(d_sink.a_in)
    save("delta", x=xg, vth=2, spike_exp=6, state_exp=6)
    run("delta", delta, T, {"s": d_sink}, {})

    for case, cum in (("sigma_delta", False), ("sigma_delta_cum", True)):
        msgs = rng.integers(-3000, 3000, (T, 16)) * (rng.random((T, 16)) < 0.5)
        w = rng.integers(-256, 256, (10, 16))
        bias = rng.integers(-20, 20, 10)
        src = Source(data=msgs.T.copy())
        dense = Dense(weights=w, num_message_bits=16, weight_exp=-6)
        sd = SigmaDelta(shape=(10,), vth=5, bias=bias, spike_exp=6, state_exp=6, cum_error=cum)
        sigma = Sigma(shape=(10,))
        sd_sink, sig_sink = Sink(shape=(10,), buffer=T), Sink(shape=(10,), buffer=T)
        src.s_out.connect(dense.s_in)
        dense.a_out.connect(sd.a_in)
        sd.s_out.connect(sd_sink.a_in)
        sd.s_out.connect(sigma.a_in)
        sigma.s_out.connect(sig_sink.a_in)
        save(case, x=msgs, w=w, bias=bias, vth=5, spike_exp=6, state_exp=6, cum_error=cum)
        run(case, sd, T, {"s": sd_sink, "sigma": sig_sink}, {})

    np.savez_compressed(path, **out)


def conv_case(case: str, *, x, w, conv_kw, lif_kw) -> None:
    """Source -> Conv (-> LIF), sinks on Conv a_out (and LIF spikes)."""
    steps, in_shape = x.shape[0], x.shape[1:]
    src = Source(data=np.moveaxis(x, 0, -1).copy())
    conv = Conv(weight=w, input_shape=in_shape, **conv_kw)
    out_shape = conv.a_out.shape
    a_sink = Sink(shape=out_shape, buffer=steps)
    src.s_out.connect(conv.s_in)
    conv.a_out.connect(a_sink.a_in)
    sinks, lifs = {"a": a_sink}, {}
    save(case, x=x, w=w, **{f"conv_{k}": v for k, v in conv_kw.items()})
    if lif_kw is not None:
        lif = LIF(shape=out_shape, **lif_kw)
        s_sink = Sink(shape=out_shape, buffer=steps)
        conv.a_out.connect(lif.a_in)
        lif.s_out.connect(s_sink.a_in)
        sinks["s"], lifs["lif"] = s_sink, lif
        save(case, **{f"lif_{k}": v for k, v in lif_kw.items()})
    run(case, src, steps, sinks, lifs)


if __name__ == "__main__":
    main(sys.argv[1])
