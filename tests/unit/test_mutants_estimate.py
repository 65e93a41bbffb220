"""The estimator's report, summary, baselines, decoder split and renderings, pinned to hand
formulas (written from scripts/mutation.sh's surviving mutants). Plans come from hand-made IR
graphs: no model is traced, every test runs in milliseconds.
"""
from __future__ import annotations

import importlib
import io
import json
import math

import pytest

import analogc
import hw_models
from analogc.errors import AnalogcError
from analogc.estimate import baseline as bl
from analogc.estimate import decoder as dc
from analogc.estimate import report as rp
from analogc.estimate.rollup import CostRollup, Phase
from analogc.ir import Graph, Op, OpKind


def approx(expected, rel=1e-9, abs=0.0):
    """pytest.approx without its 1e-12 absolute tolerance (energies here are ~1e-12 J and below)."""
    return pytest.approx(expected, rel=rel, abs=abs)

rd = importlib.import_module("analogc.estimate.render")  # the package re-exports render()


def graph(decoder: bool = False, seq_len: int = 4) -> Graph:
    g = Graph("m", "manual")
    g.add(Op(name="emb", kind=OpKind.EMBEDDING, target="embedding", elements=1000))
    g.add(Op(name="fc", kind=OpKind.MVM, target="linear", in_features=300, out_features=70,
             vectors=5, module_path="fc"), ["emb"])
    g.add(Op(name="sm", kind=OpKind.SOFTMAX, target="softmax", elements=350), ["fc"])
    if decoder:
        g.meta.update(decoder=True, seq_len=seq_len, n_layers=2, n_heads=2, d_model=8, batch=3)
    return g


@pytest.fixture(scope="module")
def rep():
    return analogc.estimate(analogc.compile(graph(), hw="pcm-hermes"))


@pytest.fixture(scope="module")
def dec_rep():
    return analogc.estimate(analogc.compile(graph(decoder=True), hw="pcm-hermes"))


# -- summary formulas -----------------------------------------------------------------------
def test_summary_derived_quantities_follow_their_definitions(rep):
    s = rep.summary
    e, macs, thr = s["energy_j"], s["macs"], s["throughput_inf_per_s"]
    # pins: macs = K*N*M of the one mvm; TOPS counts 2 ops per MAC at the steady-state rate
    assert macs == 300 * 70 * 5
    assert s["tops"] == approx(2 * macs * thr / 1e12, rel=1e-12)
    assert s["tops_per_w"] == approx(2 * macs / e / 1e12, rel=1e-12)
    assert s["tops_per_mm2"] == approx(s["tops"] / s["area_mm2"], rel=1e-12)
    assert s["energy_per_mac_j"] == approx(e / macs, rel=1e-12)
    # pins: the breakdown sums to the total and the summary names the model and hardware
    assert sum(rep.breakdown.values()) == approx(e, rel=1e-12)
    assert (s["model"], s["hw"], s["family"]) == ("m", "pcm-hermes", "crossbar")
    assert (rep.model, rep.hw, rep.family) == ("m", "pcm-hermes", "crossbar")
    # pins: the converter resolutions reported are the hardware's
    hw = rep.plan.hw
    assert (s["input_bits"], s["output_bits"]) == (hw.input_bits, hw.output_bits)
    assert (s["tiles"], s["chips"], s["weight_reloads"]) == (2, 1, 0)


def test_area_static_power_and_programming_come_from_the_rollup(rep):
    roll = CostRollup(rep.plan)
    s = rep.summary
    # pins: area in mm2 = chips x tiles/chip x tile area (m2) x 1e6
    hw = rep.plan.hw
    assert s["area_mm2"] == approx(1 * hw.chip.tiles_per_chip * roll.tile.tile_area_m2() * 1e6)
    assert s["static_power_w"] == approx(roll.static_power_w())
    pe, pt = roll.program_once()
    assert (s["program_energy_j"], s["program_time_s"]) == (approx(pe), approx(pt))
    # pins: programming all static weights once writes K*N cells (pcm-hermes: one slice)
    cost = roll.costs.price(roll.tile.actions_to_program(300 * 70))
    assert pe == approx(sum(cost.values()))


def test_summary_of_an_empty_phase_has_infinite_efficiency():
    # pins: no energy -> TOPS/W and TOPS/mm2 are inf (not a division error), energy/MAC 0
    g = Graph("empty", "manual")
    g.add(Op(name="sm", kind=OpKind.SOFTMAX, target="softmax", elements=0))
    plan = analogc.compile(g, hw="pcm-hermes")
    roll = CostRollup(plan)
    s = rp._summary(plan, roll, Phase())
    assert s["tops_per_w"] == math.inf
    assert s["energy_per_mac_j"] == 0.0
    assert s["macs"] == 0 and s["tops"] == 0


# -- table ------------------------------------------------------------------------------------
def test_table_has_one_row_per_op_with_its_component_energies(rep):
    t = rep.table
    comps = list(hw_models.pricing.COMPONENTS)
    # pins: the column order users read in the csv
    assert list(t.columns) == ["op", "kind", "placement", "module", "macs", "elements", "tiles",
                               "time_s"] + [f"{c}_j" for c in comps] + ["energy_j"]
    assert list(t["op"]) == ["emb", "fc", "sm"]
    assert list(t["placement"]) == ["digital", "analog", "digital"]
    # pins: energy_j of a row is the sum of its components, and rows sum to the ops' share
    for _, row in t.iterrows():
        assert row["energy_j"] == approx(sum(row[f"{c}_j"] for c in comps))
    assert rep.to_csv().splitlines()[0] == ",".join(t.columns)


