"""Digital baselines and logic (hw_models.digital) pinned to the preset numbers and the
formulas of the docstrings: time = max(compute, memory), GPU energy = max(TDP x time,
TDP/peak per FLOP + DRAM), bottom-up accelerator = MACs x MAC energy. Written from
scripts/mutation.sh's surviving mutants; milliseconds per test.
"""
from __future__ import annotations

import math

import pytest

import hw_models
from hw_models import digital as dg
from hw_models.config import Quantity, load_params
from hw_models.units import landauer_j


def approx(expected, rel=1e-9, abs=0.0):
    """pytest.approx without its 1e-12 absolute tolerance (energies here are ~1e-12 J and below)."""
    return pytest.approx(expected, rel=rel, abs=abs)


def test_gpu_baseline_constants_from_the_preset():
    b = hw_models.baseline("h100")
    # pins: the [baseline] table read in SI (bandwidth derated by its achieved fraction)
    assert (b.name, b.peak_flops, b.power_w, b.mac_energy_j) == ("h100", 989e12, 700.0, None)
    assert b.achieved_fraction == approx(0.4)
    assert b.bandwidth_bps == approx(3.35e12 * 0.8)
    assert b.memory_energy_per_byte_j == approx(8 * 3.9e-12)
    assert b.area_m2 == approx(814e-6) and b.bytes_per_param == 2.0
    assert b.description == "NVIDIA H100 SXM 80 GB, dense BF16, HBM3"
    assert b.energy_per_flop_j == approx(700 / (989e12 * 0.4))


def test_gpu_cost_compute_and_memory_bound():
    b = hw_models.baseline("h100")
    flops, nbytes = 1e12, 1e6
    c = b.cost(flops, nbytes)
    t = flops / (989e12 * 0.4)
    # pins: compute-bound: TDP x time, of which TDP/peak per FLOP is digital, DRAM is memory
    assert c["time_s"] == approx(t) and c["compute_bound"] is True
    assert c["digital"] == approx(flops * 700 / 989e12)
    assert c["memory"] == approx(nbytes * 8 * 3.9e-12)
    assert c["static"] == approx(700 * t - c["digital"] - c["memory"])
    assert c["power_w"] == 700.0  # compute-bound: the board at its TDP
    m = b.cost(1e6, 1e10)
    tm = 1e10 / (3.35e12 * 0.8)
    # pins: memory-bound when the bytes take longer; the board then draws the measured streaming
    # power (427 W) plus (TDP - 427 W) x the share of the time the arithmetic units are busy
    assert m["time_s"] == approx(tm) and m["compute_bound"] is False
    p_mem = 427 + (700 - 427) * (1e6 / (989e12 * 0.4)) / tm
    assert m["power_w"] == approx(p_mem)
    assert m["static"] == approx(p_mem * tm - m["digital"] - m["memory"])
    # pins: the floor wins when TDP x time is below FLOPs at TDP/peak plus DRAM energy
    f = b.cost(1e12, 1e9)
    assert f["digital"] + f["memory"] + f["static"] == approx(
        max(700 * f["time_s"], 1e12 * 700 / 989e12 + 1e9 * 8 * 3.9e-12))
    assert f["static"] >= 0


