"""Preset validation and loading (hw_models.config) and units, pinned: every refusal's one-line
message (file, table, key, what was expected, what was given), the defaults a loaded preset
fills in, the override forms. Written from scripts/mutation.sh's surviving mutants; no model is
traced, milliseconds per test.
"""
from __future__ import annotations

import math

import pytest

import hw_models
from hw_models import config as c
from hw_models import units as u
from hw_models.errors import HardwareConfigError


def approx(expected, rel=1e-9, abs=0.0):
    """pytest.approx without its 1e-12 absolute tolerance (energies here are ~1e-12 J and below)."""
    return pytest.approx(expected, rel=rel, abs=abs)

W = "pcm-hermes.toml (override): "


def _msg(f):
    with pytest.raises(HardwareConfigError) as e:
        f()
    return str(e.value)


@pytest.mark.parametrize("ov,msg", [
    ({"rows": 0}, "[tile] rows: expected a positive integer, got 0"),
    ({"rows": True}, "[tile] rows: expected a positive integer, got True"),
    ({"rows": 2.0}, "[tile] rows: expected a positive integer, got 2.0"),
    ({"adc_bits": 33}, "[hardware] output_bits: expected an integer number of bits in 1..32, got 33"),
    ({"adc_bits": 0}, "[hardware] output_bits: expected an integer number of bits in 1..32, got 0"),
    ({"adc_bits": True}, "[hardware] output_bits: expected an integer number of bits in 1..32, got True"),
    ({"adc_bits": 4.0}, "[hardware] output_bits: expected an integer number of bits in 1..32, got 4.0"),
    ({"tile.static_weights": 1}, "[tile] static_weights: expected true or false, got 1"),
    ({"tile.device": 3}, "[tile] device: expected a string, got 3"),
    ({"adc_model": "x"}, "[adc] model: expected one of ['survey', 'fixed', 'ideal', 'circuit'], got 'x'"),
    ({"adc.energy": "abc"}, "[adc] energy: expected a value with a unit such as '30 mW', got 'abc'"),
    ({"adc.energy": "3"}, "[adc] energy: expected a value with a unit such as '30 mW', got '3'"),
    ({"adc.energy": "3 mW"}, "[adc] energy: expected a unit of energy, got 'mW'"),
    ({"adc.energy": "3 zz"}, "[adc] energy: expected a known unit of energy, got 'zz'"),
    ({"adc.energy": "-3 pJ"}, "[adc] energy: expected a non-negative energy, got -3.0"),
    ({"adc.energy": [1]},
     '[adc] energy: expected a table {value = ..., unit = "...", source = "..."} (energy), got [1]'),
    ({"adc.energy": 1.0},
     '[adc] energy: expected a table {value = ..., unit = "...", source = "..."} (energy), got 1.0'),
    ({"adc.energy": {"value": 1, "unit": "pJ"}},
     "[adc] energy: expected a source (paper, year, table) for this constant, got {'value': 1, 'unit': 'pJ'}"),
    ({"adc.energy": {"value": 1, "unit": "pJ", "source": ""}},
     "[adc] energy: expected a source (paper, year, table) for this constant, "
     "got {'value': 1, 'unit': 'pJ', 'source': ''}"),
    ({"adc.energy": {"value": 1, "source": "x"}},
     "[adc] energy: expected a unit for this energy (missing 'unit'), got {'value': 1, 'source': 'x'}"),
    ({"adc.energy": {"value": "1", "unit": "pJ", "source": "x"}}, "[adc] energy: expected a numeric value, got '1'"),
    ({"adc.energy": {"value": True, "unit": "pJ", "source": "x"}}, "[adc] energy: expected a numeric value, got True"),
    ({"adc.energy": {"unit": "pJ", "source": "x"}}, "[adc] energy: expected a numeric value, got None"),
    ({"adc.energy": {"value": 1, "unit": "pJ", "source": "x", "foo": 1, "bar": 2}},
     "[adc] energy: expected only value, unit, source, note in the table, got ['bar', 'foo']"),
    ({"chip.area_overhead": "2e9 %"}, "[chip] area_overhead: expected a ratio, got 2000000000.0"),
    ({"foo.bar": 1}, "[foo] bar: expected a table of a crossbar preset, one of ['adc', 'array', 'chip', 'dac', "
                     "'digital', 'hardware', 'memory', 'programming', 'technology', 'tile'], got 'foo'"),
    ({"tile.bar": 1}, "[tile] bar: expected one of ['area', 'cell_bits', 'cols', 'cols_per_adc', 'device', "
                      "'devices_per_cell', 'dynamic_operands', 'family', 'input_accumulation', "
                      "'input_encoding', 'rows', 'slice_combining', 'source', 'static_power', 'static_weights', 'weight_bits'], "
                      "got 'unknown key'"),
])
def test_override_refusals(ov, msg):
    # pins: the exact one-line message of each refusal (file, table, key, expected, got)
    assert _msg(lambda: hw_models.load("pcm-hermes", **ov)) == W + msg


