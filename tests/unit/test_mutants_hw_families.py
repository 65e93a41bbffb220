"""Tile families' cost view pinned to the formulas their docstrings state, with the constants
read from the preset (hw_models.family, hw_models.photonics). Written from
scripts/mutation.sh's surviving mutants; no deploy, milliseconds per test.
"""
from __future__ import annotations

import math

import pytest

import hw_models
from hw_models.errors import HardwareConfigError
from hw_models.units import landauer_j, photon_energy_j


def approx(expected, rel=1e-9, abs=0.0):
    """pytest.approx without its 1e-12 absolute tolerance (energies here are ~1e-12 J and below)."""
    return pytest.approx(expected, rel=rel, abs=abs)

H_C = 6.62607015e-34 * 299792458.0


def si(p, sec, key, default=0.0):
    v = p.get(sec, {}).get(key)
    return default if v is None else v.si


# -- MZI meshes ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mzi():
    return hw_models.load("mzi")


def test_mzi_mesh_counts_and_loss(mzi):
    m, p = mzi.tile_model, mzi.params
    n = 12
    # pins: N = max(rows, cols); N(N-1) mesh MZIs + N attenuators; light crosses 2N+1 columns
    assert m.n == n and m.mzis == n * (n - 1) + n == 144
    il = si(p, "mzi", "modulator_loss") + (2 * n + 1) * si(p, "mzi", "mzi_loss") + si(p, "mzi", "coupling_loss")
    assert m.insertion_loss_db == approx(1.2 + 25 * 0.99) == approx(il)
    assert m.transmission == approx(10 ** (-il / 10))
    wide = hw_models.load("mzi", rows=4, cols=9).tile_model
    assert wide.n == 9 and hw_models.load("mzi", rows=9, cols=4).tile_model.n == 9


def test_mzi_detector_energy_is_the_larger_floor(mzi):
    m = mzi.tile_model
    e_ph = H_C / 1550e-9
    shot = 1.0 * 4 ** 8 / 0.8 * e_ph
    thermal = 0.63e-15 * 2 ** 8
    # pins: max(shot-noise floor snr_margin 4^b / QE photons, receiver floor E_det 2^b)
    assert m.photon_j == approx(e_ph, rel=1e-9)
    assert m.shot_noise_photons() == approx(4 ** 8 / 0.8)
    assert m.detector_energy_j() == approx(max(shot, thermal), rel=1e-9) == approx(thermal)
    assert m.photons_per_output(5) == approx(thermal / e_ph, rel=1e-9)
    assert m.detected_photons_per_mac(4) == approx(0.8 * thermal / e_ph / 4, rel=1e-9)
    # pins: receiver-limited, the budget follows the detector's constants
    assert m.photon_budget_params() == {("optics", "detector_energy"), ("optics", "detector_quantum_efficiency"),
                                        ("optics", "wavelength")}
    shot_limited = hw_models.load("mzi", **{"optics.detector_energy": "0 J"}).tile_model
    assert shot_limited.detector_energy_j() == approx(shot, rel=1e-9)
    assert shot_limited.photon_budget_params() == {("optics", "snr_margin")}
    nodet = hw_models.load("mzi", **{"optics.detector_energy": "1e-30 J"}).tile_model
    assert nodet.photon_budget_params() == {("optics", "snr_margin")}
    # pins: the floor of a pass is the shot-noise floor of its outputs
    assert m.floor_energy_per_pass_j(3, 5) == approx(5 * 4 ** 8 / 0.8 * e_ph, rel=1e-9)


def test_mzi_unit_energies_and_actions(mzi):
    m, p = mzi.tile_model, mzi.params
    u = m.unit_energy
    e_ph = H_C / 1550e-9
    # pins: every priced action and its component
    assert u["dac_conversion"] == {"dac": approx(m.dac.energy_j)}
    assert u["modulation"] == {"dac": approx(450e-15)}
    assert u["detection"] == {"adc": approx(0.82e-12)}
    assert u["adc_conversion"] == {"adc": approx(m.adc.energy_j)}
    assert u["shifter_write"] == {"programming": approx(3.6e-12)}
    t = m.transmission
    assert u["photon"]["optical"] == approx(e_ph, rel=1e-9)
    assert u["photon"]["laser"] == approx(e_ph * (1 / (t * 0.2) - 1), rel=1e-9)
    assert u["tile_second"] == {"static": approx(m.static_power_w())}
    assert u["chip_second"] == {"static": approx(si(p, "chip", "static_power"))}
    a = m.actions_per_pass(5, 7)
    assert a == {"dac_conversion": 5, "modulation": 5, "detection": 7, "adc_conversion": 7,
                 "photon": approx(7 * m.photons_per_output(5))}
    # pins: each weight position sets ~2 shifters: cells x 2 x MZIs / N^2
    assert m.actions_to_program(10) == {"shifter_write": approx(10 * 2 * 144 / 144)}


def test_mzi_time_power_area(mzi):
    m = mzi.tile_model
    # pins: one symbol at 5 GHz; the ADC overlaps it (12 ADCs, one column each)
    assert m.n_adc == 12
    t_adc = m.adc.conversion_time_s
    assert m.pass_time_s(12, 12) == approx(max(1 / 5e9, t_adc))
    assert m.pass_time_s(12, 30) == approx(max(1 / 5e9, 3 * t_adc))  # ceil(30/12) rounds
    seq = hw_models.load("mzi", **{"adc.overlaps_integration": False}).tile_model
    assert seq.pass_time_s(12, 13) == approx(1 / 5e9 + 2 * seq.adc.conversion_time_s)
    # pins: thermo-optic hold power: 1.5 P_pi per mesh MZI, 0.5 P_pi per attenuator
    assert m.static_power_w() == approx(132 * 1.5 * 0.03 + 12 * 0.5 * 0.03)
    assert hw_models.load("mzi-mems").tile_model.static_power_w() == 0.0
    assert m.program_time_s() == approx(10e-6)
    # pins: area = MZIs x MZI area + ADCs + DACs
    assert m.tile_area_m2() == approx(144 * 1.8e-8 + 12 * m.adc.area_m2 + 12 * m.dac.area_m2)
    assert m.phase_bits == 8


