"""Grouped and depthwise convolutions share tiles (issue 9, item 9): groups whose K x N block
fits a tile are packed block-diagonally, ceil(G / p) tiles per slice with
p = min(rows // K, cols // N); the estimate and deploy still agree on the conversions (every
group is read in full once per input vector, as before)."""
import math
import warnings

import pytest
import torch
from torch import nn

import analogc
from analogc.ir import Graph, Op, OpKind
from analogc.sim import analog_layers, deploy


def _conv_plan(hw, cin, cout, k, groups, hw_px=8, seed=0):
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups, bias=False)).eval()
    x = torch.randn(1, cin, hw_px, hw_px)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = analogc.trace(m, (x,))
    return m, x, analogc.compile(g, hw=hw)


def test_depthwise_9x64_takes_3_tiles_not_64():
    """Depthwise 3x3 over 64 channels: 64 groups of K=9, N=1 on 256x256 tiles (pcm-hermes, one
    slice): p = min(256 // 9, 256 // 1) = 28 groups per tile, ceil(64 / 28) = 3 tiles (was 64 at
    0.014% utilization)."""
    _, _, plan = _conv_plan("pcm-hermes", 64, 64, 3, 64)
    m = plan.mappings[next(iter(plan.mappings))]
    assert (m.groups, m.in_features, m.out_features) == (64, 9, 1)
    assert m.groups_per_tile == 28
    assert m.tiles == 3 and plan.tiles == 3
    assert m.utilization == pytest.approx(64 * 9 / (3 * 256 * 256))


def test_small_group_conv_packs_by_its_tighter_side():
    """Conv 64->64, 3x3, 8 groups: K = 8*9 = 72, N = 8 per group on rram 128x128 with 4 slices:
    p = min(128 // 72, 128 // 8) = 1: no packing; on pcm-hermes 256x256, p = min(3, 32) = 3,
    ceil(8 / 3) = 3 tiles."""
    _, _, plan = _conv_plan("rram", 64, 64, 3, 8)
    m = next(iter(plan.mappings.values()))
    assert (m.groups_per_tile, m.tiles) == (1, 8 * 4)
    _, _, plan = _conv_plan("pcm-hermes", 64, 64, 3, 8)
    m = next(iter(plan.mappings.values()))
    assert (m.groups_per_tile, m.tiles) == (3, 3)


def test_packed_groups_sit_block_diagonally_without_sharing_rows_or_columns():
    _, _, plan = _conv_plan("pcm-hermes", 64, 64, 3, 64)
    m = next(iter(plan.mappings.values()))
    seen: dict[int, set] = {}
    for gi in range(m.groups):
        tile, r0, c0 = m.group_placement(gi)
        assert 0 <= tile < m.tiles // m.slices
        assert r0 + m.in_features <= m.rows and c0 + m.out_features <= m.cols
        rows = {("r", r) for r in range(r0, r0 + m.in_features)}
        cols = {("c", c) for c in range(c0, c0 + m.out_features)}
        assert not (seen.setdefault(tile, set()) & (rows | cols))
        seen[tile] |= rows | cols


@pytest.mark.parametrize("hw", ["pcm-hermes", "rram", "sram-cim"])
def test_deploy_runs_a_depthwise_conv_and_converts_what_the_estimate_counts(hw):
    model, x, plan = _conv_plan(hw, 64, 64, 3, 64)
    counted = analogc.estimate(plan).counts["adc_conversion"]
    fam = plan.hw.tile_model
    # hand formula: vectors x groups x N x slices x input cycles (64 positions of 8x8)
    assert counted == 64 * 64 * 1 * plan.hw.tile.slices * fam.input_cycles
    am = deploy(model, plan, seed=0)
    with torch.no_grad():
        y = am(x)
        ref = model(x)
    assert analog_layers(am)[0].conversions == counted
    assert float((y - ref).norm() / ref.norm()) < 0.5  # runs, and computes the conv


def test_packed_pass_time_is_that_of_all_its_rows_and_columns():
    """A packed pass drives p*K rows and p*N columns: with one ADC shared by 128 columns
    (rram), the pass converts p*N columns in turn. Latency = vectors x pass_time(p*K, p*N)."""
    g = Graph("dw", "manual")
    g.add(Op(name="pw", kind=OpKind.MVM, target="conv", in_features=4, out_features=32, vectors=10,
             groups=8, module_path="0"))
    plan = analogc.compile(g, hw="rram", **{"adc.conversion_time": "2 ns"})
    m = plan.mappings["pw"]
    assert m.groups_per_tile == 4 and m.tiles == 2 * m.slices  # min(128 // 4, 128 // 32) = 4
    fam = plan.hw.tile_model
    t = fam.pass_time_s(16, 128)
    assert t > fam.pass_time_s(4, 32)  # 128 columns on one ADC take longer than 32
    row = analogc.estimate(plan).table.set_index("op").loc["pw"]
    assert row["time_s"] == pytest.approx(10 * t)  # 10 vectors x 8 cycles x 128 x 2 ns = 20.48 us
    assert t == pytest.approx(8 * 128 * 2e-9)
