"""analogc validate (analogc/validate.py): pricing a chip file on its paper's workload against
hand computations, operating points, the sensitivity table, the summary, and the command
(table/csv/json/plot/--out, one-line errors). The chip files here are synthetic
(tests/data/validation); the shipped ones (hw_models/validation) are only checked to run."""
from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from analogc.cli import main
from analogc.errors import AnalogcError
from analogc import validate as v
from hw_models.circuits import Technology, adc_energy_j

DATA = Path(__file__).resolve().parent / "data" / "validation"
FIXED = DATA / "fixed-crossbar.toml"
SAR = DATA / "sar-crossbar.toml"

# the synthetic chips' workload: 4 arrays of 128 x 64 (2 devices per cell) at half the rows
K, N, D, TILES, VECTORS = 64, 64, 2, 4, 100


def _fixed_tops_per_w(adc_bits: int = 8) -> float:
    """Hand: per vector and array K row drivers (0.5 pJ), K*N*D cell reads (10 fJ), N
    conversions (2 pJ at 8 bits, x 2^(b-8)); 2 ops per MAC."""
    e = K * 0.5e-12 + K * N * D * 10e-15 + N * 2e-12 * 2.0 ** (adc_bits - 8)
    return 2 * K * N / e / 1e12


def _sar_energy(tech: Technology) -> float:
    return K * 0.05e-12 + K * N * D * 1e-15 + N * adc_energy_j("sar", 8, tech)


def test_pricing_reproduces_the_hand_computation():
    r = v.validate_chip(FIXED)
    m = r.main
    assert m.macs == TILES * K * N * VECTORS
    assert m.estimated_tops_per_w == pytest.approx(_fixed_tops_per_w(), rel=1e-9, abs=0)  # 33.86
    assert m.published_tops_per_w == 30 and m.ratio == pytest.approx(_fixed_tops_per_w() / 30, abs=0)
    assert m.within
    # breakdown inside the boundary, as fractions of it
    e = K * 0.5e-12 + K * N * D * 10e-15 + N * 2e-12
    assert m.breakdown["adc"] == pytest.approx(N * 2e-12 / e, abs=0)
    assert m.breakdown["dac"] == pytest.approx(K * 0.5e-12 / e, abs=0)
    assert m.energy_j == pytest.approx(TILES * VECTORS * e, abs=0)
    # TOPS/mm2: each vector a 10-ns read then a 10-ns conversion; 4 tiles of 0.1 mm2
    ops = 2 * TILES * K * N * VECTORS
    assert m.latency_s == pytest.approx(VECTORS * 20e-9, abs=0)
    assert m.estimated_tops_per_mm2 == pytest.approx(ops / (VECTORS * 20e-9) / 0.4e-6 / 1e18, abs=0)
    assert m.published_tops_per_mm2 == 2
    # the second point: hw_models.load(path, adc_bits=4)
    (p,) = r.points
    assert p.name == "4-bit ADC" and p.overrides == {"adc_bits": 4}
    assert p.estimated_tops_per_w == pytest.approx(_fixed_tops_per_w(4), rel=1e-9, abs=0)  # 67.19
    assert p.published_tops_per_w == 90 and p.published_tops_per_mm2 is None
    assert r.published_breakdown == {"adc": 0.5, "array": 0.35, "dac": 0.15}


def test_the_boundary_decides_what_energy_counts(tmp_path):
    """Memory traffic is outside the figure unless the file lists it."""
    f = tmp_path / "with-memory.toml"
    f.write_text(FIXED.read_text().replace('boundary = ["dac", "adc", "array"]',
                                           'boundary = ["dac", "adc", "array", "memory"]'))
    inside = v.validate_chip(f).main
    assert inside.estimated_tops_per_w < _fixed_tops_per_w() * 0.99
    assert inside.breakdown["memory"] > 0


def test_ops_per_mac_is_the_papers_convention(tmp_path):
    f = tmp_path / "one-op.toml"
    f.write_text(FIXED.read_text().replace("ops_per_mac = 2", "ops_per_mac = 1"))
    m = v.validate_chip(f).main
    assert m.estimated_tops_per_w == pytest.approx(_fixed_tops_per_w() / 2, rel=1e-9, abs=0)
    assert m.estimated_tops_per_mm2 == pytest.approx(v.validate_chip(FIXED).main.estimated_tops_per_mm2 / 2, abs=0)


