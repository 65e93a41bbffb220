"""examples/digits_finetune.py --quick for every method, on scikit-learn's digits and a
pcm-hermes chip with 4-bit ADCs, against the targets of issue 11."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits_finetune.py"


def _example():
    spec = importlib.util.spec_from_file_location("digits_finetune", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    n = torch.get_num_threads()
    ex = _example()
    out = {}
    try:
        for method in ("hwa", "pat", "distill", "lora"):
            d = tmp_path_factory.mktemp(method)
            assert ex.main(["--method", method, "--quick", "--out", str(d)]) == 0
            out[method] = json.loads((d / "metrics.json").read_text())
    finally:
        torch.set_num_threads(n)
    return out


def _m(r, key):
    return r[key]["mean"], r[key]["std"]


def test_metrics_json_has_the_required_fields(runs):
    for method, r in runs.items():
        for key in ("digital", "deployed_before", "deployed_after"):
            assert set(r[key]) >= {"mean", "std"}, (method, key)
            assert 0.0 <= r[key]["mean"] <= 1.0
        assert r["deployed_before"]["n"] >= 5 and r["deployed_after"]["n"] >= 5
        for key in ("trainable_params", "total_params", "steps", "wall_s"):
            assert r[key] > 0, (method, key)
    assert "insilico_after" in runs["pat"]


def test_direct_deployment_loses_at_least_3_points(runs):
    r = runs["hwa"]
    assert r["digital"]["mean"] - r["deployed_before"]["mean"] >= 0.03


def test_hwa_recovers_to_within_1_point_of_digital(runs):
    r = runs["hwa"]
    assert r["deployed_after"]["mean"] >= r["digital"]["mean"] - 0.01
    assert r["trainable_params"] == r["total_params"]


def test_pat_beats_in_silico_training_on_the_mismatched_system(runs):
    r = runs["pat"]
    pat, pat_std = _m(r, "deployed_after")
    ins, ins_std = _m(r, "insilico_after")
    assert pat - ins > max(pat_std, ins_std)


def test_distillation_without_labels_improves_the_deployed_model(runs):
    r = runs["distill"]
    assert r["deployed_after"]["mean"] > r["deployed_before"]["mean"] + r["deployed_before"]["std"]


def test_lora_trains_few_parameters_and_does_not_degrade(runs):
    r = runs["lora"]
    assert r["trainable_params"] < 0.05 * r["total_params"]
    assert r["deployed_after"]["mean"] >= r["deployed_before"]["mean"] - r["deployed_before"]["std"]
