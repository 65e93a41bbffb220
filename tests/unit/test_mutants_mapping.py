"""Mapping passes (partition, placement, chips) and the Plan, pinned to hand counts (written from
scripts/mutation.sh's surviving mutants). Hand-made IR graphs only: milliseconds per test.
"""
from __future__ import annotations

import pytest

import analogc
import hw_models
from analogc.errors import AnalogcError
from analogc.ir import Graph, Op, OpKind
from analogc.mapping import partition as pt
from analogc.mapping.plan import Plan


def approx(expected, rel=1e-9, abs=0.0):
    """pytest.approx without its 1e-12 absolute tolerance (energies here are ~1e-12 J and below)."""
    return pytest.approx(expected, rel=rel, abs=abs)


def mvm(name="fc", K=300, N=70, M=5, G=1, **kw):
    return Op(name=name, kind=OpKind.MVM, target="linear", in_features=K, out_features=N, vectors=M,
              groups=G, **kw)


def mm(name="qk", K=8, N=6, M=4, G=2):
    return Op(name=name, kind=OpKind.MATMUL, target="matmul", in_features=K, out_features=N,
              vectors=M, groups=G)


@pytest.fixture(scope="module")
def rram():
    return hw_models.load("rram")  # 128 x 128 tiles, 8-bit weights in 2-bit cells: 4 slices


def test_partition_counts_blocks_slices_cells_and_adds(rram):
    m = pt.partition_mvm(mvm(K=300, N=200, M=5, G=3, module_path="a.b", param="a.b.weight"), rram)
    # pins: ceil(300/128) = 3 row tiles, ceil(200/128) = 2 col tiles, 4 slices, 3 groups
    assert (m.row_tiles, m.col_tiles, m.slices) == (3, 2, 4)
    assert m.tiles == 3 * 3 * 2 * 4
    assert m.cells_used == 3 * 300 * 200 * 4
    assert m.utilization == approx(3 * 300 * 200 * 4 / (72 * 128 * 128))
    # pins: every output of a column adds its row tiles and slices digitally: rt*slices - 1 adds
    assert m.partial_sum_adds == 3 * 5 * 200 * (3 * 4 - 1)
    assert (m.rows, m.cols, m.devices_per_cell) == (128, 128, 1)
    assert (m.in_features, m.out_features, m.vectors, m.groups) == (300, 200, 5, 3)
    assert m.macs == 3 * 5 * 300 * 200 and m.write_elements == 0
    assert (m.op, m.kind, m.placement, m.module_path, m.param) == ("fc", OpKind.MVM, "analog", "a.b", "a.b.weight")


def test_partition_digital_and_dynamic(rram):
    d = pt.partition_mvm(mvm(), rram, placement="digital")
    # pins: a digital op occupies nothing on tiles but keeps its MACs and tile grid
    assert (d.tiles, d.cells_used, d.partial_sum_adds, d.utilization, d.write_elements) == (0, 0, 0, 0.0, 0)
    assert d.placement == "digital" and d.macs == 300 * 70 * 5 and d.row_tiles == 3
    a = pt.partition_mvm(mm(), rram)
    # pins: an analog dynamic matmul writes its G*K*N operand every inference
    assert a.write_elements == 2 * 8 * 6
    assert pt.partition_mvm(mm(), rram, placement="digital").write_elements == 0


@pytest.mark.parametrize("field", ["in_features", "out_features", "groups", "vectors"])
def test_partition_refuses_empty_sizes(rram, field):
    kw = dict(K=4, N=4, M=4, G=1)
    kw[{"in_features": "K", "out_features": "N", "groups": "G", "vectors": "M"}[field]] = 0
    op = mvm(**kw)
    # pins: the message names the op and all four sizes
    with pytest.raises(AnalogcError, match=r"^op fc: expected positive sizes, got K=\d+ N=\d+ groups=\d+ vectors=\d+$"):
        pt.partition_mvm(op, rram)
    op = mvm(K=1, N=1, M=1, G=1)
    assert pt.partition_mvm(op, rram).tiles == 4  # 1 x 1 x 1 is still one block, 4 slices