def test_mzi_accuracy_params(mzi):
    m = mzi.tile_model
    keys = m.accuracy_params()
    # pins: mesh loss and width distort the matrix; the photon budget sets the shot noise
    assert {("mzi", "mzi_loss"), ("tile", "cols"), ("optics", "detector_energy")} <= keys
    ideal = hw_models.load("mzi", **{"noise.model": "ideal"}).tile_model
    assert ideal.accuracy_params() == {("noise", "model")} and ideal.phase_bits is None


def _mzi_without_detector_energy(mzi, energy=None):
    import dataclasses
    optics = {k: v for k, v in mzi.params["optics"].items() if k != "detector_energy"}
    if energy is not None:
        optics["detector_energy"] = hw_models.config.Quantity(energy, energy, "J", "test")
    h = dataclasses.replace(mzi, params={**mzi.params, "optics": optics})
    return type(mzi.tile_model)(h)


def test_mzi_receiver_floor_is_optional(mzi):
    m = _mzi_without_detector_energy(mzi)
    shot_j = m.shot_noise_photons() * m.photon_j
    # pins: without a receiver figure the detector needs the shot-noise floor only
    assert m.detector_energy_j() == approx(shot_j)
    assert m.photon_budget_params() == {("optics", "snr_margin")}
    # pins: receiver floor = E_det x 2^bits; at exactly the shot floor the shot noise rules
    at = _mzi_without_detector_energy(mzi, shot_j / 2 ** 8)
    assert at.photon_budget_params() == {("optics", "snr_margin")}
    half = _mzi_without_detector_energy(mzi, shot_j / 2 ** 8 / 2)
    assert half.photon_budget_params() == {("optics", "snr_margin")}
    assert half.detector_energy_j() == approx(shot_j)
    above = _mzi_without_detector_energy(mzi, shot_j / 2 ** 8 * 1.01)
    assert above.photon_budget_params() == {("optics", "detector_energy"), ("optics", "detector_quantum_efficiency"),
                                            ("optics", "wavelength")}
    assert above.detector_energy_j() == approx(shot_j * 1.01)


def test_mzi_program_passes_loss_blocks_and_generator(mzi):
    import torch
    from hw_models import noise as nz
    m = hw_models.load("mzi", rows=4, cols=4).tile_model
    w = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    blocks = [(0, 3, 0, 4), (3, 6, 0, 4), (0, 3, 4, 5), (3, 6, 4, 5)]  # not the default 4 x 4 cut
    torch.manual_seed(1)
    pr = m.program(w, torch.Generator().manual_seed(2), blocks=blocks)
    torch.manual_seed(3)
    eff, scale = nz.program_mzi(w, m.tile, m.noise, torch.Generator().manual_seed(2),
                                mzi_loss_db=m.q("mzi", "mzi_loss"), blocks=blocks)
    # pins: the family programs the plan's blocks with its MZI loss and the caller's generator
    assert torch.equal(pr.weights[0], eff) and torch.equal(pr.col_scale, scale)
    assert pr.significance.tolist() == [1.0] and pr.weights.shape == (1, 6, 5)


def test_mzi_program_is_one_slice(mzi):
    import torch
    w = torch.tensor([[1.0, -0.5], [0.25, 0.75]])
    ideal = hw_models.load("mzi", **{"noise.model": "ideal"}).tile_model
    pr = ideal.program(w, None)
    # pins: an ideal mesh holds the column-normalised weight in one slice of significance 1
    assert torch.allclose(pr.weights[0], w / w.abs().amax(0))
    assert pr.significance.tolist() == [1.0] and torch.allclose(pr.col_scale, w.abs().amax(0))


# -- the family base ----------------------------------------------------------------------------
def test_q_refuses_a_missing_constant(mzi):
    m = mzi.tile_model
    # pins: the message names the file, the table, the key and the family
    with pytest.raises(HardwareConfigError, match=r"^.*mzi\.toml: \[mzi\] nope: expected this constant for a mzi "
                                                  r"tile, got nothing$"):
        m.q("mzi", "nope")
    assert m.q("mzi", "nope", 2.5) == 2.5 and m.q("nosection", "x", 1.0) == 1.0


def test_check_tile_messages():
    from hw_models.photonics.mzi import MZIMesh
    # pins: one line naming the key, the allowed values and the family
    with pytest.raises(HardwareConfigError, match=r"^f: \[tile\] input_encoding: expected 'multi-level' for a mzi "
                                                  r"tile, got 'pwm'$"):
        MZIMesh.check_tile({"input_encoding": "pwm"}, "f")
    with pytest.raises(HardwareConfigError, match=r"^f: \[tile\] cell_bits: expected weight_bits \(6\) for a mzi tile "
                                                  r"\(a weight is not sliced over cells\), got 2$"):
        MZIMesh.check_tile({"weight_bits": 6, "cell_bits": 2}, "f")
    with pytest.raises(HardwareConfigError, match=r"expected weight_bits \(8\)"):
        MZIMesh.check_tile({"cell_bits": 2}, "f")
    MZIMesh.check_tile({"weight_bits": 6, "cell_bits": 6, "input_encoding": "multi-level"}, "f")
    MZIMesh.check_tile({"weight_bits": 6}, "f")


