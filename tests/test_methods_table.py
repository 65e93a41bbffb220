"""analogc methods --quick on digits (real data) and on the recall task: the measured table,
its counts against hand formulas, its energies against the estimator, and the orderings the
review states (ELM in one solve, zeroth-order queries grow with the parameters, PAT beats in
silico under mismatch)."""
import json
import warnings

import pandas as pd
import pytest
import torch
from torch import nn

import analogc
from analogc.methods import METHODS
from analogc.methods.table import MARGIN


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    from analogc.cli import main
    out = tmp_path_factory.mktemp("m") / "digits"
    assert main(["methods", "--task", "digits", "--hw", "pcm-hermes", "--out", str(out), "--quick"]) == 0
    return out, pd.read_csv(out / "methods.csv").set_index("method")


def test_files_and_rows(table):
    out, df = table
    for f in ("methods.csv", "methods.md", "methods.json", "methods.png"):
        assert (out / f).stat().st_size > 0
    assert (out / "methods.png").read_bytes()[:4] == b"\x89PNG"
    # every registered method has a row; the zeroth-order ones one per model size
    assert {m.split("@")[0] for m in df.index} == set(METHODS)
    assert {"fd@8", "fd@16", "spsa@8", "spsa@16"} <= set(df.index)
    md = (out / "methods.md").read_text()
    assert all(f"| {m} |" in md for m in df.index)
    js = json.loads((out / "methods.json").read_text())
    assert set(js["curves"]) == set(df.index) and js["quick"] is True


def test_status_follows_chance_margin(table):
    _, df = table
    for m, r in df.iterrows():
        want = "converged" if r["accuracy"] >= 0.1 + MARGIN else "not converged within its budget"
        assert r["status"] == want, m
    # the methods that train every weight with a gradient estimate are well above chance
    for m in ("insilico", "pat", "hwa", "elm", "dfa", "phyll", "ep"):
        assert df.loc[m, "accuracy"] > 0.6, m


def test_elm_trains_in_one_solve(table):
    _, df = table
    r = df.loc["elm"]
    assert r["steps"] == 1 and r["physical_passes"] == 1 and r["physical_samples"] == 1437  # the training split
    assert r["accuracy"] > 0.6


def test_zeroth_order_queries_grow_with_parameters(table):
    _, df = table
    for h in (8, 16):
        n = h * 10 + 10  # the readout's weights and biases
        assert df.loc[f"fd@{h}", "trained_params"] == n
        assert df.loc[f"fd@{h}", "queries_per_step"] == n + 1  # forward differences: n + 1 per gradient
        assert df.loc[f"spsa@{h}", "queries_per_step"] == 2
    assert df.loc["es", "queries_per_step"] == 20
    assert df.loc["fd@16", "queries_per_step"] > df.loc["fd@8", "queries_per_step"]


def test_pat_beats_in_silico_under_mismatch(table):
    _, df = table
    assert df.loc["pat", "accuracy"] > df.loc["insilico", "accuracy"] + 0.03
    # what each needed to know, and whether it touched the chip while training
    assert df.loc["pat", "knows"] == df.loc["insilico", "knows"] == "twin"
    assert df.loc["insilico", "physical_passes"] == 0 and df.loc["hwa", "physical_passes"] == 0
    assert df.loc["pat", "physical_passes"] == df.loc["pat", "steps"] == 200
    for m in ("elm", "fd@8", "spsa@8", "es", "ep"):
        assert df.loc[m, "knows"] == "nothing"


def test_energy_per_step_from_the_estimator(table):
    """PAT: one physical pass of 64 samples per step, every weight reprogrammed each step; the
    twin's forward + backward (3 x MACs per sample) and Adam's update digital. Recomputed here
    from the estimator and the hardware's digital MAC energy."""
    from hw_models.pricing import HardwareCosts
    _, df = table
    m = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = analogc.compile(analogc.trace(m, (torch.zeros(1, 64),)), hw="pcm-hermes")
    rep = analogc.estimate(plan)
    mac = HardwareCosts(plan.hw).unit_energy["digital_mac"]["digital"]
    r = df.loc["pat"]
    assert r["physical_j_per_step"] == pytest.approx(64 * rep.summary["energy_j"], rel=1e-9, abs=0)
    # programming: the changed fraction of the weights at each pass (weights a dead ReLU unit
    # never moves are not rewritten), at most one whole model per pass
    assert 0.5 * 200 < r["reprogrammings"] <= 200
    assert r["programming_j_per_step"] == pytest.approx(r["reprogrammings"] * rep.summary["program_energy_j"] / 200,
                                                        rel=1e-9, abs=0)
    p = 64 * 32 + 32 + 32 * 10 + 10
    assert r["digital_j_per_step"] == pytest.approx((3 * (64 * 32 + 32 * 10) * 64 + 5 * p) * mac, rel=1e-9, abs=0)
    assert r["energy_per_step_j"] == pytest.approx(r["physical_j_per_step"] + r["programming_j_per_step"]
                                                   + r["digital_j_per_step"], rel=1e-9, abs=0)
    # in silico: no chip while training, only the digital twin's work
    assert df.loc["insilico", "physical_j_per_step"] == 0 and df.loc["insilico", "programming_j_per_step"] == 0
    assert df.loc["insilico", "digital_j_per_step"] == pytest.approx(r["digital_j_per_step"], rel=1e-9, abs=0)


def test_memory_backprop_holds_activations(table):
    """Backprop-based methods hold the saved activations; zeroth-order holds only its state
    (parameters, estimate, Adam moments: 4 x 4 bytes per trained parameter)."""
    _, df = table
    assert df.loc["spsa@8", "peak_kib"] == pytest.approx(4 * 4 * 90 / 1024, rel=1e-9, abs=0)
    assert df.loc["insilico", "peak_kib"] > 4 * 4 * 2410 / 1024
    assert df.loc["pat", "peak_kib"] > df.loc["dfa", "peak_kib"]


def test_reservoir_on_the_recall_task(tmp_path):
    df = analogc.methods("recall", "pcm-hermes", quick=True, out=tmp_path)
    assert list(df["method"]) == ["elm"]  # the only method here that trains sequence tasks
    r = df.iloc[0]
    assert r["steps"] == 1 and r["physical_passes"] == 40  # one pass per time step, the whole batch
    assert r["accuracy"] > 0.25 + MARGIN and r["status"] == "converged"


def test_users_chip_file(tmp_path):
    """The user's own chip file (examples/my_pcm_chip.toml: 512x512 cores, 6-bit ADCs): the
    table trains on it and prices on it (its own estimate, not a preset's)."""
    from pathlib import Path
    chip = Path(__file__).resolve().parents[1] / "examples" / "my_pcm_chip.toml"
    df = analogc.methods("digits", str(chip), quick=True, methods=["elm", "pat"]).set_index("method")
    assert set(df["hw"]) == {"my-pcm-512"}
    m = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = analogc.estimate(analogc.compile(analogc.trace(m, (torch.zeros(1, 64),)), hw=str(chip)))
    assert df.loc["elm", "physical_j_per_step"] == pytest.approx(1437 * rep.summary["energy_j"], rel=1e-9, abs=0)
    assert df.loc["pat", "accuracy"] > 0.1 + MARGIN
