"""What the subcommands share: the rich console, the parsers of ``--set KEY=VALUE`` and
``--dims NAME=INT,...`` values, and the check of an output destination before any work.

Example::

    >>> parse_sets(["adc_bits=6", "chips=none", "phase_shifter=mems", "photons_per_mac=2.5"])
    {'adc_bits': 6, 'chips': None, 'phase_shifter': 'mems', 'photons_per_mac': 2.5}
    >>> parse_sets(["adc_bits=6,rows=128", "tile.device=PCM, GST"])
    {'adc_bits': 6, 'rows': 128, 'tile.device': 'PCM, GST'}
    >>> parse_dims("batch=1,seq=128")
    {'batch': 1, 'seq': 128}
"""
from __future__ import annotations

import errno
import os
import re
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
    """``--set KEY=VALUE`` values (repeatable, or comma-separated ``a=1,b=2``) -> ``{key:
    value}``, each value read by :func:`parse_value`."""
    return {k: v for k, _, v in set_items(items)}


#: a comma that starts the next ``KEY=`` (a comma inside a value, as in a free-text
#: description, stays in the value)
_NEXT_SET = re.compile(r",\s*(?=[A-Za-z_][\w.]*\s*=)")


def set_items(items: Sequence[str] | None) -> list[tuple[str, str, Any]]:
    """``(key, text as given, parsed value)`` per assignment of ``--set`` values, in order."""
    out = []
    for it in items or ():
        for part in _NEXT_SET.split(it):
            k, sep, v = part.partition("=")
            if not sep or not k.strip():
                raise AnalogcError(f"--set {it!r}: expected KEY=VALUE (e.g. adc_bits=6, or "
                                   f"adc_bits=6,rows=128)")
            out.append((k.strip(), f"{k.strip()}={v.strip()}", parse_value(v.strip())))
    return out


def check_sets(items: Sequence[str] | None, hws: Sequence[Any]) -> dict[str, Any]:
    """Parse ``--set`` values and check them against every hardware before any work: one line
    ``--set KEY=VALUE (preset): ...`` in the command line's terms (a quantity without a unit
    gets an example ``--set "adc.energy=20 pJ"``). Returns the overrides."""
    import hw_models
    from hw_models.config import load_params

    parsed = set_items(items)
    overrides = {k: v for k, _, v in parsed}
    if not overrides:
        return overrides
    for hw in hws:
        if hw is None:
            hw = hw_models.DEFAULT_PRESET
        if not isinstance(hw, str):
            continue
        load_params(hw)  # a bad preset is its own error, as without --set
        name = Path(hw).stem
        for key, text, value in parsed:
            try:
                load_params(hw, **{key: value})
            except hw_models.HardwareConfigError as e:
                raise AnalogcError(f"--set {text} ({name}): {_explain(hw, key, value, e)}") from None
        try:
            load_params(hw, **overrides)
        except hw_models.HardwareConfigError as e:
            raise AnalogcError(f"--set {','.join(t for _, t, _ in parsed)} ({name}): "
                               f"{str(e).split(' (override): ', 1)[-1]}") from None
    return overrides


#: a unit to show in an example per dimension, when the preset has no quantity of it
_EXAMPLE_UNITS = {"energy": "pJ", "time": "ns", "power": "mW", "area": "um2", "length": "nm",
                  "frequency": "GHz", "bytes": "MB", "bandwidth": "GB/s", "energy_per_bit": "pJ/bit",
                  "energy_per_byte": "pJ/B", "op_rate": "TOPS", "voltage": "V", "conductance": "uS",
                  "capacitance": "fF", "current": "uA", "decibel": "dB", "angle": "rad",
                  "power_density": "W/m2", "count": "count", "ratio": "ratio"}


def _explain(hw: str, key: str, value: Any, e: Exception) -> str:
    """An override's refusal in the command line's terms."""
    from hw_models.config import Quantity, load_params, override_aliases, schema_for

    msg = str(e).split(" (override): ", 1)[-1]
    params = load_params(hw)
    family = params.get("tile", {}).get("family")
    kind = params.get("hardware", {}).get("kind")
    schema = schema_for(family, kind)
    aliases = override_aliases(family)
    if key in aliases:
        section, k = aliases[key]
    elif "." in key or "__" in key:
        section, k = key.replace("__", ".").split(".", 1)
    else:
        return msg
    preset = Path(hw).stem
    if section not in schema or (schema[section] is None and section not in params):
        tables = sorted(t for t in schema if (t != "noise" or t in params) and t != "validation")
        return f"{preset} has no [{section}] table (its tables: {', '.join(tables)})"
    spec = (schema[section] or {}).get(k)
    if not (isinstance(spec, tuple) and spec[0] == "q"):
        return msg
    dim = spec[1]
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    article = "an" if dim[0] in "aeiou" else "a"
    what = f"[{section}] {k} is {article} {dim.replace('_', ' ')}"
    if isinstance(value, str):
        head, _, given = value.partition(" ")
        given = given.strip()
        try:
            number = float(head)
        except ValueError:
            pass
        if given and number is not None:
            got = _dimension(given)
            if got == dim:
                return msg  # a unit of the right dimension: the value itself is refused
            what += f", {given!r} is not a known unit" if got is None else \
                f", not {'an' if got[0] in 'aeiou' else 'a'} {got.replace('_', ' ')} ({given})"
    if isinstance(value, (bool, list, dict, tuple)) or value is None:
        number = None
    mine = params.get(section, {}).get(k)
    units = [mine.unit] if isinstance(mine, Quantity) else []
    units += [q.unit for t in params.values() if isinstance(t, dict)
              for q in t.values() if isinstance(q, Quantity) and _dimension(q.unit) == dim]
    unit = units[0] if units else _EXAMPLE_UNITS.get(dim, "SI")
    if number is None:
        number = mine.value if isinstance(mine, Quantity) else 1
    shown = f"{number:g}" if isinstance(number, float) else str(number)
    return f'{what}: expected a quantity with a unit, e.g. --set "{key}={shown} {unit}"'


def _dimension(unit: str) -> str | None:
    from hw_models.units import UnitError, parse_unit

    try:
        return parse_unit(unit)[0]
    except UnitError:
        return None


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