def test_price_and_describe():
    h = hw_models.load("pcm-hermes")
    m = h.tile_model
    u = m.unit_energy
    counts = m.actions_per_pass(10, 20)
    # pins: energy = sum over actions of count x unit energy, per component; unknown actions free
    want = {}
    for a, n in counts.items():
        for comp, e in u.get(a, {}).items():
            want[comp] = want.get(comp, 0.0) + n * e
    assert m.price({**counts, "no_such_action": 5}) == approx(want)
    mz = hw_models.load("mzi").tile_model
    # pins: actions priced to the same component add up (DAC conversions and modulation: dac)
    assert mz.price({"dac_conversion": 2, "modulation": 3}) == {
        "dac": approx(2 * mz.unit_energy["dac_conversion"]["dac"] + 3 * mz.unit_energy["modulation"]["dac"])}
    assert m.pass_energy_j(10, 20) == approx(want)
    d = m.describe()
    # pins: the unit costs `analogc hw show --costs` prints
    assert d == {"family": "crossbar", "adc_energy_j": m.adc.energy_j,
                 "adc_conversion_time_s": m.adc.conversion_time_s, "input_cycles": m.input_cycles,
                 "pass_time_s": m.pass_time_s(256, 256), "pass_energy_j": m.pass_energy_j(256, 256),
                 "static_power_w": m.static_power_w(), "tile_area_m2": m.tile_area_m2()}


def test_geometry_scale_and_programming_time():
    base = hw_models.load("pcm-hermes").tile_model
    m = hw_models.load("pcm-hermes", rows=128, cols=512).tile_model
    # pins: per-tile constants scale with rows x cols x devices against the file's geometry
    assert base.geometry_scale() == 1.0
    assert m.geometry_scale() == approx(128 * 512 / (256 * 256))
    assert hw_models.load("pcm-hermes", devices_per_cell=2).tile_model.geometry_scale() == approx(0.5)
    assert m.static_power_w() == approx(si(m.p, "tile", "static_power") * m.geometry_scale())
    # pins: ceil(devices / parallel writes) x write time
    p = base.p
    par = p.get("programming", {}).get("parallel_writes", base.tile.cols)
    n = 256 * 256 * 4
    assert base.program_time_s() == approx(math.ceil(n / par) * si(p, "programming", "write_time"))
    # pins: a cell write per device of a cell
    assert base.actions_to_program(10) == {"cell_write": 40}


def test_landauer_floor_of_electronic_tiles():
    m = hw_models.load("pcm-hermes").tile_model
    # pins: k T ln2 per output bit per column in use
    assert m.floor_energy_per_pass_j(3, 7) == approx(7 * 8 * landauer_j())


def test_levels_and_simulation_numbers():
    m = hw_models.load("pcm-hermes").tile_model
    # pins: 2^(b-1)-1 levels per sign at the converters and for operands; ADC range default 10
    assert (m.input_levels, m.output_levels, m.operand_levels) == (127, 127, 127)
    assert m.adc_range == 10.0 and m.t_inference_s == 0.0
    assert m.noise_model == "pcm" and not m.exact
    assert hw_models.load("pcm-hermes", adc_model="ideal").tile_model.output_levels is None
    assert hw_models.load("pcm-hermes", dac_model="ideal").tile_model.input_levels is None
    ideal = hw_models.load("ideal").tile_model
    assert ideal.exact and ideal.operand_levels is None and ideal.out_noise == 0.0
    assert hw_models.load("rram").tile_model.multi_pass and not m.multi_pass
    # pins: one ADC per cols_per_adc columns, rounded up
    assert hw_models.load("rram").tile_model.n_adc == math.ceil(128 / hw_models.load("rram").params["tile"]["cols_per_adc"])


def test_noise_table_of_hardware_built_in_code():
    import dataclasses
    from hw_models.family import TileFamily
    h = hw_models.load("pcm-hermes")
    code = dataclasses.replace(h, params={**h.params, "noise": {"model": "pcm", "out_noise": 0.1,
                                                                "drift_compensation": False}})
    t = TileFamily._noise_table.__func__(type(h.tile_model), code)
    # pins: plain values set in code are validated with the source "set in code"
    assert t["out_noise"] == 0.1 and t["_sources"]["out_noise"] == "set in code"
    assert t["drift_compensation"] is False
    ideal = dataclasses.replace(h, params={**h.params, "noise": {}, "hardware": {**h.params["hardware"], "kind": "ideal"}})
    assert TileFamily._noise_table.__func__(type(h.tile_model), ideal)["model"] == "ideal"
    assert TileFamily._noise_table.__func__(type(h.tile_model), dataclasses.replace(h, params={**h.params, "noise": {}}))["model"] == "pcm"


# -- which component each action is priced to --------------------------------------------------
CROSSBAR = {"adc_conversion": ("adc",), "cell_read": ("array",), "cell_write": ("programming",),
            "chip_second": ("static",), "dac_conversion": ("dac",), "tile_second": ("static",)}
OPTICAL = {"adc_conversion": ("adc",), "chip_second": ("static",), "dac_conversion": ("dac",),
           "detection": ("adc",), "modulation": ("dac",), "photon": ("laser", "optical"),
           "tile_second": ("static",)}
