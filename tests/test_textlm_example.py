"""examples/textlm_finetune.py --quick: a small GPT-2 character LM on the standard library's
text, deployed on pcm-hermes and fine-tuned with hwa, distill (with the BERT encoder's pooled
embeddings on pcm-hermes and rram) and lora; metrics.json has the issue's fields over 5 chip
seeds, run in-process (one import of transformers)."""
import json
import math
import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def example():
    sys.path.insert(0, str(EXAMPLES))
    n = torch.get_num_threads()
    try:
        import textlm_finetune
        yield textlm_finetune
    finally:
        sys.path.remove(str(EXAMPLES))
        torch.set_num_threads(n)


@pytest.mark.parametrize("method", ["hwa", "distill", "lora"])
def test_quick_run_writes_the_metrics(example, method, tmp_path):
    out = tmp_path / method
    assert example.main(["--method", method, "--quick", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    for k in ("digital", "deployed_before", "deployed_after"):
        assert set(m[k]) >= {"mean", "std"} and math.isfinite(m[k]["mean"]) and m[k]["mean"] > 1.0
    assert m["deployed_before"]["n"] == m["deployed_after"]["n"] == 5
    assert m["steps"] == example.SIZES["quick"]["ft_steps"] and m["wall_s"] > 0
    assert 0 < m["trainable_params"] <= m["total_params"]
    # the deployed trained model is not better than the same model digital (a wrongly scored
    # deployment, e.g. an unshifted LM loss, would be)
    assert m["deployed_after"]["mean"] >= 0.97 * m["digital_after"]
    assert m["deployed_before"]["mean"] >= 0.97 * m["digital"]["mean"]
    # a learned character model: far below the uniform perplexity over the vocabulary
    from analogc.finetune.textdata import VOCAB_SIZE
    assert m["digital"]["mean"] < 0.5 * VOCAB_SIZE
    if method == "lora":  # adapters only (r = 4 on every linear layer but the head)
        assert m["trainable_params"] < 0.5 * m["total_params"]
    else:
        assert m["trainable_params"] == m["total_params"]
    if method == "distill":
        enc = m["encoder"]["presets"]
        assert set(enc) == {"pcm-hermes", "rram"}
        for r in enc.values():
            assert r["after"]["cosine"]["n"] == 5
            assert r["after"]["cosine"]["mean"] >= 0.95 and r["before"]["cosine"]["mean"] <= 1.0
    # the same --out again: refused, nothing overwritten
    before = (out / "metrics.json").read_bytes()
    assert example.main(["--method", method, "--quick", "--out", str(out)]) == 2
    assert (out / "metrics.json").read_bytes() == before
