"""LoRA adapters (peft) beside frozen analog weights.

* The compiler knows the adapters are digital: in a plan of a peft-adapted model every
  ``lora_A``/``lora_B`` product is a digital mvm whose MACs are the hand count
  ``B (K r + r N)`` per adapted layer, the estimate charges them (digital MACs, weight traffic)
  on their own ``adapters`` line, the analog work (ADC, array) is the unadapted model's, and
  ``analogc report`` prints the line.
* Deploy runs the base weights on tiles and the adapters digitally.
* Training through analogc.finetune changes only the adapters; the base weights and their
  programmed copy are never rewritten; on new chips of a 3-bit-weight pcm-hermes the adapted
  model's accuracy beats the directly deployed one's by more than the seed spread.
"""
import json
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import analogc
from analogc.finetune.methods.lora import LoRA, deploy_adapted, wrap

R = 4
B = 8


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def adapted_mlp():
    """(peft-adapted MLP, inputs): the module:factory `analogc report` takes."""
    return wrap(mlp(), r=R).eval(), (torch.randn(B, 64),)


def test_adapters_are_digital_and_priced_on_their_own_line():
    from hw_models.pricing import HardwareCosts
    m, (x,) = adapted_mlp()
    plan = analogc.compile(analogc.trace(m, (x,)), hw="pcm-hermes")
    df = plan.to_dataframe()
    ad = df[df["module"].str.contains("lora_")]
    assert len(ad) == 4 and set(ad["placement"]) == {"digital"} and set(ad["kind"]) == {"mvm"}
    # hand count: B (K r + r N) per adapted layer
    assert int(ad["macs"].sum()) == B * (64 * R + R * 128) + B * (128 * R + R * 10) == 10560
    base = df[df["module"].str.endswith("base_layer")]
    assert set(base["placement"]) == {"analog"} and int(base["macs"].sum()) == B * (64 * 128 + 128 * 10)

    rep = analogc.estimate(plan)
    unit = HardwareCosts(plan.hw).unit_energy
    want = 0.0
    for k, n in ((64, R), (R, 128), (128, R), (R, 10)):  # each adapter product, by hand
        macs, wb = B * k * n, 2 * k * n  # fp16 weights streamed from off-chip
        traffic = 2 * (B * k + k * n + B * n)  # fp16 activations in, weight, out
        counts = {"digital_mac": macs, "sram_byte": traffic, "offchip_byte": wb}
        want += sum(c * sum(unit[a].values()) for a, c in counts.items())
    assert rep.breakdown["adapters"] == pytest.approx(want, rel=1e-9)
    assert rep.table["adapters_j"].sum() == pytest.approx(want, rel=1e-9)
    assert sum(rep.breakdown.values()) == pytest.approx(rep.summary["energy_j"], rel=1e-12)
    # the analog work is the unadapted model's: the adapters add no conversion or cell read
    plain = analogc.estimate(analogc.compile(analogc.trace(mlp().eval(), (x,)), hw="pcm-hermes"))
    for c in ("adc", "dac", "array"):
        assert rep.breakdown[c] == pytest.approx(plain.breakdown[c], rel=1e-9), c
    assert plain.breakdown["adapters"] == 0.0