# -- comparisons ----------------------------------------------------------------------------
def test_compare_ratios_are_baseline_over_this(rep):
    c = rep.compare("h100")
    b = bl.baseline_estimate(rep.plan.graph, "h100")
    s = rep.summary
    # pins: > 1 means the analog hardware wins, for energy and for speed
    assert c["baseline"] == "h100"
    assert c["energy_ratio"] == approx(b["energy_j"] / s["energy_j"])
    assert c["speedup"] == approx(b["latency_s"] / s["latency_s"])
    assert c["throughput_ratio"] == approx(s["throughput_inf_per_s"] / b["throughput_inf_per_s"])
    assert c["tops_per_w_ratio"] == approx(s["tops_per_w"] / b["tops_per_w"])
    assert c["baseline_energy_j"] == b["energy_j"]
    assert "decode_energy_ratio" not in c
    # pins: compare returns a copy (callers may edit it)
    c["energy_ratio"] = -1
    assert rep.compare("h100")["energy_ratio"] > 0


def test_ratio_of_zero_denominators():
    # pins: x/0 is inf for x > 0 and 1 for 0/0 (two systems that spend nothing are equal)
    assert rp._ratio(2.0, 0.0) == math.inf and rp._ratio(0.5, 0.0) == math.inf
    assert rp._ratio(0.0, 0.0) == 1.0
    assert rp._ratio(3.0, 2.0) == 1.5


def test_json_turns_numpy_scalars_into_numbers_and_else_strings():
    import numpy as np

    from analogc.fileio import finite, json_dumps
    # pins: numpy scalars become numbers in the json, anything else its str(), non-finite null
    assert finite(np.float64(2.5)) == 2.5 and type(finite(np.int64(3))) is int
    assert json_dumps(OpKind.MVM) == '"mvm"' and json_dumps(object) == '"<class \'object\'>"'
    assert json_dumps([np.float32(float("nan")), math.inf, -math.inf, np.float64(1.0)]) == "[null, null, null, 1.0]"


def test_to_dict_and_json(rep):
    d = rep.to_dict(["h100"])
    # pins: the json keys other tools read
    assert list(d) == ["model", "hw", "family", "summary", "breakdown_j", "phases", "compare", "notes"]
    assert list(d["compare"]) == ["h100"]
    assert d["breakdown_j"] == rep.breakdown
    j = json.loads(rep.to_json(["a100"]))
    assert j["summary"]["macs"] == 105000 and list(j["compare"]) == ["a100"]
    assert rep.to_json(["a100"]).startswith('{\n  "model": "m"')  # indent=2
    import dataclasses
    import numpy as np
    odd = dataclasses.replace(rep, summary={**rep.summary, "n": np.int64(7), "p": OpKind.MVM})
    # pins: numpy integers in a summary serialise as numbers
    assert json.loads(odd.to_json([]))["summary"]["n"] == 7


# -- text -------------------------------------------------------------------------------------
def test_to_text_lines(rep):
    s = rep.summary
    fs = rd.fmt_si
    lines = rep.to_text(["h100"]).splitlines()
    c = rep.compare("h100")
    # pins: the plain-text report, line by line
    assert lines[:7] == [
        "m on pcm-hermes (crossbar)",
        f"  energy / inference   {fs(s['energy_j'], 'J')}",
        f"  latency              {fs(s['latency_s'], 's')}",
        f"  throughput           {s['throughput_inf_per_s']:.4g} inf/s",
        f"  TOPS / TOPS/W        {s['tops']:.4g} / {s['tops_per_w']:.4g}",
        f"  energy / MAC         {fs(s['energy_per_mac_j'], 'J')}",
        f"  area                 {s['area_mm2']:.4g} mm2 (1 chip(s), 2 tiles)"]
    parts = [f"{k} {fs(v, 'J')} ({v / s['energy_j']:.0%})" for k, v in rep.breakdown.items() if v > 0]
    assert lines[7] == "  breakdown: " + ", ".join(parts)
    assert "static" not in lines[7]  # zero components are left out
    assert lines[8] == f"  vs h100          energy x{c['energy_ratio']:.3g}, speed x{c['speedup']:.3g}"
    assert lines[9:] == [f"  note: {n}" for n in rep.notes] and rep.notes


def test_repr(rep):
    s = rep.summary
    # pins: the one-line repr shown in notebooks
    assert repr(rep) == (f"Report('m' on 'pcm-hermes': {rd.fmt_si(s['energy_j'], 'J')}/inf, "
                         f"{s['tops_per_w']:.3g} TOPS/W, {rd.fmt_si(s['latency_s'], 's')})")


def test_dominance_note_names_the_component_and_its_share(rep):
    # pins: memory dominates this tiny plan; the note says the share and why
    share = rep.breakdown["memory"] / rep.summary["energy_j"]
    assert share >= 0.6
    assert rep.notes == [f"memory is {share:.0%} of the energy: moving weights and activations"]