def test_override_name_refusal_lists_the_aliases():
    # pins: an unknown flat name lists the family's aliases and the table.key form
    aliases = sorted(c.override_aliases("crossbar"))
    assert _msg(lambda: hw_models.load("pcm-hermes", foo=1)) == \
        f"{W}foo: expected an override in {aliases} or 'table.key'"


def test_override_forms():
    # pins: "value unit" strings, (value, unit) pairs, "table__key" names and plain numbers for
    # dimensionless overrides are all user overrides converted to SI
    h = hw_models.load("pcm-hermes", **{"adc.energy": (2, "pJ")})
    assert h.params["adc"]["energy"] == c.Quantity(si=2e-12, value=2.0, unit="pJ", source="user override")
    h = hw_models.load("pcm-hermes", adc__energy="3 fJ")
    assert h.params["adc"]["energy"].si == approx(3e-15)
    h = hw_models.load("freespace", photons_per_mac=3.5)
    assert h.params["freespace"]["photons_per_mac"] == c.Quantity(3.5, 3.5, "count", "user override")
    h = hw_models.load("pcm-hermes", **{"chip.area_overhead": 0.25})
    assert h.params["chip"]["area_overhead"] == c.Quantity(0.25, 0.25, "ratio", "user override")
    q = c.Quantity(1.0, 1.0, "J", "s")
    assert c._check_value("w", "adc", "energy", ("q", "energy"), q) is q  # already validated
    # pins: decibels may be negative (a gain), other quantities not
    assert c._check_quantity("w", "s", "k", "decibel", {"value": -3, "unit": "dB", "source": "x"}).si == -3.0
    # pins: a plain number is an override shorthand only for overrides and dimensionless keys
    assert "expected a table" in _msg(lambda: c._check_quantity("f.toml", "s", "k", "ratio", 0.5))
    assert "expected a table" in _msg(lambda: c._check_quantity("w (override)", "s", "k", "energy", 0.5))
    assert "expected a table" in _msg(lambda: c._check_quantity("w (override)", "s", "k", "count", True))
    assert c._check_quantity("w (override)", "s", "k", "ratio", 1).unit == "ratio"


def test_integer_kinds():
    # pins: int0 accepts 0 and refuses negatives with its own wording; int+ refuses 0
    assert c._check_value("w", "s", "k", "int0", 0) == 0
    assert _msg(lambda: c._check_value("w", "s", "k", "int0", -1)) == "w: [s] k: expected an integer >= 0, got -1"
    assert _msg(lambda: c._check_value("w", "s", "k", "int0", True)) == "w: [s] k: expected an integer >= 0, got True"
    assert c._check_value("w", "s", "k", "int+", 1) == 1
    assert c._check_value("w", "s", "k", "bits", 1) == 1 and c._check_value("w", "s", "k", "bits", 32) == 32
    assert c._check_value("w", "s", "k", "bool", False) is False
    assert c._check_value("w", "s", "k", "str", "") == ""
    with pytest.raises(AssertionError):
        c._check_value("w", "s", "k", ("zz", "ratio"), 0.5)


