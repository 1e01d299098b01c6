"""End to end on the digits models `spikeport train` builds (default config and schedule,
one thread): the traced float graph is bit-exact against PyTorch on the 360 test images and
the quantised integer graph keeps test accuracy within 1.0 percentage point, for every
attention variant.

Trained models come from the shared ``digits_models`` fixture (tests/digits_models.py)."""

from __future__ import annotations

import pytest

from spikeport.converters.passes import QuantConfig
from spikeport.converters.pipeline import convert_model, measure_fidelity
from spikeport.models.digits import PIXEL_MAX


@pytest.mark.slow
@pytest.mark.parametrize("attention", ["ssa", "axnor", "lrf_ssa", "lrf_dyn", "sdsa"])
def test_quantized_digits_accuracy_within_one_point_of_float(
    digits_models, digits_split, attention
):
    data = digits_split
    model = digits_models.model(attention, "full")
    conv = convert_model(
        model, (1, 8, 8), config=QuantConfig(input_scale=PIXEL_MAX), calibration=data.x_train
    )
    r = measure_fidelity(conv, model, data.x_test, data.y_test)
    assert r["float_graph_exact"], (
        r["float_graph_logit_mismatches"],
        r["float_graph_spike_mismatches"],
    )
    assert r["float_accuracy"] > 0.9
    assert abs(r["quantized_accuracy"] - r["float_accuracy"]) <= 0.01 + 1e-9, r
    assert min(layer["spike_agreement"] for layer in r["layers"].values()) > 0.9
