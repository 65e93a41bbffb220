"""The command line's argument checks that need no model (issue 9, items 12-18): output
destinations checked before any work, ``--set`` parsing and explanations, JSON without NaN,
``--version``. Each asserts the exact one-line message."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from analogc.cli.common import check_out_dir, check_out_file
from analogc.errors import AnalogcError


def _msg(f, *a):
    with pytest.raises(AnalogcError) as e:
        f(*a)
    return str(e.value)


# -- item 12: --out / --plot destinations --------------------------------------------------
def test_out_dir_under_a_file(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    assert _msg(check_out_dir, f / "x") == f"--out {f / 'x'}: {f} is a file, not a directory"
    assert _msg(check_out_dir, f) == f"--out {f}: {f} is a file, not a directory"
    assert _msg(check_out_file, f / "t.png", "--plot") == f"--plot {f / 't.png'}: {f} is a file, not a directory"
    assert _msg(check_out_file, tmp_path, "--plot") == f"--plot {tmp_path}: {tmp_path} is a directory, expected a file name"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_out_dir_on_a_file_system_that_refuses_directories():
    assert _msg(check_out_dir, "/proc/x") == (
        "--out /proc/x: cannot create a directory in /proc "
        "(the file system there does not allow new directories)")


def test_out_dir_that_can_be_created_is_accepted_and_left_as_it_was(tmp_path):
    target = tmp_path / "a" / "b" / "c"
    assert check_out_dir(target) == target
    assert list(tmp_path.iterdir()) == []  # the check created and removed a/b/c
    assert check_out_dir(tmp_path) == tmp_path
    assert list(tmp_path.iterdir()) == []  # and its probe file
    assert check_out_file(target / "t.png", "--plot") == target / "t.png"
    assert list(tmp_path.iterdir()) == []


def _check_as_unprivileged(paths):
    """check_out_dir on ``paths`` as a user without root's rights (as nobody under root)."""
    code = ("import sys\nfrom analogc.cli.common import check_out_dir\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n        check_out_dir(p)\n        print('ok')\n"
            "    except Exception as e:\n        print(e)\n")
    cmd = [sys.executable, "-c", code, *map(str, paths)]
    if os.geteuid() == 0:  # root may write anywhere: run the check as nobody
        if not os.path.exists("/usr/bin/setpriv"):
            pytest.skip("running as root without setpriv")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    if r.returncode != 0:
        pytest.skip(f"cannot run unprivileged here: {r.stderr.strip()[-200:]}")
    return r.stdout.splitlines()


def test_out_dir_without_permission():
    base = Path(tempfile.mkdtemp(prefix="analogc-perm-", dir="/tmp"))
    try:
        base.chmod(0o777)
        ro, closed = base / "ro", base / "closed"
        ro.mkdir(mode=0o555)
        ro.chmod(0o555)
        closed.mkdir()
        closed.chmod(0o700)
        if os.geteuid() != 0:
            pytest.skip("a non-root owner of 'closed' could still look into it")
        assert _check_as_unprivileged([ro, ro / "x" / "y", closed / "out", base / "fine"]) == [
            f"--out {ro}: cannot write in {ro} (Permission denied)",
            f"--out {ro / 'x' / 'y'}: cannot create a directory in {ro} (Permission denied)",
            f"--out {closed / 'out'}: cannot reach {closed / 'out'} (Permission denied)",
            "ok"]
    finally:
        shutil.rmtree(base)


# -- item 16: --set ------------------------------------------------------------------------
from analogc.cli.common import check_sets, parse_sets  # noqa: E402

CROSSBAR_TABLES = "adc, array, chip, dac, digital, hardware, memory, noise, programming, technology, tile"