@pytest.mark.parametrize("comp,why", [
    ("adc", "output conversions (fewer ADC bits, ADC sharing or larger tiles cut it)"),
    ("laser", "laser power sized to the detectors' SNR through the optical loss"),
    ("programming", "rewriting tile weights or dynamic operands"),
    ("digital", "the ops that stay digital"),
    ("dac", "dac"),
])
def test_dominance_note_reasons(rep, comp, why):
    # pins: the reason given for each dominating component
    ph = Phase()
    ph.energy[comp] = 0.6
    ph.energy["array"] = 0.4
    assert rp._dominance_notes(rep.plan, ph) == [f"{comp} is 60% of the energy: {why}"]


def test_dominance_note_thresholds_and_static(rep):
    ph = Phase()
    ph.energy.update(adc=0.59, array=0.41)
    assert rp._dominance_notes(rep.plan, ph) == []  # pins: below 60 % no note
    assert rp._dominance_notes(rep.plan, Phase()) == []  # pins: nothing spent, nothing said
    ph = Phase(throughput_per_s=1e6)
    ph.energy.update(static=0.7, array=0.3)
    # pins: static energy is explained by the tiles and the time they are held per inference
    assert rp._dominance_notes(rep.plan, ph) == [
        "static is 70% of the energy: static power of 2 tiles held for 1 us per inference"]
    ph.throughput_per_s = 0.0
    assert rp._dominance_notes(rep.plan, ph) == ["static is 70% of the energy: static power"]


def test_estimate_refuses_what_is_not_a_traced_plan():
    # pins: the error messages a user sees
    with pytest.raises(AnalogcError, match=r"^estimate: expected a Plan from analogc.compile, got Graph$"):
        rp.estimate(graph())
    g = graph()
    g.meta["shapes_only"] = True
    with pytest.raises(AnalogcError, match=r"^estimate: the plan of 'm' was built from its weight shapes "
                                           r"without inputs; trace the model with example inputs to price it$"):
        rp.estimate(analogc.compile(g, hw="pcm-hermes"))


# -- decoders ---------------------------------------------------------------------------------
def test_kv_cache_bytes_formula():
    # pins: 2 (K and V) x layers x kv heads x head dim x tokens x batch x bytes per value
    assert dc.kv_cache_bytes({"n_layers": 3, "seq_len": 5, "n_heads": 4, "d_model": 32}) == 2 * 3 * 4 * 8 * 5 * 2
    m = {"n_layers": 3, "seq_len": 5, "n_heads": 4, "n_kv_heads": 2, "head_dim": 7, "batch": 6, "d_model": 32}
    assert dc.kv_cache_bytes(m, bytes_per_value=1) == 2 * 3 * 2 * 7 * 5 * 6
    assert dc.kv_cache_bytes({"n_layers": 3, "seq_len": 5}) == 0.0  # incomplete meta
    assert dc.kv_cache_bytes({"n_layers": "x", "seq_len": 5, "n_heads": 1, "d_model": 1}) == 0.0
    assert dc.kv_cache_bytes({"n_layers": None, "seq_len": 5, "n_heads": 1, "d_model": 1}) == 0.0


def test_is_decoder_needs_the_flag_and_more_than_one_token():
    assert dc.is_decoder({"decoder": True, "seq_len": 2})
    assert not dc.is_decoder({"decoder": True, "seq_len": 1})
    assert not dc.is_decoder({"decoder": True})
    assert not dc.is_decoder({"seq_len": 8})
    assert dc.graph_meta(object()) == {} and dc.graph_meta(graph(True))["seq_len"] == 4


def test_decoder_report_has_prefill_and_decode(dec_rep):
    s, g = dec_rep.summary, dec_rep.plan.graph
    meta = g.meta
    kv = dc.kv_cache_bytes(meta)
    assert kv == 2 * 2 * 2 * 4 * 4 * 3 * 2
    roll = CostRollup(dec_rep.plan)
    rows = roll.per_op()
    main = roll.phase(rows, kv_write_bytes=kv)
    dec = roll.phase(rows, scale=1 / 4, kv_bytes=kv, decode=True)
    # pins: prefill = the traced graph writing the cache; decode per token = 1/T of it plus the
    # cache read, divided over the batch; tokens/s = batch x step rate
    assert (s["seq_len"], s["batch"], s["kv_cache_bytes"]) == (4, 3, kv)
    assert s["prefill_energy_j"] == approx(main.energy_j) == approx(s["energy_j"])
    assert s["prefill_latency_s"] == approx(main.latency_s)
    assert s["decode_energy_per_token_j"] == approx(dec.energy_j / 3)
    assert s["decode_latency_per_token_s"] == approx(dec.latency_s)
    assert s["decode_tokens_per_s"] == approx(3 * dec.throughput_per_s)
    assert list(dec_rep.phases) == ["prefill", "decode_step"]
    assert dec_rep.phases["decode_step"] == {"energy_j": dec.energy_j, "latency_s": dec.latency_s,
                                             "throughput_per_s": dec.throughput_per_s,
                                             "breakdown_j": dict(dec.energy)}
    c = dec_rep.compare("h100")
    b = bl.baseline_estimate(g, "h100")
    assert c["decode_energy_ratio"] == approx(b["decode_energy_per_token_j"] / s["decode_energy_per_token_j"])
    assert c["decode_speedup"] == approx(b["decode_latency_per_token_s"] / s["decode_latency_per_token_s"])
    text = dec_rep.to_text(["h100"]).splitlines()
    fs = rd.fmt_si
    assert text[7] == f"  prefill (4 tok)    {fs(s['prefill_energy_j'], 'J')}, {fs(s['prefill_latency_s'], 's')}"
    assert text[8] == (f"  decode / token       {fs(s['decode_energy_per_token_j'], 'J')}, "
                       f"{fs(s['decode_latency_per_token_s'], 's')}")
    assert text[10].endswith(f", decode energy x{c['decode_energy_ratio']:.3g}")


