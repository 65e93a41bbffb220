"""Family sweeps (issue 12): configurations along the published rules, traced MACs against
the hand formulas, the sweep.csv columns, --vary, module:factory, and the CLI's outputs."""

import pandas as pd
import pytest

import analogc
from analogc.cli import main
from analogc.scaling import families as F
from analogc.sweep import DIGITAL_300FJ_J, ISSUE_COLUMNS, sweep


def test_default_sizes_span_1e6_to_1e19_and_configs_follow_the_rules():
    s = F.default_sizes(12)
    assert s[0] == pytest.approx(1e6) and s[-1] == pytest.approx(1e19) and len(s) == 12
    for t in (1e12, 1e15, 1e18):
        c = F.config("gpt", t)
        assert c["d_model"] % c["n_heads"] == 0 and c["d_model"] // c["n_heads"] == 128
        if c["n_layers"] < F.MAX_DEPTH:
            assert c["d_model"] == 128 * c["n_layers"] and c["seq_len"] == 2048  # GPT-3 aspect, context
        assert 0.5 < F.FAMILIES["gpt"].macs(c) / t < 2  # nearest rung in log
        lc = F.config("llama", t)
        assert lc["d_ff"] % 256 == 0 and lc["d_ff"] >= 8 * lc["d_model"] / 3 > lc["d_ff"] - 256
        assert lc["seq_len"] == 4096
    vc = F.config("vit", 1e10)
    assert vc["d_model"] == 64 * vc["n_layers"] and vc["image_size"] == 224
    # every family reaches both ends of the default span within a factor 2
    for fam in F.FAMILIES:
        for t in (1e6, 1e19):
            assert 0.5 < F.FAMILIES[fam].macs(F.config(fam, t)) / t < 2, (fam, t)


@pytest.mark.parametrize("family,size", [("gpt", 3e9), ("llama", 3e9), ("vit", 3e9), ("mlp", 1e7)])
def test_traced_macs_equal_the_family_formula(family, size):
    c = F.config(family, size)
    g = F.build(family, size)
    assert g.summary()["macs"] == pytest.approx(F.FAMILIES[family].macs(c), rel=1e-3)
    if family == "gpt":  # exact: 12 L d^2 T + 2 L T^2 d + T d V
        d, L, T = c["d_model"], c["n_layers"], c["seq_len"]
        assert g.summary()["macs"] == 12 * L * d * d * T + 2 * L * T * T * d + T * d * 50257


def test_family_sweep_columns_vary_and_ratios():
    df = sweep(family="gpt", sizes=[1e7, 1e10], hws=["pcm-hermes", "freespace"],
               vary={"adc_bits": [6, 8]}, workers=1)
    assert len(df) == 2 * 2 * 2
    assert set(ISSUE_COLUMNS) <= set(df.columns)
    from hw_models.pricing import COMPONENTS

    comps = [f"energy_{c}_j" for c in COMPONENTS]
    assert {"energy_adc_j", "energy_dac_j", "energy_memory_j", "energy_digital_j"} <= set(comps)
    # breakdown adds up, ratios are the defined quotients
    assert (df[comps].sum(axis=1) / df["energy_j"] - 1).abs().max() < 1e-9
    assert ((df["advantage_vs_300fJ"] - DIGITAL_300FJ_J * df["macs"] / df["energy_j"]).abs()
            / df["advantage_vs_300fJ"]).max() < 1e-12
    assert (df["advantage_vs_gpu"] / df["h100_energy_ratio"] - 1).abs().max() < 1e-12
    assert set(df["setting"]) == {"adc_bits=6", "adc_bits=8"} and set(df["adc_bits"]) == {6, 8}
    # fewer ADC bits cost less ADC energy on every model x hardware
    for _, sub in df.groupby(["model", "hw"]):
        e = sub.set_index("adc_bits")["energy_adc_j"]
        assert e[6] < e[8]
    assert set(df["family"]) == {"gpt"}


def test_parallel_equals_serial():
    a = sweep(family="mlp", sizes=[1e6, 1e8, 1e10], hws=["pcm-hermes"], workers=1)
    b = sweep(family="mlp", sizes=[1e6, 1e8, 1e10], hws=["pcm-hermes"], workers=2)
    pd.testing.assert_frame_equal(a, b)


def test_module_factory_family(tmp_path, monkeypatch):
    (tmp_path / "myfam.py").write_text(
        "import torch\n"
        "def make(size):\n"
        "    w = max(8, int((size / 2) ** 0.5))\n"
        "    return torch.nn.Sequential(torch.nn.Linear(w, w), torch.nn.ReLU(), torch.nn.Linear(w, w)), "
        "(torch.zeros(1, w),)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    df = analogc.sweep(family="myfam:make", sizes=[2e4, 2e6], hws=["pcm-hermes"], workers=1)
    assert list(df["macs"]) == [2 * 100 ** 2, 2 * 1000 ** 2]
    assert set(df["family"]) == {"myfam:make"}


def test_cli_family_out_writes_csv_and_plots(tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(["sweep", "--family", "mlp", "--sizes", "2", "--hw", "pcm-hermes",
               "--vary", "adc_bits=7..8", "--out", str(out), "--workers", "1"])
    assert rc == 0
    names = {p.name for p in out.iterdir()}
    for plot in ("energy_per_mac", "advantage", "breakdown", "latency_throughput", "physical_size"):
        assert {f"{plot}.png", f"{plot}.svg"} <= names
    df = pd.read_csv(out / "sweep.csv")
    assert len(df) == 2 * 2 and list(df.columns[:5]) == ["model", "hw", "macs", "params", "energy_j"]
    assert set(ISSUE_COLUMNS) <= set(df.columns)
    assert (out / "energy_per_mac.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
