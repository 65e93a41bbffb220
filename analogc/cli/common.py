"""What the subcommands share: the rich console, the parsers of ``--set KEY=VALUE`` and
``--dims NAME=INT,...`` values, and the check of an output destination before any work.

Example::

    >>> parse_sets(["adc_bits=6", "chips=none", "phase_shifter=mems", "photons_per_mac=2.5"])
    {'adc_bits': 6, 'chips': None, 'phase_shifter': 'mems', 'photons_per_mac': 2.5}
    >>> parse_dims("batch=1,seq=128")
    {'batch': 1, 'seq': 128}
"""
from __future__ import annotations

import errno
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from analogc.errors import AnalogcError


# -- output ------------------------------------------------------------------------------
def console(file: Any = None) -> Any:
    """A rich console on stdout (or ``file``), 100 to 160 columns wide."""
    from rich.console import Console

    return Console(file=file or sys.stdout, width=max(100, min(160, _term_width())),
                   highlight=False, soft_wrap=False)


def _term_width() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 120


def check_out_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Check, before any work, that ``path`` is a directory we can write in, or can be created
    as one; otherwise an :class:`AnalogcError` naming the flag, the path and the reason. Leaves
    the file system as it was (directories created for the check are removed again)."""
    why = _unwritable_dir(Path(path))
    if why:
        raise AnalogcError(f"{flag} {path}: {why}")
    return Path(path)


def check_out_file(path: str | os.PathLike, flag: str) -> Path:
    """Check, before any work, that the file ``path`` can be written: not a directory, and its
    folder exists (or can be created) and is writable."""
    p = Path(path)
    try:
        is_dir = p.is_dir()
    except OSError:
        is_dir = False
    why = f"{p} is a directory, expected a file name" if is_dir else _unwritable_dir(p.parent)
    if why:
        raise AnalogcError(f"{flag} {path}: {why}")
    return p


def _unwritable_dir(p: Path) -> str | None:
    """Why ``p`` cannot be used as an output directory, or None."""
    try:
        return _try_dir(p)
    except OSError as e:  # a folder on the way that we may not look into
        return f"cannot reach {e.filename or p} ({e.strerror})"


def _try_dir(p: Path) -> str | None:
    missing, existing = [], p
    while not existing.exists() and existing != existing.parent:
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a directory"
    created: list[Path] = []
    try:
        for target in reversed(missing):
            try:
                target.mkdir()
            except OSError as e:
                reason = ("the file system there does not allow new directories"
                          if e.errno == errno.ENOENT else e.strerror)
                return f"cannot create a directory in {target.parent} ({reason})"
            created.append(target)
        try:
            fd, tmp = tempfile.mkstemp(dir=p, prefix=".analogc-write-check.")
        except OSError as e:
            return f"cannot write in {p} ({e.strerror})"
        os.close(fd)
        os.unlink(tmp)
        return None
    finally:
        for d in reversed(created):
            try:
                d.rmdir()
            except OSError:
                pass


# -- argument values ---------------------------------------------------------------------
def parse_sets(items: Sequence[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` values (repeatable) -> ``{key: value}``, each value read by
    :func:`parse_value`."""
    out: dict[str, Any] = {}
    for it in items or ():
        k, sep, v = it.partition("=")
        if not sep or not k:
            raise AnalogcError(f"--set {it!r}: expected KEY=VALUE (e.g. adc_bits=6)")
        out[k.strip()] = parse_value(v.strip())
    return out


def parse_value(v: str) -> Any:
    """``true``/``false`` -> bool, ``none``/``null`` -> None, then int, float, else the string."""
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def parse_dims(spec: str | None) -> dict[str, int] | None:
    """``"batch=1,seq=128"`` -> ``{"batch": 1, "seq": 128}``."""
    if not spec:
        return None
    out = {}
    for part in spec.split(","):
        k, sep, v = part.partition("=")
        if not sep or not k.strip() or not v.strip().lstrip("-").isdigit():
            raise AnalogcError(f"--dims {spec!r}: expected NAME=INT[,NAME=INT...] (e.g. batch=1,seq=128)")
        out[k.strip()] = int(v)
    return out
