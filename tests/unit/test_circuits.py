"""Circuit-level component models (hw_models/circuits.py) against hand formulas and published
figures, and the keys of the hardware format that reach them."""

import pytest
from pytest import approx

import analogc
import hw_models
from analogc.estimate import estimate
from analogc.ir import Graph, Op
from hw_models import circuits as cc
from hw_models.units import BOLTZMANN_J_K

HERMES = "pcm-hermes"


def _e_gate(node_nm: float, v: float) -> float:
    # Horowitz ISSCC 2014: 8-bit add 0.03 pJ at 45 nm, 0.9 V; 36 gate toggles per add; C V^2 scaling
    return 0.03e-12 / 36 * (node_nm / 45) * (v / 0.9) ** 2


def test_cdac_switching_energy_matches_saberi():
    # the average switching energy of a conventional 10-bit SAR CDAC is 1363.3 C V_ref^2 (Liu et
    # al. IEEE JSSC 45(4):731, 2010, comparing it with monotonic switching; Saberi et al. TCAS-I 2011)
    assert cc.cdac_switching_energy_j(10, 1.0, 1.0) == approx(1363.3, abs=0.05)
    assert cc.cdac_switching_energy_j(1, 1.0, 1.0) == approx(1.0)  # 2^(1+1-2) (2 - 1)
    assert cc.cdac_switching_energy_j(8, 2e-15, 0.5) == approx(
        sum(2.0 ** (9 - 2 * i) * (2 ** i - 1) for i in range(1, 9)) * 2e-15 * 0.25)


def test_gate_energy_from_horowitz_and_supply_scaling():
    t = cc.Technology(45e-9, 0.9)
    assert t.gate_energy_j == approx(0.03e-12 / 36)
    assert cc.Technology(14e-9).gate_energy_j == approx(_e_gate(14, 0.8))  # nominal 0.8 V at 14 nm
    assert cc.Technology(14e-9, 0.6).gate_energy_j == approx(_e_gate(14, 0.6))
    assert t.c_inv_f == approx(0.03e-12 / 36 / 0.81 / 2) and t.c_transistor_f == approx(t.c_inv_f / 2)
    t2 = cc.Technology(45e-9, 0.9, {"gate_toggles_per_add8": 72.0})
    assert t2.gate_energy_j == approx(t.gate_energy_j / 2)


def test_converter_types_hand_formulas():
    t = cc.Technology(65e-9, 1.0)
    g = t.gate_energy_j
    cmp8 = max(20 * g, 16 * BOLTZMANN_J_K * 300 * 4 ** 8)  # V_ref = V_dd = 1 V
    assert cc.comparator_energy_j(8, t) == approx(cmp8)
    sar = cc.adc_energy_breakdown_j("sar", 8, t, unit_capacitance_f=1e-15)
    assert sar == {"cdac": approx(cc.cdac_switching_energy_j(8, 1e-15, 1.0)), "comparator": approx(8 * cmp8),
                   "logic": approx(8 * 40 * g)}
    assert cc.adc_energy_j("flash", 6, t) == approx(63 * cc.comparator_energy_j(6, t) + 64 * g)
    assert cc.adc_energy_j("ramp", 6, t) == approx(32 * cc.comparator_energy_j(6, t) + 6 * 8 * g)
    assert cc.adc_energy_j("cco", 8, t) == approx(128 * 2 * 5 * g + 128 * 8 * g)
    assert cc.adc_energy_j("sense-amp", 1, t) == approx(cc.comparator_energy_j(1, t) + 8 * g)
    # a 12-bit comparator is noise-limited: the kT/C floor, not the gates, sets its energy
    assert cc.comparator_energy_j(12, t) == approx(16 * BOLTZMANN_J_K * 300 * 4 ** 12)
    assert 16 * BOLTZMANN_J_K * 300 * 4 ** 12 > 20 * g
    with pytest.raises(ValueError, match="ADC type 'delta-sigma'"):
        cc.adc_energy_j("delta-sigma", 8, t)


def test_driver_energy_hand_formula():
    t = cc.Technology(28e-9, 0.9)
    c = cc.wire_load_f(256, 0.5e-6, 0.1e-15, t)
    assert c == approx(256 * (0.5e-6 * 0.2e-9 + 0.1e-15))
    assert cc.driver_energy_j(c, 0.3, t) == approx(c * 0.3 * 0.9 + c / t.c_inv_f / 3 * t.gate_energy_j / 2)


def _one_pass(hw, k=256, n=256):
    g = Graph("one")
    g.add(Op(name="m", kind="mvm", target="linear", in_features=k, out_features=n, vectors=1))
    return estimate(analogc.compile(g, hw=hw)).breakdown


