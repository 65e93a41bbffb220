"""Every hardware parameter of the schema reaches the view it physically belongs to.

For each shipped preset, every key of its family's schema that the preset sets, and every key
of its noise model, is perturbed in turn (through ``hw_models.load`` overrides, the one way a
hardware changes). The tile family declares which keys change what the deployed model computes
(:meth:`hw_models.family.TileFamily.accuracy_params`); for those the deployed output must change,
for every other key it must stay bit for bit the same, and a non-noise key that is not an
accuracy key must change the estimate (unless this workload cannot show it, listed below with
the reason). Keys come from the schema, so a new parameter is tested the day it is added.
"""
import math

import pytest
import torch
from torch import nn

import analogc
import hw_models
from analogc.ir import Graph, Op, OpKind
from analogc.sim import deploy
from hw_models.config import Quantity, schema_for
from hw_models.family import METADATA_KEYS

#: keys whose effect this one-layer workload cannot show, and why
NOT_SHOWN = {
    ("hardware", "dynamic_matmul"): "places attention matmuls: none here (tests/test_mapping.py)",
    ("tile", "dynamic_operands"): "allows analog attention matmuls: none here",
    ("memory", "buffer_size"): "everything fits in any buffer here",
    ("memory", "offchip"): "no off-chip traffic here (weights resident, no embedding)",
    ("memory", "offchip_bandwidth"): "the off-chip link is never the bottleneck here",
    ("memory", "dram_energy_per_bit"): "priced only on presets whose off-chip memory is DRAM",
    ("memory", "hbm_energy_per_bit"): "priced only on presets whose off-chip memory is HBM",
    ("digital", "ops_per_s"): "digital ops are never the slowest stage here",
    ("adc", "overlaps_integration"): "changes time only when the ADC is slower than the read",
    ("adc", "time_scaling"): "scales the conversion time from the file's own bits: same bits here",
    ("adc", "ref_bits"): "the reference of an energy scaling at the file's own bits",
    ("dac", "ref_bits"): "the reference of an energy scaling at the file's own bits",
    ("dac", "energy_scaling"): "1-bit drivers at their reference bits",
    ("dac", "conversion_time"): "the read pulse, not the DAC, sets the cycle here",
    ("chip", "static_power"): "zero in these presets (doubling zero)",
    ("tile", "static_power"): "zero in these presets (doubling zero)",
    ("freespace", "slm_static_power"): "zero in this preset (doubling zero)",
    ("programming", "write_time"): "weights stay resident: programming is a one-time figure",
    ("mzi", "coupling_loss"): "zero in these presets",
    ("tile", "cols_per_adc"): "ADC sharing slows a tile only when its used columns outnumber its ADCs",
    ("digital", "partial_sum_precision"): "no partial sums when one row tile holds the layer (free space)",
    ("optics", "snr_margin"): "on a receiver-limited mesh the thermal floor, not the shot noise, sets the light",
}
#: a unit per dimension, to perturb a quantity the preset states as zero
UNIT = {"energy": "pJ", "time": "ns", "power": "mW", "area": "um2", "length": "nm", "voltage": "V",
        "conductance": "uS", "ratio": "ratio", "decibel": "dB", "frequency": "GHz", "count": "count",
        "capacitance": "fF", "bytes": "kB", "bandwidth": "GB/s", "op_rate": "TOPS", "energy_per_bit": "pJ/bit"}
def workload(K, N=20, M=4):
    g = Graph("w", "manual")
    g.add(Op(name="emb", kind=OpKind.ELEMENTWISE, target="add", output_shape=(M, K)))
    g.add(Op(name="fc", kind=OpKind.MVM, target="linear", in_features=K, out_features=N, vectors=M,
             module_path="0"), ["emb"])
    g.add(Op(name="act", kind=OpKind.ACTIVATION, target="gelu", output_shape=(M, N)), ["fc"])
    torch.manual_seed(0)
    return g, nn.Sequential(nn.Linear(K, N)).eval(), torch.randn(M, K)


