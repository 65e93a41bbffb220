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
