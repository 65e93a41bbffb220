"""Distillation: the deployed model learns the digital model's outputs on unlabeled inputs.

* digits MLP on pcm-hermes with 3-bit weights (a systematic error every chip shares), trained on
  unlabeled image batches (logits): the accuracy of new chips rises by more than the seed
  spread (the labels are used only to score);
* the three targets' losses against their hand formulas (ideal hardware: the deployed student is
  the teacher until its weights are moved), on a plain module and a Hugging Face BERT encoder
  (dict batches with padding).
"""
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import analogc
from analogc.finetune.base import TrainContext
from analogc.finetune.methods.distill import Distill


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _digits_mlp():
    from sklearn.datasets import load_digits
    d = load_digits()
    X = torch.tensor(d.data, dtype=torch.float32) / 16.0
    Y = torch.tensor(d.target)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(X), generator=g)
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    for _ in range(300):
        idx = perm[:1400][torch.randint(0, 1400, (128,), generator=g)]
        loss = F.cross_entropy(m(X[idx]), Y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval(), X, perm, g


def test_distillation_on_unlabeled_images_raises_accuracy():
    import hw_models
    from sklearn.datasets import load_digits
    m, X, perm, g = _digits_mlp()
    Y = torch.tensor(load_digits().target)
    hw = hw_models.load("pcm-hermes", weight_bits=3)  # coarse weights: every chip loses accuracy
    plan = analogc.compile(analogc.trace(m, (X[:8],)), hw=hw)
    train = [X[perm[:1400][torch.randint(0, 1400, (128,), generator=g)]] for _ in range(60)]  # inputs only
    val = [(X[perm[1400:]], Y[perm[1400:]])]  # labels to score only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trained, res = analogc.finetune(m, plan, train, method="distill", steps=60, lr=1e-3, seed=0,
                                        eval_data=val, progress=False)
    r = res.metrics
    assert r["metric"] == "accuracy" and r["deployed_after"]["n"] == 5
    before, after = r["deployed_before"], r["deployed_after"]
    # measured: 0.958 +- 0.003 -> 0.965 +- 0.004 (digital 0.970)
    assert before["mean"] < r["digital"]["mean"] - 0.005
    assert after["mean"] - before["mean"] > max(before["std"], after["std"])
    assert r["trainable_params"] == sum(p.numel() for p in m.parameters())


def _setup(model, plan, batch, **opts):
    d = Distill()
    d.setup(TrainContext(model=model, plan=plan, seed=0, options=opts, example_batch=batch))
    return d


def _nudge(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


def test_losses_against_hand_formulas_plain_module():
    torch.manual_seed(4)
    m = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 5)).eval()
    x = torch.randn(12, 6)
    for target in ("logits", "hidden", "pooled"):
        d = _setup(m, "ideal", x, target=target, temperature=2.0)
        assert float(d.loss(x)) == pytest.approx(0.0, abs=1e-6), target  # student == teacher
        _nudge(d.student, 1)
        s1 = d.student[0](x)
        s2 = d.student[2](torch.relu(s1))
        with torch.no_grad():
            t1 = m[0](x)
            t2 = m(x)
        if target == "logits":  # T^2 KL(teacher || student) at T = 2, per row
            want = 4.0 * (F.softmax(t2 / 2, -1) * (F.log_softmax(t2 / 2, -1) - F.log_softmax(s2 / 2, -1))).sum(-1).mean()
        elif target == "hidden":
            want = (F.mse_loss(s1, t1) / t1.pow(2).mean() + F.mse_loss(s2, t2) / t2.pow(2).mean()) / 2
        else:  # a [B, N] output is its own pooled embedding
            want = (s2 - t2).pow(2).sum() / (t2 - t2.mean(0)).pow(2).sum()
        assert float(d.loss(x)) == pytest.approx(float(want), rel=1e-4), target
    assert Distill.needs_labels is False


def test_pooled_target_on_a_bert_encoder_respects_padding():
    import transformers as tf
    torch.manual_seed(5)
    cfg = tf.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    enc = tf.BertModel(cfg, add_pooling_layer=False).eval()
    ids = torch.randint(1, 50, (4, 10))
    mask = torch.ones(4, 10, dtype=torch.long)
    mask[1, 6:] = 0
    mask[3, 3:] = 0
    batch = {"input_ids": ids, "attention_mask": mask}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = _setup(enc, "ideal", batch)
    assert d.target == "pooled"  # an encoder output has no logits
    assert float(d.loss(batch)) == pytest.approx(0.0, abs=1e-6)
    _nudge(d.student, 2)
    with torch.no_grad():
        hs = d.student(**batch).last_hidden_state
        ht = enc(**batch).last_hidden_state
        w = mask.unsqueeze(-1).float()
        ps, pt = (hs * w).sum(1) / w.sum(1), (ht * w).sum(1) / w.sum(1)
        want = (ps - pt).pow(2).sum() / (pt - pt.mean(0)).pow(2).sum()
        assert float(d.loss(batch)) == pytest.approx(float(want), rel=1e-4)
    # exported: the user's model class with the student's weights, the teacher untouched
    out = d.export()
    assert type(out) is type(enc)
    assert torch.equal(out.encoder.layer[0].output.dense.weight, d.student.encoder.layer[0].output.dense.weight)
    assert not torch.equal(out.encoder.layer[0].output.dense.weight, enc.encoder.layer[0].output.dense.weight)


class _Stop(Exception):
    pass


def test_distill_resume_reaches_the_uninterrupted_weights_bit_for_bit(tmp_path):
    from analogc.finetune.data import digits_tensors
    from analogc.finetune.methods import distill as D
    x, _, _, _ = digits_tensors()
    data = [x[i:i + 32] for i in range(0, 320, 32)]  # unlabeled
    real_loss = D.Distill.loss

    def run(out, stop_at=None, **kw):
        calls = [0]

        def loss(self, batch):
            calls[0] += 1
            if stop_at is not None and calls[0] > stop_at:
                raise _Stop()
            return real_loss(self, batch)

        torch.manual_seed(0)
        m = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        plan = analogc.compile(analogc.trace(m, (x[:8],)), hw="pcm-hermes")
        D.Distill.loss = loss
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return analogc.finetune(m, plan, data, method="distill", steps=14, checkpoint_every=4, out=out,
                                        progress=False, evaluate=False, lr=3e-3, **kw)
        finally:
            D.Distill.loss = real_loss

    full, res_full = run(tmp_path / "a")
    with pytest.raises(_Stop):
        run(tmp_path / "b", stop_at=10)
    resumed, res = run(tmp_path / "b", resume=True)
    assert res.metrics["steps"] == 14
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    assert [h["loss"] for h in res.history] == [h["loss"] for h in res_full.history]
    torch.manual_seed(0)
    start = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    assert float((full[0].weight - start[0].weight).abs().max().detach()) > 1e-3  # the weights moved
