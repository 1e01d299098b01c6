"""``quantize``: float graph -> Loihi fixed point, following Lava's conventions (its bit-accurate
LIF / Dense / Conv models and lava-dl's 2^6 weight and 2^12 state scales: docs/semantics.md).

Runs after fold-batchnorm, fold-input-scale and merge-attention-scale. Per layer it picks a
state scale S (integers of u/v per float unit of membrane potential) and emits exactly the
integers Lava's process constructors take. One rule per node type (``quantizer.RULES``):

* :mod:`.synapse`: Conv2d / Linear + LIF -> Conv / Dense + CubaLIF;
* :mod:`.attention`: Attention + LIF -> IntAttention + CubaLIF (per variant through
  ``spikeport.ir.attention``);
* :mod:`.readout`: TokenMean -> TimeMean -> Linear head -> token-sum Dense + head Dense +
  a readout CubaLIF that never spikes;
* :mod:`.integer`: IntegerSpike (a current reader) -> GradedSpike, LinearAttention (+ its
  IntegerSpike) -> IntLinearAttention (+ GradedSpike);
* :mod:`.passthrough`: Input (float -> graded integers), Add, MaxPool2d, layout nodes; a LIF
  or BatchNorm left without a synapse is refused.

Lava's number formats are in :mod:`.fixed_point`. Every decision is recorded in
``graph.meta['quantization']`` (the per-layer report).
"""

from spikeport.converters.passes.quantize import attention, integer, passthrough, readout, synapse
from spikeport.converters.passes.quantize.quantizer import RULES, QuantConfig, Quantize, rule

RULE_MODULES = (passthrough, synapse, attention, readout, integer)
"""The modules whose rules ``RULES`` holds (importing them registers them)."""

__all__ = ["RULES", "RULE_MODULES", "QuantConfig", "Quantize", "rule"]