def test_reload_time_and_counts():
    plan = analogc.compile(graph(), hw="pcm-hermes", chips=1, tiles_per_chip=1)
    roll = CostRollup(plan)
    wb = 300 * 70 * 8 / 8  # static weight bytes at 8-bit weights
    assert roll.weight_bytes() == wb
    # pins: a reload = every fill reprograms the tiles, plus the weights over the off-chip link
    bw = roll.costs.memory.offchip_bandwidth_bps
    assert roll.reload_time_s() == approx(2 * roll.tile.program_time_s() + wb / bw, rel=1e-12)
    n = roll.reload_counts()
    assert n["offchip_byte"] == wb
    assert roll.static_cells() == 300 * 70


def test_decoder_with_weight_reloads_counts_tokens_per_step_latency():
    # pins: with reloads nothing pipelines: tokens/s = batch / step latency
    plan = analogc.compile(graph(decoder=True), hw="pcm-hermes", chips=1, tiles_per_chip=1)
    assert plan.weight_reloads == 2
    r = analogc.estimate(plan)
    assert r.summary["decode_tokens_per_s"] == approx(3 / r.summary["decode_latency_per_token_s"])


# -- digital baselines ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["h100", "digital-int8"])
def test_baseline_flops_and_bytes(name):
    g = graph()
    g.add(Op(name="mm", kind=OpKind.MATMUL, target="matmul", in_features=8, out_features=6,
             vectors=4, groups=2), ["sm"])
    b = hw_models.baseline(name)
    pp = b.bytes_per_param
    from hw_models.digital import ops_per_element
    # pins: 2 FLOPs per MAC of mvm and matmul, digital ops' arithmetic; weights read once,
    # embedding rows at the parameter width
    flops = 2 * (300 * 70 * 5 + 8 * 6 * 4 * 2) + 1000 * ops_per_element("embedding", "embedding") \
        + 350 * ops_per_element("softmax", "softmax")
    nbytes = 300 * 70 * pp + 1000 * pp
    c = b.cost(flops, nbytes)
    e = c["digital"] + c["memory"] + c["static"]
    out = bl.baseline_estimate(g, name)
    assert out["energy_j"] == approx(e, rel=1e-12)
    assert out["latency_s"] == approx(c["time_s"])
    assert out["throughput_inf_per_s"] == approx(1 / c["time_s"])
    assert out["tops_per_w"] == approx(2 * (300 * 70 * 5 + 8 * 6 * 4 * 2) / e / 1e12)
    assert out["compute_bound"] == c["compute_bound"]
    assert out["energy_per_flop_j"] == b.energy_per_flop_j
    assert out["breakdown_j"] == {k: c[k] for k in ("digital", "memory", "static")}
    assert "decode_energy_per_token_j" not in out


def test_baseline_sums_every_digital_op_and_embedding():
    g = Graph("d", "manual")
    g.add(Op(name="e1", kind=OpKind.EMBEDDING, target="embedding", elements=100))
    g.add(Op(name="e2", kind=OpKind.EMBEDDING, target="embedding", elements=50), ["e1"])
    g.add(Op(name="n", kind=OpKind.NORM, target="layer_norm", elements=30), ["e2"])
    g.add(Op(name="r", kind=OpKind.ACTIVATION, target="aten.relu", elements=40), ["n"])
    g.add(Op(name="fc", kind=OpKind.MVM, target="linear", in_features=8, out_features=4, vectors=2), ["r"])
    b = hw_models.baseline("digital-int8")
    out = bl.baseline_estimate(g, "digital-int8")
    # pins: every digital op's arithmetic (a relu is one op per element), every embedding's rows
    flops = 2 * 8 * 4 * 2 + 30 * 8 + 40 * 1
    c = b.cost(flops, 8 * 4 * 1 + 150 * 1)
    assert out["energy_j"] == approx(c["digital"] + c["memory"] + c["static"])
    assert out["tops_per_w"] == 2 * 64 / out["energy_j"] / 1e12


