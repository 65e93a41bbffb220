"""The analogc command: default run, formats, outputs, and one-line errors for bad input."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import torch

import analogc
from analogc.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cwd=None, env_extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "analogc.cli", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=600)


def test_default_run_reports_gpt2_table():
    r = _run()
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "gpt2" in out and "1024 tokens" in out
    assert "transformer.h.*.mlp.c_fc" in out and "lm_head" in out
    assert "total" in out and "tiles" in out
    assert "Traceback" not in r.stderr


def test_json_and_csv_formats_agree_with_the_api(capsys):
    assert main(["report", "mlp", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    g = analogc.trace("mlp")
    assert doc["model"]["macs_mvm"] == g.summary()["macs_mvm"]
    plan = analogc.compile(g)
    assert doc["plans"][0]["summary"]["tiles"] == plan.tiles
    assert main(["report", "mlp", "--format", "csv", "--hw", "pcm-hermes", "--hw", "rram"]) == 0
    csv = capsys.readouterr().out
    df = pd.read_csv(__import__("io").StringIO(csv))
    mvm = df[df.kind == "mvm"]
    # one row per Sequential layer (net.0, net.2, net.4) and hardware
    assert sorted(mvm.layer_type.unique()) == ["net.0", "net.2", "net.4"]
    assert set(mvm.hw) == {"pcm-hermes", "rram"}
    assert (mvm.groupby("hw").macs.sum() == g.summary()["macs_mvm"]).all()


def test_out_dir_writes_csv_and_json(tmp_path, capsys):
    assert main(["report", "cnn", "--out", str(tmp_path)]) == 0
    files = {p.name for p in tmp_path.iterdir()}
    assert any(f.endswith("_ops.csv") for f in files)
    assert any(f.endswith("_report.json") for f in files)
    ops = pd.read_csv(next(tmp_path.glob("*_ops.csv")))
    assert ops.loc[ops.kind == "mvm", "macs"].sum() == analogc.trace("cnn").summary()["macs_mvm"]
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_onnx_file_and_module_factory(tmp_path, capsys):
    mod = tmp_path / "mymodels.py"
    mod.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        def small():
            return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)), (torch.randn(3, 8),)
    """))
    sys.path.insert(0, str(tmp_path))
    try:
        assert main(["report", "mymodels:small", "--format", "json"]) == 0
    finally:
        sys.path.remove(str(tmp_path))
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"]["macs_mvm"] == 3 * (8 * 16 + 16 * 4)

    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    path = tmp_path / "m.onnx"
    torch.onnx.export(net, (torch.randn(3, 8),), str(path), dynamo=True)
    capsys.readouterr()  # the exporter's own progress lines
    assert main(["report", str(path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"]["macs_mvm"] == 3 * (8 * 16 + 16 * 4)

    dyn = tmp_path / "dyn.onnx"
    batch = torch.export.Dim("batch", min=2)
    torch.onnx.export(net, (torch.randn(3, 8),), str(dyn), dynamo=True,
                      dynamic_shapes=({0: batch},))
    capsys.readouterr()
    assert main(["report", str(dyn), "--format", "json", "--dims", "batch=5"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"]["macs_mvm"] == 5 * (8 * 16 + 16 * 4)


def _bad(capsys, *args):
    code = main(list(args))
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_bad_inputs_one_line_exit_2(tmp_path, capsys):
    assert "nothere.onnx" in _bad(capsys, "report", str(tmp_path / "nothere.onnx"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf at all" * 10)
    assert "junk.onnx" in _bad(capsys, "report", str(junk))
    net = torch.nn.Sequential(torch.nn.Linear(64, 64))
    good = tmp_path / "good.onnx"
    torch.onnx.export(net, (torch.randn(2, 64),), str(good), dynamo=True)
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    assert "cut.onnx" in _bad(capsys, "report", str(cut))
    assert "unknown model 'gpt5'" in _bad(capsys, "report", "gpt5")
    assert "no_such_module" in _bad(capsys, "report", "no_such_module:make")
    assert "has no attribute" in _bad(capsys, "report", "analogc.frontends.zoo:nope")
    assert "--seq-len" in _bad(capsys, "report", "gpt2", "--seq-len", "0")
    assert "--batch" in _bad(capsys, "report", "gpt2", "--batch", "-2")
    assert "pcm-nope" in _bad(capsys, "report", "mlp", "--hw", "pcm-nope")
    assert "KEY=VALUE" in _bad(capsys, "report", "mlp", "--set", "rows")
    assert "NAME=INT" in _bad(capsys, "report", str(good), "--dims", "batch")
    assert "only ONNX" in _bad(capsys, "report", "mlp", "--dims", "batch=2")


def test_unexportable_model_names_the_problem(tmp_path):
    (tmp_path / "badmodel.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn
        class Branchy(nn.Module):
            def forward(self, x):
                return x * 2 if x.sum() > 0 else x
        def make():
            return Branchy(), (torch.randn(4),)
    """))
    r = _run("report", "badmodel:make", env_extra={"PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"})
    assert r.returncode == 2
    assert r.stderr.startswith("error: cannot export Branchy") and r.stderr.count("\n") == 1


def test_models_lists_the_zoo(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("gpt2", "gpt2-xl", "bert-large", "vit-base", "llama-2-7b", "llama-3-70b", "mlp", "cnn"):
        assert name in out