def test_zero_photons_refused_other_zeros_accepted():
    # pins: a zero photon budget is refused with the reason; other zero quantities are fine
    assert _msg(lambda: hw_models.load("freespace", photons_per_mac=0)) == (
        "freespace.toml (override): [freespace] photons_per_mac: expected a positive count "
        "(zero photons carry no signal), got 0")
    assert hw_models.load("pcm-hermes", **{"adc.energy": "0 pJ"}).params["adc"]["energy"].si == 0.0


def _raw(**extra):
    raw = {"hardware": {"name": "x"}, "tile": {"family": "crossbar", "rows": 4, "cols": 4},
           "chip": {"tiles_per_chip": 1}}
    for k, v in extra.items():
        raw[k] = v
    return raw


def test_validate_tables():
    # pins: the refusals of whole tables and required keys
    assert _msg(lambda: c.validate(_raw(foo={}), "f.toml")) == (
        "f.toml: [foo] (table): expected a table of a crossbar preset, one of ['adc', 'array', 'chip', "
        "'dac', 'digital', 'hardware', 'memory', 'noise', 'programming', 'technology', 'tile', 'validation'], got 'foo'")
    assert _msg(lambda: c.validate(_raw(tile={"rows": 4}, foo={}), "f.toml")) == (
        f"f.toml: [foo] (table): expected a known table, one of {sorted(c.schema_for(None))}, got 'foo'")
    assert _msg(lambda: c.validate(_raw(adc=3), "f.toml")) == "f.toml: [adc] (table): expected a table, got 3"
    assert _msg(lambda: c.validate(_raw(tile=3), "f.toml")) == "f.toml: [tile] (table): expected a table, got 3"
    assert _msg(lambda: c.validate(_raw(adc={"zz": 1}), "f.toml")) == (
            "f.toml: [adc] zz: expected one of ['area', 'conversion_time', 'energy', 'energy_supply', 'envelope', "
            "'model', 'overlaps_integration', 'ref_bits', 'reference_voltage', 'sample_rate', 'time_scaling', "
            "'type', 'unit_capacitance'], got 'unknown key'")
    for sec, key in [("hardware", "name"), ("tile", "family"), ("tile", "rows"), ("tile", "cols"),
                     ("chip", "tiles_per_chip")]:
        raw = _raw()
        raw[sec] = {k: v for k, v in raw[sec].items() if k != key}
        assert _msg(lambda: c.validate(raw, "f.toml")) == f"f.toml: [{sec}] {key}: expected this required key, got 'missing'"


def test_validate_noise_defaults_and_baselines():
    # pins: a crossbar preset without [noise] takes its family's default model (pcm); an
    # ideal preset the ideal model; a [noise] table is validated by the family's models
    assert c.validate(_raw(), "f.toml")["noise"]["model"] == "pcm"
    ideal = c.validate(_raw(hardware={"name": "x", "kind": "ideal"}), "f.toml")
    assert ideal["noise"]["model"] == "ideal"
    assert c.validate(_raw(noise={"model": "rram"}), "f.toml")["noise"]["model"] == "rram"
    # pins: a baseline needs only [hardware] name; its tables are the baseline schema
    b = c.validate({"hardware": {"name": "g", "kind": "baseline"},
                    "baseline": {"power": {"value": 2, "unit": "W", "source": "s"}}}, "f.toml")
    assert list(b) == ["hardware", "baseline"] and b["baseline"]["power"].si == 2.0
    assert _msg(lambda: c.validate({"hardware": {"kind": "baseline"}}, "f.toml")) == \
        "f.toml: [hardware] name: expected this required key, got 'missing'"
    assert "(table)" in _msg(lambda: c.validate({"hardware": {"name": "g", "kind": "baseline"}, "tile": {}}, "f"))


