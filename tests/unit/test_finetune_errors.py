"""analogc.finetune: bad input is one AnalogcError line, and nothing is overwritten."""
import os

import pytest
import torch
from torch import nn

import analogc
from analogc.errors import AnalogcError
from analogc.finetune import trainer
from analogc.finetune.methods import METHODS, method_class


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread (two threads on a loaded 2-core machine spin for milliseconds per op)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _plan(model):
    from analogc.frontends.modules import weight_layers_graph
    return analogc.compile(weight_layers_graph(model), hw="ideal")


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def _data(n=3):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(4, 8, generator=g), torch.randint(0, 3, (4,), generator=g)) for _ in range(n)]


def _ft(data, **kw):
    m = _model()
    kw.setdefault("steps", 2)
    return analogc.finetune(m, _plan(m), data, progress=False, evaluate=False, **kw)


def test_registry_names_the_known_methods():
    assert set(METHODS) == {"hwa", "pat", "distill", "lora"}
    assert method_class("hwa").__name__ == "HWA"
    with pytest.raises(AnalogcError, match=r"^finetune: method: expected one of hwa, pat, distill, lora, got 'hwq'$"):
        method_class("hwq")
    with pytest.raises(AnalogcError, match="method: expected one of"):
        _ft(_data(), method="sgd")


@pytest.mark.parametrize("data, match", [
    ([], r"data: expected at least one batch, got none \(an empty data set\)"),
    (torch.randn(4, 8), r"data: expected an iterable of batches .* got Tensor \(wrap a single batch"),
    (5, r"data: expected an iterable of batches .* got int"),
    ([(torch.randn(0, 8), torch.zeros(0, dtype=torch.long))], r"batch 0: inputs: expected a batch of at least one row, got shape \(0, 8\)"),
    ([(torch.full((4, 8), float("nan")), torch.zeros(4, dtype=torch.long))], r"batch 0: inputs contains NaN or inf"),
    ([(torch.randn(4, 5), torch.zeros(4, dtype=torch.long))], r"batch 0: the model or the loss rejected it \(mat1 and mat2 shapes"),
    ([(torch.randn(4, 8, dtype=torch.float64), torch.zeros(4, dtype=torch.long))], r"batch 0: the model or the loss rejected it \(.*dtype"),
    ([(torch.randn(4, 8), torch.full((4,), 7))], r"batch 0: the model or the loss rejected it \(Target 7 is out of bounds"),
    ([torch.randn(4, 8)], r"batch 0 has no labels, and method 'hwa' needs them"),
    ([(torch.randn(4, 8), torch.zeros(4, dtype=torch.long)), (torch.randn(4, 8), torch.zeros(4))],
     r"batch 1 of epoch 0: expected tensors like batch 0 \(inputs torch.float32 2-d, labels torch.int64 1-d\), got .*labels torch.float32"),
    ([("x", "y")], r"batch 0: inputs: expected a tensor, got str"),
])
def test_bad_data_is_one_line(data, match):
    with pytest.raises(AnalogcError, match=match) as e:
        _ft(data)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("kw, match", [
    (dict(steps=0), "steps: expected a positive integer, got 0"),
    (dict(lr=-1.0), "lr: expected a positive number, got -1.0"),
    (dict(seeds=0), "seeds: expected a positive integer, got 0"),
    (dict(resume=True), r"resume: expected out="),
    (dict(metric="f1"), "metric: expected one of accuracy, perplexity, loss, fidelity or a callable"),
    (dict(colour="red"), r"finetune method 'hwa': unknown option\(s\) colour: expected one of"),
])
def test_bad_arguments_are_one_line(kw, match):
    with pytest.raises(AnalogcError, match=match):
        _ft(_data(), **kw)


def test_out_with_foreign_files_is_refused_and_untouched(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(AnalogcError, match="not empty .*notes.txt.* holds no fine-tuning run"):
        _ft(_data(), out=tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_out_of_a_previous_run_needs_resume_and_the_same_settings(tmp_path):
    _ft(_data(), out=tmp_path)
    assert {"run.json", "checkpoint.pt", "metrics.json", "training_curves.png"} <= set(os.listdir(tmp_path))
    before = {p: (tmp_path / p).read_bytes() for p in os.listdir(tmp_path)}
    with pytest.raises(AnalogcError, match=r"holds a previous run .*pass resume=True"):
        _ft(_data(), out=tmp_path)
    with pytest.raises(AnalogcError, match=r"holds another run \(lr 0.001 there, 0.01 here\)"):
        _ft(_data(), out=tmp_path, resume=True, lr=0.01)
    assert {p: (tmp_path / p).read_bytes() for p in os.listdir(tmp_path)} == before


def test_resume_of_nothing_is_refused(tmp_path):
    with pytest.raises(AnalogcError, match="holds no run to resume"):
        _ft(_data(), out=tmp_path / "new", resume=True)


def test_corrupt_and_foreign_checkpoints_are_refused(tmp_path):
    _ft(_data(), out=tmp_path)
    ck = tmp_path / "checkpoint.pt"
    good = ck.read_bytes()
    ck.write_bytes(good[:100])
    with pytest.raises(AnalogcError, match=r"checkpoint .*checkpoint.pt: cannot be read .* corrupt or not a checkpoint"):
        _ft(_data(), out=tmp_path, resume=True)
    assert ck.read_bytes() == good[:100]  # nothing written over it
    torch.save({"state_dict": {"w": torch.zeros(2)}}, ck)
    with pytest.raises(AnalogcError, match="checkpoint .*: not an analogc.finetune checkpoint"):
        _ft(_data(), out=tmp_path, resume=True)
    state = torch.load(__import__("io").BytesIO(good), weights_only=True)
    state["fingerprint"] = dict(state["fingerprint"], seed=5)
    trainer.save_checkpoint(ck, state)
    with pytest.raises(AnalogcError, match=r"checkpoint .*: holds another run \(seed 5 there, 0 here\)"):
        _ft(_data(), out=tmp_path, resume=True)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    trainer.save_checkpoint(path, {"format": trainer.FORMAT, "step": 1})
    good = path.read_bytes()

    def fail(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        trainer.save_checkpoint(path, {"format": trainer.FORMAT, "step": 2, "big": torch.zeros(1000)})
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["checkpoint.pt"]  # no temporary file left behind
