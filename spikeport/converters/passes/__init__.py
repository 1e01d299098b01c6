"""Graph passes (each a `Pass` with a name, `match` and `transform`) and the `PassManager`."""

from spikeport.converters.passes.fold_batchnorm import FoldBatchNorm
from spikeport.converters.passes.fold_input_scale import FoldInputScale
from spikeport.converters.passes.layout import (
    AbsorbTransposeBatchNorm,
    SimplifyLayout,
    SinkLayoutBelowLIF,
)
from spikeport.converters.passes.manager import Pass, PassManager
from spikeport.converters.passes.merge_attention_scale import MergeAttentionScale
from spikeport.converters.passes.quantize import QuantConfig, Quantize

__all__ = [
    "AbsorbTransposeBatchNorm",
    "FoldBatchNorm",
    "FoldInputScale",
    "MergeAttentionScale",
    "Pass",
    "PassManager",
    "QuantConfig",
    "Quantize",
    "SimplifyLayout",
    "SinkLayoutBelowLIF",
]