def test_noise_override_through_load():
    # pins: noise.* overrides reach the noise table; on an ideal preset the ideal model
    h = hw_models.load("pcm-hermes", **{"noise.out_noise": 0.5})
    assert h.params["noise"]["out_noise"] == 0.5 and h.params["noise"]["_sources"]["out_noise"] == "user override"
    assert h.params["noise"]["read_noise"] == hw_models.load("pcm-hermes").params["noise"]["read_noise"]
    h = hw_models.load("ideal", **{"noise.model": "ideal"})
    assert h.params["noise"]["model"] == "ideal"


def test_chips_none_override_removes_the_fixed_count():
    # pins: chips=None lifts a chip limit given earlier
    assert hw_models.load("pcm-hermes", chips=2).chip.chips == 2
    assert hw_models.load("pcm-hermes", chips=None).chip.chips is None


def test_reference_geometry_and_override_record():
    p = c.load_params("rram", rows=64)
    # pins: the file's own geometry is kept as the reference that rescales per-tile constants
    assert p["_reference"] == {"rows": 128, "cols": 128, "devices_per_cell": 1, "cols_per_adc": 128,
                                "output_bits": 8}
    assert p["tile"]["rows"] == 64 and p["_overrides"] == {"rows": 64}
    assert p["_file"].endswith("rram.toml")


def test_preset_paths(tmp_path):
    # pins: names resolve in the preset folder; unknown names and missing files are refused
    assert c.preset_path("rram") == c.PRESET_DIR / "rram.toml"
    f = c.PRESET_DIR / "mzi.toml"
    assert c.preset_path(str(f)) == f
    assert _msg(lambda: c.preset_path(tmp_path / "nope.toml")) == f"{tmp_path / 'nope.toml'}: preset file not found"
    assert _msg(lambda: hw_models.load("nope")) == (
        f"hardware 'nope': expected a preset name (one of {c.preset_names(all=True)}) or a path to a .toml file")
    bad = tmp_path / "bad.toml"
    bad.write_text("[hardware\n")
    assert _msg(lambda: c.load_params(bad)).startswith(f"{bad}: not valid TOML (")


def test_preset_lists():
    # pins: analog presets, baselines and all names
    base, analog, every = c.baselines(), c.presets(), c.preset_names(all=True)
    assert base == ["a100", "digital-int8", "h100"]
    assert analog == [n for n in every if n not in base]
    assert "pcm-hermes" in analog and "ideal" in analog


def test_load_and_baseline_kinds():
    # pins: load() refuses a baseline and baseline() an analog preset, naming the right call
    assert _msg(lambda: hw_models.load("a100")) == (
        f"{c.PRESET_DIR / 'a100.toml'}: [hardware] kind: expected an analog preset for load(); "
        "'a100' is a digital baseline (use hw_models.baseline())")
    assert _msg(lambda: hw_models.baseline("pcm-hermes")) == (
        f"{c.PRESET_DIR / 'pcm-hermes.toml'}: [hardware] kind: expected 'baseline' for a digital "
        "baseline, got 'analog'")
    h = hw_models.load("pcm-hermes", rows=64)
    # pins: a Hardware passed to load() is returned as is, or reloaded with its overrides plus new
    assert hw_models.load(h) is h
    h2 = hw_models.load(h, cols=32)
    assert (h2.tile.rows, h2.tile.cols) == (64, 32)


def test_build_hardware_defaults():
    p = c.load_params("pcm-hermes")
    for k in ("weight_bits", "cell_bits", "devices_per_cell", "static_weights", "dynamic_operands"):
        p["tile"].pop(k, None)
    for k in ("dynamic_matmul", "input_bits", "output_bits", "description"):
        p["hardware"].pop(k, None)
    h = c.build_hardware(p)
    # pins: the defaults of an unstated tile and hardware: 8-bit weights in 8-bit cells, one
    # device per cell, static weights, no dynamic operands, digital matmuls, 8-bit converters
    t = h.tile
    assert (t.weight_bits, t.cell_bits, t.devices_per_cell, t.static_weights, t.dynamic_operands) == \
        (8, 8, 1, True, False)
    assert (h.dynamic_matmul, h.input_bits, h.output_bits, h.description) == ("digital", 8, 8, "")
    p["tile"]["weight_bits"] = 4
    assert c.build_hardware(p).tile.cell_bits == 4  # cells default to the weight's bits
    p["tile"]["rows"] = 0
    with pytest.raises(HardwareConfigError, match=r"pcm-hermes.toml: "):
        c.build_hardware(p)


