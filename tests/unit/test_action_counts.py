"""Every action the estimator prices, pinned to a hand formula written here (not read from the
code): conversions, cell reads, photons, capacitor switches, shift-adds, partial sums, buffer
bytes and tiles, for a few small ops on every shipped preset.

The constants below restate each preset's geometry (rows, cols, bits, encoding) as its file
gives it, so a planted fault in the counting (bit slices not charged, one conversion per column
where a bit-serial crossbar needs one per input bit, groups ignored...) changes a count.
"""
import math

import pytest

import analogc
from analogc.estimate.rollup import CostRollup
from analogc.ir import Graph, Op, OpKind

# preset -> (rows, cols, weight bits, cell bits, devices per cell, input cycles, in/out bytes)
GEOMETRY = {
    "pcm-hermes": (256, 256, 8, 8, 4, 1),      # PWM inputs: one cycle
    "rram": (128, 128, 8, 2, 1, 8),            # bit-serial 8-bit inputs: 8 cycles
    "sram-cim": (256, 256, 8, 1, 1, 8),
    "charge-jia2020": (2304, 256, 8, 1, 1, 8),
    "mzi": (12, 12, 8, 8, 1, 1),
    "freespace": (2048, 1024, 8, 8, 2, 1),
}
H = 6.62607015e-34 * 299792458.0  # h*c (J m)

OPS = [  # (K, N, vectors, groups)
    (300, 70, 5, 1),
    (27, 16, 49, 2),   # a grouped conv: 2 groups of 27 x 16
    (4096, 1100, 3, 1),
]


def graph(K, N, M, G):
    g = Graph("op", "manual")
    g.add(Op(name="op", kind=OpKind.MVM, target="test", in_features=K, out_features=N, vectors=M,
             groups=G, module_path="op"))
    return g


def counts(preset, K, N, M, G):
    plan = analogc.compile(graph(K, N, M, G), hw=preset)
    (row,) = CostRollup(plan).per_op()
    return plan, row["counts"]


def photons_per_output(preset):
    """Photons at the detector(s) of one output at full scale, from the preset's optics."""
    if preset == "mzi":  # max(shot floor 4^b / QE photons, receiver floor 0.63 fJ * 2^b) at 1550 nm
        shot = 4 ** 8 / 0.8
        thermal = 0.63e-15 * 2 ** 8 / (H / 1550e-9)
        return max(shot, thermal)
    return 2 * 4 ** 8 / 0.8  # freespace: 2 detectors per output, each 4^8 photoelectrons / QE 0.8


@pytest.mark.parametrize("preset", sorted(GEOMETRY))
@pytest.mark.parametrize("K,N,M,G", OPS)
def test_every_action_count_matches_the_hand_formula(preset, K, N, M, G):
    R, C, wb, cb, D, k = GEOMETRY[preset]
    S = math.ceil(wb / cb)
    rt, ct = math.ceil(K / R), math.ceil(N / C)
    plan, n = counts(preset, K, N, M, G)
    (m,) = plan.mappings.values()
    # groups whose block fits one tile are packed block-diagonally, p per tile (issue 9, item 9)
    p = min(R // K, C // N, G) if (G > 1 and rt == ct == 1) else 1
    assert m.tiles == math.ceil(G / max(p, 1)) * rt * ct * S
    assert m.cells_used == G * K * N * S
    passes = M * G * S  # one pass of every vector through every slice of every tile block
    assert n["adc_conversion"] == passes * rt * N * k        # one per column, per row tile, per cycle
    assert n.get("shift_add", 0) == passes * rt * N * (k - 1)  # bit-serial partial results
    assert n.get("partial_sum_add", 0) == G * M * N * (rt * S - 1)  # row tiles and slices
    assert n["sram_byte"] == G * M * (K + N)  # 8-bit inputs and outputs through the buffer
    if preset in ("mzi", "freespace"):
        assert n["dac_conversion"] == n["modulation"] == passes * ct * K
        dets = 2 if preset == "freespace" else 1
        assert n["detection"] == passes * rt * N * dets
        assert n["photon"] == pytest.approx(passes * rt * N * photons_per_output(preset), rel=1e-9)
    else:
        assert n["dac_conversion"] == passes * ct * K * k       # one row drive per row, per cycle
        key = "cap_switch" if preset == "charge-jia2020" else "cell_read"
        assert n[key] == passes * K * N * D * k


def test_bit_serial_one_bit_inputs_need_two_planes_in_both_views():
    """A 1-bit symmetric DAC has three levels {-1, 0, 1}: two two's-complement planes, so two
    conversions per column in the estimate and two passes in the simulator."""
    from analogc.hardware import resolve_hw
    hw = resolve_hw("rram", input_bits=1)
    assert hw.tile_model.input_cycles == 2
    _, n = counts(hw, 128, 128, 1, 1)
    assert n["adc_conversion"] == 4 * 128 * 2  # 4 slices x 128 columns x 2 planes


def test_programming_and_static_actions():
    plan = analogc.compile(graph(300, 70, 5, 1), hw="pcm-hermes", chips=1, tiles_per_chip=1)
    assert plan.weight_reloads == 2  # 2 tiles on one single-tile chip
    rep = analogc.estimate(plan)
    # every inference rewrites all 300 x 70 weights, each a unit cell of 4 PCM devices
    assert rep.counts["cell_write"] == 300 * 70 * 4
    assert rep.counts["offchip_byte"] == 300 * 70  # 8-bit weights streamed in
    # static power is held for the whole inference by the one physical tile and chip
    assert rep.counts["tile_second"] == pytest.approx(rep.summary["latency_s"])
    assert rep.counts["chip_second"] == pytest.approx(rep.summary["latency_s"])


def test_energy_is_counts_times_unit_costs():
    from hw_models.pricing import HardwareCosts
    for preset in GEOMETRY:
        rep = analogc.estimate(analogc.compile(graph(300, 70, 5, 1), hw=preset))
        priced = HardwareCosts(rep.plan.hw).price(rep.counts)
        for comp, e in rep.breakdown.items():
            assert e == pytest.approx(priced.get(comp, 0.0), rel=1e-9, abs=1e-30), (preset, comp)
