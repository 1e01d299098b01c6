"""Run PilotNet-LIF (lava-dl's gts/pilotnet_lif/network.net) in Lava and save every layer's u, v.

Script for ``test_sim_netx_groundtruth.py`` (run in a subprocess; not collected by pytest):
``python lava_pilotnet_lif_reference.py OUT.npz STEPS``. netx with reset_interval 16, the
image through the input layer's bias, Loihi2SimCfg fixed_pt; keys ``<layer>_<u|v>`` hold
[STEPS, X, Y, C] or [STEPS, N] arrays read after every step.
"""

from __future__ import annotations

import sys

import numpy as np

from spikeport.deploy.lava.compat import ensure_lava, surface_child_errors
from spikeport.deploy.lava.groundtruth import netx_test_dir


def main(path: str, steps: int) -> None:
    ensure_lava()
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    gts = netx_test_dir() / "gts" / "pilotnet_lif"
    net = netx.hdf5.Network(net_config=str(gts / "network.net"), reset_interval=16)
    net.in_layer.neuron.bias_mant.init = np.load(gts / "image.npy").astype(int)
    trace: dict[str, list[np.ndarray]] = {}
    with surface_child_errors():
        for _ in range(steps):
            net.run(condition=RunSteps(1), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
            for i, layer in enumerate(net.layers):
                for var in ("u", "v"):
                    trace.setdefault(f"{i}_{var}", []).append(getattr(layer.neuron, var).get())
        net.stop()
    np.savez(path, **{k: np.stack(v) for k, v in trace.items()})


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
