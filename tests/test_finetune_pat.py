"""Physics-aware training (Wright et al., Nature 601:549, 2022) on scikit-learn's digits.

The case PAT exists for: a physical system with systematic mismatches its twin does not know
(crosstalk, column gain and offset errors, a compressive ADC: analogc.finetune.physical). A
model trained in silico on the twin (the digital model) loses accuracy on it; the same model
fine-tuned with PAT (forward on the physical system, gradient of the twin at the physical
activations) does not. Evaluated on the same physical chip reprogrammed with 5 noise seeds.
"""
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import analogc
from analogc.finetune.physical import CallableSystem, DeployedSystem, mismatched_system
from analogc.finetune.methods.pat import pat_forward


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small models: one thread (two spin against each other on a loaded 2-core machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    X = torch.tensor(d.data, dtype=torch.float32) / 16.0
    Y = torch.tensor(d.target)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(X), generator=g)
    tr, te = perm[:1400], perm[1400:]
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    for _ in range(300):  # in silico: trained on the twin (the digital model)
        idx = tr[torch.randint(0, len(tr), (128,), generator=g)]
        loss = F.cross_entropy(m(X[idx]), Y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    train = [(X[idx], Y[idx]) for idx in (tr[torch.randint(0, len(tr), (128,), generator=g)] for _ in range(150))]
    return {"model": m, "X": X, "Y": Y, "tr": tr, "te": te, "train": train}


def test_pat_beats_in_silico_on_a_mismatched_chip(digits):
    m, X, Y, tr, te = (digits[k] for k in ("model", "X", "Y", "tr", "te"))
    with torch.no_grad():
        digital = float((m(X[te]).argmax(-1) == Y[te]).float().mean())
    plan = analogc.compile(analogc.trace(m, (X[:8],)), hw="pcm-hermes")
    chip = mismatched_system(plan, seed=0, calibration=[X[tr[:256]]])  # the documented default mismatches
    test = [(X[te], Y[te])]
    insilico = chip.evaluate(m, test, seeds=range(100, 105), metric="accuracy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trained, res = analogc.finetune(m, plan, digits["train"], method="pat", physical=chip, steps=150, lr=3e-3,
                                        seed=0, evaluate=False, progress=False)
    pat = chip.evaluate(trained, test, seeds=range(100, 105), metric="accuracy")
    assert insilico["n"] == pat["n"] == 5
    # the mismatch costs the in-silico model at least 3 points (measured: 0.969 -> 0.919)
    assert insilico["mean"] < digital - 0.03
    # PAT beats it by more than the seed-to-seed spread, and comes back near digital
    assert pat["mean"] - insilico["mean"] > max(pat["std"], insilico["std"], 0.02)
    assert pat["mean"] > digital - 0.02
    # the weights PAT returns are digital weights (a plain copy of the model), changed by training
    assert type(trained) is type(m)
    assert not torch.equal(trained[0].weight, m[0].weight)


def test_pat_on_a_system_without_mismatch_is_plain_backprop():
    """Ideal hardware, no mismatch: the physical activations are the twin's, so PAT's loss and
    gradient are exactly the digital ones (layer-wise substitution changes no value)."""
    torch.manual_seed(1)
    m = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    x, y = torch.randn(9, 5), torch.randint(0, 3, (9,))
    sysm = DeployedSystem("ideal", seed=0, calibration=[x])
    out = pat_forward(sysm, m, (x, y))
    F.cross_entropy(out, y).backward()
    g_pat = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    F.cross_entropy(m(x), y).backward()
    for a, b in zip(g_pat, (p.grad for p in m.parameters())):
        assert torch.allclose(a, b, atol=1e-6)


def test_pat_gradient_is_the_twins_at_the_physical_output():
    """A black-box system (y_phys = 0.5 W x + 0.3, unknown to the twin W x + b): the loss is
    the physical one, its gradient the twin's Jacobian applied to the physical error:
    dL/dW = g^T x with g = (softmax(y_phys) - onehot) / B (hand formula)."""
    torch.manual_seed(2)
    lin = nn.Linear(4, 3)
    x, y = torch.randn(6, 4), torch.randint(0, 3, (6,))
    sysm = CallableSystem(lambda model, batch: 0.5 * (batch[0] @ model.weight.T) + 0.3)
    out = pat_forward(sysm, lin, (x, y))
    with torch.no_grad():
        phys = 0.5 * (x @ lin.weight.T) + 0.3
    assert torch.allclose(out, phys)
    F.cross_entropy(out, y).backward()
    g = (torch.softmax(phys, -1) - F.one_hot(y, 3).float()) / len(x)
    assert torch.allclose(lin.weight.grad, g.T @ x, atol=1e-6)
    assert torch.allclose(lin.bias.grad, g.sum(0), atol=1e-6)


def test_layerwise_pat_uses_the_physical_hidden_activations():
    """With per-layer outputs the second layer's gradient is taken at the *physical* hidden
    activation: dL/dW2 = g^T h_phys (not the twin's h)."""
    torch.manual_seed(3)
    m = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    sysm = mismatched_system("ideal", seed=0, calibration=[x], adc_compression=1.5, crosstalk=0.2, gain_sigma=0.2,
                             offset_sigma=0.1)
    out, acts = sysm.layer_outputs(m, (x, y))
    h_phys = torch.relu(acts["0"])
    with torch.no_grad():
        assert not torch.allclose(h_phys, torch.relu(m[0](x)), atol=1e-3)  # the mismatch is there
    out2 = pat_forward(sysm, m, (x, y))
    assert torch.allclose(out2, out, atol=1e-6)
    F.cross_entropy(out2, y).backward()
    g = (torch.softmax(out, -1) - F.one_hot(y, 3).float()) / len(x)
    assert torch.allclose(m[2].weight.grad, g.T @ h_phys, atol=1e-5)


class _Stop(Exception):
    pass


def _pat_run(out, stop_at=None, **kw):
    from analogc.finetune.data import digits_tensors
    x, y, _, _ = digits_tensors()
    data = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 320, 32)]
    calls = [0]

    def loss_fn(outputs, batch):
        calls[0] += 1
        if stop_at is not None and calls[0] > stop_at:  # the first call checks batch 0
            raise _Stop()
        return F.cross_entropy(outputs, batch[1])

    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    plan = analogc.compile(analogc.trace(m, (x[:8],)), hw="pcm-hermes")
    chip = mismatched_system(plan, seed=0)  # a new process builds its system again
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analogc.finetune(m, plan, data, method="pat", physical=chip, steps=14, checkpoint_every=4, out=out,
                                loss_fn=loss_fn, progress=False, evaluate=False, lr=3e-3, **kw)