COMPONENTS_OF = {
    "charge-jia2020": {"adc_conversion": ("adc",), "cap_switch": ("array",), "cell_write": ("programming",),
                       "chip_second": ("static",), "dac_conversion": ("dac",), "tile_second": ("static",)},
    "freespace": {**OPTICAL, "slm_frame": ("programming",)},
    "mzi": {**OPTICAL, "shifter_write": ("programming",)},
    # the CCO converter of pcm-hermes draws the mirrored bit-line current with each read
    "pcm-hermes": {**CROSSBAR, "cell_read": ("adc", "array")},
    "rram": CROSSBAR, "sram-cim": CROSSBAR, "ideal": CROSSBAR,
}


@pytest.mark.parametrize("preset", sorted(COMPONENTS_OF))
def test_each_action_is_priced_to_its_component(preset):
    u = hw_models.load(preset).tile_model.unit_energy
    # pins: the breakdown a report shows depends on these (action -> component) pairs
    assert {a: tuple(sorted(c)) for a, c in u.items()} == COMPONENTS_OF[preset]


# -- charge-domain crossbar ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def charge():
    return hw_models.load("charge-jia2020")


def test_charge_unit_energies_and_time(charge):
    m = charge.tile_model
    u = m.unit_energy
    # pins: C V^2 x switching activity per capacitor switch (1.2 fF, 1.2 V, 0.5)
    assert u["cap_switch"]["array"] == approx(1.2e-15 * 1.2 ** 2 * 0.5, rel=1e-12)
    assert u["cell_write"]["programming"] == approx(0.16e-12)
    assert u["dac_conversion"]["dac"] == approx(m.dac.energy_j)
    assert u["adc_conversion"]["adc"] == approx(m.adc.energy_j)
    nowrite = {k: v for k, v in charge.params["programming"].items() if k != "write_energy"}
    import dataclasses
    h2 = dataclasses.replace(charge, params={**charge.params, "programming": nowrite})
    assert type(m)(h2).unit_energy["cell_write"] == {"programming": 0.0}  # no figure: free
    # pins: bit-serial: input_cycles passes, each max(cycle, ADC time) when they overlap
    k = m.input_cycles
    assert k == 8 and m.dac_bits == 1
    t_adc = m.adc.conversion_time_s
    assert m.pass_time_s(2304, 256) == approx(8 * max(540e-9, t_adc))
    seq = hw_models.load("charge-jia2020", **{"adc.overlaps_integration": False}).tile_model
    assert seq.pass_time_s(2304, 256) == approx(8 * (540e-9 + seq.adc.conversion_time_s))
    # pins: the tile area of the file scales with the geometry
    assert m.tile_area_m2() == approx(3.41e-6)
    assert hw_models.load("charge-jia2020", rows=1152).tile_model.tile_area_m2() == approx(3.41e-6 / 2)
    ml = hw_models.load("charge-jia2020", input_encoding="multi-level").tile_model
    assert (ml.input_cycles, ml.dac_bits) == (1, 8)


def test_charge_program_with_capacitor_mismatch():
    import torch
    w = torch.tensor([[0.5, -1.0], [1.0, 0.25]])
    exact = hw_models.load("charge-jia2020", **{"noise.cap_mismatch": 0.0}).tile_model.program(
        w, torch.Generator().manual_seed(0))
    mis = hw_models.load("charge-jia2020", **{"noise.cap_mismatch": 0.05})
    pr = mis.tile_model.program(w, torch.Generator().manual_seed(0))
    # pins: without mismatch the bit cells hold the 8-bit weight exactly: one recombined slice
    assert exact.weights.shape == (1, 2, 2) and exact.significance.tolist() == [1.0]
    assert torch.allclose(exact.weights[0], torch.round(w / w.abs().amax(0) * 127) / 127)
    # pins: mismatch multiplies each bit cell by (1 + sigma z): the weight moves by a few %
    d = (pr.weights[0] - exact.weights[0]).abs()
    assert 0 < float(d.max()) < 0.3
    ps = mis.tile_model.program(w, torch.Generator().manual_seed(0), per_slice=True)
    assert ps.weights.shape[0] == 8 and torch.allclose(ps.recombined(), pr.weights[0])
    ideal = hw_models.load("charge-jia2020", **{"noise.model": "ideal"}).tile_model.program(w, None)
    assert torch.allclose(ideal.weights[0], w / w.abs().amax(0)) and ideal.significance.tolist() == [1.0]


# -- free-space optics --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fs():
    return hw_models.load("freespace")


def test_freespace_formulas(fs):
    m, p = fs.tile_model, fs.params
    e_ph = H_C / 532e-9
    # pins: 2 detectors per output (signed weights), each at the shot-noise floor
    assert m.detectors_per_output == 2
    assert m.photons_per_output(100) == approx(2 * 4 ** 8 / 0.8)
    assert m.transmission == approx(10 ** (-3 / 10))
    u = m.unit_energy
    assert u["slm_frame"]["programming"] == approx(2.0 * 16.7e-3)
    assert u["modulation"]["dac"] == approx(450e-15) and u["detection"]["adc"] == approx(0.82e-12)
    assert u["photon"]["laser"] == approx(e_ph * (1 / (m.transmission * 0.2) - 1), rel=1e-9)
    a = m.actions_per_pass(10, 20)
    assert a == {"dac_conversion": 10, "modulation": 10, "detection": 40, "adc_conversion": 20,
                 "photon": approx(20 * 2 * 4 ** 8 / 0.8)}
    # pins: an SLM frame rewrites all pixels: cells / (rows x cols) frames
    assert m.actions_to_program(2048 * 1024 / 4) == {"slm_frame": approx(0.25)}
    assert m.tile_area_m2() == approx(2048 * 1024 * 2 * 3.74e-6 ** 2)
    assert m.program_time_s() == approx(16.7e-3) and m.static_power_w() == 0.0
    t_adc = m.adc.conversion_time_s
    assert m.pass_time_s(10, 2048) == approx(max(1e-9, 2 * t_adc))
    seq = hw_models.load("freespace", **{"adc.overlaps_integration": False}).tile_model
    assert seq.pass_time_s(10, 1025) == approx(1e-9 + 2 * seq.adc.conversion_time_s)
    assert m.photon_budget_params() == {("tile", "devices_per_cell"), ("optics", "snr_margin")}
    # pins: the optical floor: 4^bits photons per output at unit quantum efficiency
    assert m.floor_energy_per_pass_j(5, 3) == approx(3 * 4 ** 8 * e_ph, rel=1e-9)
    assert m.detector_noise_photons() == approx(p["noise"]["detector_noise_photons"])