def test_gpu_board_power_follows_utilization():
    b = hw_models.baseline("h100")
    # pins: P = P_mem*rho_m + (TDP - P_mem*rho_m)*rho_c, rho = each time over the longer one
    assert b.memory_bound_power_w == 427.0
    assert b.board_power_w(1.0, 0.5) == 700.0  # compute-bound: TDP whatever the memory does
    assert b.board_power_w(0.0, 1.0) == approx(427.0)  # pure streaming
    assert b.board_power_w(0.25, 1.0) == approx(427 + 273 * 0.25)
    assert b.board_power_w(1.0, 1.0) == 700.0  # balanced
    assert b.board_power_w(3e-3, 4e-3) == approx(427 + 273 * 0.75)  # scale-free
    assert b.board_power_w(0.0, 0.0) == 700.0  # no work: no time to charge anyway
    a = hw_models.baseline("a100")
    assert a.memory_bound_power_w == 244.0 and a.board_power_w(0.5, 1.0) == approx(244 + 156 * 0.5)
    # pins: without memory_bound_power a GPU draws its TDP throughout (the old model)
    tdp = hw_models.baseline("h100", **{"baseline.memory_bound_power": "700 W"})
    assert tdp.board_power_w(0.1, 1.0) == approx(700.0)
    plain = dg.Baseline(_params(peak_flops=1e12, power=100.0, memory_bandwidth=1e9))
    assert plain.memory_bound_power_w is None and plain.board_power_w(0.1, 1.0) == 100.0
    # pins: a bottom-up accelerator has no board power
    assert hw_models.baseline("digital-int8").board_power_w(0.1, 1.0) == 0.0
    assert hw_models.baseline("digital-int8").cost(1e9, 1e9)["power_w"] == 0.0


def test_memory_bound_power_needs_a_tdp_and_is_capped_by_it():
    for bad in (0.0, -5.0):
        with pytest.raises(ValueError, match=r"^x.toml: \[baseline\] memory_bound_power: expected a power "
                                             r"above 0 alongside power \(the TDP\), got"):
            dg.Baseline(_params(peak_flops=1e12, power=700.0, memory_bound_power=bad, memory_bandwidth=1e9))
    with pytest.raises(ValueError, match="memory_bound_power"):
        dg.Baseline(_params(peak_flops=1e12, mac_energy=1e-12, memory_bound_power=100.0, memory_bandwidth=1e9))
    # pins: a TDP override below the streaming power (a power cap) caps the streaming power too
    capped = hw_models.baseline("h100", **{"baseline.power": "350 W"})
    assert capped.board_power_w(0.0, 1.0) == 350.0 and capped.board_power_w(0.5, 1.0) == 350.0


def test_bottom_up_accelerator_cost():
    b = hw_models.baseline("digital-int8")
    # pins: MACs x MAC energy (2 FLOPs per MAC), no static power, int8 weights
    assert b.power_w is None and b.mac_energy_j == approx(0.3e-12) and b.bytes_per_param == 1.0
    assert b.energy_per_flop_j == approx(0.15e-12)
    c = b.cost(2e9, 1e6)
    assert c["digital"] == approx(2e9 * 0.3e-12 / 2) and c["static"] == 0.0
    assert c["memory"] == approx(1e6 * 8 * 20e-12)
    assert c["time_s"] == approx(max(2e9 / (91.75e12 * 0.78), 1e6 / (34e9 * 0.8)))


def _params(**baseline):
    return {"hardware": {"name": "x"}, "_file": "x.toml",
            "baseline": {k: Quantity(v, v, "u", "s") for k, v in baseline.items()}}


def test_baseline_defaults_and_refusal():
    b = dg.Baseline(_params(peak_flops=1e12, power=100.0, memory_bandwidth=1e9))
    # pins: the defaults of optional keys: full achieved fraction, free DRAM, no area, fp16
    assert (b.achieved_fraction, b.bandwidth_bps, b.memory_energy_per_byte_j, b.area_m2, b.bytes_per_param) == \
        (1.0, 1e9, 0.0, 0.0, 2.0)
    assert b.description == ""
    # pins: a baseline needs a peak and a power or a MAC energy; the message names the file
    with pytest.raises(ValueError, match=r"^x.toml: \[baseline\] needs peak_flops and power or mac_energy$"):
        dg.Baseline(_params(power=100.0, memory_bandwidth=1e9))
    with pytest.raises(ValueError, match=r"needs peak_flops"):
        dg.Baseline(_params(peak_flops=1e12, memory_bandwidth=1e9))
    assert dg.Baseline(_params(peak_flops=1e12, mac_energy=1e-12, memory_bandwidth=1e9)).power_w is None
    nobw = dg.Baseline(_params(peak_flops=1e12, power=100.0, memory_bandwidth=0.0))
    assert nobw.cost(1e11, 1e9)["time_s"] == approx(0.1)  # no link: memory takes no time