def test_baseline_of_an_empty_graph_and_decoder_defaults():
    out = bl.baseline_estimate(Graph("empty", "manual"), "h100")
    # pins: nothing to do: zero energy and time, infinite rates (not a division error)
    assert out["energy_j"] == 0.0 and out["throughput_inf_per_s"] == math.inf and out["tops_per_w"] == math.inf
    g = graph(decoder=True)
    del g.meta["batch"]
    b = hw_models.baseline("digital-int8")
    # pins: one sequence unless the meta says otherwise; the cache at the baseline's width (1 B)
    kv = dc.kv_cache_bytes(g.meta, bytes_per_value=1)
    assert kv == dc.kv_cache_bytes(g.meta) / 2
    from hw_models.digital import ops_per_element
    flops = 2 * 300 * 70 * 5 + 350 * ops_per_element("softmax", "softmax")
    d = b.cost(flops / 4, 300 * 70 + 1000 / 4 + kv)
    out = bl.baseline_estimate(g, "digital-int8")
    assert out["decode_energy_per_token_j"] == approx(d["digital"] + d["memory"] + d["static"])
    full = b.cost(flops, 300 * 70 + 1000 + kv)
    assert out["energy_j"] == approx(full["digital"] + full["memory"] + full["static"])


def test_baseline_decoder_split():
    g = graph(decoder=True)
    b = hw_models.baseline("h100")
    pp = int(b.bytes_per_param)
    from hw_models.digital import ops_per_element
    flops = 2 * 300 * 70 * 5 + 1000 * ops_per_element("embedding", "embedding") \
        + 350 * ops_per_element("softmax", "softmax")
    kv = dc.kv_cache_bytes(g.meta, bytes_per_value=pp)
    out = bl.baseline_estimate(g, "h100")
    full = b.cost(flops, 300 * 70 * pp + 1000 * pp + kv)
    # pins: the prefill pays the cache write; a decode step is 1/T of the work, all weights,
    # 1/T of the embedding rows and the whole cache, per sequence of the batch
    assert out["energy_j"] == approx(full["digital"] + full["memory"] + full["static"])
    d = b.cost(flops / 4, 300 * 70 * pp + 1000 * pp / 4 + kv)
    assert out["decode_energy_per_token_j"] == approx((d["digital"] + d["memory"] + d["static"]) / 3)
    assert out["decode_latency_per_token_s"] == approx(d["time_s"])
    assert out["decode_compute_bound"] == d["compute_bound"]


# -- SI formatting --------------------------------------------------------------------------
@pytest.mark.parametrize("v,unit,text", [
    (1.2e-12, "J", "1.2 pJ"), (1.5e14, "MAC", "150 TMAC"), (1.5e9, "", "1.5 G"),
    (0, "J", "0 J"), (0.0, "", "0"), (math.inf, "s", "inf s"), (-2.5e-3, "W", "-2.5 mW"),
    (1e-30, "J", "1e-06 yJ"), (3e21, "B", "3e+03 EB"), (999.0, "J", "999 J"), (1000.0, "J", "1 kJ"),
    (1e-24, "J", "1 yJ"), (1e-21, "J", "1 zJ"), (1e-18, "J", "1 aJ"), (1e-15, "J", "1 fJ"),
    (1e-9, "s", "1 ns"), (1e-6, "s", "1 us"), (1e6, "W", "1 MW"), (1e15, "", "1 P"),
    (1e18, "B", "1 EB"), (12345.0, "J", "12.3 kJ"),
])
def test_fmt_si(v, unit, text):
    # pins: SI prefixes from yocto to exa, three significant digits, clamped outside
    assert rd.fmt_si(v, unit) == text


# -- rich rendering -------------------------------------------------------------------------
class _Console:
    """Collects what render() prints: rich Tables as (title, headers, rows, justify), text as is."""

    def __init__(self):
        self.out = []

    def print(self, obj):
        from rich.table import Table
        if isinstance(obj, Table):
            rows = [list(r) for r in zip(*[c._cells for c in obj.columns])]
            self.out.append((obj.title, [c.header for c in obj.columns], rows,
                             [c.justify for c in obj.columns]))
        else:
            self.out.append(obj)


def _render(reports, **kw):
    con = _Console()
    rd.render(reports, con, **kw)
    return con.out


def test_render_prints_the_three_tables_and_notes(rep):
    s = rep.summary
    fs = rd.fmt_si
    t1, t2, t3, note = _render([rep], baselines=["h100"])
    # pins: the summary table, its rows and their formatting
    assert t1[:2] == ("m: cost per inference", ["metric", "pcm-hermes"])
    assert t1[3] == ["left", "right"]
    assert t1[2] == [
        ["energy / inference", fs(s["energy_j"], "J")],
        ["energy / MAC", fs(s["energy_per_mac_j"], "J")],
        ["TOPS/W", f"{s['tops_per_w']:.3g}"],
        ["TOPS", f"{s['tops']:.3g}"],
        ["latency", fs(s["latency_s"], "s")],
        ["throughput (inf/s)", f"{s['throughput_inf_per_s']:.3g}"],
        ["area (mm2)", f"{s['area_mm2']:.3g}"],
        ["chips / tiles", "1 / 2"],
        ["weight reloads", "0"]]
    # pins: the breakdown lists the non-zero components with their share
    assert t2[:2] == ("energy breakdown per inference", ["component", "pcm-hermes"])
    assert t2[3] == ["left", "right"]
    e = rep.breakdown
    assert t2[2] == [[c, f"{fs(e[c], 'J')} ({e[c] / s['energy_j']:.0%})"]
                     for c in hw_models.pricing.COMPONENTS if e.get(c, 0) > 0]
    c = rep.compare("h100")
    assert t3[:2] == ("vs digital baselines (x = baseline / this: > 1 means this hardware wins)",
                      ["baseline", "pcm-hermes"])
    assert t3[3] == ["left", "right"]
    assert t3[2] == [[f"h100 ({fs(c['baseline_energy_j'], 'J')})",
                      f"energy x{c['energy_ratio']:.3g}, speed x{c['speedup']:.3g}"]]
    assert note == f"[yellow]note (pcm-hermes):[/yellow] {rep.notes[0]}"