def test_quantity_to_dict():
    # pins: what a report shows of a constant
    assert c.Quantity(1e-12, 1.0, "pJ", "s").to_dict() == {"value": 1.0, "unit": "pJ", "source": "s", "si": 1e-12}


def test_schema_and_aliases_per_family():
    # pins: the family's own tables and aliases join the common ones; baselines are apart
    assert "baseline" not in c.schema_for(None) and "mzi" not in c.schema_for(None)
    assert "mzi" in c.schema_for("mzi") and "array" in c.schema_for("crossbar")
    assert c.override_aliases("nope") == c.OVERRIDE_ALIASES
    assert "photons_per_mac" in c.override_aliases("freespace")
    assert "photons_per_mac" not in c.override_aliases("crossbar")


# -- units ------------------------------------------------------------------------------------
@pytest.mark.parametrize("unit,dim,factor", [
    ("pJ", "energy", 1e-12), ("fJ", "energy", 1e-15), ("uW", "power", 1e-6), ("µs", "time", 1e-6),
    ("mm2", "area", 1e-6), ("um2", "area", 1e-12), ("km2", "area", 1e6), ("nm", "length", 1e-9),
    ("pJ/bit", "energy_per_bit", 1e-12), ("Gbit/s", "bandwidth", 1e9 / 8), ("TFLOP/s", "op_rate", 1e12),
    ("%", "ratio", 0.01), ("dB", "decibel", 1.0), ("GiB", "bytes", 2.0 ** 30), (" ns ", "time", 1e-9),
    ("m", "length", 1.0), ("mJ/step", "energy", 1e-3), ("yJ", "energy", 1e-24), ("PB/s", "bandwidth", 1e15),
    ("h", "time", 3600.0), ("aF", "capacitance", 1e-18), ("zJ", "energy", 1e-21),
])
def test_parse_unit(unit, dim, factor):
    # pins: dimension and SI factor (prefixes squared on m2)
    d, f = u.parse_unit(unit)
    assert d == dim and f == approx(factor, rel=1e-12)
    assert u.dimension(unit) == dim and u.to_si(2, unit) == approx(2 * factor, rel=1e-12)


def test_unknown_units():
    # pins: the message names the unit as given
    with pytest.raises(u.UnitError, match=r"^unknown unit 'xJ'$"):
        u.parse_unit("xJ")
    with pytest.raises(u.UnitError, match=r"^unknown unit 'furlong'$"):
        u.to_si(1, "furlong")


def test_physical_constants():
    # pins: E = h c / lambda, Landauer k T ln 2
    assert u.photon_energy_j(1550e-9) == approx(6.62607015e-34 * 299792458.0 / 1550e-9, rel=1e-15)
    assert u.landauer_j() == approx(1.380649e-23 * 300 * math.log(2), rel=1e-15)
    assert u.landauer_j(77.0) == approx(1.380649e-23 * 77 * math.log(2), rel=1e-15)


