"""Two example IR graphs shared by the storage tests and the fuzz targets: together they use
every float, layout and integer node type (the lowering passes' nodes are sampled one by one
in test_ir_storage.EXTRA_SAMPLES)."""

from __future__ import annotations

import numpy as np

from spikeport import ir


def float_graph() -> ir.Graph:
    """A small Spikformer-like float graph using every float and layout node type."""
    rng = np.random.default_rng(0)
    g = ir.Graph("float_example")
    g.meta = {"source": "test", "note": "every float node"}
    g.add(ir.Input("x", shape=(3, 8, 8), kind="float"))
    g.add(
        ir.Conv2d(
            "conv",
            weight=rng.normal(size=(8, 3, 3, 3)).astype(np.float32),
            bias=np.zeros(8, np.float32),
            padding=1,
        ),
        "x",
    )
    g.add(
        ir.BatchNorm(
            "bn",
            mean=rng.normal(size=8),
            var=rng.uniform(0.5, 2, size=8),
            weight=np.ones(8),
            bias=None,
            eps=1e-5,
        ),
        "conv",
    )
    g.add(ir.LIF("lif0", tau=2.0, v_threshold=1.0, v_reset=0.0), "bn")
    g.add(ir.MaxPool2d("pool", kernel_size=2), "lif0")
    g.add(ir.Flatten("flat", start_dim=1), "pool")
    g.add(ir.Transpose("tokens", perm=(1, 0)), "flat")  # (16 tokens, 8 channels)
    for p in "qkv":
        g.add(
            ir.Linear(f"{p}_lin", weight=rng.normal(size=(8, 8)), bias=rng.normal(size=8)), "tokens"
        )
        g.add(
            ir.LIF(f"{p}_lif", tau=2.0, v_threshold=1.0, v_reset=None, decay_input=False),
            f"{p}_lin",
        )
    qkv = {"q": "q_lif", "k": "k_lif", "v": "v_lif"}
    k = 3
    dyn_a = np.zeros((8, k, k))
    idx = np.arange(k)
    dyn_a[:, idx, idx] = 0.9
    dyn_a[:, idx[:-1], idx[1:]] = 0.05
    dyn_a[:, idx[1:], idx[:-1]] = 0.04
    attn = [
        ir.Attention("ssa", variant="ssa", heads=2, head_dim=4, scale=0.125),
        ir.Attention("axnor", variant="axnor", heads=2, head_dim=4, a=np.array([0.25, 0.5])),
        ir.Attention(
            "lrf_ssa",
            variant="lrf_ssa",
            heads=2,
            head_dim=4,
            grid=(4, 4),
            local_weight=rng.normal(size=(2, 8, 1, 3, 3)),
        ),
        ir.Attention(
            "lrf_dyn",
            variant="lrf_dyn",
            heads=2,
            head_dim=4,
            dyn_a=dyn_a,
            dyn_gamma=np.ones((8, k)),
            dyn_c=np.full((8, k), 0.5),
        ),
        ir.Attention("sdsa", variant="sdsa", heads=1, head_dim=8, sdsa_threshold=0.5),
    ]
    prev = "tokens"
    for i, node in enumerate(attn):
        g.add(node, qkv)
        g.add(ir.Add(f"res{i}"), {"a": prev, "b": node.name})
        prev = f"res{i}"
    g.add(ir.Reshape("grid", shape=(4, 4, -1)), prev)
    g.add(ir.Reshape("back", shape=(16, 8)), "grid")
    g.add(ir.TokenMean("mean", axis=0), "back")
    g.add(ir.TimeMean("tmean"), "mean")
    g.set_outputs(["tmean"])
    return g


def int_graph() -> ir.Graph:
    """A lowered graph using every integer node type."""
    rng = np.random.default_rng(1)
    g = ir.Graph("int_example")
    g.add(ir.Input("x", shape=(2, 6, 6)))
    g.add(
        ir.CubaLIF(
            "in_lif",
            shape=(2, 6, 6),
            du=-1,
            dv=4096,
            vth=25,
            bias_mant=rng.integers(-50, 50, size=(2, 6, 6)),
            bias_exp=6,
            reset_interval=8,
            reset_offset=1,
        ),
        "x",
    )
    g.add(
        ir.Conv(
            "conv",
            weight=rng.integers(-256, 255, size=(4, 1, 3, 3)),
            stride=(1, 2),
            padding=1,
            dilation=1,
            groups=2,
        ),
        "in_lif",
    )
    g.add(
        ir.CubaLIF(
            "conv_lif",
            shape=(4, 6, 3),
            du=4095,
            dv=1024,
            vth=80,
            bias_mant=np.arange(4).reshape(4, 1, 1),
            bias_exp=6,
        ),
        "conv",
    )
    g.add(ir.Flatten("flat"), "conv_lif")
    g.add(
        ir.Dense(
            "fc",
            weight=rng.integers(-128, 127, size=(10, 72)),
            weight_exp=-2,
            num_weight_bits=7,
            delay=rng.integers(0, 62, size=(10, 72)),
        ),
        "flat",
    )
    g.add(ir.Delta("delta", shape=(10,), vth=3, spike_exp=6, state_exp=6, cum_error=True), "fc")
    g.add(ir.Dense("fc2", weight=rng.integers(0, 255, size=(5, 10)), num_message_bits=16), "delta")
    g.add(
        ir.SigmaDelta(
            "sd",
            shape=(5,),
            vth=2,
            bias=rng.integers(-9, 9, size=5),
            spike_exp=6,
            state_exp=6,
            act_mode="unit",
        ),
        "fc2",
    )
    g.add(ir.Sigma("sigma", shape=(5,)), "sd")
    g.add(ir.Delay("delay", steps=4), "sigma")
    g.add(ir.Input("spikes", shape=(2, 7, 20)))
    g.add(
        ir.XnorPopcount("xnor", head_dim=20, a_int=3, a_shift=3, out_bits=8),
        {"q": "spikes", "k": "spikes"},
    )
    g.add(ir.AndPopcount("and", head_dim=20, out_bits=5), {"q": "spikes", "k": "spikes"})
    return g
