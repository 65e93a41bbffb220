"""No estimate below its physical floor (issue 10), per family, for every preset and every chip
file: the family's floor is the hand formula (k T ln 2 per output bit; optics: the shot-noise
photons x h nu), the wire floor of hw_models/floors.py is its hand formula, and the estimated
energy of one full-array pass is at or above the sum of the floors."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

import analogc
import hw_models
from analogc.estimate import estimate
from analogc.ir import Graph, Op
from analogc.validate import chip_files
from hw_models.floors import physical_floor_j, wire_floor_j

K_B, PLANCK, C0 = 1.380649e-23, 6.62607015e-34, 299792458.0  # CODATA 2018, exact
LANDAUER_300K = K_B * 300 * math.log(2)
DATA = Path(__file__).resolve().parent / "data" / "validation"

#: every preset and every chip file (shipped and the synthetic ones of the tests)
HARDWARE = [*hw_models.presets(), *(str(p) for p in chip_files()), *(str(p) for p in sorted(DATA.glob("*.toml")))]
#: the pass components: what one input vector through one tile costs (memory traffic, digital
#: adds, static power and programming are not part of a pass)
PASS_COMPONENTS = ("dac", "adc", "array", "optical", "laser")


def _id(h: str) -> str:
    return Path(h).stem


def hand_family_floor_j(hw) -> float:
    """The family's floor for one full pass, from the formulas alone."""
    fam, c, b = hw.tile_model, hw.tile.cols, hw.output_bits
    if fam.name in ("freespace", "mzi"):
        photon = PLANCK * C0 / hw.params["optics"]["wavelength"].si
        photons = 4 ** b  # sqrt(N) = 2^b photoelectrons
        if fam.name == "mzi":  # the mesh's detectors: snr margin and quantum efficiency
            o = hw.params["optics"]
            photons *= o["snr_margin"].si / o["detector_quantum_efficiency"].si if "snr_margin" in o \
                else 1 / o["detector_quantum_efficiency"].si
        return c * photons * photon
    return c * b * LANDAUER_300K


@pytest.mark.parametrize("name", HARDWARE, ids=_id)
def test_family_floor_is_the_hand_formula(name):
    hw = hw_models.load(name)
    fam = hw.tile_model
    assert fam.floor_energy_per_pass_j(hw.tile.rows, hw.tile.cols) == pytest.approx(hand_family_floor_j(hw), rel=1e-12, abs=0)


def _pass_energy_from_the_estimate(hw) -> float:
    """One input vector through one full array, priced by analogc.estimate (all its slices)."""
    g = Graph("one-pass")
    g.add(Op(name="mvm", kind="mvm", target="linear", in_features=hw.tile.rows,
             out_features=hw.tile.cols, vectors=1))
    rep = estimate(analogc.compile(g, hw=hw))
    return sum(rep.breakdown[c] for c in PASS_COMPONENTS)


@pytest.mark.parametrize("name", HARDWARE, ids=_id)
def test_no_pass_below_its_physical_floor(name):
    hw = hw_models.load(name)
    if hw.params["hardware"].get("kind") == "ideal":
        pytest.skip("the ideal preset is the noise-free reference with free converters, by design "
                    "not a cost (test_the_check_catches_a_pass_priced_at_zero)")
    fam = hw.tile_model
    r, c = hw.tile.rows, hw.tile.cols
    floor = physical_floor_j(fam, r, c)
    assert floor >= fam.floor_energy_per_pass_j(r, c) or fam.name == "mzi"  # mzi: QE-adjusted shot term
    pass_j = sum(fam.pass_energy_j(r, c).values())
    assert pass_j >= max(floor, fam.floor_energy_per_pass_j(r, c)), (name, pass_j, floor)
    est = _pass_energy_from_the_estimate(hw)
    assert est >= hw.tile.slices * max(floor, fam.floor_energy_per_pass_j(r, c)), (name, est, floor)


def test_the_check_catches_a_pass_priced_at_zero():
    """The ideal preset prices its converters and cells at zero: it sits below the floor, which
    is what the test above would report for any costed hardware doing the same."""
    hw = hw_models.load("ideal")
    fam = hw.tile_model
    r, c = hw.tile.rows, hw.tile.cols
    assert sum(fam.pass_energy_j(r, c).values()) < physical_floor_j(fam, r, c)
    # and a costed crossbar with its converters and cells zeroed falls below it too
    zero = hw_models.load("rram", adc_model="ideal", dac_model="ideal",
                          **{"array.cell_read_energy": "0 J"})
    f0 = zero.tile_model
    assert sum(f0.pass_energy_j(zero.tile.rows, zero.tile.cols).values()) < physical_floor_j(
        f0, zero.tile.rows, zero.tile.cols)


def test_wire_floor_is_the_hand_formula():
    """rows x cols x devices_per_cell x pitch x c_wire x V^2, c_wire the low end of the stock
    range (0.15 fF/um), pitch from the file or 2 x node."""
    hw = hw_models.load(DATA / "fixed-crossbar.toml")  # cell_area 0.1 um2, 65 nm, no read voltage
    fam = hw.tile_model
    pitch = math.sqrt(0.1e-12)
    vdd = 1.0  # 65 nm nominal supply (hw_models.circuits.VDD_BY_NODE_NM)
    assert wire_floor_j(fam, 128, 64) == pytest.approx(128 * 64 * 2 * pitch * 0.15e-9 * vdd ** 2, rel=1e-12, abs=0)
    assert wire_floor_j(fam, 64, 64) == pytest.approx(wire_floor_j(fam, 128, 64) / 2, abs=0)
    # a lower supply lowers it as V^2
    low = hw_models.load(DATA / "fixed-crossbar.toml", **{"technology.supply_voltage": "0.5 V"}).tile_model
    assert wire_floor_j(low, 128, 64) == pytest.approx(wire_floor_j(fam, 128, 64) / 4, abs=0)
    # a resistive array swings its read voltage
    pcm = hw_models.load("pcm-hermes")
    a, d, t = pcm.params["array"], pcm.params.get("dac", {}), pcm.tile
    pitch_p = d["pitch"].si if "pitch" in d else (math.sqrt(a["cell_area"].si) if "cell_area" in a
                                                  else 2 * pcm.params["hardware"]["technology_node"].si)
    expect = t.rows * t.cols * t.devices_per_cell * pitch_p * 0.15e-9 * a["read_voltage"].si ** 2
    assert wire_floor_j(pcm.tile_model, t.rows, t.cols) == pytest.approx(expect, rel=1e-12, abs=0)


def test_wire_floor_without_a_pitch_takes_the_minimum_metal_pitch(tmp_path):
    f = tmp_path / "no-pitch.toml"
    f.write_text((DATA / "fixed-crossbar.toml").read_text().replace(
        'cell_area = {value = 0.1, unit = "um2", source = "synthetic test value"}\n', ""))
    fam = hw_models.load(f).tile_model
    assert wire_floor_j(fam, 128, 64) == pytest.approx(128 * 64 * 2 * (2 * 65e-9) * 0.15e-9 * 1.0, rel=1e-12, abs=0)
    # optical families have no word lines
    assert wire_floor_j(hw_models.load("mzi").tile_model, 64, 64) == 0.0
