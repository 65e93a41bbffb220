"""Mapping invariants: every weight mapped once per slice, tile MACs = graph MACs, only
mvm/matmul on analog tiles, chip capacity and reloads."""
import math

import numpy as np
import pytest
import torch
from torch import nn

import analogc
from analogc import OpKind
from analogc.errors import AnalogcError
from analogc.mapping import partition_mvm
from hw_models import ChipSpec, Hardware, TileSpec


def _hw(rows=64, cols=32, weight_bits=8, cell_bits=2, devices=2, per_chip=16, chips=None,
        dynamic=False, policy="digital", family="crossbar"):
    return Hardware(name="test", tile=TileSpec(family, rows, cols, weight_bits, cell_bits, devices,
                                               static_weights=True, dynamic_operands=dynamic),
                    chip=ChipSpec(per_chip, chips), dynamic_matmul=policy)


@pytest.fixture(scope="module")
def gpt2_graph():
    return analogc.trace("gpt2", seq_len=16)


def test_partition_grid_and_slices():
    op = analogc.Op(name="x", kind="mvm", target="t", in_features=100, out_features=70, vectors=5)
    m = partition_mvm(op, _hw())
    assert (m.row_tiles, m.col_tiles, m.slices) == (2, 3, 4)  # ceil(100/64), ceil(70/32), 8/2
    assert m.tiles == 2 * 3 * 4
    assert m.utilization == pytest.approx(100 * 70 / (2 * 3 * 64 * 32))
    assert _hw().tile.cells_per_weight == 8  # 4 slices x differential pair
    # partial sums: each output gathers row_tiles * slices tile outputs
    assert m.partial_sum_adds == 5 * 70 * (2 * 4 - 1)


def test_every_weight_mapped_once_per_slice_and_macs_conserved(gpt2_graph):
    hw = _hw(rows=200, cols=300)
    plan = analogc.compile(gpt2_graph, hw=hw)
    tile_macs = 0
    for op in gpt2_graph.ops(OpKind.MVM):
        m = plan.mappings[op.name]
        cover = np.zeros((op.in_features, op.out_features), dtype=np.int32)
        for r0, r1, c0, c1 in m.tile_blocks():
            assert r1 - r0 <= hw.tile.rows and c1 - c0 <= hw.tile.cols
            cover[r0:r1, c0:c1] += m.slices
            tile_macs += op.groups * op.vectors * (r1 - r0) * (c1 - c0)
        assert (cover == m.slices).all(), op.name
        assert m.cells_used == op.weight_params * m.slices
        assert len(m.tile_blocks()) * m.slices * op.groups == m.tiles
    assert tile_macs == gpt2_graph.summary()["macs_mvm"]


def test_only_products_go_analog(gpt2_graph):
    plan = analogc.compile(gpt2_graph, hw=_hw(dynamic=True, policy="analog"))
    for op in gpt2_graph.ops():
        m = plan.mappings.get(op.name)
        if op.kind in (OpKind.MVM, OpKind.MATMUL):
            assert m is not None and m.placement == "analog"
        else:
            assert m is None
    assert {o.name for o in plan.digital_ops()} == {
        o.name for o in gpt2_graph.ops() if o.kind not in (OpKind.MVM, OpKind.MATMUL)}
    mm = next(m for m in plan.analog if m.kind is OpKind.MATMUL)
    assert mm.write_elements == mm.groups * mm.in_features * mm.out_features


def test_dynamic_matmul_policy_and_user_choice(gpt2_graph):
    plan = analogc.compile(gpt2_graph, hw=_hw())
    assert all(m.placement == "digital" for m in plan.mappings.values() if m.kind is OpKind.MATMUL)
    assert all(m.tiles == 0 for m in plan.mappings.values() if m.placement == "digital")
    plan2 = analogc.compile(gpt2_graph, hw=_hw(), digital=["lm_head"])
    head = [m for m in plan2.mappings.values() if m.module_path == "lm_head"]
    assert len(head) == 1 and head[0].placement == "digital"
    assert all(m.placement == "analog" for m in plan2.mappings.values()
               if m.kind is OpKind.MVM and m.module_path != "lm_head")
    assert plan2.tiles < plan.tiles
    with pytest.raises(AnalogcError, match="cannot take dynamic operands"):
        analogc.compile(gpt2_graph, hw=_hw(), dynamic_matmul="analog")
    with pytest.raises(AnalogcError, match="bad regular expression"):
        analogc.compile(gpt2_graph, hw=_hw(), digital=["("])


def test_chip_capacity_and_reloads(gpt2_graph):
    free = analogc.compile(gpt2_graph, hw=_hw(per_chip=100))
    assert free.chips_needed == math.ceil(free.tiles / 100) == free.chips
    assert free.weight_reloads == 0
    fixed = analogc.compile(gpt2_graph, hw=_hw(per_chip=100, chips=2))
    assert fixed.chips == 2 and fixed.chips_needed == free.chips_needed
    assert fixed.weight_reloads == math.ceil(fixed.tiles / 200)
    assert fixed.notes and "reprograms" in fixed.notes[0]
    fits = analogc.compile(analogc.trace("mlp"), hw=_hw(per_chip=1000, chips=1))
    assert fits.weight_reloads == 0 and fits.chips == 1


def test_plan_dataframe_has_one_row_per_op(gpt2_graph):
    plan = analogc.compile(gpt2_graph, hw=_hw())
    df = plan.to_dataframe()
    assert len(df) == len(gpt2_graph)
    assert df.loc[df.placement == "analog", "macs"].sum() == gpt2_graph.summary()["macs_mvm"]
    assert set(df["kind"]) >= {"mvm", "matmul", "softmax", "norm"}


def test_conv_plan_uses_im2col_shape():
    net = nn.Sequential(nn.Conv2d(16, 40, 3, padding=1))
    g = analogc.trace(net, (torch.randn(1, 16, 8, 8),))
    m = analogc.compile(g, hw=_hw(rows=64, cols=32)).analog[0]
    assert (m.in_features, m.out_features, m.vectors) == (144, 40, 64)
    assert (m.row_tiles, m.col_tiles) == (3, 2)


def test_dynamic_matmul_override_is_the_plans_policy():
    """compile(..., dynamic_matmul="analog") (what `--set dynamic_matmul=analog` does) places the
    attention matmuls on tiles and the plan's hardware says so (the report prints it); the
    preset object itself is left as loaded."""
    import analogc
    import hw_models
    g = analogc.trace("gpt2", seq_len=16)
    hw = hw_models.load("mzi-eo")
    plan = analogc.compile(g, hw=hw, dynamic_matmul="analog")
    assert plan.hw.dynamic_matmul == "analog" and hw.dynamic_matmul == "digital"
    placements = plan.to_dataframe().query("kind == 'matmul'")["placement"].unique().tolist()
    assert placements == ["analog"]
    assert analogc.compile(g, hw=hw).hw.dynamic_matmul == "digital"
