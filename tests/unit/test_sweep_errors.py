"""analogc sweep: bad input is one line before any work (issue 12)."""
import pytest

from analogc.cli import main
from analogc.errors import AnalogcError
from analogc.scaling import families as F
from analogc.sweep import parse_vary, sweep


def _err(capsys, argv):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error:") and err.count("\n") == 1, err
    return err


def test_parse_vary_ranges_and_lists():
    assert parse_vary(["adc_bits=4..10:3", "rows=128,256"]) == {"adc_bits": [4, 7, 10], "rows": [128, 256]}
    for bad, what in (["adc_bits=10..4"], "empty range"), (["adc_bits="], "no values"), \
            (["adc_bits"], "KEY=A..B"), (["adc_bits=4..x"], "integers"), (["adc_bits=1..3:0"], "STEP"):
        with pytest.raises(AnalogcError, match=what):
            parse_vary(bad)


@pytest.mark.parametrize("argv,needle", [
    (["--vary", "adc_bits=10..4"], "empty range"),
    (["--vary", "photons_per_mac=1,2"], "pcm-hermes"),          # pcm-hermes lacks the parameter
    (["--family", "transformer"], "gpt, llama, vit, mlp"),
    (["--family", "nosuchmod_xyz:make"], "cannot import"),
    (["--sizes", "0"], "--sizes"),
    (["--seq-len", "64"], "--seq-len"),
    (["--html", "/proc/nope/r.html"], "--html"),
])
def test_cli_bad_input_one_line(capsys, tmp_path, argv, needle):
    base = ["sweep", "--hw", "pcm-hermes", "--hw", "freespace"]
    if "--family" not in argv:
        base += ["--family", "mlp"]
    err = _err(capsys, base + argv)
    assert needle in err


def test_html_path_that_is_a_directory(capsys, tmp_path):
    assert "is a directory" in _err(capsys, ["sweep", "--family", "mlp", "--hw", "pcm-hermes", "--html", str(tmp_path)])
    assert "is a directory" in _err(capsys, ["report", "mlp", "--hw", "pcm-hermes", "--html", str(tmp_path)])


def test_heads_not_dividing_width_is_refused():
    with pytest.raises(AnalogcError, match="n_heads=3 does not divide d_model=128"):
        F.check_config("gpt", {"d_model": 128, "n_heads": 3, "n_layers": 1, "seq_len": 8, "vocab": 10, "d_ff": 512})


def test_errors_come_before_work(monkeypatch):
    """A hardware lacking a varied value fails before any model is traced."""
    def boom(*a, **k):
        raise AssertionError("traced before the inputs were checked")
    monkeypatch.setattr(F, "build", boom)
    with pytest.raises(AnalogcError, match=r"--vary photons_per_mac=2 \(pcm-hermes\)"):
        sweep(family="gpt", sizes=2, hws=["freespace", "pcm-hermes"], vary={"photons_per_mac": [2]})
    with pytest.raises(AnalogcError, match="empty"):
        sweep(family="gpt", sizes=2, hws=["freespace"], vary=["adc_bits=9..8"])


def test_factory_failure_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "badfam.py").write_text("def make(size):\n    raise ValueError('heads must divide the width')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AnalogcError, match=r"badfam:make: factory\(1000\) failed \(ValueError: heads must divide"):
        sweep(family="badfam:make", sizes=[1000], hws=["pcm-hermes"], workers=1)