def test_format_keys_reach_the_converter_and_driver():
    base = hw_models.load(HERMES, **{"adc.type": "sar"}).tile_model
    t = base.tech
    # [adc] unit_capacitance and reference_voltage: the SAR's CDAC term follows them
    for kw, cu, vref in ((dict(), 1e-15, 0.8), ({"adc.unit_capacitance": "2 fF"}, 2e-15, 0.8),
                         ({"adc.reference_voltage": "0.5 V"}, 1e-15, 0.5)):
        f = hw_models.load(HERMES, **{"adc.type": "sar"}, **kw).tile_model
        assert f.adc.energy_j == approx(cc.adc_energy_j("sar", 8, t, unit_capacitance_f=cu, v_ref=vref))
    # [dac] cell_load and drive_voltage: the word line and its swing
    f = hw_models.load(HERMES, **{"dac.cell_load": "1 fF", "dac.drive_voltage": "0.4 V"}).tile_model
    c = 1024 * (1e-6 * 0.2e-9 + 1e-15)
    assert f.dac_energy_j() == approx(cc.driver_energy_j(c, 0.4, t))
    # [dac] energy_supply: a fixed driver energy stated at 1.0 V scales as V^2 to the 0.8 V supply
    f = hw_models.load(HERMES, **{"dac.model": "fixed", "dac.energy": "1 pJ", "dac.energy_supply": "1.0 V"}).tile_model
    assert f.dac_energy_j() == approx(1e-12 * 0.64)
    # the supply reaches converters, drivers and the digital periphery as V^2
    lo, hi = _one_pass(hw_models.load(HERMES, supply_voltage="0.6 V")), _one_pass(hw_models.load(HERMES))
    assert lo["dac"] < hi["dac"] and lo["adc"] < hi["adc"] and lo["array"] == approx(hi["array"])


def test_cco_converter_draws_the_mirrored_bit_line_current():
    f = hw_models.load(HERMES).tile_model
    e = f.cell_read_energy_j()
    assert f.unit_energy["cell_read"] == {"array": approx(e), "adc": approx(e * 1.0 * 0.8 / 0.2)}
    f2 = hw_models.load(HERMES, **{"technology.mirror_ratio": 0.5}).tile_model
    assert f2.unit_energy["cell_read"]["adc"] == approx(e * 0.5 * 0.8 / 0.2)
    f3 = hw_models.load(HERMES, **{"adc.type": "sar"}).tile_model  # a voltage-input converter: none
    assert f3.unit_energy["cell_read"] == {"array": approx(e)}


def test_analog_slice_combining_converts_once_per_output():
    kw = {"cell_bits": 1, "weight_bits": 4}
    dig = hw_models.load("sram-cim", **kw)
    ana = hw_models.load("sram-cim", **kw, **{"tile.slice_combining": "analog"})
    assert dig.tile.converted_slices == 4 and ana.tile.converted_slices == 1
    a, b = dig.tile_model.actions_per_pass(256, 256), ana.tile_model.actions_per_pass(256, 256)
    k = dig.tile_model.input_cycles
    assert a["adc_conversion"] == 256 * k and b["adc_conversion"] == approx(256 * k / 4)
    assert b["shift_add"] == approx(256 * (k - 1) / 4)
    g = Graph("one")
    g.add(Op(name="m", kind="mvm", target="linear", in_features=512, out_features=256, vectors=3))
    m_dig = analogc.compile(g, hw=dig).mappings["m"]
    m_ana = analogc.compile(g, hw=ana).mappings["m"]
    assert m_dig.partial_sum_adds == 3 * 256 * (2 * 4 - 1)  # 2 row tiles x 4 slices added digitally
    assert m_ana.partial_sum_adds == 3 * 256 * (2 - 1)      # only the 2 row tiles
    assert not ana.tile_model.multi_pass or ana.tile_model.input_cycles > 1


def test_pulse_count_inputs_charge_the_line_once_per_pulse():
    kw = {"dac.model": "driver", "dac.pitch": "1 um"}
    width = hw_models.load(HERMES, **kw).tile_model
    count = hw_models.load(HERMES, **kw, **{"dac.pulse_mode": "count"}).tile_model
    # mean |x|/x_max (0.25) of the 127-pulse full scale of 8-bit signed inputs
    assert count.dac_energy_j() == approx(0.25 * 127 * width.dac_energy_j())


def test_driver_model_needs_a_pitch_and_a_node():
    with pytest.raises(hw_models.HardwareConfigError, match=r"\[dac\] pitch: expected the cell pitch"):
        hw_models.load("charge-jia2020", **{"dac.model": "driver"}).tile_model.dac_energy_j()


def test_analog_input_accumulation_converts_once_per_pass():
    kw = {"tile.input_encoding": "bit-serial"}
    ser = hw_models.load("rram", **kw).tile_model
    acc = hw_models.load("rram", **kw, **{"tile.input_accumulation": "analog"}).tile_model
    k = ser.input_cycles
    assert k == 8 and acc.input_cycles == 8 and acc.conversion_cycles == 1 and ser.conversion_cycles == 8
    a, b = ser.actions_per_pass(128, 128), acc.actions_per_pass(128, 128)
    assert b["dac_conversion"] == a["dac_conversion"] == 128 * 8      # every plane is still driven
    assert b["cell_read"] == a["cell_read"]
    assert a["adc_conversion"] == 128 * 8 and b["adc_conversion"] == 128  # one conversion
    assert b["shift_add"] == 0 and a["shift_add"] == 128 * 7
    t_read, t_adc = acc.read_time_s(), acc.adc.conversion_time_s
    over = max(0.0, t_adc - t_read) if acc.adc.overlaps_integration else t_adc
    assert acc.pass_time_s(128, 128) == approx(8 * t_read + over)
    # the simulator converts one pass of multi-level inputs instead of 8 bit planes
    import torch
    lin = torch.nn.Linear(64, 8)
    hw = hw_models.load("rram", **kw, **{"tile.input_accumulation": "analog"})
    am = [m for m in analogc.deploy(lin, hw, seed=0).modules() if hasattr(m, "input_planes")][0]
    assert am.input_planes == 1 and not am.bit_serial
    am8 = [m for m in analogc.deploy(lin, hw_models.load("rram", **kw), seed=0).modules()
           if hasattr(m, "input_planes")][0]
    assert am8.input_planes == 8 and am8.bit_serial