def test_freespace_fixed_photon_budget(fs):
    m = hw_models.load("freespace", photons_per_mac=3.0).tile_model
    # pins: a fixed budget is photons_per_mac x rows at the detectors
    assert m.photons_per_mac == 3.0 and m.photons_per_output(100) == approx(300.0)
    assert m.detected_photons_per_mac(100) == approx(0.8 * 3.0)
    assert m.photon_budget_params() == {("tile", "devices_per_cell"), ("freespace", "photons_per_mac"),
                                        ("optics", "detector_quantum_efficiency")}
    assert fs.tile_model.photons_per_mac is None
    assert ("optics", "snr_margin") in fs.tile_model.accuracy_params()


def test_freespace_program_levels(fs):
    import torch
    w = torch.tensor([[0.3, -1.0], [1.0, 0.5]])
    pr = hw_models.load("freespace", weight_bits=3, cell_bits=3).tile_model.program(w, None)
    # pins: the SLM holds weight_bits gray levels per sign (3 bits: 3 levels), per column scale
    wn = w / w.abs().amax(0)
    assert torch.allclose(pr.weights[0], torch.round(wn * 3) / 3)
    assert torch.allclose(pr.col_scale, torch.tensor([1.0, 1.0])) and pr.weights.dtype == torch.float32
    assert pr.significance.tolist() == [1.0]  # one slice
    ideal = hw_models.load("freespace", **{"noise.model": "ideal"}).tile_model.program(w.double(), None)
    assert torch.allclose(ideal.weights[0], wn.float()) and ideal.weights.dtype == torch.float32
    tiny = hw_models.load("freespace").tile_model.program(torch.tensor([[1e-13, 0.0]]), None)
    # pins: a column of (near) zeros keeps a 1e-12 scale (no division by zero)
    assert tiny.col_scale.tolist() == [approx(1e-12, rel=1e-6), approx(1e-12, rel=1e-6)]


def test_package_getattr():
    # pins: lazy attributes of the package and the error for others
    from hw_models import describe, pricing, registry
    assert hw_models.FAMILIES is registry.FAMILIES
    assert hw_models.tile_model is pricing.tile_model
    assert hw_models.hw_show_text is describe.hw_show_text and hw_models.hw_list_text is describe.hw_list_text
    with pytest.raises(AttributeError, match=r"^no_such_thing$"):
        hw_models.no_such_thing  # noqa: B018


# -- crossbars ----------------------------------------------------------------------------------
def test_crossbar_read_time_and_cell_energy():
    h = hw_models.load("pcm-hermes")
    m = h.tile_model
    # pins: PWM inputs: one pulse of 2^(b-1) LSB times; cell energy V^2 (f_g g_max)(f_x t_read)
    assert m.encoding == "pwm" and m.dac_bits == 1 and m.input_cycles == 1
    assert m.read_time_s() == approx(2 ** 7 * 1e-9)
    assert m.cell_read_energy_j() == approx(0.2 ** 2 * 0.25 * 25e-6 * 0.25 * 128e-9)
    # the CCO converter mirrors each read's current from the 0.8 V supply (14 nm nominal):
    # mirror_ratio (1) x V_dd / V_read = 0.8 / 0.2 times the read's own energy
    assert m.unit_energy["cell_read"] == {"array": approx(m.cell_read_energy_j()),
                                          "adc": approx(m.cell_read_energy_j() * 0.8 / 0.2)}
    r = hw_models.load("rram").tile_model
    # pins: a stated cell energy wins; bit-serial reads take max(pulse, DAC time), 8 planes
    assert r.cell_read_energy_j() == approx(1.83e-15)
    assert r.read_time_s() == approx(max(100e-9, r.dac.conversion_time_s))
    assert (r.encoding, r.dac_bits, r.input_cycles) == ("bit-serial", 1, 8)
    ml = hw_models.load("ideal").tile_model
    assert (ml.encoding, ml.dac_bits, ml.input_cycles) == ("multi-level", 32, 1)
    nodac = hw_models.load("rram", dac_model="ideal").tile_model
    assert nodac.input_cycles == 1  # exact inputs: one pass