def test_gpu_floor_and_balance():
    b = dg.Baseline(_params(peak_flops=1e12, power=100.0, memory_bandwidth=1e9, memory_energy_per_bit=1e-9))
    c = b.cost(1e12, 1e9)
    # pins: compute and memory take 1 s each: compute-bound (ties go to compute); the DRAM
    # energy on top of TDP/peak per FLOP exceeds TDP x time: no static share
    assert c["time_s"] == 1.0 and c["compute_bound"] is True
    assert c["digital"] == approx(100.0) and c["memory"] == approx(8.0) and c["static"] == approx(0.0, abs=1e-9)
    assert b.params["_file"] == "x.toml"


def test_node_scale_and_logic():
    # pins: C V^2 scaling from 45 nm / 0.9 V, Vdd of the nearest known node (log distance)
    assert dg.node_energy_scale(45e-9) == approx(1.0)
    assert dg.node_energy_scale(14e-9) == approx((14 / 45) * (0.8 / 0.9) ** 2)
    assert dg.node_energy_scale(11e-9) == approx((11 / 45) * (0.75 / 0.9) ** 2)  # nearest 10 nm
    assert dg.node_energy_scale(12e-9) == approx((12 / 45) * (0.8 / 0.9) ** 2)  # nearest 14 nm
    assert dg.node_energy_scale(180e-9) == approx(4 * (1.8 / 0.9) ** 2)
    d = dg.DigitalLogic()
    assert d.node_m == 45e-9 and d.scale == approx(1.0)
    assert d.op_energy_j("fp16", "add") == approx(0.4e-12)
    assert d.flop_energy_j() == approx(0.5 * (0.4e-12 + 1.1e-12))
    assert d.flop_energy_j("int8") == approx(0.5 * (0.03e-12 + 0.2e-12))
    # pins: a MAC accumulates at the wider precision: int8 mult + int32 add, fp16 mult + fp32 add
    assert d.mac_energy_j() == approx(1.1e-12 + 0.9e-12)
    assert d.mac_energy_j("int8") == approx(0.2e-12 + 0.1e-12)
    assert d.mac_energy_j("fp32") == approx(3.7e-12 + 0.9e-12)
    tiny = dg.DigitalLogic(node_m=1e-15)
    # pins: never below k T ln2 per result bit
    assert tiny.op_energy_j("int32", "add") == approx(32 * landauer_j())


@pytest.mark.parametrize("kind,target,ops", [
    ("softmax", "", 10), ("norm", "layer_norm", 8), ("activation", "gelu", 8), ("activation", "aten.relu", 1),
    ("activation", "Clamp", 1), ("activation", None, 8), ("elementwise", "add", 1), ("embedding", "", 0),
    ("data_movement", "", 0), ("reduction", "", 1), ("other", "", 1), ("unknown", "", 1),
    ("elementwise", "relu", 1), ("activation", "HardTanh", 1), ("activation", "threshold", 1),
])
def test_ops_per_element(kind, target, ops):
    # pins: arithmetic per output element; cheap activations (relu, clamp...) cost one op
    assert dg.ops_per_element(kind, target) == ops


def test_baseline_overrides_reach_the_hardware_table():
    # pins: hw_models.baseline(name, **overrides) applies its overrides
    assert hw_models.baseline("h100", **{"hardware.description": "x"}).description == "x"


def test_baseline_overrides_reach_the_baseline_table():
    assert hw_models.baseline("h100", **{"baseline.power": "350 W"}).power_w == 350.0


def test_baseline_needs_the_baseline_kind():
    p = load_params("h100")
    assert dg.Baseline(p).name == "h100"
    assert math.isclose(hw_models.baseline("a100").energy_per_flop_j, 400 / (312e12 * 0.52))