def test_render_decoder_rows_and_nothing_for_no_reports(rep, dec_rep):
    s = dec_rep.summary
    fs = rd.fmt_si
    t1, t2, t3, *notes = _render([dec_rep, rep], baselines=["h100"])
    # pins: decoder rows appear when any report is a decoder; the others show nan
    assert t1[2][-4:] == [
        ["prefill energy", fs(s["prefill_energy_j"], "J"), "nan J"],
        ["prefill latency", fs(s["prefill_latency_s"], "s"), "nan s"],
        ["decode energy / token", fs(s["decode_energy_per_token_j"], "J"), "nan J"],
        ["decode latency / token", fs(s["decode_latency_per_token_s"], "s"), "nan s"]]
    assert t1[3] == ["left", "right", "right"]
    assert len(t1[2]) == 9 + 4  # the decoder rows come after the nine common ones
    assert len(notes) == 2
    c = dec_rep.compare("h100")
    assert t3[2][0][1] == (f"energy x{c['energy_ratio']:.3g}, speed x{c['speedup']:.3g}, "
                           f"decode x{c['decode_energy_ratio']:.3g}")
    assert _render([]) == []  # pins: nothing to render prints nothing
    assert len(_render([rep], baselines=[])) == 3  # no baseline table, the note stays


def test_render_breakdown_of_a_report_without_energy(rep):
    import dataclasses
    zero = dataclasses.replace(rep, summary={**rep.summary, "energy_j": 0.0}, notes=[])
    _, t2, *_ = _render([rep, zero], baselines=["h100"])
    # pins: a report that spends nothing shows "0", not a division error
    assert all(r[2] == "0" for r in t2[2])


def test_render_breakdown_of_reports_missing_components(rep):
    import dataclasses
    only_mem = dataclasses.replace(rep, breakdown={"memory": rep.breakdown["memory"]}, notes=[])
    _, t2, _ = _render([only_mem], baselines=["h100"])
    # pins: a component a report does not list counts as zero (left out when all are)
    assert [r[0] for r in t2[2]] == ["memory"]
    _, t2, *_ = _render([rep, only_mem], baselines=["h100"])
    adc = [r for r in t2[2] if r[0] == "adc"][0]
    assert adc[2] == "0 J (0%)"


def test_render_uses_a_default_console(rep, monkeypatch):
    import rich.console
    made = []
    monkeypatch.setattr(rich.console, "Console", lambda: made.append(_Console()) or made[-1])
    rd.render([rep], baselines=())
    # pins: without a console render prints to a new rich Console
    assert len(made) == 1 and len(made[0].out) == 3


def test_write_reports_files(rep, tmp_path, monkeypatch):
    import dataclasses

    import pandas as pd
    monkeypatch.setattr(rd, "breakdown_png", lambda reports: b"PNG" + str(len(reports)).encode())
    paths = rd.write_reports([rep], tmp_path / "out", baselines=["h100"])
    # pins: per report a csv and a json, then summary.csv and the png, in that order
    assert [p.name for p in paths] == ["m_pcm-hermes.csv", "m_pcm-hermes.json", "summary.csv",
                                       "energy_breakdown.png"]
    assert (tmp_path / "out" / "m_pcm-hermes.csv").read_text() == rep.to_csv()
    assert json.loads((tmp_path / "out" / "m_pcm-hermes.json").read_text())["compare"].keys() == {"h100"}
    summ = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert summ.loc[0, "memory_j"] == approx(rep.breakdown["memory"])
    assert summ.loc[0, "energy_ratio_vs_h100"] == approx(rep.compare("h100")["energy_ratio"])
    assert (tmp_path / "out" / "energy_breakdown.png").read_bytes() == b"PNG1"
    assert list(summ.columns[:3]) == ["model", "hw", "family"]  # no index column
    only_mem = dataclasses.replace(rep, breakdown={"memory": rep.breakdown["memory"]})
    rd.write_reports([only_mem], tmp_path / "mem", baselines=[])
    s2 = pd.read_csv(tmp_path / "mem" / "summary.csv")
    assert s2.loc[0, "adc_j"] == 0.0  # pins: a component the report does not list is 0 J
    # pins: no reports -> only summary.csv; nested folders are made, existing ones reused
    assert [p.name for p in rd.write_reports([], tmp_path / "a" / "b")] == ["summary.csv"]
    assert [p.name for p in rd.write_reports([], tmp_path / "a" / "b")] == ["summary.csv"]


