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


def test_textdata_is_real_deterministic_and_split_by_file():
    from analogc.finetune import textdata as td
    c = td.corpus()
    assert set(c.train_files).isdisjoint(c.heldout_files) and len(c.heldout_files) >= 5
    assert len(c.train) == 2_000_000 and len(c.heldout) == 300_000
    assert td.decode(c.train[:40]).startswith("# file: ")  # the stdlib's own text, first file's header
    s = "def f(x):\n\treturn x  # ok"
    assert td.decode(td.encode(s)) == s
    assert td.encode("é€") .tolist() == [td.UNK, td.UNK]
    assert float((c.train == td.UNK).float().mean()) < 1e-3  # almost all ASCII
    a = [b["input_ids"] for b in td.lm_batches(c.train, batch=4, seq=16, steps=3, seed=7)]
    b = [b["input_ids"] for b in td.lm_batches(c.train, batch=4, seq=16, steps=3, seed=7)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    g = torch.Generator().manual_seed(0)
    x = td.windows(c.train, 64, 64)
    mb = td.mlm_batch(x, prob=0.15, gen=g)
    sel = mb["labels"] != -100
    assert 0.12 < float(sel.float().mean()) < 0.18
    assert torch.equal(mb["labels"][sel], x[sel])
    assert 0.7 < float((mb["input_ids"][sel] == td.MASK).float().mean()) < 0.9  # BERT's 80%
    sents = td.sentences("heldout")
    assert len(sents) > 100 and all(s[0].isupper() and s[-1] in ".!?" for s in sents)
    sb = td.sentence_batch(sents[:3], 32)
    assert sb["attention_mask"].sum(1).tolist() == [min(32, len(s)) for s in sents[:3]]
    assert (sb["input_ids"][sb["attention_mask"] == 0] == td.PAD).all()