# -- analogc hw / analogc hw show (hw_models.describe) ------------------------------------------
def test_hw_list_text_lines():
    from hw_models.describe import hw_list_text
    lines = hw_list_text().splitlines()
    # pins: the heading, one line per analog preset (name, family, tile, bits, description),
    # the baselines, the closing hint
    assert lines[0] == "analog presets (hw_models.load(NAME, **overrides)):"
    n = len(c.presets())
    rram = c.load_params("rram")
    assert f"  {'rram':<12} {'crossbar':<9} 128x{128:<6} in 8b / out 8b  {rram['hardware']['description']}" in lines
    ideal = [ln for ln in lines if ln.startswith("  ideal ")]
    assert ideal == [f"  {'ideal':<12} {'crossbar':<9} 1024x{1024:<6} in 32b / out 32b  "
                     f"{c.load_params('ideal')['hardware']['description']}"]
    assert lines[n + 1] == "digital baselines (Report.compare(NAME)):"
    assert lines[n + 2] == f"  {'a100':<12} {c.load_params('a100')['hardware']['description']}"
    assert len(lines) == n + 2 + len(c.baselines()) + 1
    assert lines[-1] == "user presets: any .toml file in the same format (see docs/hardware.md)"


def test_hw_list_text_defaults(monkeypatch, tmp_path):
    import hw_models.describe as d
    real = d.load_params

    def bare(name):  # a preset that states no bits and no description
        p = real(name)
        p["hardware"] = {k: v for k, v in p["hardware"].items()
                         if k not in ("input_bits", "output_bits", "description")}
        return p
    monkeypatch.setattr(d, "load_params", bare)
    lines = d.hw_list_text().splitlines()
    # pins: 8-bit converters and an empty description when the file states none
    assert lines[1].rstrip().endswith("in 8b / out 8b")
    assert lines[1].endswith("in 8b / out 8b  ")
    assert lines[-2] == f"  {'h100':<12} "


def test_hw_show_text():
    from hw_models.describe import _fmt, hw_show_text
    text = hw_show_text("rram", rows=64)
    lines = text.splitlines()
    # pins: header with the file, the overrides, a [table] per section, values and sources
    assert lines[0] == f"# rram  ({c.PRESET_DIR / 'rram.toml'})"
    assert lines[1] == "# overrides: {'rows': 64}"
    assert lines[2] == "[hardware]" and "  name = 'rram'" in lines and "  rows = 64" in lines
    assert "  input_bits = 8" in lines
    p = c.load_params("rram")
    q = p["adc"].get("conversion_time") or next(v for v in p["adc"].values() if isinstance(v, c.Quantity))
    assert f"{q.value:g} {q.unit}    [{q.source}]" in text
    assert [ln for ln in lines if ln.startswith("[")] == [f"[{s}]" for s in p if not s.startswith("_")]
    noise = p["noise"]
    assert f"  read_noise = {noise['read_noise']}    [{noise['_sources']['read_noise']}]" in lines
    assert f"  model = 'rram'" in lines  # model and t_inference_s have no source
    assert "  t_inference_s = 0.0" in lines
    assert not any("_sources" in ln or "_reference" in ln or "_file" in ln for ln in lines)
    assert not hw_show_text("rram").splitlines()[1].startswith("# overrides")
    assert _fmt("a") == "'a'" and _fmt(3) == "3" and _fmt(c.Quantity(1e-12, 1.0, "pJ", "s")) == "1 pJ    [s]"


def test_validate_missing_tables_and_noise_position():
    # pins: a preset without [hardware] or [chip] is told which required key is missing
    raw = _raw()
    del raw["hardware"]
    assert _msg(lambda: c.validate(raw, "f.toml")) == "f.toml: [hardware] name: expected this required key, got 'missing'"
    raw = _raw()
    del raw["chip"]
    assert _msg(lambda: c.validate(raw, "f.toml")) == "f.toml: [chip] tiles_per_chip: expected this required key, got 'missing'"
    # pins: [noise] may come anywhere in the file; the tables after it are still read
    raw = {"noise": {"model": "rram"}, **_raw(adc={"model": "fixed"})}
    out = c.validate(raw, "f.toml")
    assert out["adc"]["model"] == "fixed" and out["noise"]["model"] == "rram"
    # pins: a file's values are checked under their own table name, the noise under the file name
    assert _msg(lambda: c.validate(_raw(adc={"model": "x"}), "f.toml")) == \
        "f.toml: [adc] model: expected one of ['survey', 'fixed', 'ideal', 'circuit'], got 'x'"
    assert _msg(lambda: c.validate(_raw(noise={"zz": 1}), "f.toml")).startswith("f.toml: [noise] zz: expected one of")
    # pins: noise overrides given to validate() reach the noise table
    assert c.validate(_raw(), "f.toml", {"out_noise": 0.3})["noise"]["out_noise"] == 0.3