def test_crossbar_actions_time_area():
    r = hw_models.load("rram").tile_model
    # pins: per pass and input plane: a DAC per row, a read per device, an ADC per column,
    # (k-1) shift-adds per column
    assert r.actions_per_pass(10, 20) == {"dac_conversion": 80, "cell_read": 1600, "adc_conversion": 160,
                                          "shift_add": 140}
    p = hw_models.load("pcm-hermes").tile_model
    assert p.actions_per_pass(10, 20)["cell_read"] == 10 * 20 * 4  # 4 devices per cell
    # pins: an ADC converts ceil(cols / ADCs) columns in turn; overlapped with the read or not
    t_adc = r.adc.conversion_time_s
    assert r.pass_time_s(128, 128) == approx(8 * max(r.read_time_s(), 128 * t_adc))
    seq = hw_models.load("rram", **{"adc.overlaps_integration": False}).tile_model
    assert seq.pass_time_s(128, 3) == approx(8 * (seq.read_time_s() + 3 * seq.adc.conversion_time_s))
    # pins: without a measured tile area: cells x cell area + ADCs + a DAC per row
    assert r.tile_area_m2() == approx(128 * 128 * 1.5e-15 + r.n_adc * r.adc.area_m2 + 128 * r.dac.area_m2)
    assert p.tile_area_m2() == approx(hw_models.load("pcm-hermes").params["tile"]["area"].si)
    half = hw_models.load("pcm-hermes", rows=128).tile_model
    # half the devices halve the core less its ADCs; the 256 column ADCs (400 um2) stay
    assert half.tile_area_m2() == approx((p.tile_area_m2() - 256 * 400e-12) / 2 + 256 * 400e-12)


def test_crossbar_noise_std_and_accuracy_keys():
    import torch
    m = hw_models.load("pcm-hermes").tile_model
    x = torch.tensor([[1.0, 1.0, 0.0], [0.5, 0.0, 0.0]])
    w = torch.ones(3, 2)
    # pins: sqrt(out_noise^2 + read_noise^2 ||x||^2) per output row
    s = m.noise_std(x, w)
    want = torch.sqrt(0.04 ** 2 + 0.0175 ** 2 * torch.tensor([[2.0], [0.25]]))
    assert torch.allclose(s, want) and m.signal_dependent_noise and m.read_noise == 0.0175
    sram = hw_models.load("sram-cim").tile_model
    assert sram.noise_std(x, w) == 0.0 and not sram.signal_dependent_noise
    ideal = hw_models.load("ideal").tile_model
    assert ideal.read_noise == 0.0 and ideal.accuracy_params() == {("noise", "model")}
    k = m.accuracy_params()
    # pins: slices, passes and devices change what a PCM crossbar computes; drift only after t0
    assert {("tile", "cell_bits"), ("tile", "input_encoding"), ("tile", "devices_per_cell")} <= k
    assert ("noise", "drift_nu_mean") not in k and ("noise", "drift_nu_std") not in k
    later = hw_models.load("pcm-hermes", **{"noise.t_inference_s": 3600.0}).tile_model.accuracy_params()
    assert {("noise", "drift_nu_mean"), ("noise", "drift_nu_std"), ("noise", "drift_compensation")} <= later
    assert ("tile", "devices_per_cell") not in sram.accuracy_params()
    assert ("noise", "t_inference_s") in hw_models.load("rram").tile_model.accuracy_params()


def test_crossbar_program_slices():
    import torch
    w = torch.tensor([[0.5, -1.0], [1.0, 0.25]])
    sram = hw_models.load("sram-cim").tile_model
    pr = sram.program(w, None, per_slice=True)
    # pins: 1-bit cells: 8 slices of significance 2^s / 127 whose sum is the 8-bit weight
    assert pr.weights.shape == (8, 2, 2)
    assert pr.significance.tolist() == approx([2 ** s / 127 for s in range(8)], rel=1e-6)
    assert torch.allclose(pr.recombined(), torch.round(w * 127) / 127)
    one = sram.program(w, None)
    assert one.weights.shape == (1, 2, 2) and one.significance.tolist() == [1.0]
    assert torch.allclose(one.weights[0], torch.round(w * 127) / 127)


def _without(h, section, key):
    import dataclasses
    table = {k: v for k, v in h.params[section].items() if k != key}
    return type(h.tile_model)(dataclasses.replace(h, params={**h.params, section: table}))


def test_optional_optics_constants(fs):
    import dataclasses
    # pins: snr_margin defaults to 1 (the bare shot-noise floor); SLM holding power to 0
    m = _without(fs, "optics", "snr_margin")
    assert m.shot_noise_photons() == approx(4 ** 8 / 0.8)
    assert _without(fs, "freespace", "slm_static_power").static_power_w() == 0.0
    hot = hw_models.load("freespace", **{"freespace.slm_static_power": "2 W"}).tile_model
    assert hot.static_power_w() == 2.0 and hot.unit_energy["tile_second"] == {"static": 2.0}
    # pins: an MZI mesh has no detector read-out noise in photons
    assert hw_models.load("mzi").tile_model.detector_noise_photons() == 0.0


def test_optical_noise_std(fs):
    import torch
    m = fs.tile_model
    xn = torch.tensor([[1.0, 0.5, 0.0, 0.25]])
    wn = torch.tensor([[1.0], [-1.0], [0.5], [0.0]])
    ppm = m.detected_photons_per_mac(4)
    s = 1.0 + 0.5
    det = 2 * (1.6 / ppm) ** 2
    # pins: var = s / ppm + detectors (read noise / ppm)^2 + out_noise^2 (Wang et al. 2022 form)
    assert torch.allclose(m.noise_std(xn, wn), torch.sqrt(torch.tensor([[s / ppm + det]])), rtol=1e-6, atol=0)
    ideal = hw_models.load("freespace", **{"noise.model": "ideal"}).tile_model
    assert ideal.noise_std(xn, wn) == 0.0 and not ideal.signal_dependent_noise and m.signal_dependent_noise