def test_set_takes_comma_separated_assignments():
    assert parse_sets(["adc_bits=6,rows=128"]) == {"adc_bits": 6, "rows": 128}
    assert parse_sets(["adc_bits=6, rows=128", "cols=64"]) == {"adc_bits": 6, "rows": 128, "cols": 64}
    # a comma inside a value (free text) is not a separator: only one before KEY= is
    assert parse_sets(["tile.device=PCM, GST,rows=64"]) == {"tile.device": "PCM, GST", "rows": 64}
    assert parse_sets(['mzi.settle_time=5 us,adc_bits=6']) == {"mzi.settle_time": "5 us", "adc_bits": 6}
    assert _msg(parse_sets, [",rows=3"]) == \
        "--set ',rows=3': expected KEY=VALUE (e.g. adc_bits=6, or adc_bits=6,rows=128)"
    assert check_sets(["adc_bits=6,rows=128"], [None]) == {"adc_bits": 6, "rows": 128}


def test_set_of_a_table_the_preset_lacks():
    assert _msg(check_sets, ["mzi.settle_time=5 us"], ["pcm-hermes"]) == (
        f"--set mzi.settle_time=5 us (pcm-hermes): pcm-hermes has no [mzi] table "
        f"(its tables: {CROSSBAR_TABLES})")
    # the default preset when no --hw is given, and each of several
    assert _msg(check_sets, ["mzi.settle_time=5 us"], [None]).startswith(
        "--set mzi.settle_time=5 us (pcm-hermes): pcm-hermes has no [mzi] table")
    assert _msg(check_sets, ["mzi.settle_time=5 us"], ["mzi", "freespace"]) == (
        "--set mzi.settle_time=5 us (freespace): freespace has no [mzi] table (its tables: adc, chip, "
        "dac, digital, freespace, hardware, memory, noise, optics, programming, technology, tile)")
    assert check_sets(["mzi.settle_time=5 us"], ["mzi"]) == {"mzi.settle_time": "5 us"}


@pytest.mark.parametrize("item, msg", [
    ("adc.energy=20", '[adc] energy is an energy: expected a quantity with a unit, e.g. --set "adc.energy=20 pJ"'),
    ("adc.energy=2.5", '[adc] energy is an energy: expected a quantity with a unit, e.g. --set "adc.energy=2.5 pJ"'),
    ("adc.energy=20 mW", "[adc] energy is an energy, not a power (mW): expected a quantity with a unit, "
                         'e.g. --set "adc.energy=20 pJ"'),
    ("adc.energy=20 zz", "[adc] energy is an energy, 'zz' is not a known unit: expected a quantity with a "
                         'unit, e.g. --set "adc.energy=20 pJ"'),
    ("dac.conversion_time=2", '[dac] conversion_time is a time: expected a quantity with a unit, '
                              'e.g. --set "dac.conversion_time=2 ns"'),
    ("adc.energy=-3 pJ", "[adc] energy: expected a non-negative energy, got -3.0"),
    ("rows=0", "[tile] rows: expected a positive integer, got 0"),
])
def test_set_refusals_in_command_line_terms(item, msg):
    assert _msg(check_sets, [item], ["pcm-hermes"]) == f"--set {item} (pcm-hermes): {msg}"


def test_set_example_uses_the_presets_own_unit():
    assert _msg(check_sets, ["mzi.settle_time=5"], ["mzi"]) == (
        '--set mzi.settle_time=5 (mzi): [mzi] settle_time is a time: expected a quantity with a unit, '
        'e.g. --set "mzi.settle_time=5 us"')


# -- item 18: --version ----------------------------------------------------------------------
def test_version_is_the_package_version(capsys):
    import tomllib

    from analogc.cli import main

    with open(Path(__file__).resolve().parents[2] / "pyproject.toml", "rb") as f:
        version = tomllib.load(f)["project"]["version"]
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"analogc {version}\n"
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-m", "analogc.cli", "--version"], capture_output=True, text=True,
                       cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert (r.returncode, r.stdout, r.stderr) == (0, f"analogc {version}\n", "")


def test_install_uses_no_deprecated_editable_mode():
    """scripts/install.sh printed setuptools' BuildBackendWarning ("The 'compat' editable mode
    is transitional and will be removed"); without it, a flat layout got the meta-path-finder
    warning. The root package-dir makes the editable install a plain .pth file, silently."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    assert "editable_mode" not in (root / "scripts" / "install.sh").read_text()
    with open(root / "pyproject.toml", "rb") as f:
        assert tomllib.load(f)["tool"]["setuptools"]["package-dir"] == {"": "."}