# -- the Hardware records (hw_models.base) ------------------------------------------------------
def test_tile_chip_hardware_checks():
    from hw_models.base import ChipSpec, Hardware, TileSpec
    # pins: the messages of the records built in code
    with pytest.raises(ValueError, match=r"^tile.family: expected one of \['charge', 'crossbar', 'freespace', 'mzi'\], "
                                         r"got 'x'$"):
        TileSpec("x", 4, 4)
    for k in ("rows", "cols", "weight_bits", "cell_bits", "devices_per_cell"):
        for bad in (0, True, 2.0):
            with pytest.raises(ValueError, match=rf"^tile.{k}: expected a positive integer, got {bad!r}$"):
                TileSpec("crossbar", **{"rows": 4, "cols": 4, k: bad})
    t = TileSpec("crossbar", 4, 4, weight_bits=8, cell_bits=3, devices_per_cell=2)
    assert (t.slices, t.cells_per_weight) == (3, 6)  # ceil(8/3) slices x 2 devices
    assert TileSpec("crossbar", 1, 1).slices == 1
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match=rf"^chip.tiles_per_chip: expected a positive integer, got {bad!r}$"):
            ChipSpec(bad)
    for bad in (0, 2.0):
        with pytest.raises(ValueError, match=rf"^chip.chips: expected a positive integer or none, got {bad!r}$"):
            ChipSpec(1, bad)
    assert ChipSpec(1).chips is None and ChipSpec(1, 1).chips == 1
    with pytest.raises(ValueError, match=r"^dynamic_matmul: expected one of \('digital', 'analog'\), got 'x'$"):
        Hardware("h", t, ChipSpec(1), dynamic_matmul="x")
    with pytest.raises(ValueError, match=r"^dynamic_matmul: 'analog' needs a tile with dynamic_operands; crossbar "
                                         r"tile of 'h' has none$"):
        Hardware("h", t, ChipSpec(1), dynamic_matmul="analog")
    h = Hardware("h", TileSpec("crossbar", 4, 4, dynamic_operands=True), ChipSpec(1), dynamic_matmul="analog")
    assert (h.family, h.source_file, h.input_bits, h.output_bits, h.description) == ("crossbar", None, 8, 8, "")
    p = hw_models.load("rram")
    assert p.source_file.endswith("rram.toml") and p.tile_model is p.tile_model  # built once


def test_quantity_shorthand_bounds_and_notes():
    # pins: "value unit" splits once: anything after the first space is the unit
    assert _msg(lambda: hw_models.load("pcm-hermes", **{"adc.energy": "3 pJ x"})) == \
        W + "[adc] energy: expected a known unit of energy, got 'pJ x'"
    q = hw_models.load("pcm-hermes", **{"adc.energy": "3 pJ"}).params["adc"]["energy"]
    assert q == c.Quantity(si=approx(3e-12), value=3.0, unit="pJ", source="user override")
    # pins: a note may accompany a constant
    n = c._check_quantity("f", "adc", "energy", "energy", {"value": 1, "unit": "pJ", "source": "s", "note": "n"})
    assert n.si == approx(1e-12) and n.source == "s"
    # pins: a ratio may reach 1e6 (in SI), not more
    assert c._check_quantity("f", "s", "k", "ratio", {"value": 1e6, "unit": "1", "source": "s"}).si == 1e6
    assert c._check_quantity("f", "s", "k", "ratio", {"value": 1e7, "unit": "%", "source": "s"}).si == approx(1e5)
    assert _msg(lambda: c._check_quantity("f", "s", "k", "ratio", {"value": 1000000.5, "unit": "1", "source": "s"})) \
        == "f: [s] k: expected a ratio, got 1000000.5"