def test_digital_matmuls_and_mvms_in_the_rollup():
    g = Graph("d", "manual")
    g.add(Op(name="fc", kind=OpKind.MVM, target="linear", in_features=30, out_features=7, vectors=5, groups=2))
    g.add(Op(name="qk", kind=OpKind.MATMUL, target="matmul", in_features=8, out_features=6, vectors=4, groups=3),
          ["fc"])
    plan = analogc.compile(g, hw="pcm-hermes", digital=["fc"])
    roll = CostRollup(plan)
    fc, qk = roll.per_op()
    ops = roll.costs.digital_ops_per_s
    # pins: a digital product costs its MACs and moves inputs, weights and outputs through the
    # buffer at 2 bytes: groups x (M K + K N + M N) x 2; it takes 2 MACs / ops per second
    assert qk["placement"] == "digital" and qk["counts"] == {"digital_mac": 3 * 4 * 8 * 6,
                                                           "sram_byte": 3 * (4 * 8 + 8 * 6 + 4 * 6) * 2}
    assert qk["time_s"] == approx(2 * 3 * 4 * 8 * 6 / ops) and qk["per_step_counts"] == {}
    # pins: a digital mvm also streams its weight from off-chip, every decode step in full
    wb = 2 * 30 * 7 * 2
    assert fc["counts"] == {"digital_mac": 2 * 5 * 30 * 7, "sram_byte": 2 * (5 * 30 + 30 * 7 + 5 * 7) * 2,
                            "offchip_byte": wb}
    assert fc["per_step_counts"] == {"offchip_byte": wb, "sram_byte": wb}
    assert fc["offchip_bytes"] == wb and fc["per_step_offchip_bytes"] == wb and fc["tiles"] == 0


# -- phases: latency, throughput, static time, K/V traffic, decode scaling --------------------
def _chain_graph():
    g = Graph("c", "manual")
    g.add(Op(name="emb", kind=OpKind.EMBEDDING, target="embedding", elements=1000))
    g.add(Op(name="a", kind=OpKind.MVM, target="linear", in_features=300, out_features=70, vectors=5), ["emb"])
    g.add(Op(name="b", kind=OpKind.MVM, target="linear", in_features=64, out_features=32, vectors=5), ["emb"])
    g.add(Op(name="sm", kind=OpKind.SOFTMAX, target="softmax", elements=350), ["a", "b"])
    return g


def test_phase_totals_latency_and_throughput():
    plan = analogc.compile(_chain_graph(), hw="pcm-hermes")
    roll = CostRollup(plan)
    rows = roll.per_op()
    ph = roll.phase(rows)
    t = {r["op"]: r["time_s"] for r in rows}
    # pins: the critical path (a and b run in parallel after emb), the slowest pipeline stage
    crit = t["emb"] + max(t["a"], t["b"]) + t["sm"]
    off = sum(r["offchip_bytes"] for r in rows) / roll.costs.memory.offchip_bandwidth_bps
    assert ph.latency_s == approx(max(crit, off))
    period = max(max(t["a"], t["b"]), t["emb"] + t["sm"], off)
    assert ph.throughput_per_s == approx(1 / period)
    # pins: every op's counts, plus static power over the period, priced together
    want = {}
    for r in rows:
        for k, v in r["counts"].items():
            want[k] = want.get(k, 0.0) + v
    want["tile_second"] = plan.physical_tiles * period
    want["chip_second"] = plan.chips * period
    assert ph.counts == {k: approx(v) for k, v in want.items()}
    assert ph.energy_j == approx(sum(roll.costs.price(want).values()))
    assert ph.macs == 300 * 70 * 5 + 64 * 32 * 5
    assert [r["scale"] for r in ph.rows] == [1.0] * 4 and [r["time_s"] for r in ph.rows] == [t[o] for o in t]


def test_phase_kv_cache_traffic():
    plan = analogc.compile(_chain_graph(), hw="pcm-hermes")
    roll = CostRollup(plan)
    rows = roll.per_op()
    base = roll.phase(rows)
    buf = roll.costs.memory.buffer_bytes
    bw = roll.costs.memory.offchip_bandwidth_bps
    # pins: a cache that fits the buffer goes through SRAM, a larger one off chip (and its
    # transfer time bounds the latency)
    small = roll.phase(rows, kv_bytes=1000.0)
    assert small.counts["sram_byte"] == approx(base.counts["sram_byte"] + 1000.0)
    big = roll.phase(rows, kv_write_bytes=2 * buf)
    assert big.counts["offchip_byte"] == approx(base.counts.get("offchip_byte", 0.0) + 2 * buf)
    off = (sum(r["offchip_bytes"] for r in rows) + 2 * buf) / bw
    assert big.latency_s == approx(max(base.latency_s, off))
    assert big.throughput_per_s == approx(1 / max(off, 1 / base.throughput_per_s))
    exact = roll.phase(rows, kv_bytes=buf)  # exactly the buffer still fits
    assert exact.counts["sram_byte"] == approx(base.counts["sram_byte"] + buf)


def test_phase_decode_scaling():
    g = _chain_graph()
    plan = analogc.compile(g, hw="pcm-hermes", digital=["^b$"])  # b: a digital mvm (weights streamed)
    roll = CostRollup(plan)
    rows = roll.per_op()
    T = 4
    ph = roll.phase(rows, scale=1 / T, decode=True)
    b = [r for r in rows if r["op"] == "b"][0]
    fixed = b["per_step_counts"]
    # pins: per-token work scales by 1/T; the weight stream of a digital mvm does not
    got_b = [r for r in ph.rows if r["op"] == "b"][0]["counts"]
    for k, v in b["counts"].items():
        assert got_b[k] == approx((v - fixed.get(k, 0.0)) / T + fixed.get(k, 0.0))
    assert got_b["offchip_byte"] == approx(fixed["offchip_byte"])
    a = [r for r in ph.rows if r["op"] == "a"][0]
    assert a["time_s"] == approx([r for r in rows if r["op"] == "a"][0]["time_s"] / T)
    assert ph.macs == approx((300 * 70 * 5 + 64 * 32 * 5) / T)
    off = (sum(r["offchip_bytes"] - r["per_step_offchip_bytes"] for r in rows) / T
           + sum(r["per_step_offchip_bytes"] for r in rows)) / roll.costs.memory.offchip_bandwidth_bps
    assert ph.latency_s >= off and ph.latency_s == approx(max(off, ph.latency_s))