def test_circuit_adc_and_a_supply_point_follow_the_component_model():
    r = v.validate_chip(SAR)
    e0 = _sar_energy(Technology(node_m=65e-9))
    assert r.main.estimated_tops_per_w == pytest.approx(2 * K * N / e0 / 1e12, rel=1e-9, abs=0)
    (p,) = r.points  # "technology.supply_voltage" = "0.8 V": the SAR at 0.8 V, the fixed energies not
    e1 = _sar_energy(Technology(node_m=65e-9, supply_v=0.8))
    assert p.estimated_tops_per_w == pytest.approx(2 * K * N / e1 / 1e12, rel=1e-9, abs=0)
    assert p.estimated_tops_per_w > r.main.estimated_tops_per_w


def test_sensitivity_flags_what_matters_and_not_what_cannot():
    rows = {s.constant: s for s in v.sensitivity(SAR)}
    uc = rows["unit_capacitance"]
    assert uc.matters and uc.low == pytest.approx(0.5, abs=0) and uc.high == pytest.approx(2.0, abs=0) and uc.unit == "fF"
    e0 = _sar_energy(Technology(node_m=65e-9))
    e_hi = _sar_energy(Technology(node_m=65e-9, values={"unit_capacitance": 2e-15}))
    assert uc.change_high == pytest.approx(e0 / e_hi - 1, rel=1e-6, abs=0)
    assert uc.change_high < -0.1
    cco = rows["cco_stages"]  # a ring-oscillator constant on a SAR chip
    assert not cco.matters and cco.change_low == 0 and cco.change_high == 0
    assert rows["wire_capacitance"].change_high == 0  # fixed drivers: no wire model in this chip
    assert not any(s.set_by_file for s in rows.values())
    # the fixed-energy chip depends on none of them
    assert not any(s.matters for s in v.sensitivity(FIXED))


def test_sensitivity_marks_constants_the_file_sets(tmp_path):
    f = tmp_path / "own.toml"
    f.write_text(SAR.read_text().replace("[tile]", '[technology]\nunit_capacitance = {value = 1.5, unit = "fF", '
                                         'source = "test"}\nsupply_voltage = {value = 1.1, unit = "V", '
                                         'source = "test"}\n\n[tile]', 1))
    rows = {s.constant: s for s in v.sensitivity(f)}
    assert rows["unit_capacitance"].set_by_file and rows["unit_capacitance"].note == "set by the file"
    assert rows["unit_capacitance"].matters  # still varied
    sv = rows["supply_voltage"]
    assert sv.set_by_file and sv.change_low is None and "not varied" in sv.note and not sv.matters


def test_summary_counts_and_geometric_mean(tmp_path):
    off = tmp_path / "off.toml"  # published 3x the estimate: missed
    off.write_text(FIXED.read_text().replace("tops_per_w = {value = 30,", "tops_per_w = {value = 100,"))
    res = v.validate([FIXED, off])
    s = v.summary(res)
    r1, r2 = _fixed_tops_per_w() / 30, _fixed_tops_per_w() / 100
    assert s["chips"] == 2 and s["chips_within"] == 1
    assert s["geomean_error"] == pytest.approx(math.exp((abs(math.log(r1)) + abs(math.log(r2))) / 2) - 1, abs=0)
    assert not s["geomean_met"]
    assert s["points"] == 2 and s["points_within"] == 2
    assert s["missed"] == ["off"]