def test_placement_policy_and_regexes():
    hw = hw_models.load("sram-cim")  # dynamic operands, policy analog
    g = Graph("g", "manual")
    g.add(mvm("fc", module_path="blk.fc", param="blk.fc.weight", module_type="Linear"))
    g.add(mvm("head", module_path="lm_head"))
    g.add(mm("qk"))
    # pins: static weights analog, dynamic matmuls follow the policy, regexes force digital
    assert pt.assign_placement(g, hw) == {"fc": "analog", "head": "analog", "qk": "analog"}
    assert pt.assign_placement(g, hw, dynamic_matmul="digital")["qk"] == "digital"
    assert pt.assign_placement(g, hw, digital=["^lm_"]) == {"fc": "analog", "head": "digital", "qk": "analog"}
    for pat in ("^blk\\.fc$", "weight$", "Linear", "^fc$"):  # module path, param, type, name
        assert pt.assign_placement(g, hw, digital=[pat])["fc"] == "digital", pat
    assert pt.assign_placement(g, hw, digital=["nomatch"])["fc"] == "analog"
    # pins: an op without module path, parameter or type is matched on its name only
    bare = _graph(mvm("fc"))
    assert pt.assign_placement(bare, hw, digital=["X", "^$"]) == {"fc": "analog"}
    with pytest.raises(AnalogcError, match=r"^digital: bad regular expression \(.+\)$"):
        pt.assign_placement(g, hw, digital=["("])
    with pytest.raises(AnalogcError, match=r"^dynamic_matmul: expected 'digital' or 'analog', got 'tile'$"):
        pt.assign_placement(g, hw, dynamic_matmul="tile")
    pcm = hw_models.load("pcm-hermes")
    with pytest.raises(AnalogcError, match=r"^dynamic_matmul: pcm-hermes \(crossbar\) tiles cannot take "
                                           r"dynamic operands; use 'digital'$"):
        pt.assign_placement(g, pcm, dynamic_matmul="analog")
    assert pt.assign_placement(g, pcm)["qk"] == "digital"


def test_placement_of_hardware_without_static_weights():
    import dataclasses
    hw = hw_models.load("sram-cim")
    hw2 = dataclasses.replace(hw, tile=dataclasses.replace(hw.tile, static_weights=False))
    g = Graph("g", "manual")
    g.add(mvm())
    # pins: tiles that cannot hold weights leave every mvm digital
    assert pt.assign_placement(g, hw2) == {"fc": "digital"}


def _graph(*ops):
    g = Graph("g", "manual")
    for o in ops:
        g.add(o)
    return g


def test_place_on_chips_without_a_chip_limit():
    # pcm-hermes: 64 tiles per chip, chips not fixed
    plan = analogc.compile(_graph(mvm("a", K=256 * 10, N=256 * 7)), hw="pcm-hermes")
    # pins: 70 tiles need ceil(70/64) = 2 chips
    assert (plan.tiles, plan.chips_needed, plan.chips, plan.weight_reloads) == (70, 2, 2, 0)
    assert plan.resident_fraction == 1.0 and plan.notes == []
    empty = analogc.compile(_graph(Op(name="sm", kind=OpKind.SOFTMAX, target="softmax", elements=3)),
                            hw="pcm-hermes")
    assert (empty.tiles, empty.chips_needed, empty.chips) == (0, 0, 0)


def test_place_on_chips_with_fixed_chips_and_reloads():
    g = _graph(mvm("a", K=256 * 10, N=256 * 7))
    fits = analogc.compile(g, hw="pcm-hermes", chips=2)
    assert (fits.chips, fits.weight_reloads) == (2, 0)  # pins: 70 tiles fit 2 x 64
    exact = analogc.compile(_graph(mvm("a", K=256 * 8, N=256 * 8)), hw="pcm-hermes", chips=1)
    assert (exact.chips_needed, exact.weight_reloads) == (1, 0)  # 64 tiles fit one chip exactly
    plan = analogc.compile(g, hw="pcm-hermes", chips=1, tiles_per_chip=16)
    # pins: 70 static tiles on 16 fill the chip ceil(70/16) = 5 times per inference
    assert (plan.chips_needed, plan.chips, plan.weight_reloads, plan.resident_fraction) == (5, 1, 5, 0.0)
    assert plan.notes == ["weights need 70 tiles but 1 chip(s) hold 16: every inference reprograms the tiles 5 times"]
    assert plan.physical_tiles == 16  # pins: only the tiles of the fixed chips exist


