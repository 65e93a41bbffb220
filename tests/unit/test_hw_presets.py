"""Preset files: loading, overrides, validation errors, sources, noise pass-through, text."""
from __future__ import annotations

import pytest

import hw_models
from hw_models import HardwareConfigError
from hw_models.config import Quantity, load_params

ANALOG = ["pcm-hermes", "rram", "sram-cim", "charge-jia2020", "mzi", "mzi-mems", "mzi-eo", "freespace", "ideal"]

HEAD = '''
[hardware]
name = "mine"
technology_node = {value = 22, unit = "nm", source = "test"}
[tile]
family = "crossbar"
rows = 64
cols = 64
[chip]
tiles_per_chip = 4
'''


def test_presets_listed_and_loadable():
    assert set(ANALOG) <= set(hw_models.presets())
    assert set(hw_models.baselines()) == {"a100", "h100", "digital-int8"}
    assert hw_models.DEFAULT_PRESET == "pcm-hermes"
    for name in ANALOG:
        hw = hw_models.load(name)
        assert isinstance(hw, hw_models.Hardware) and hw.name == name
        assert hw.params["noise"]["model"]  # [noise] validated by hw_models.noise


def test_hermes_geometry():
    hw = hw_models.load("pcm-hermes")
    assert (hw.tile.rows, hw.tile.cols, hw.chip.tiles_per_chip) == (256, 256, 64)
    assert (hw.input_bits, hw.output_bits, hw.dynamic_matmul) == (8, 8, "digital")


def test_every_constant_has_unit_and_source():
    for name in ANALOG + hw_models.baselines():
        p = load_params(name)
        for section, table in p.items():
            if section.startswith("_") or section == "noise":
                continue
            for key, v in table.items():
                if isinstance(v, Quantity):
                    assert v.unit and len(v.source) > 3, (name, section, key)


def test_overrides_and_aliases():
    hw = hw_models.load("pcm-hermes", adc_bits=6, rows=512, dac_bits=4)
    assert (hw.output_bits, hw.tile.rows, hw.input_bits) == (6, 512, 4)
    assert hw_models.load("pcm-hermes", output_bits=5).output_bits == 5
    hw = hw_models.load("mzi", **{"mzi.settle_time": "5 us"})
    assert hw.params["mzi"]["settle_time"].si == pytest.approx(5e-6)
    hw = hw_models.load("freespace", photons_per_mac=3.1)
    assert hw.params["freespace"]["photons_per_mac"].si == pytest.approx(3.1)
    # loading twice does not leak overrides into the cached preset
    assert hw_models.load("pcm-hermes").tile.rows == 256


@pytest.mark.parametrize("kw, key, expected", [
    ({"rows": 0}, "rows", "positive integer"),
    ({"adc_bits": -1}, "output_bits", "bits"),
    ({"dynamic_matmul": "sometimes"}, "dynamic_matmul", "one of"),
    ({"mzi.hold_power_pi": 3}, "mzi", "a table of a crossbar preset"),
    ({"adc.energy": "3 mW"}, "energy", "energy"),
    ({"nonsense": 1}, "nonsense", "expected"),
])
def test_bad_overrides_name_key_and_expectation(kw, key, expected):
    with pytest.raises(HardwareConfigError) as e:
        hw_models.load("pcm-hermes", **kw)
    msg = str(e.value)
    assert "\n" not in msg and key in msg and expected in msg and "pcm-hermes" in msg


def test_a_quantity_override_needs_its_unit():
    with pytest.raises(HardwareConfigError, match=r"\[mzi\] hold_power_pi: expected a .*unit"):
        hw_models.load("mzi", **{"mzi.hold_power_pi": 3})


@pytest.mark.parametrize("body, key", [
    ("[tile]\nfoo = 1\n", "foo"),
    ('[adc]\nconversion_time = {value = 1, source = "x"}\n', "conversion_time"),
    ('[adc]\nconversion_time = {value = 1, unit = "ns"}\n', "conversion_time"),
    ('[adc]\nconversion_time = {value = -1, unit = "ns", source = "x"}\n', "conversion_time"),
    ('[adc]\nconversion_time = {value = 1, unit = "furlongs", source = "x"}\n', "conversion_time"),
    ("[mystery]\na = 1\n", "mystery"),
])
def test_bad_files_name_file_and_key(tmp_path, body, key):
    f = tmp_path / "mine.toml"
    text = HEAD
    if body.startswith("[tile]"):
        text = text.replace("[tile]\n", body)
    else:
        text += body
    f.write_text(text)
    with pytest.raises(HardwareConfigError) as e:
        hw_models.load(str(f))
    assert str(f) in str(e.value) and key in str(e.value)


def test_user_file_loads_and_rows_zero_rejected(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text(HEAD)
    assert hw_models.load(str(f)).tile.rows == 64
    f.write_text(HEAD.replace("rows = 64", "rows = 0"))
    with pytest.raises(HardwareConfigError, match="rows"):
        hw_models.load(str(f))
    with pytest.raises(HardwareConfigError, match="preset"):
        hw_models.load("no-such-preset")


def test_baselines_are_not_analog_presets():
    with pytest.raises(HardwareConfigError, match="baseline"):
        hw_models.load("h100")
    with pytest.raises(HardwareConfigError, match="baseline"):
        hw_models.baseline("pcm-hermes")
    assert hw_models.baseline("a100").name == "a100"


def test_hw_text():
    text = hw_models.hw_list_text()
    for name in ANALOG + ["h100"]:
        assert name in text
    show = hw_models.hw_show_text("pcm-hermes")
    assert "[adc]" in show and "Khaddam-Aljameh" in show and "pJ" in show


def test_zero_photons_per_mac_is_rejected():
    with pytest.raises(hw_models.HardwareConfigError, match=r"photons_per_mac: expected a positive count"):
        hw_models.load("freespace", photons_per_mac=0)