def test_phase_with_dynamic_operands_and_reloads():
    g = Graph("dyn", "manual")
    g.add(Op(name="fc", kind=OpKind.MVM, target="linear", in_features=256, out_features=256, vectors=4))
    g.add(Op(name="q1", kind=OpKind.MATMUL, target="matmul", in_features=256, out_features=256, vectors=4), ["fc"])
    g.add(Op(name="q2", kind=OpKind.MATMUL, target="matmul", in_features=256, out_features=512, vectors=4), ["fc"])
    plan = analogc.compile(g, hw="sram-cim")  # analog dynamic matmuls
    roll = CostRollup(plan)
    rows = roll.per_op()
    q1, q2 = rows[1], rows[2]
    assert q1["writes"] and q2["writes"] and roll._dynamic_pool == q2["tiles"] == 16
    ph = roll.phase(rows)
    # pins: dynamic matmuls share one pool of tiles: their tile-times add over the pool
    dyn = q1["time_s"] * q1["tiles"] / 16 + q2["time_s"] * q2["tiles"] / 16
    assert ph.throughput_per_s == approx(1 / max(rows[0]["time_s"], dyn))
    dec = roll.phase(rows, scale=0.25, decode=True)
    t_q1 = [r for r in dec.rows if r["op"] == "q1"][0]["time_s"]
    # pins: a decode step rewrites the operand in full: the write time does not scale
    assert t_q1 == approx(q1["time_s"] * 0.25 + roll.tile.program_time_s() * 0.75)
    # pins: with weight reloads nothing pipelines: period = latency (reload time included)
    rl = analogc.compile(g, hw="sram-cim", chips=1, tiles_per_chip=20)
    rroll = CostRollup(rl)
    rrows = rroll.per_op()
    assert rl.weight_reloads > 0
    p = rroll.phase(rrows)
    crit = rrows[0]["time_s"] + max(rrows[1]["time_s"], rrows[2]["time_s"])
    assert p.latency_s == approx(crit + rroll.reload_time_s())
    assert p.throughput_per_s == approx(1 / p.latency_s)
    rc = rroll.reload_counts()
    assert p.counts["offchip_byte"] == approx(rc["offchip_byte"] + sum(r["counts"].get("offchip_byte", 0) for r in rrows))
    d = rroll.phase(rrows, scale=0.5, decode=True)  # reloads are paid in full per decode step
    assert d.counts["offchip_byte"] == approx(rc["offchip_byte"] + sum(r["counts"].get("offchip_byte", 0) for r in rrows))
    h = rroll.phase(rrows, scale=0.5)
    assert h.counts["offchip_byte"] == approx(0.5 * rc["offchip_byte"] + 0.5 * sum(r["counts"].get("offchip_byte", 0) for r in rrows))


def test_empty_phase():
    plan = analogc.compile(Graph("e", "manual"), hw="pcm-hermes")
    ph = CostRollup(plan).phase([])
    # pins: nothing to run: zero latency and throughput, no static time charged
    assert (ph.latency_s, ph.throughput_per_s, ph.energy_j) == (0.0, 0.0, 0.0)
    assert ph.counts == {"tile_second": 0.0, "chip_second": 0.0}


def test_digital_op_counts():
    g = Graph("d", "manual")
    g.add(Op(name="e", kind=OpKind.EMBEDDING, target="embedding", elements=100))
    g.add(Op(name="n", kind=OpKind.NORM, target="layer_norm", elements=30), ["e"])
    g.add(Op(name="v", kind=OpKind.DATA_MOVEMENT, target="view", elements=30, meta={"view": True}), ["n"])
    g.add(Op(name="w", kind=OpKind.ELEMENTWISE, target="t", elements=30, meta={"weight_prep": True}), ["v"])
    roll = CostRollup(analogc.compile(g, hw="pcm-hermes"))
    e, n, v, w = roll.per_op()
    ops = roll.costs.digital_ops_per_s
    # pins: an embedding reads its rows off chip and writes them to the buffer (2 B each)
    assert e["counts"] == {"digital_op": 0.0, "offchip_byte": 200.0, "sram_byte": 200.0} and e["offchip_bytes"] == 200.0
    # pins: other ops read and write the buffer once per element, at ops/element
    assert n["counts"] == {"digital_op": 240.0, "offchip_byte": 0.0, "sram_byte": 120.0}
    assert n["time_s"] == approx(240 / ops) and n["offchip_bytes"] == 0.0
    # pins: views and weight transforms cost nothing per inference
    assert (v["counts"], v["time_s"], w["counts"], w["time_s"]) == ({}, 0.0, {}, 0.0)