def perturbations(key, kind, value, K):
    """New values of a key: doubled/halved numbers, the other choices, a flipped bool."""
    if kind == "bool":
        return [not value]
    if key == "rows":  # fewer rows than the layer's K: more row tiles
        return [min(value // 2, K // 2)]
    if kind in ("int+", "int0"):
        return [max(1, value // 2) if value > 1 else value + 1]
    if kind == "bits":
        return [value - 2 if value > 3 else value + 2]
    tag, arg = kind
    if tag == "choice":
        return [c for c in arg if c != value]
    if tag == "q":
        if value.value == 0:
            return [f"1 {UNIT[arg]}"]
        up = arg not in ("frequency",) and (arg != "ratio" or value.si <= 0.5)  # a slower rate shows
        return [f"{value.value * (2 if up else 0.5)} {value.unit}"]
    raise AssertionError(kind)


def noise_perturbations(key, value, models):
    if key == "model":
        return [m for m in models if m != value]
    if key == "t_inference_s":
        return [2 * 86400.0]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value - 2]
    if isinstance(value, list):
        return [[3 * v for v in value]]
    if isinstance(value, dict):
        return [{k: [3 * c for c in cs] for k, cs in value.items()}]
    return [10 * value if value else 0.05]  # noise magnitudes x10: small ones must show too


def run(preset, overrides, g, model, x):
    hw = hw_models.load(preset, **overrides)
    plan = analogc.compile(g, hw=hw)
    with torch.no_grad():
        y = deploy(model, plan, seed=0)(x)
    s = analogc.estimate(plan).summary
    cost = tuple(s[k] for k in ("energy_j", "latency_s", "area_mm2", "static_power_w", "program_energy_j",
                                "program_time_s", "tiles", "chips"))
    return hw, y, cost


@pytest.mark.parametrize("preset", hw_models.presets())
def test_every_parameter_reaches_its_view(preset):
    rows = hw_models.load(preset).tile.rows
    # small meshes: a few row tiles of one column tile, few meshes to program
    # (more vectors there: a mesh's receiver-limited shot noise is small, its changes show in fewer
    # ADC roundings)
    K, N, M = (300, 20, 4) if rows >= 64 else (2 * rows + rows // 2, rows, 32)
    g, model, x = workload(K, N, M)
    base_hw, y0, cost0 = run(preset, {}, g, model, x)
    fam = base_hw.tile_model
    accuracy = fam.accuracy_params()
    schema = schema_for(base_hw.family)
    cases = []
    for section, keys in schema.items():
        if keys is None:  # [noise] below; [validation] (chip files) computes nothing
            continue
        for key, kind in keys.items():
            if (section, key) in METADATA_KEYS or kind == "str" or key not in base_hw.params.get(section, {}):
                continue
            cases += [(section, key, v) for v in perturbations(key, kind, base_hw.params[section][key], K)]
    for key, value in fam.noise.items():
        if not key.startswith("_"):
            cases += [("noise", key, v) for v in noise_perturbations(key, value, fam.noise_models)]
    assert len(cases) > 20
    changed: dict[tuple[str, str], list[bool]] = {}
    cost_moved: dict[tuple[str, str], list[bool]] = {}
    for section, key, v in cases:
        try:
            _, y, cost = run(preset, {f"{section}.{key}": v}, g, model, x)
        except hw_models.HardwareConfigError:  # a combination the hardware cannot be (analog
            continue  # attention without dynamic operands; a mesh with bit slices)
        same = torch.allclose(y, y0, rtol=1e-5, atol=1e-6) if fam.exact else torch.equal(y, y0)
        changed.setdefault((section, key), []).append(not same)  # exact: float rounding only
        cost_moved.setdefault((section, key), []).append(cost != cost0)
    wrong = []
    for k, ch in changed.items():
        name = ".".join(k)
        if k in accuracy:
            if not any(ch):
                wrong.append(f"{name}: declared to change the output, no perturbation did")
        elif any(ch):
            wrong.append(f"{name}: changed the output; the family does not declare it")
        elif (k == ("adc", "area") and "area" in base_hw.params["tile"]
              and fam.n_adc == math.ceil(fam.tile.cols / base_hw.params["tile"].get("cols_per_adc", 1))):
            continue  # a measured tile area holds its own ADCs: A_adc moves it only when the
            # ADC count differs from the file's (tests/unit/test_area_model.py)
        elif k[0] != "noise" and not any(cost_moved[k]) and k not in NOT_SHOWN and preset != "ideal":
            wrong.append(f"{name}: changed neither the output nor the estimate")
    assert not wrong, f"{preset}:\n  " + "\n  ".join(wrong)


def test_schema_keys_are_exercised_by_some_preset():
    """A key no shipped preset sets is never perturbed above: each such key is named here
    with the test that covers it instead."""
    covered_elsewhere = {
        ("chip", "chips"): "tests/unit/test_action_counts.py (weight reloads)",
        ("chip", "area_overhead"): "not priced yet (area counts tiles only, README limits)",
        ("memory", "buffer_bandwidth"): "not priced yet",
        ("memory", "activation_bytes"): "not priced yet",
        ("adc", "sample_rate"): "an alternative to conversion_time, set by no preset",
        ("array", "read_pulse_time"): "rram, sram-cim presets (the pcm preset uses PWM)",
        ("freespace", "photons_per_mac"): "tests/unit/test_two_views.py (Wang et al. regime)",
        ("adc", "reference_voltage"): "tests/unit/test_circuits.py (SAR CDAC term)",
        ("adc", "unit_capacitance"): "tests/unit/test_circuits.py (SAR CDAC term)",
        ("dac", "cell_load"): "tests/unit/test_circuits.py (word-line load)",
        ("dac", "drive_voltage"): "tests/unit/test_circuits.py (word-line swing)",
        ("dac", "energy_supply"): "tests/unit/test_circuits.py (V^2 scaling of a fixed energy)",
        **{("optics", k): "tests/test_photonic_components.py (device-parameter models vs hand formulas)"
           for k in ("detector_bias", "modulator_capacitance", "modulator_hold_power", "modulator_voltage")},
        **{("mzi", k): "tests/test_photonic_components.py (electro-optic shifter write energy)"
           for k in ("shifter_capacitance", "shifter_v_pi")},
    }
    from hw_models.circuits import STOCK
    covered_elsewhere.update({("technology", k): "tests/unit/test_circuits.py and analogc validate --sensitivity "
                              "(each stock constant varied over its published range)" for k in STOCK})
    seen = set()
    from pathlib import Path
    chip_files = sorted((Path(hw_models.__file__).parent / "validation").glob("*.toml"))
    for preset in [*hw_models.presets(), *chip_files]:  # presets and the validation chip files
        hw = hw_models.load(preset)
        for section, table in hw.params.items():
            if isinstance(table, dict) and not section.startswith("_") and section != "noise":
                seen.update((section, k) for k in table)
    from hw_models.registry import FAMILIES
    missing = sorted({(section, key) for family in FAMILIES for section, table in schema_for(family).items()
                      for key in (table or {}) if (section, key) not in seen | set(covered_elsewhere)
                      and (section, key) not in METADATA_KEYS})
    assert not missing, missing
