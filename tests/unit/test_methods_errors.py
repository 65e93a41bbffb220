"""analogc methods: bad input is one line (AnalogcError / CLI exit 2), before any training; a
method that raises or does not converge is its own row, never the whole run's failure."""
from pathlib import Path

import pytest

import analogc
from analogc.errors import AnalogcError
from analogc.methods import METHODS
from analogc.methods.base import Outcome, TrainingMethod
from analogc.methods.table import MARGIN, run_table

ROOT = Path(__file__).resolve().parents[2]


class Boom(TrainingMethod):
    name = "boom"
    title = "raises"

    def run(self, setup, tr, hidden):
        raise RuntimeError("the instrument is unplugged")


class Flat(TrainingMethod):
    name = "flat"
    title = "above chance, but by less than the margin"

    def run(self, setup, tr, hidden):
        tr.step()
        return Outcome(setup.task.chance + 0.5 * MARGIN, 1, 1)


class Good(TrainingMethod):
    name = "good"
    title = "just above the margin"

    def run(self, setup, tr, hidden):
        tr.step()
        return Outcome(setup.task.chance + MARGIN + 0.01, 1, 1)


@pytest.mark.parametrize("kw, msg", [
    ({"methods": ["nope"]}, "method: expected one of insilico, pat"),
    ({"methods": []}, "expected at least one method"),
    ({"seed": 1.5}, "seed: expected a non-negative integer"),
    ({"target": 1.5}, "target: expected an accuracy in (0, 1]"),
])
def test_bad_arguments(kw, msg):
    with pytest.raises(AnalogcError, match=msg.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        run_table("digits", "pcm-hermes", **kw)


def test_unknown_task_and_wrong_kind():
    with pytest.raises(AnalogcError, match="task: expected one of digits, recall, got 'mnist'"):
        analogc.methods("mnist", "pcm-hermes")
    with pytest.raises(AnalogcError, match="pat does not train sequence tasks"):
        analogc.methods("recall", "pcm-hermes", methods=["pat"])


def test_hardware_without_write_energy(tmp_path):
    """A chip file without [programming] write_energy cannot price in-situ updates: the methods
    that rewrite the weights every step are refused, by name, before any work."""
    text = (ROOT / "examples" / "my_pcm_chip.toml").read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith("write_energy")]
    chip = tmp_path / "chip.toml"
    chip.write_text("\n".join(lines) + "\n")
    with pytest.raises(AnalogcError, match=r"methods: pat rewrites the weights .*chip\.toml has no \[programming\] "
                                           r"write_energy"):
        run_table("digits", str(chip), methods=["insilico", "pat"])


def test_cli_one_line(tmp_path, capsys):
    from analogc.cli import main
    assert main(["methods", "--hw", "pcm-hermes", "--out", str(tmp_path / "o"), "--method", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: methods: method: expected one of")
    assert main(["methods", "--hw", "pcm-hermes", "--out", str(tmp_path / "o"), "--task", "vowels"]) == 2
    assert capsys.readouterr().err.strip() == "error: methods: task: expected one of digits, recall, got 'vowels'"
    assert not (tmp_path / "o").exists()


def test_failing_and_flat_methods_are_rows(monkeypatch, tmp_path):
    mod = __name__
    for n, cls in (("boom", "Boom"), ("flat", "Flat"), ("good", "Good")):
        monkeypatch.setitem(METHODS, n, f"{mod}:{cls}")
    df = run_table("digits", "pcm-hermes", methods=["boom", "flat", "good"], out=tmp_path / "t")
    st = dict(zip(df["method"], df["status"]))
    assert st["boom"] == "error: RuntimeError: the instrument is unplugged"
    assert st["flat"] == "not converged within its budget"
    assert st["good"] == "converged"
    assert (tmp_path / "t" / "methods.csv").exists() and (tmp_path / "t" / "methods.png").exists()