def test_cli_table_csv_json_plot_and_out(tmp_path, capsys):
    off = tmp_path / "off.toml"
    off.write_text(FIXED.read_text().replace("tops_per_w = {value = 30,", "tops_per_w = {value = 100,"))
    assert main(["validate", str(FIXED), str(off)]) == 0
    out = capsys.readouterr().out
    assert "fixed-crossbar" in out and "MISSED" in out and "chips within ±30%: 1 of 2" in out
    # the chip's row, the geometric-mean target and the list under the summary
    assert out.count("MISSED") == 3 and "MISSED: off (" in out

    assert main(["validate", str(FIXED), str(SAR), "--format", "csv"]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(df["point"]) == ["main", "4-bit ADC", "main", "0.8 V"]
    assert df["estimated_tops_per_w"][0] == pytest.approx(_fixed_tops_per_w(), abs=0)
    assert df["pub_share_adc"][0] == 0.5 and df["within_30pct"][0]

    assert main(["validate", str(FIXED), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["chips"] == 1
    assert doc["chips"][0]["main"]["estimated_tops_per_w"] == pytest.approx(_fixed_tops_per_w(), abs=0)
    assert doc["chips"][0]["points"][0]["name"] == "4-bit ADC"

    png, svg, out_dir = tmp_path / "v.png", tmp_path / "v.svg", tmp_path / "out"
    assert main(["validate", str(SAR), "--sensitivity", "--plot", str(png), "--out", str(out_dir)]) == 0
    text = capsys.readouterr().out
    assert "unit_capacitance" in text and "sensitivity" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sens = pd.read_csv(out_dir / "sensitivity.csv")
    assert set(sens.loc[sens["matters"], "constant"]) >= {"unit_capacitance"}
    assert "cco_stages" not in set(sens.loc[sens["matters"], "constant"])
    assert json.loads((out_dir / "validation.json").read_text())["sensitivity"]
    assert len(pd.read_csv(out_dir / "validation.csv")) == 2
    assert main(["validate", str(FIXED), "--plot", str(svg)]) == 0
    assert svg.read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("args, expected", [
    (["nope"], "error: chip 'nope': expected a chip file name (one of "),
    (["missing.toml"], "error: missing.toml: chip file not found"),
    (["hw_models/presets/rram.toml"], "error: hw_models/presets/rram.toml: [validation] (table): expected the "
     "measured figures of a chip file"),
    ([str(FIXED), "--plot", "x.pdf"], "error: --plot x.pdf: expected a file name ending in .png or .svg"),
])
def test_cli_errors_are_one_line(args, expected, capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert main(["validate", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected) and err.count("\n") == 1, err


def test_a_point_that_does_not_load_is_one_line(tmp_path, capsys):
    f = tmp_path / "bad-point.toml"  # passes the schema, refused by the noise model at load time
    f.write_text(FIXED.read_text().replace("set = {adc_bits = 4}", 'set = {"noise.read_noise" = 0.1}'))
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {f}: [validation.point 1] set (4-bit ADC): ") and err.count("\n") == 1, err
    with pytest.raises(AnalogcError, match=r"\[validation.point 1\] set \(4-bit ADC\)"):
        v.validate_chip(f)


def test_an_array_the_tile_cannot_hold_is_refused(tmp_path):
    f = tmp_path / "split.toml"  # 8 arrays on a chip of 8 tiles with 2 bit slices each: 16 tiles
    f.write_text(FIXED.read_text().replace("cell_bits = 4", "cell_bits = 2").replace("tiles = 4", "tiles = 8")
                 .replace("tiles_per_chip = 8", "tiles_per_chip = 8\nchips = 1"))
    with pytest.raises(AnalogcError, match=r"\[validation\] tiles: expected the 8 arrays to fit the chip"):
        v.validate_chip(f)


def test_bit_slices_take_one_tile_each(tmp_path):
    """A 4-bit weight in 2-bit cells: each array of the workload is 2 of analogc's tiles, and
    the cell reads and conversions double (one pass per slice)."""
    f = tmp_path / "sliced.toml"
    f.write_text(FIXED.read_text().replace("cell_bits = 4", "cell_bits = 2"))
    m = v.validate_chip(f).main
    assert m.analogc_tiles == 2 * TILES
    e = 2 * (K * 0.5e-12 + K * N * D * 10e-15 + N * 2e-12)
    assert m.estimated_tops_per_w == pytest.approx(2 * K * N / e / 1e12, rel=1e-9, abs=0)


def test_shipped_chip_files_run():
    files = v.chip_files()
    for f in files:
        r = v.validate_chip(f)
        assert r.main.estimated_tops_per_w > 0 and math.isfinite(r.main.ratio), f
        assert all(p.estimated_tops_per_w > 0 for p in r.points), f
