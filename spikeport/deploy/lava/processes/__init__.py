"""Custom Lava Processes (each with its ``fixed_pt`` PyLoihiProcessModel) for what Lava lacks.

This package holds only Process and ProcessModel definitions: Lava's compiler imports every
module beside a Process to discover its models (lava-nc 0.10.0
``lava/magma/compiler/compiler_graphs.py``), so nothing here may
have side effects beyond defining them. Every process sends in the same step it receives
(no latency), like the simulator's executors for the same IR nodes; integers are int64.

* :mod:`.base`: ``PortedProcess`` (int64 ports ``INPUTS`` + ``s_out``) and the
  ``fixed_pt`` model decorator every process here uses.
* :mod:`.delay`: ``Delay`` (axonal delay line of graded values).
* :mod:`.elementwise`: ``Add`` (graded residual add), ``MaxPool`` (window max; OR on spikes),
  ``AxisSum`` (token-mean readout accumulation / token column sum), ``GateTokens``.
* :mod:`.attention`: ``SpikeScores`` (AND / a-XNOR popcount scores per head),
  ``ScoreAccumulate`` (scores x V spikes), ``LocalTerm`` (LRF dilated depth-wise 3x3),
  ``KVSum`` (SDSA column sum), ``Dendrites`` (LRF-Dyn compartments over tokens).
* :mod:`.blocks`: ``SpikingAttention``, the hierarchical process of one attention core.
"""

from spikeport.deploy.lava.compat import ensure_lava

ensure_lava(netx=False)