def test_pat_resume_reaches_the_uninterrupted_weights_bit_for_bit(tmp_path):
    full, res_full = _pat_run(tmp_path / "a")
    with pytest.raises(_Stop):
        _pat_run(tmp_path / "b", stop_at=1 + 10)
    resumed, res = _pat_run(tmp_path / "b", resume=True)
    assert res.metrics["steps"] == 14
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    assert [h["loss"] for h in res.history] == [h["loss"] for h in res_full.history]


def test_deployed_twin_shares_the_models_parameters():
    """twin="deployed": the nominal deployed model (another noise seed, no mismatch) runs with the
    trained model's own parameters; on ideal hardware its gradient is the digital one."""
    torch.manual_seed(6)
    m = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    x, y = torch.randn(9, 5), torch.randint(0, 3, (9,))
    sysm = DeployedSystem("ideal", seed=0, calibration=[x], twin="deployed")
    out = pat_forward(sysm, m, (x, y))
    tm = sysm.twin_module(m)
    assert tm is not m and tm[0].weight is m[0].weight  # the same Parameter objects
    F.cross_entropy(out, y).backward()
    g_pat = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    F.cross_entropy(m(x), y).backward()
    for a, b in zip(g_pat, (p.grad for p in m.parameters())):
        assert torch.allclose(a, b, atol=1e-6)


def test_pat_on_a_hugging_face_causal_lm():
    """Dict batches with labels: the loss is the LM's own shifted loss of the physical logits;
    on ideal tiles without mismatch it and its gradient are the digital model's."""
    import transformers as tf
    from analogc.finetune.base import TrainContext
    from analogc.finetune.methods.pat import PAT
    torch.manual_seed(8)
    cfg = tf.GPT2Config(vocab_size=40, n_positions=16, n_embd=16, n_layer=1, n_head=2, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0, use_cache=False)
    m = tf.GPT2LMHeadModel(cfg).eval()
    x = torch.randint(0, 40, (3, 12))
    b = {"input_ids": x, "labels": x}
    meth = PAT()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meth.setup(TrainContext(model=m, plan="ideal", seed=0, example_batch=b,
                                physical=DeployedSystem("ideal", seed=0, calibration=[{"input_ids": x}])))
    meth.model.eval()
    loss = meth.loss(b)
    ref = m(**b).loss
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
    loss.backward()
    ref.backward()
    w, w0 = meth.model.transformer.h[0].mlp.c_fc.weight, m.transformer.h[0].mlp.c_fc.weight
    assert torch.allclose(w.grad, w0.grad, atol=1e-5)