def test_dynamic_tiles_are_shared_and_reduce_capacity():
    g = _graph(mvm("a", K=256 * 4, N=256 * 4), mm("q1", K=512, N=256, G=1), mm("q2", K=256, N=256, G=3))
    # sram-cim: 8 slices. static 16 x 8 = 128, dynamic max(2 x 8, 3 x 8) = 24 tiles (the largest
    # operand's: dynamic operands are rewritten per use and share one pool)
    assert analogc.compile(g, hw="sram-cim").tiles == 128 + 24
    # pins: the dynamic pool is held back from the weights; nothing left -> an error
    with pytest.raises(AnalogcError, match=r"^sram-cim: the dynamic matmuls alone need 24 tiles, more "
                                           r"than 1 chip\(s\) of 24 tiles hold$"):
        analogc.compile(g, hw="sram-cim", chips=1, tiles_per_chip=24)
    plan = analogc.compile(g, hw="sram-cim", chips=1, tiles_per_chip=25)
    assert plan.weight_reloads == 128  # capacity 25 - 24 = 1 tile: 128 fills
    assert plan.notes[0].startswith("weights need 128 tiles but 1 chip(s) hold 1:")


def test_compile_refuses_what_is_not_a_graph():
    # pins: the error message for a wrong argument
    with pytest.raises(AnalogcError, match=r"^compile: expected an analogc Graph, got list$"):
        pt.compile([], hw="pcm-hermes")


def test_plan_summary_dataframe_blocks_and_repr():
    g = _graph(mvm("a", K=300, N=70, M=5, module_path="m.a"), mm("q", K=8, N=6, M=4, G=2),
               Op(name="sm", kind=OpKind.SOFTMAX, target="softmax", elements=7))
    plan = analogc.compile(g, hw="rram", digital=["^q$"])
    s = plan.summary()
    # pins: 3 row tiles x 1 col tile x 4 slices on rram; the matmul kept digital
    assert s == {"model": "g", "hw": "rram", "family": "crossbar", "analog_ops": 1, "digital_ops": 2,
                 "tiles": 12, "chips_needed": 1, "chips": 1, "weight_reloads": 0,
                 "utilization": approx(300 * 70 * 4 / (12 * 128 * 128)),
                 "macs_analog": 300 * 70 * 5, "macs_digital_matmul": 8 * 6 * 4 * 2}
    assert [o.name for o in plan.digital_ops()] == ["q", "sm"]
    df = plan.to_dataframe()
    assert list(df.columns) == ["op", "kind", "target", "module", "module_type", "placement", "vectors",
                                "in_features", "out_features", "groups", "macs", "elements", "row_tiles",
                                "col_tiles", "slices", "tiles", "utilization"]
    a, q, sm = df.to_dict("records")
    assert (a["placement"], a["row_tiles"], a["col_tiles"], a["slices"], a["tiles"], a["module"]) == \
        ("analog", 3, 1, 4, 12, "m.a")
    assert a["utilization"] == approx(300 * 70 * 4 / (12 * 128 * 128))
    assert (q["placement"], q["tiles"], q["row_tiles"]) == ("digital", 0, 1)
    assert (sm["placement"], sm["tiles"], sm["slices"], sm["row_tiles"], sm["col_tiles"]) == ("digital", 0, 0, 0, 0)
    assert sm["utilization"] != sm["utilization"]  # nan for a digital op
    assert (sm["kind"], sm["target"], sm["elements"]) == ("softmax", "softmax", 7)
    assert repr(plan) == "Plan('g' on 'rram': 1 analog ops, 12 tiles, 1 chip(s))"
    m = plan.mappings["a"]
    # pins: blocks column-major, the last ones cut at K and N
    assert m.tile_blocks() == [(0, 128, 0, 70), (128, 256, 0, 70), (256, 300, 0, 70)]
    d = m.to_dict()
    import dataclasses
    # pins: a plain dict of every field, the kind as its plain string (for json/yaml writers)
    assert set(d) == {f.name for f in dataclasses.fields(m)}
    assert type(d["kind"]) is str and d["kind"] == "mvm" and d["tiles"] == 12 and d["op"] == "a"


def test_plan_without_tiles_has_zero_utilization():
    plan = Plan(graph=_graph(), hw=hw_models.load("rram"))
    assert plan.summary()["utilization"] == 0.0 and plan.physical_tiles == 0