def test_analogc_report_shows_the_adapters_line(capsys):
    from analogc.cli import main
    here = str(Path(__file__).resolve().parent)
    sys.path.insert(0, here)
    try:
        assert main(["report", "test_finetune_lora:adapted_mlp", "--hw", "pcm-hermes", "--format", "json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert main(["report", "test_finetune_lora:adapted_mlp", "--hw", "pcm-hermes"]) == 0
        text = capsys.readouterr().out
    finally:
        sys.path.remove(here)
    rep = doc["plans"][0]
    bd = rep["estimate"]["breakdown_j"]
    assert bd["adapters"] > 0
    assert any(line.strip("│ ").startswith("adapters") for line in text.splitlines())  # the breakdown row


def _digits():
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
    return m.eval(), X, Y, perm, g


def test_lora_trains_only_adapters_and_recovers_accuracy_on_new_chips():
    import hw_models
    from analogc.finetune.evaluate import evaluate_deployed
    from analogc.sim.tile import AnalogMVM
    m, X, Y, perm, g = _digits()
    hw = hw_models.load("pcm-hermes", weight_bits=3)  # coarse weights: every chip loses accuracy
    plan = analogc.compile(analogc.trace(m, (X[:8],)), hw=hw)
    train = [(X[i], Y[i]) for i in (perm[:1400][torch.randint(0, 1400, (128,), generator=g)] for _ in range(100))]
    val = [(X[perm[1400:]], Y[perm[1400:]])]
    chips = range(100, 105)
    before = evaluate_deployed(m, plan, val, chips, "accuracy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trained, res = analogc.finetune(m, plan, train, method="lora", r=R, steps=100, lr=3e-3, seed=0,
                                        evaluate=False, progress=False)
        # the adapted model has its own plan (adapters digital); new chips of the same hardware
        plan2 = analogc.compile(analogc.trace(trained, (X[:8],)), hw=hw)
        after = evaluate_deployed(trained, plan2, val, chips, "accuracy")
    r = res.metrics
    assert r["trainable_params"] == (64 * R + R * 64) + (64 * R + R * 10)
    sd0, sd1 = m.state_dict(), trained.state_dict()
    for k in ("0.weight", "0.bias", "2.weight", "2.bias"):  # the base weights are the original's
        assert torch.equal(sd1[f"base_model.model.{k.split('.')[0]}.base_layer.{k.split('.')[1]}"], sd0[k])
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in sd1.items())  # adapters trained (B starts at 0)
    # measured: 0.958 +- 0.003 -> 0.964 +- 0.005 (digital 0.970)
    assert after["mean"] - before["mean"] > max(before["std"], after["std"])

    # deployed: base layers on tiles, adapters digital
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        am = deploy_adapted(trained, hw, seed=0, calibration=[X[:64]])
    kinds = {p: type(mod).__name__ for p, mod in am.named_modules()}
    assert kinds["base_model.model.0.base_layer"] == "AnalogMVM"
    assert kinds["base_model.model.0.lora_A.default"] == "Linear"
    assert kinds["base_model.model.2.lora_B.default"] == "Linear"
    assert sum(isinstance(mod, AnalogMVM) for mod in am.modules()) == 2


def test_base_weights_are_programmed_once():
    from analogc.finetune.base import TrainContext
    from analogc.sim.tile import AnalogMVM
    m, X, Y, perm, g = _digits()
    meth = LoRA()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meth.setup(TrainContext(model=m, plan="pcm-hermes", seed=0, options={"r": 2, "reseed_every": 0},
                                example_batch=(X[:64], Y[:64])))
    layers = [mod for mod in meth.module().modules() if isinstance(mod, AnalogMVM)]
    meth.module()(X[:4])
    keys = [(lay._cache_key, lay._w_eff.data_ptr()) for lay in layers]
    opt = torch.optim.Adam(meth.trainable(), 1e-2)
    for i in range(5):
        loss = meth.loss((X[i * 32:(i + 1) * 32], Y[i * 32:(i + 1) * 32]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert [(lay._cache_key, lay._w_eff.data_ptr()) for lay in layers] == keys  # never reprogrammed
    assert all(not p.requires_grad for n, p in meth.module().named_parameters() if "lora_" not in n)


def test_lora_on_a_bert_encoder_keeps_its_signature_and_deploys():
    import transformers as tf
    torch.manual_seed(7)
    cfg = tf.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)
    enc = tf.BertModel(cfg, add_pooling_layer=False).eval()
    p = wrap(enc, r=2).eval()
    b = {"input_ids": torch.randint(1, 50, (3, 8)), "attention_mask": torch.ones(3, 8, dtype=torch.long)}
    with torch.no_grad():
        for n, q in p.named_parameters():
            if "lora_B" in n:
                q.normal_(0, 0.1)
        want = p(**b).last_hidden_state
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            am = deploy_adapted(p, "ideal", seed=0, calibration=[b])
        assert torch.allclose(am(**b).last_hidden_state, want, atol=1e-5)  # ideal tiles: the digital model
    names = [n for n, _ in p.named_modules() if n.endswith("lora_A.default")]
    assert len(names) == 6  # query, key, value, attention output, intermediate, output ("all-linear")


class _Stop(Exception):
    pass


def _lora_run(out, stop_at=None, **kw):
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analogc.finetune(m, plan, data, method="lora", r=2, reseed_every=4, steps=14, checkpoint_every=3,
                                out=out, loss_fn=loss_fn, progress=False, evaluate=False, lr=1e-2, **kw)


def test_lora_resume_reaches_the_uninterrupted_adapters_bit_for_bit(tmp_path):
    """Checkpoint at step 9 (chip 2 of a fresh chip every 4 steps): the resumed run continues on
    that chip and ends with the uninterrupted run's adapters."""
    full, res_full = _lora_run(tmp_path / "a")
    with pytest.raises(_Stop):
        _lora_run(tmp_path / "b", stop_at=1 + 10)
    resumed, res = _lora_run(tmp_path / "b", resume=True)
    assert res.metrics["steps"] == 14
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    assert [h["loss"] for h in res.history] == [h["loss"] for h in res_full.history]
