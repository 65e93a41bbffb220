"""Estimator: counts x unit costs roll up into a Report whose parts add up."""
from __future__ import annotations

import json

import pytest

import analogc
import hw_models
from analogc.estimate import COMPONENTS, estimate, render, write_reports
from analogc.ir import Graph, Op


def _mlp(vectors: int = 16) -> Graph:
    g = Graph("mlp")
    g.add(Op(name="fc1", kind="mvm", target="linear", in_features=300, out_features=600,
             vectors=vectors, module_path="fc1"))
    g.add(Op(name="act", kind="activation", target="aten.gelu", output_shape=(vectors, 600)), ["fc1"])
    g.add(Op(name="fc2", kind="mvm", target="linear", in_features=600, out_features=10,
             vectors=vectors, module_path="fc2"), ["act"])
    return g


def _decoder(T: int = 64, L: int = 2, d: int = 128, heads: int = 4) -> Graph:
    """A tiny decoder: per layer qkv, QK^T, softmax, AV, out-proj, norm; meta as in the zoo."""
    g = Graph("tiny-decoder")
    g.meta = {"decoder": True, "seq_len": T, "batch": 1, "n_layers": L, "d_model": d,
              "n_heads": heads, "n_kv_heads": heads, "head_dim": d // heads}
    prev: list[str] = []
    for i in range(L):
        hd = d // heads
        g.add(Op(name=f"qkv{i}", kind="mvm", target="linear", in_features=d, out_features=3 * d, vectors=T), prev)
        g.add(Op(name=f"qk{i}", kind="matmul", target="matmul", in_features=hd, out_features=T, vectors=T,
                 groups=heads), [f"qkv{i}"])
        g.add(Op(name=f"sm{i}", kind="softmax", target="softmax", output_shape=(heads, T, T)), [f"qk{i}"])
        g.add(Op(name=f"av{i}", kind="matmul", target="matmul", in_features=T, out_features=hd, vectors=T,
                 groups=heads), [f"sm{i}", f"qkv{i}"])
        g.add(Op(name=f"o{i}", kind="mvm", target="linear", in_features=d, out_features=d, vectors=T), [f"av{i}"])
        g.add(Op(name=f"ln{i}", kind="norm", target="layer_norm", output_shape=(T, d)), [f"o{i}"])
        prev = [f"ln{i}"]
    return g


@pytest.mark.parametrize("hw", ["pcm-hermes", "rram", "sram-cim", "mzi", "mzi-eo", "freespace", "ideal"])
def test_breakdown_sums_to_total_and_table_matches(hw):
    rep = estimate(analogc.compile(_mlp(), hw=hw))
    s = rep.summary
    assert set(rep.breakdown) == set(COMPONENTS)
    assert sum(rep.breakdown.values()) == pytest.approx(s["energy_j"], rel=1e-12)
    for key in ("energy_j", "latency_s", "throughput_inf_per_s", "area_mm2", "macs", "tops_per_w"):
        assert key in s
    assert s["macs"] == 300 * 600 * 16 + 600 * 10 * 16
    # the per-op table holds everything except static and weight-reload energy
    per_op = rep.table["energy_j"].sum()
    assert per_op == pytest.approx(s["energy_j"] - rep.breakdown["static"], rel=1e-9)
    assert list(rep.table["op"]) == ["fc1", "act", "fc2"]
    assert s["latency_s"] > 0 and s["energy_j"] > 0


def test_energy_scales_with_vectors_and_adc_bits():
    a = estimate(analogc.compile(_mlp(16), hw="pcm-hermes")).summary["energy_j"]
    b = estimate(analogc.compile(_mlp(32), hw="pcm-hermes")).summary["energy_j"]
    assert b == pytest.approx(2 * a, rel=0.02)
    lo = estimate(analogc.compile(_mlp(), hw="pcm-hermes", adc_bits=6)).breakdown["adc"]
    hi = estimate(analogc.compile(_mlp(), hw="pcm-hermes", adc_bits=8)).breakdown["adc"]
    assert hi > lo


def test_counts_for_one_tile():
    """A 256x256 mvm on HERMES: one tile, 256 ADC and 256 DAC conversions per vector."""
    g = Graph("one")
    g.add(Op(name="m", kind="mvm", target="linear", in_features=256, out_features=256, vectors=10))
    rep = estimate(analogc.compile(g, hw="pcm-hermes"))
    # hand formulas of the circuit models (hw_models/circuits.py) at 14 nm, V_dd 0.8 V (nominal),
    # wire 0.2 fF/um: one gate equivalent = Horowitz's 8-bit add (0.03 pJ, 45 nm, 0.9 V) / 36
    # toggles, scaled as C V^2; its input capacitance half of E/V^2, an access transistor a quarter
    e_gate = 0.03e-12 / 36 * (14 / 45) * (0.8 / 0.9) ** 2
    c_in = e_gate / 0.8 ** 2 / 2
    cco = 2 ** 7 * 2 * 5 * e_gate + 2 ** 7 * 8 * e_gate  # ring (5 stages) + counter, 8 bits
    cell = 0.2 ** 2 * 0.25 * 25e-6 * 0.25 * 128e-9  # V_read^2 G t of one device read
    mirrored = 256 * 256 * 4 * cell * 0.8 / 0.2  # the CCOs' mirrored bit-line current
    assert rep.breakdown["adc"] == pytest.approx(10 * (256 * cco + mirrored))
    c_wl = 256 * 4 * (1e-6 * 0.2e-9 + c_in / 2)  # word line: 1024 devices at 1 um pitch
    driver = c_wl * 0.2 * 0.8 + c_wl / c_in / 3 * e_gate / 2  # line + FO4 chain
    assert rep.breakdown["dac"] == pytest.approx(10 * 256 * driver)
    assert rep.summary["latency_s"] == pytest.approx(10 * 128e-9)


def test_static_power_charged_for_thermo_optic_mesh():
    to = estimate(analogc.compile(_mlp(), hw="mzi"))
    mems = estimate(analogc.compile(_mlp(), hw="mzi-mems"))
    assert to.breakdown["static"] > 0 and mems.breakdown["static"] == 0
    assert to.summary["energy_j"] > mems.summary["energy_j"]


def test_weight_reloads_charge_programming():
    big = estimate(analogc.compile(_mlp(), hw="pcm-hermes", chips=1, tiles_per_chip=2))
    fits = estimate(analogc.compile(_mlp(), hw="pcm-hermes"))
    assert big.summary["weight_reloads"] > 0 and big.breakdown["programming"] > 0
    assert fits.breakdown["programming"] == 0
    assert big.summary["latency_s"] > fits.summary["latency_s"]


def test_analog_dynamic_matmul_pays_writes():
    g = _decoder()
    dig = estimate(analogc.compile(g, hw="sram-cim", dynamic_matmul="digital"))
    ana = estimate(analogc.compile(g, hw="sram-cim", dynamic_matmul="analog"))
    assert ana.breakdown["programming"] > 0 and dig.breakdown["programming"] == 0


def test_decoder_prefill_and_decode():
    g = _decoder(T=64)
    rep = estimate(analogc.compile(g, hw="pcm-hermes"))
    s = rep.summary
    assert s["prefill_energy_j"] == pytest.approx(s["energy_j"])
    # a decode step costs about prefill / T plus the K/V cache read
    assert s["prefill_energy_j"] / 64 < s["decode_energy_per_token_j"] < s["prefill_energy_j"]
    assert 0 < s["decode_latency_per_token_s"] < s["prefill_latency_s"]
    assert s["kv_cache_bytes"] == 2 * 2 * 128 * 64 * 2
    c = rep.compare("h100")
    assert c["decode_energy_ratio"] > 0 and "baseline_decode_energy_per_token_j" in c


def test_gpu_decode_is_memory_bound_and_compare():
    from analogc.estimate import baseline_estimate
    b = baseline_estimate(_decoder(T=256), "h100")
    assert not b["decode_compute_bound"]
    rep = estimate(analogc.compile(_mlp(), hw="pcm-hermes"))
    for name in hw_models.baselines():
        c = rep.compare(name)
        assert c["energy_ratio"] == pytest.approx(c["baseline_energy_j"] / rep.summary["energy_j"])


def test_top_level_estimate_is_the_estimator():
    plan = analogc.compile(_mlp(), hw="pcm-hermes")
    assert not hasattr(plan, "estimate")  # the mapping package does not import the estimator
    assert analogc.estimate(plan).summary["energy_j"] == pytest.approx(estimate(plan).summary["energy_j"])


def test_render_and_write_reports(tmp_path):
    from rich.console import Console
    reps = [estimate(analogc.compile(_decoder(), hw=h)) for h in ("pcm-hermes", "mzi")]
    con = Console(record=True, width=200)
    render(reps, con)
    text = con.export_text()
    assert "pcm-hermes" in text and "h100" in text and "adc" in text and "decode" in text
    paths = write_reports(reps, tmp_path)
    names = {p.name for p in paths}
    assert {"summary.csv", "energy_breakdown.png", "tiny-decoder_pcm-hermes.json"} <= names
    assert (tmp_path / "energy_breakdown.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    d = json.loads((tmp_path / "tiny-decoder_mzi.json").read_text())
    assert d["summary"]["energy_j"] > 0 and "h100" in d["compare"]
    assert not list(tmp_path.glob("*.tmp"))
    assert "TOPS/W" in reps[0].to_text()


def test_dominant_component_is_noted():
    import analogc

    g = analogc.trace("mlp")
    rep = analogc.estimate(analogc.compile(g, hw="mzi"))
    comp, e = max(rep.breakdown.items(), key=lambda kv: kv[1])
    share = e / rep.summary["energy_j"]
    noted = [n for n in rep.notes if "of the energy" in n]
    assert bool(noted) == (share >= 0.6)
    if noted:
        assert noted[0].startswith(f"{comp} is {share:.0%}")


def test_static_power_only_for_tiles_that_exist():
    """With a fixed chip count too small for the weights, only the chips' tiles hold power."""
    import analogc

    g = analogc.trace("mlp")
    free = analogc.compile(g, hw="mzi")
    fixed = analogc.compile(g, hw="mzi", chips=1)
    assert fixed.weight_reloads > 0
    assert fixed.physical_tiles == fixed.hw.chip.tiles_per_chip < free.physical_tiles == free.tiles
    rf, rx = analogc.estimate(free), analogc.estimate(fixed)
    p_free = rf.breakdown["static"] * rf.summary["throughput_inf_per_s"]
    p_fixed = rx.breakdown["static"] * rx.summary["throughput_inf_per_s"]
    assert p_fixed / p_free == pytest.approx(fixed.physical_tiles / free.physical_tiles, rel=1e-6)


def test_decode_streams_a_digital_weight_in_full_every_step():
    """A weight kept digital is not resident: every decode step reads all of it from DRAM
    (and through the buffer), like the baselines do, not 1/T of it. Tiny decoder, T = 64,
    L = 2, d = 128, qkv kept digital: 2 x 128 x 384 fp16 weights = 196608 B per step at
    20 pJ/bit DRAM (Horowitz, the pcm-hermes preset) = 31.5 uJ, and >= 196608 B /
    102.4 GB/s = 1.92 us of link time per step. The analog run has no weight traffic."""
    g = _decoder(T=64)
    dig = estimate(analogc.compile(g, hw="pcm-hermes", digital=["qkv"]))
    ana = estimate(analogc.compile(g, hw="pcm-hermes"))
    wb = 2 * 128 * 384 * 2
    dram = wb * 8 * 20e-12
    extra = (dig.phases["decode_step"]["breakdown_j"]["memory"]
             - ana.phases["decode_step"]["breakdown_j"]["memory"])
    assert dram <= extra < 1.05 * dram
    assert dig.summary["decode_latency_per_token_s"] >= wb / 102.4e9


def test_embedding_reads_its_rows_once_from_dram():
    """An embedding gathers each output element once from the off-chip table and writes it
    once to the buffer: E fp16 elements cost E x 2 B x 160 pJ/B (DRAM, 20 pJ/bit) plus
    E x 2 B of buffer writes, not 2 x E x 2 B of DRAM traffic."""
    from hw_models.memory import sram_energy_per_byte_j

    E = 1024 * 768
    g = Graph("emb")
    g.add(Op(name="wte", kind="embedding", target="aten.embedding.default", output_shape=(1, 1024, 768)))
    rep = estimate(analogc.compile(g, hw="pcm-hermes"))
    sram = sram_energy_per_byte_j(32e3, 14e-9)  # 32 kB bank at the preset's 14 nm
    assert rep.breakdown["memory"] == pytest.approx(E * 2 * (160e-12 + sram), rel=1e-9)


def test_analog_dynamic_matmuls_share_their_tiles_in_the_period():
    """Dynamic operands get one pool of tiles sized by the largest (place_on_chips), so the
    4 analog attention matmuls of the tiny decoder run one after another in every period:
    each is 64 vectors x 8 bit-serial cycles x 10 ns + one 256-row write of 1 ns
    (sram-cim preset) = 5.376 us, so the period is >= 4 x 5.376 us = 21.5 us (the slowest
    single op alone gave 5.376 us, i.e. 4x the throughput the tiles can deliver)."""
    rep = estimate(analogc.compile(_decoder(T=64), hw="sram-cim", dynamic_matmul="analog"))
    one = 64 * 8 * 10e-9 + 256 * 1e-9
    assert 1 / rep.summary["throughput_inf_per_s"] == pytest.approx(4 * one, rel=1e-9)


def test_prefill_writes_the_kv_cache_that_decode_reads():
    """The decode step reads the K/V cache from DRAM when it exceeds the buffer, so the
    prefill must have written it there (the baselines charge the same bytes in prefill).
    L = 2, 8 heads x 64, T = 2048, fp16: 2 x 2 x 512 x 2048 x 2 B = 8.4 MB > the 4 MB buffer
    of pcm-hermes -> 8.4 MB x 160 pJ/B = 1.34 mJ more than the same graph as a non-decoder."""
    g = _decoder(T=2048, L=2, d=512, heads=8)
    kv = 2 * 2 * 512 * 2048 * 2
    dec = estimate(analogc.compile(g, hw="pcm-hermes"))
    g.meta = {**g.meta, "decoder": False}
    enc = estimate(analogc.compile(g, hw="pcm-hermes"))
    assert dec.summary["kv_cache_bytes"] == kv
    assert dec.summary["prefill_energy_j"] - enc.summary["energy_j"] == pytest.approx(kv * 160e-12, rel=1e-6)


def test_views_and_weight_transforms_cost_nothing():
    """A reshape between two layers moves no data and a transpose of a weight is done when
    the tiles are programmed: neither adds energy or time per inference; a real copy does."""
    import torch
    from torch import nn

    import analogc

    class Net(nn.Module):
        def __init__(self, extra):
            super().__init__()
            self.a, self.b, self.extra = nn.Linear(16, 32), nn.Linear(32, 4), extra
            self.w = nn.Parameter(torch.randn(4, 32))

        def forward(self, x):
            h = self.a(x)
            if self.extra == "view":
                h = h.view(8, 2, 16).view(8, 32)
            elif self.extra == "copy":
                h = torch.cat([h[:, :16], h[:, 16:]], dim=1)
            return self.b(h) + h @ self.w.t()

    x = torch.randn(8, 16)
    e = {k: analogc.estimate(analogc.compile(analogc.trace(Net(k), (x,)), hw="pcm-hermes"))
         for k in (None, "view", "copy")}
    g = analogc.trace(Net("view"), (x,))
    assert sum(1 for o in g.ops() if o.meta.get("view")) >= 2
    assert any(o.meta.get("weight_prep") for o in g.ops())  # the transpose of self.w
    assert e["view"].summary["energy_j"] == pytest.approx(e[None].summary["energy_j"], rel=1e-12)
    assert e["copy"].summary["energy_j"] > e[None].summary["energy_j"]