def test_charge_mismatch_draws_by_hand():
    import torch
    from hw_models import noise as nz
    w = torch.tensor([[0.5, -1.0], [1.0, 0.25]])
    h = hw_models.load("charge-jia2020", **{"noise.cap_mismatch": 0.05})
    ps = h.tile_model.program(w, torch.Generator().manual_seed(5), per_slice=True)
    bits, sig, _, offset = nz.program_crossbar(w, h.tile, {"model": "sram"}, None, per_slice=True)
    assert offset is None and ps.offset is None  # signed bits: no digital offset
    g = torch.Generator().manual_seed(5)
    for s in range(bits.shape[0]):  # pins: each bit cell scaled by (1 + sigma z), slice by slice
        bits[s].mul_(1 + 0.05 * torch.randn(bits[s].shape, generator=g, dtype=bits.dtype))
    assert torch.equal(ps.weights, bits) and torch.equal(ps.significance, sig)


# -- which parameters change what a deployed model computes (the claim the parameter sweep checks)
# pinned per preset here, so that a fault in the claim shows without the 25 s sweep
ACCURACY_KEYS = {
    'pcm-hermes': {
        ('adc', 'model'),
        ('dac', 'model'),
        ('hardware', 'input_bits'),
        ('hardware', 'output_bits'),
        ('noise', 'adc_range'),
        ('noise', 'drift_t0_s'),
        ('noise', 'model'),
        ('noise', 'out_noise'),
        ('noise', 'prog_coeffs_g_ref_us'),
        ('noise', 'prog_coeffs_us'),
        ('noise', 'read_1f'),
        ('noise', 'read_noise'),
        ('noise', 't_inference_s'),
        ('noise', 't_read_s'),
        ('tile', 'cell_bits'),
        ('tile', 'devices_per_cell'),
        ('tile', 'input_encoding'),
        ('tile', 'rows'),
        ('tile', 'static_weights'),
        ('tile', 'weight_bits'),
    },
    'rram': {
        ('adc', 'model'),
        ('dac', 'model'),
        ('hardware', 'input_bits'),
        ('hardware', 'output_bits'),
        ('noise', 'adc_range'),
        ('noise', 'model'),
        ('noise', 'out_noise'),
        ('noise', 'prog_coeffs_g_ref_us'),
        ('noise', 'prog_coeffs_us_by_time'),
        ('noise', 'read_noise'),
        ('noise', 't_inference_s'),
        ('tile', 'cell_bits'),
        ('tile', 'devices_per_cell'),
        ('tile', 'input_encoding'),
        ('tile', 'rows'),
        ('tile', 'static_weights'),
        ('tile', 'weight_bits'),
    },
    'sram-cim': {
        ('adc', 'model'),
        ('dac', 'model'),
        ('hardware', 'input_bits'),
        ('hardware', 'output_bits'),
        ('noise', 'adc_range'),
        ('noise', 'model'),
        ('noise', 'out_noise'),
        ('tile', 'cell_bits'),
        ('tile', 'input_encoding'),
        ('tile', 'rows'),
        ('tile', 'static_weights'),
        ('tile', 'weight_bits'),
    },
    'charge-jia2020': {
        ('adc', 'model'),
        ('charge', 'cell_capacitance'),
        ('charge', 'drive_voltage'),
        ('dac', 'model'),
        ('hardware', 'input_bits'),
        ('hardware', 'output_bits'),
        ('noise', 'adc_range'),
        ('noise', 'cap_mismatch'),
        ('noise', 'model'),
        ('noise', 'out_noise'),
        ('tile', 'cell_bits'),
        ('tile', 'input_encoding'),
        ('tile', 'rows'),
        ('tile', 'static_weights'),
        ('tile', 'weight_bits'),
    },
    'mzi': {
        ('adc', 'model'),
        ('dac', 'model'),
        ('hardware', 'input_bits'),
        ('hardware', 'output_bits'),
        ('mzi', 'mzi_loss'),
        ('noise', 'adc_range'),
        ('noise', 'crosstalk'),
        ('noise', 'loss_std_db'),
        ('noise', 'model'),
        ('noise', 'out_noise'),
        ('noise', 'phase_bits'),
        ('noise', 'phase_error_rad'),
        ('noise', 'splitter_error_rad'),
        ('optics', 'detector_energy'),
        ('optics', 'detector_quantum_efficiency'),
        ('optics', 'wavelength'),
        ('tile', 'cols'),
        ('tile', 'rows'),
        ('tile', 'static_weights'),
        ('tile', 'weight_bits'),
    },
    'freespace': {
        ('adc', 'model'),
        ('dac', 'model'),
        ('hardware', 'input_bits'),
        ('hardware', 'output_bits'),
        ('noise', 'adc_range'),
        ('noise', 'detector_noise_photons'),
        ('noise', 'model'),
        ('noise', 'out_noise'),
        ('optics', 'snr_margin'),
        ('tile', 'devices_per_cell'),
        ('tile', 'rows'),
        ('tile', 'static_weights'),
        ('tile', 'weight_bits'),
    },
    'ideal': {
        ('noise', 'model'),
    },
}


@pytest.mark.parametrize("preset", sorted(ACCURACY_KEYS))
def test_accuracy_params_per_preset(preset):
    # pins: the (table, key) set each family declares for its shipped preset
    assert hw_models.load(preset).tile_model.accuracy_params() == ACCURACY_KEYS[preset]


