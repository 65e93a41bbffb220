"""What the subcommands share: the rich console and the parsers of ``--set KEY=VALUE`` and
``--dims NAME=INT,...`` values.

Example::

    >>> parse_sets(["adc_bits=6", "chips=none", "phase_shifter=mems", "photons_per_mac=2.5"])
    {'adc_bits': 6, 'chips': None, 'phase_shifter': 'mems', 'photons_per_mac': 2.5}
    >>> parse_dims("batch=1,seq=128")
    {'batch': 1, 'seq': 128}
"""
from __future__ import annotations

import os
import sys
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
