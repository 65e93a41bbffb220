"""The files in examples/ work as their headers say."""
import os
import re
import subprocess
import sys
from pathlib import Path

import hw_models

import analogc

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_quickstart_runs_and_fewer_adc_bits_are_cheaper_and_noisier():
    env = dict(os.environ, PYTHONPATH=str(EXAMPLES.parent))
    r = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py")], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = re.findall(r"adc_bits=(\d+): ([0-9.]+) uJ, error ([0-9.]+)", r.stdout)
    assert [int(b) for b, _, _ in rows] == [4, 6, 8]
    energy = [float(e) for _, e, _ in rows]
    error = [float(x) for _, _, x in rows]
    assert energy[0] < energy[1] < energy[2]
    assert error[0] > error[2]


def test_user_chip_file_loads_and_compiles():
    hw = hw_models.load(str(EXAMPLES / "my_pcm_chip.toml"))
    assert (hw.name, hw.tile.rows, hw.tile.cols, hw.output_bits, hw.chip.tiles_per_chip) == (
        "my-pcm-512", 512, 512, 6, 16)
    g = analogc.trace("gpt2", seq_len=16)
    mine, ref = analogc.compile(g, hw=hw), analogc.compile(g, hw="pcm-hermes")
    assert mine.tiles < ref.tiles  # 4x larger cores
    assert analogc.estimate(mine).summary["energy_j"] < analogc.estimate(ref).summary["energy_j"]


def test_model_factories(capsys):
    sys.path.insert(0, str(EXAMPLES))
    try:
        from analogc.cli import main
        assert main(["report", "models:tiny_gpt2", "--format", "json"]) == 0
        assert '"mvm_count": 9' in capsys.readouterr().out  # 2 layers x 4 + lm_head
        assert main(["evaluate", "models:small_cnn", "--hw", "pcm-hermes", "--seeds", "1"]) == 0
        assert "output fidelity on pcm-hermes" in capsys.readouterr().out
    finally:
        sys.path.remove(str(EXAMPLES))
