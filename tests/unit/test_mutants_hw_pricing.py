"""HardwareCosts (hw_models.pricing) and the memory hierarchy (hw_models.memory) pinned: the unit
energy of every digital and memory action, the refusals of presets that lack a constant, the
SRAM interpolation of Horowitz's table. Written from scripts/mutation.sh's surviving mutants;
milliseconds per test.
"""
from __future__ import annotations

import math

import pytest

import hw_models
from hw_models import memory as mem
from hw_models.digital import DigitalLogic, node_energy_scale
from hw_models.errors import HardwareConfigError
from hw_models.pricing import HardwareCosts, tile_model


def approx(expected, rel=1e-9, abs=0.0):
    """pytest.approx without its 1e-12 absolute tolerance (energies here are ~1e-12 J and below)."""
    return pytest.approx(expected, rel=rel, abs=abs)


@pytest.fixture(scope="module")
def pcm():
    return hw_models.load("pcm-hermes")


def test_digital_and_memory_unit_energies(pcm):
    c = HardwareCosts(pcm)
    logic = DigitalLogic(14e-9)
    # pins: the node, the precisions and the units of every non-tile action
    assert c.node_m == approx(14e-9) and (c.precision, c.partial_sum_precision) == ("fp16", "int32")
    assert c.digital_ops_per_s == approx(2e12)
    add = logic.op_energy_j("int32", "add")
    assert c.unit_energy["shift_add"] == {"digital": approx(add)}
    assert c.unit_energy["partial_sum_add"] == {"digital": approx(add)}
    assert c.unit_energy["digital_op"] == {"digital": approx(logic.flop_energy_j("fp16"))}
    assert c.unit_energy["digital_mac"] == {"digital": approx(logic.mac_energy_j("fp16"))}
    assert c.unit_energy["sram_byte"] == {"memory": approx(mem.sram_energy_per_byte_j(32e3, 14e-9))}
    assert c.unit_energy["offchip_byte"] == {"memory": approx(8 * 20e-12)}
    assert c.unit_energy["adc_conversion"] == pcm.tile_model.unit_energy["adc_conversion"]
    assert c.sources == {"digital": "Horowitz ISSCC 2014 (45 nm, 0.9 V)"}
    assert c.tile is pcm.tile_model and tile_model(pcm) is pcm.tile_model
    # pins: memory from [memory]: 4 MB buffer in 32 kB banks, DRAM at 20 pJ/bit, 102.4 GB/s
    m = c.memory
    assert (m.buffer_bytes, m.offchip, m.offchip_bandwidth_bps) == (4e6, "dram", approx(102.4e9))


def test_price_skips_zero_counts_and_refuses_unknown_actions(pcm):
    c = HardwareCosts(pcm)
    u = c.unit_energy
    # pins: counts x unit energy summed per component; zero counts skipped (even unknown ones)
    got = c.price({"sram_byte": 10, "shift_add": 3, "digital_op": 2, "nope": 0})
    assert got == {"memory": approx(10 * u["sram_byte"]["memory"]),
                   "digital": approx(3 * u["shift_add"]["digital"] + 2 * u["digital_op"]["digital"])}
    with pytest.raises(KeyError, match=r"no unit cost for action 'nope' on pcm-hermes"):
        c.price({"nope": 1})


def test_defaults_and_refusals_of_incomplete_presets(pcm):
    import dataclasses
    p = pcm.params
    # pins: without a node or a digital throughput the costs cannot be priced: one-line errors
    nonode = dataclasses.replace(pcm, params={**p, "hardware": {k: v for k, v in p["hardware"].items()
                                                                if k != "technology_node"}})
    with pytest.raises(HardwareConfigError, match=r"pcm-hermes.toml: \[hardware\] technology_node: expected the "
                                                  r"CMOS node of the digital periphery \(e.g. \{value = 14, unit = "
                                                  r"\"nm\", source = ...\}\)$"):
        HardwareCosts(nonode)
    noops = dataclasses.replace(pcm, params={**p, "digital": {}})
    with pytest.raises(HardwareConfigError, match=r"pcm-hermes.toml: \[digital\] ops_per_s: expected the throughput "
                                                  r"of the digital units \(e.g. \{value = 2, unit = \"TOPS\", "
                                                  r"source = ...\}\)$"):
        HardwareCosts(noops)
    d = {"ops_per_s": p["digital"]["ops_per_s"]}
    c = HardwareCosts(dataclasses.replace(pcm, params={**p, "digital": d}))
    # pins: fp16 digital units and int32 partial sums by default
    assert (c.precision, c.partial_sum_precision) == ("fp16", "int32")


def test_memory_hierarchy_from_params(pcm):
    p = pcm.params
    m = mem.MemoryHierarchy.from_params(p, 45e-9)
    assert m.sram_j_per_byte == approx(20e-12 / 8)  # 32 kB bank at 45 nm: 20 pJ / 64 bit
    hbm = mem.MemoryHierarchy.from_params({**p, "memory": {**p["memory"], "offchip": "hbm"}}, 45e-9)
    # pins: HBM priced per bit from its own key; a small buffer is one bank of its size
    assert hbm.offchip == "hbm" and hbm.offchip_j_per_byte == approx(8 * 3.9e-12)
    small = dict(p["memory"], buffer_size=hw_models.config.Quantity(8e3, 8.0, "kB", "s"))
    assert mem.MemoryHierarchy.from_params({**p, "memory": small}, 45e-9).sram_j_per_byte == approx(10e-12 / 8)
    nooff = {k: v for k, v in p["memory"].items() if k != "offchip"}
    assert mem.MemoryHierarchy.from_params({**p, "memory": nooff}, 45e-9).offchip == "dram"  # default
    for key in ("buffer_size", "dram_energy_per_bit", "offchip_bandwidth"):
        broken = {k: v for k, v in p["memory"].items() if k != key}
        with pytest.raises(HardwareConfigError, match=rf"pcm-hermes.toml: \[memory\] {key}: expected this constant "
                                                      r"\(value, unit, source\), got nothing$"):
            mem.MemoryHierarchy.from_params({**p, "memory": broken}, 45e-9)


@pytest.mark.parametrize("size,pj64", [
    (8e3, 10.0), (32e3, 20.0), (1e6, 100.0),
    (16e3, 10.0 * 2 ** 0.5),                       # log-log between 8 kB and 32 kB
    (4e3, 10.0 * 0.5 ** 0.5),                      # extrapolated below with the first slope
    (4e6, 100.0 * 4 ** (math.log(5) / math.log(1e6 / 32e3))),  # above with the last
    (0.5, 10.0 * (1 / 8e3) ** 0.5),                # clamped at one byte
    (100e3, 20.0 * (100e3 / 32e3) ** (math.log(5) / math.log(1e6 / 32e3))),
])
def test_sram_energy_interpolation(size, pj64):
    # pins: Horowitz's 45 nm points, interpolated log-log, per byte = per 64 bits / 8
    assert mem.sram_energy_per_byte_j(size) == approx(pj64 * 1e-12 / 8, rel=1e-9)
    assert mem.sram_energy_per_byte_j(size, 14e-9) == approx(pj64 * 1e-12 / 8 * node_energy_scale(14e-9), rel=1e-9)