def test_accuracy_params_follow_the_configuration():
    base = ACCURACY_KEYS["pcm-hermes"]
    # pins: drift keys join once the read time is after programming; ideal converters drop
    # their resolutions and the ADC range
    later = hw_models.load("pcm-hermes", **{"noise.t_inference_s": 10.0}).tile_model.accuracy_params()
    assert later == base | {("noise", "drift_nu_mean"), ("noise", "drift_nu_std"), ("noise", "drift_compensation")}
    exact = hw_models.load("pcm-hermes", adc_model="ideal", dac_model="ideal").tile_model.accuracy_params()
    assert exact == base - {("hardware", "input_bits"), ("hardware", "output_bits"), ("noise", "adc_range")}
    half = hw_models.load("pcm-hermes", adc_model="ideal").tile_model.accuracy_params()
    assert half == base - {("hardware", "output_bits"), ("noise", "adc_range")}
    ideal_charge = hw_models.load("charge-jia2020", **{"noise.model": "ideal"}).tile_model.accuracy_params()
    assert ideal_charge == {("noise", "model")}
    assert hw_models.load("freespace", **{"noise.model": "ideal"}).tile_model.accuracy_params() == {("noise", "model")}
    assert hw_models.load("mzi", **{"noise.model": "ideal"}).tile_model.accuracy_params() == {("noise", "model")}


def test_crossbar_program_passes_generator_and_time():
    import torch
    from hw_models import noise as nz
    h = hw_models.load("pcm-hermes")
    m = h.tile_model
    w = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    pr = m.program(w, torch.Generator().manual_seed(2), t_inference_s=100.0)
    torch.manual_seed(3)
    eff, scale = nz.program_crossbar(w, h.tile, m.noise, torch.Generator().manual_seed(2), 100.0)
    # pins: the family programs with the caller's generator, at the caller's read time
    assert torch.equal(pr.weights[0], eff) and torch.equal(pr.col_scale, scale)
    ps = m.program(w, torch.Generator().manual_seed(2), t_inference_s=100.0, per_slice=True)
    sl, sig, _, offset = nz.program_crossbar(w, h.tile, m.noise, torch.Generator().manual_seed(2), 100.0,
                                             per_slice=True)
    assert torch.equal(ps.weights, sl) and torch.equal(ps.significance, sig)
    assert offset is None and ps.offset is None  # differential pairs: no digital offset


def test_optional_constants_of_the_family_base():
    import dataclasses
    h = hw_models.load("pcm-hermes")
    m = h.tile_model
    # pins: the tile's stated static power scales with its geometry; none stated: 0 W
    hot = hw_models.load("pcm-hermes", **{"tile.static_power": "2 mW"}).tile_model
    assert hot.static_power_w() == approx(2e-3)
    assert _without(h, "tile", "static_power").static_power_w() == 0.0
    # pins: programming time = ceil(devices / parallel writes) x write time; default one row
    # of columns at a time; no write time stated: free
    ch = hw_models.load("charge-jia2020").tile_model
    assert ch.program_time_s() == approx(math.ceil(2304 * 256 / 768) * 500e-9)
    nopar = _without(hw_models.load("charge-jia2020"), "programming", "parallel_writes")
    assert nopar.program_time_s() == approx(math.ceil(2304 * 256 / 256) * 500e-9)
    assert _without(hw_models.load("charge-jia2020"), "programming", "write_time").program_time_s() == 0.0
    noprog = type(m)(dataclasses.replace(h, params={k: v for k, v in h.params.items() if k != "programming"}))
    assert noprog.program_time_s() == 0.0 and noprog.unit_energy["cell_write"] == {"programming": 0.0}
    # pins: a crossbar's cell write energy comes from [programming] write_energy
    we = hw_models.load("rram", **{"programming.write_energy": "3 pJ"}).tile_model
    assert we.unit_energy["cell_write"] == {"programming": approx(3e-12)}
    # pins: the shot-noise floor scales with snr_margin
    assert hw_models.load("mzi", **{"optics.snr_margin": 2.0}).tile_model.shot_noise_photons() == approx(2 * 4 ** 8 / 0.8)


def test_geometry_scale_without_a_full_reference():
    import dataclasses
    h = hw_models.load("pcm-hermes", rows=128)

    def with_ref(ref):
        p = {k: v for k, v in h.params.items() if k != "_reference"}
        if ref is not None:
            p["_reference"] = ref
        return type(h.tile_model)(dataclasses.replace(h, params=p)).geometry_scale()
    # pins: without the file's geometry (a Hardware built in code) nothing is rescaled
    assert with_ref(None) == 1.0
    assert with_ref({"rows": 256, "cols": 256, "devices_per_cell": None}) == 1.0
    assert with_ref({"rows": 256, "cols": None, "devices_per_cell": 4}) == 1.0
    assert with_ref({"rows": None, "cols": 256, "devices_per_cell": 4}) == 1.0
    assert with_ref({"rows": 256, "cols": 256, "devices_per_cell": 4}) == 0.5


def test_programmed_recombination():
    import torch
    from hw_models.family import Programmed
    w = torch.tensor([[[1.0, -0.5, 0.25]], [[0.5, 0.5, -1.0]]])  # 2 slices of a 1 x 3 weight
    p = Programmed(w, torch.tensor([0.5, 2.0], dtype=torch.float64), torch.ones(3))
    # pins: sum_s significance[s] x weights[s]; one slice: weights[0] x significance[0]
    assert torch.allclose(p.recombined(), 0.5 * w[0] + 2.0 * w[1])
    one = Programmed(w[:1], torch.tensor([0.5]), torch.ones(3))
    assert torch.allclose(one.recombined(), 0.5 * w[0])
    from hw_models import noise as nz
    assert nz.quantize_symmetric(torch.tensor([1.5, -3.0]), 4).tolist() == [1.0, -1.0]  # clipped to [-1, 1]
