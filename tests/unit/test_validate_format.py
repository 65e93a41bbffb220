"""The [validation] table of a chip file (hw_models/chipfile.py): what it accepts, and the
exact one-line refusal of each mistake (file, key, what was expected)."""
from __future__ import annotations

from pathlib import Path

import pytest

import hw_models
from hw_models.family import COMPONENTS

DATA = Path(__file__).resolve().parent.parent / "data" / "validation"
BASE = (DATA / "fixed-crossbar.toml").read_text()
_V = BASE.index("[validation]")
PRESET, VALIDATION = BASE[:_V], BASE[_V:]


def _file(tmp_path: Path, validation: str, name: str = "chip.toml") -> Path:
    p = tmp_path / name
    p.write_text(PRESET + validation)
    return p


def _msg(path: Path) -> str:
    with pytest.raises(hw_models.HardwareConfigError) as e:
        hw_models.load(path)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_a_chip_file_loads_as_a_preset_with_its_validation_table():
    hw = hw_models.load(DATA / "fixed-crossbar.toml")
    v = hw.params["validation"]
    assert v["tiles"] == 4 and v["vectors"] == 100 and v["ops_per_mac"] == 2
    assert v["boundary"] == ["dac", "adc", "array"]
    assert v["tops_per_w"].si == pytest.approx(30e12) and v["tops_per_mm2"].si == pytest.approx(2e18)
    assert v["rows_used"].si == 0.5 and v["cols_used"].si == 1.0  # default: all columns
    assert v["breakdown"] == {"adc": 0.5, "array": 0.35, "dac": 0.15}
    (pt,) = v["point"]
    assert pt["name"] == "4-bit ADC" and pt["set"] == {"adc_bits": 4}
    assert pt["tops_per_w"].si == pytest.approx(90e12)
    # the table describes, it computes nothing: same hardware without it
    assert hw_models.load(DATA / "fixed-crossbar.toml", adc_bits=4).output_bits == 4


def test_missing_tops_per_w(tmp_path):
    p = _file(tmp_path, VALIDATION.replace('tops_per_w = {value = 30, unit = "TOPS/W", source = "synthetic test value"}\n', ""))
    assert _msg(p) == (f"{p}: [validation] tops_per_w: expected this required key (a published efficiency "
                       f"{{value, unit = \"TOPS/W\", source}}), got 'missing'")


def test_unknown_boundary_component(tmp_path):
    p = _file(tmp_path, VALIDATION.replace('boundary = ["dac", "adc", "array"]', 'boundary = ["dac", "adcs"]'))
    assert _msg(p) == f"{p}: [validation] boundary: expected components of {list(COMPONENTS)}, got 'adcs'"
    p = _file(tmp_path, VALIDATION.replace('boundary = ["dac", "adc", "array"]', 'boundary = ["dac", "dac"]'))
    assert _msg(p) == (f"{p}: [validation] boundary: expected a non-empty list of distinct components of "
                       f"{list(COMPONENTS)}, got ['dac', 'dac']")


def test_breakdown_without_source(tmp_path):
    p = _file(tmp_path, VALIDATION.replace('breakdown_source = "synthetic test value"\n', ""))
    assert _msg(p) == (f"{p}: [validation] breakdown_source: expected where the published breakdown is "
                       f"(required with breakdown), got 'missing'")


def test_breakdown_outside_the_boundary_and_over_one(tmp_path):
    p = _file(tmp_path, VALIDATION.replace("breakdown = {adc = 0.5,", "breakdown = {memory = 0.1, adc = 0.5,"))
    assert _msg(p) == (f"{p}: [validation] breakdown.memory: expected a component of boundary "
                       f"['dac', 'adc', 'array'], got 'memory'")
    p = _file(tmp_path, VALIDATION.replace("adc = 0.5,", "adc = 0.9,"))
    assert _msg(p) == f"{p}: [validation] breakdown: expected fractions summing to at most 1, got 1.4"


def test_bad_point_override(tmp_path):
    p = _file(tmp_path, VALIDATION.replace("set = {adc_bits = 4}", 'set = {"technology.supply_voltage" = "0.85"}'))
    assert _msg(p) == (f"{p}: [validation.point 1] set.technology.supply_voltage: expected a value with a "
                       f"unit such as '30 mW', got '0.85'")
    p = _file(tmp_path, VALIDATION.replace("set = {adc_bits = 4}", 'set = {"technology.supply" = "0.85 V"}'))
    msg = _msg(p)
    assert msg.startswith(f"{p}: [validation.point 1] set.technology.supply: expected a key of [technology], one of [")
    assert msg.endswith("], got 'supply'")
    p = _file(tmp_path, VALIDATION.replace("set = {adc_bits = 4}", 'set = {"validation.tiles" = 2}'))
    assert _msg(p).startswith(f"{p}: [validation.point 1] set.validation.tiles: expected an override of a table in [")
    p = _file(tmp_path, VALIDATION.replace("set = {adc_bits = 4}", "set = {}"))
    assert _msg(p) == (f"{p}: [validation.point 1] set: expected a non-empty table of overrides "
                       f"{{\"table.key\" = value}}, got {{}}")


def test_other_refusals(tmp_path):
    p = _file(tmp_path, VALIDATION.replace("tiles = 4", "tiles = 0"))
    assert _msg(p) == f"{p}: [validation] tiles: expected a positive integer (arrays busy in the measured workload), got 0"
    p = _file(tmp_path, VALIDATION.replace('unit = "TOPS/W", source = "synthetic test value"}\ntops_per_mm2',
                                           'unit = "TOPS/mm2", source = "synthetic test value"}\ntops_per_mm2'))
    assert _msg(p) == f"{p}: [validation] tops_per_w: expected a unit of ops_per_joule, got 'TOPS/mm2'"
    p = _file(tmp_path, VALIDATION.replace("rows_used = {value = 0.5,", "rows_used = {value = 1.5,"))
    assert _msg(p) == f"{p}: [validation] rows_used: expected a ratio in (0, 1] (the fraction in use), got 1.5"
    p = _file(tmp_path, VALIDATION.replace("vectors = 100", "vectors = 100\nvector = 3"))
    assert _msg(p).startswith(f"{p}: [validation] vector: expected one of ['boundary', ")
    p = _file(tmp_path, VALIDATION.replace('name = "4-bit ADC"', 'nam = "4-bit ADC"'))
    assert _msg(p) == (f"{p}: [validation.point 1] nam: expected one of ['name', 'set', 'tops_per_w', "
                       f"'tops_per_mm2', 'note'], got 'unknown key'")
    p = _file(tmp_path, VALIDATION + VALIDATION[VALIDATION.index("[[validation.point]]"):])
    assert _msg(p) == f"{p}: [validation.point 2] name: expected a name no other point has, got '4-bit ADC'"


def test_a_validation_table_cannot_be_overridden():
    with pytest.raises(hw_models.HardwareConfigError) as e:
        hw_models.load(DATA / "fixed-crossbar.toml", **{"validation.tiles": 2})
    msg = str(e.value)
    assert "[validation] tiles: expected a table of a crossbar preset, one of [" in msg
    assert msg.endswith(", got 'validation'") and "'validation'," not in msg and "'validation']" not in msg
