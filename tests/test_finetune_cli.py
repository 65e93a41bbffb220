"""analogc finetune on the command line: a run writes its files; a user mistake is one line, exit 2."""
import json

import pytest
import torch

from analogc.cli import main


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_finetune_digits_mlp_writes_its_files(tmp_path, capsys):
    out = tmp_path / "ft"
    rc = main(["finetune", "digits-mlp", "--hw", "pcm-hermes", "--set", "adc_bits=4", "--data", "digits",
               "--out", str(out), "--steps", "30", "--seeds", "2", "--option", "converter_passes=per-pass"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps"] == 30 and m["deployed_after"]["n"] == 2 and m["eval_options"]["converter_passes"] == "per-pass"
    assert (out / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "accuracy deployed_after" in capsys.readouterr().out
    # the same --out again without --resume: refused, nothing rewritten
    before = (out / "metrics.json").read_bytes()
    assert main(["finetune", "digits-mlp", "--hw", "pcm-hermes", "--data", "digits", "--out", str(out)]) == 2
    assert "holds a previous run" in capsys.readouterr().err
    assert (out / "metrics.json").read_bytes() == before


@pytest.mark.parametrize("argv, msg", [
    (["--data", "nope"], "error: --data 'nope': expected module:factory"),
    (["--data", "digits", "--method", "sgd"], "error: finetune: method: expected one of hwa, pat, distill, lora, got 'sgd'"),
    (["--data", "digits", "--option", "colour=red"], "unknown option(s) colour"),
    (["--data", "json:nothing"], "error: --data 'json:nothing': module json has no callable 'nothing'"),
])
def test_user_mistakes_are_one_line(tmp_path, capsys, argv, msg):
    rc = main(["finetune", "digits-mlp", "--hw", "pcm-hermes", "--out", str(tmp_path / "o"), "--steps", "2", *argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert msg in err and err.count("\n") == 1
