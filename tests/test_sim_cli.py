"""`analogc evaluate` and `analogc tradeoff` from the command line."""
import re

import torch

from analogc.cli import main


def test_evaluate_zoo_mlp_without_data(capsys):
    assert main(["evaluate", "mlp", "--hw", "pcm-hermes", "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"t =\s+\S+ s\s+([0-9.]+) ± ([0-9.]+)", out)
    assert "output fidelity on pcm-hermes, 2 chip instance(s)" in out and m
    assert 0.0 < float(m.group(1)) < 1.0  # noisy, but far from garbage


def test_evaluate_accuracy_with_labels_and_drift(tmp_path, capsys):
    torch.manual_seed(0)
    x = torch.randn(64, 784)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    labels = net(x).argmax(-1).detach()  # the digital model is 100% right by construction
    (tmp_path / "mynet.py").write_text(
        "import torch\n"
        "def make():\n"
        "    torch.manual_seed(0)\n"
        "    torch.randn(64, 784)\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))\n")
    torch.save({"inputs": [x], "labels": [labels]}, tmp_path / "d.pt")
    import sys
    sys.path.insert(0, str(tmp_path))
    try:
        assert main(["evaluate", "mynet:make", "--data", str(tmp_path / "d.pt"), "--seeds", "2", "--drift"]) == 0
    finally:
        sys.path.remove(str(tmp_path))
    out = capsys.readouterr().out
    accs = [float(v) for v in re.findall(r"s\s+([0-9.]+) ±", out)]
    assert out.startswith("accuracy on pcm-hermes") and len(accs) == 5  # 1 s ... 1 year
    assert all(0.5 < a <= 1.0 for a in accs)


def test_tradeoff_writes_plot_and_energy_rises(tmp_path, capsys):
    png = tmp_path / "t.png"
    assert main(["tradeoff", "mlp", "--hw", "pcm-hermes", "--vary", "adc_bits=4,8", "--seeds", "1",
                 "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    energies = [float(v) for v in re.findall(r"([0-9.eE+-]+) uJ", out)]
    assert len(energies) == 2 and energies[1] > energies[0]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_data_and_model_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    assert main(["evaluate", "mlp", "--data", str(bad)]) == 2
    assert "bad.pt: cannot read" in capsys.readouterr().err
    assert main(["evaluate", "gpt2"]) == 2
    assert "zoo transformers have no weights" in capsys.readouterr().err
    assert main(["evaluate", "mlp", "--seeds", "0"]) == 2
    assert "seeds: expected at least one" in capsys.readouterr().err
    assert main(["tradeoff", "mlp", "--vary", "adc_bits"]) == 2
    assert "--vary" in capsys.readouterr().err
