"""Hardware-model data files: bundled targets load, carry their published figures, and a
malformed file fails with one line naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spikeport.errors import SpikeportError
from spikeport.hw_models.cost.hardware import (
    TARGETS_DIR,
    available_hardware_models,
    load_hardware_model,
    load_hardware_model_file,
)


def test_bundled_targets_are_cmos45nm_loihi_loihi2():
    assert set(available_hardware_models()) >= {"cmos45nm", "loihi", "loihi2"}


def test_cmos45nm_has_the_papers_constants():
    hw = load_hardware_model("cmos45nm")
    assert hw.energy["mac"].value == 4.6 and hw.energy["ac"].value == 0.9
    assert hw.energy_j("mac") == pytest.approx(4.6e-12)
    # Horowitz 2014: fp32 mult 3.7 + fp32 add 0.9 = 4.6 pJ, stated as a derivation.
    assert hw.energy["mac"].status == "derived" and "3.7" in hw.energy["mac"].derivation
    assert hw.energy_j("neuron_update") is None  # the convention ignores neuron updates


def test_loihi_has_davies_2018_table2_and_core_limits():
    hw = load_hardware_model("loihi")
    pj = {k: f.value for k, f in hw.energy.items()}
    assert pj["ac"] == 23.6 and pj["neuron_update_active"] == 81.0
    assert pj["neuron_update_inactive"] == 52.0 and pj["spike"] == 1.7
    assert hw.limit("cores_per_chip") == 128 and hw.limit("neurons_per_core") == 1024
    assert hw.limit("synaptic_memory_bytes_per_core") == 128 * 1024
    assert hw.limit("fan_in_axons_per_core") == hw.limit("fan_out_axons_per_core") == 4096


def test_every_figure_cites_a_listed_source():
    for name in available_hardware_models():
        hw = load_hardware_model(name)
        for section in (hw.energy, hw.limits, hw.formats):
            for fig in section.values():
                assert fig.source in hw.sources
                if fig.status in ("derived", "calibrated"):
                    assert fig.derivation


def test_loihi2_figures_are_labelled_estimates():
    hw = load_hardware_model("loihi2")
    assert "ESTIMATE" in hw.title
    assert all(f.status == "calibrated" for f in hw.energy.values())


def _write(tmp_path: Path, data: dict, name: str = "mychip") -> Path:
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(data))
    return p


def _good() -> dict:
    return json.loads((TARGETS_DIR / "loihi.json").read_text()) | {"name": "mychip"}


def test_adding_a_target_is_writing_one_file(tmp_path):
    hw = load_hardware_model(_write(tmp_path, _good()))
    assert hw.name == "mychip" and hw.energy_j("ac") == pytest.approx(23.6e-12)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["energy"]["ac"].pop("source"), "energy.ac.source"),
        (lambda d: d["energy"]["ac"].update(value=-1), "energy.ac.value"),
        (lambda d: d["energy"]["ac"].update(value="23.6"), "energy.ac.value"),
        (lambda d: d["energy"]["ac"].update(unit="nJ"), "energy.ac.unit"),
        (lambda d: d["energy"]["ac"].update(source="nobody"), "energy.ac.source"),
        (
            lambda d: d["energy"].update(
                teleport={"value": 1, "unit": "pJ", "source": "davies2018"}
            ),
            "energy.teleport",
        ),
        (lambda d: d["energy"]["ac"].update(status="derived"), "energy.ac.derivation"),
        (
            lambda d: d["limits"]["neurons_per_core"].update(unit="pJ"),
            "limits.neurons_per_core.unit",
        ),
        (lambda d: d.update(name="other"), "name"),
        (lambda d: d.pop("sources"), "sources"),
    ],
)
def test_malformed_file_names_file_and_field(tmp_path, mutate, field):
    data = _good()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(SpikeportError) as exc:
        load_hardware_model_file(path)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg and f"'{field}'" in msg


def test_invalid_json_and_unknown_name_are_user_errors(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(SpikeportError, match="bad.json: invalid JSON at line 1"):
        load_hardware_model_file(p)
    with pytest.raises(SpikeportError, match="'nochip' not found; available: cmos45nm"):
        load_hardware_model("nochip")
