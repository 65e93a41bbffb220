"""The ``[validation]`` table of a chip file: what a published, measured chip reported.

A *chip file* (``hw_models/validation/*.toml``) is an ordinary preset — every table describes
the chip from its paper's design parameters — plus one ``[validation]`` table naming the
paper, the workload it measured and the figures it reported, so that ``analogc validate``
can price the chip on that workload and set the estimate beside the published number::

    [validation]
    chip = "HERMES (IBM 14 nm PCM, 64 cores)"
    paper = "Le Gallo et al. Nat. Electron. 6:680 (2023)"
    boundary = ["dac", "adc", "array", "digital", "static"]   # components inside the figure
    tiles = 64                 # arrays busy in the measured workload
    rows_used = {value = 1.0, unit = "ratio", source = "..."}   # optional, default 1
    cols_used = {value = 1.0, unit = "ratio", source = "..."}   # optional, default 1
    vectors = 1000             # input vectors per array
    ops_per_mac = 2            # how the paper counts ops
    tops_per_w = {value = 9.76, unit = "TOPS/W", source = "paper, page/table/figure"}
    tops_per_mm2 = {value = 1.59, unit = "TOPS/mm2", source = "..."}   # optional
    breakdown = {adc = 0.45, array = 0.2}     # optional, published energy fractions
    breakdown_source = "Fig. 5c"              # required with breakdown
    note = "free text"                        # optional

    [[validation.point]]       # optional further operating points
    name = "0.85 V"
    set = {"technology.supply_voltage" = "0.85 V"}     # overrides, as hw_models.load(path, **set)
    tops_per_w = {value = 400, unit = "TOPS/W", source = "..."}

:func:`validate_validation` checks the table when the preset is loaded (``hw_models.load``
keeps working on a chip file; the checked table is ``hw.params["validation"]``). Every
mistake is one :class:`~hw_models.errors.HardwareConfigError` line naming the file, the key
and what was expected. The override values of a point are checked here as far as the schema
allows; that they make a valid chip together is checked when the point is loaded.

Example::

    >>> from hw_models.chipfile import validate_validation
    >>> v = validate_validation({"chip": "X", "paper": "P", "boundary": ["adc"], "tiles": 1,
    ...     "vectors": 10, "ops_per_mac": 2,
    ...     "tops_per_w": {"value": 5, "unit": "TOPS/W", "source": "Table 1"}}, "x.toml", "crossbar")
    >>> v["tops_per_w"].si, v["rows_used"].si, v["point"]
    (5000000000000.0, 1.0, [])
"""
from __future__ import annotations

from typing import Any

from hw_models.errors import HardwareConfigError

#: keys of ``[validation]`` -> what they are (for the messages and docs/validation.md)
KEYS = {
    "chip": "a display name (string)", "paper": "the paper measured (string)",
    "boundary": "a list of estimate components inside the measured figure",
    "tiles": "a positive integer (arrays busy in the measured workload)",
    "rows_used": "a ratio in (0, 1]", "cols_used": "a ratio in (0, 1]",
    "vectors": "a positive integer (input vectors per array)",
    "ops_per_mac": "a positive integer (ops the paper counts per MAC)",
    "tops_per_w": "a published efficiency {value, unit = \"TOPS/W\", source}",
    "tops_per_mm2": "a published density {value, unit = \"TOPS/mm2\", source}",
    "breakdown": "a table component -> published energy fraction",
    "breakdown_source": "where the published breakdown is (string)",
    "note": "free text", "point": "a list of [[validation.point]] tables",
}
REQUIRED = ("chip", "paper", "boundary", "tiles", "vectors", "ops_per_mac", "tops_per_w")
POINT_KEYS = ("name", "set", "tops_per_w", "tops_per_mm2", "note")


def _err(where: str, table: str, key: str, expected: str, got: Any) -> HardwareConfigError:
    return HardwareConfigError(f"{where}: [{table}] {key}: expected {expected}, got {got!r}")


def _positive_int(where: str, table: str, key: str, v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise _err(where, table, key, KEYS.get(key, "a positive integer"), v)
    return v


def _text(where: str, table: str, key: str, v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _err(where, table, key, "a non-empty string", v)
    return v


def _figure(where: str, table: str, key: str, dim: str, v: Any) -> Any:
    """A published figure: a quantity table with a source, strictly positive."""
    from hw_models.config import _check_quantity

    q = _check_quantity(where, table, key, dim, v)
    if q.si <= 0:
        raise _err(where, table, key, f"a positive {dim.replace('_', ' ')}", q.value)
    return q


def _fraction_used(where: str, key: str, v: Any) -> Any:
    from hw_models.config import _check_quantity

    q = _check_quantity(where, "validation", key, "ratio", v)
    if not 0 < q.si <= 1:
        raise _err(where, "validation", key, "a ratio in (0, 1] (the fraction in use)", q.value)
    return q


def _check_set(where: str, table: str, sets: Any, family: str | None, kind: str | None) -> dict[str, Any]:
    """The overrides of a point: known ``table.key`` names (or flat aliases), values of the
    right kind; ``[noise]`` values are left to the noise models at load time."""
    from hw_models.config import _check_value, override_aliases, schema_for

    if not isinstance(sets, dict) or not sets:
        raise _err(where, table, "set", "a non-empty table of overrides {\"table.key\" = value}", sets)
    schema, aliases = schema_for(family, kind), override_aliases(family)
    for name, v in sets.items():
        if name in aliases:
            section, k = aliases[name]
        elif "." in name:
            section, k = name.split(".", 1)
        else:
            raise _err(where, table, f"set.{name}", f"an override 'table.key' or one of {sorted(aliases)}",
                       name)
        if section == "noise":
            continue
        if section == "validation" or section not in schema or schema[section] is None:
            known = sorted(s for s in schema if s not in ("noise", "validation"))
            raise _err(where, table, f"set.{name}", f"an override of a table in {known}", section)
        if k not in schema[section]:
            raise _err(where, table, f"set.{name}", f"a key of [{section}], one of {sorted(schema[section])}", k)
        try:
            _check_value(f"{where} (override)", section, k, schema[section][k], v)
        except HardwareConfigError as e:
            detail = str(e).split(": ", 2)[-1]
            raise HardwareConfigError(f"{where}: [{table}] set.{name}: {detail}") from None
    return dict(sets)


def validate_validation(table: Any, where: str, family: str | None = None,
                        kind: str | None = None) -> dict[str, Any]:
    """Check a ``[validation]`` table; return it with quantities as
    :class:`~hw_models.config.Quantity`, defaults filled (``rows_used``/``cols_used`` 1) and
    ``point`` a list (empty without ``[[validation.point]]``)."""
    from hw_models.config import Quantity
    from hw_models.family import COMPONENTS

    t = "validation"
    if not isinstance(table, dict):
        raise _err(where, t, "(table)", "a table", table)
    for key in table:
        if key not in KEYS:
            raise _err(where, t, key, f"one of {sorted(KEYS)}", "unknown key")
    for key in REQUIRED:
        if key not in table:
            raise _err(where, t, key, f"this required key ({KEYS[key]})", "missing")
    out: dict[str, Any] = {"chip": _text(where, t, "chip", table["chip"]),
                           "paper": _text(where, t, "paper", table["paper"])}
    b = table["boundary"]
    if (not isinstance(b, list) or not b or any(not isinstance(c, str) for c in b)
            or len(set(b)) != len(b)):
        raise _err(where, t, "boundary", f"a non-empty list of distinct components of {list(COMPONENTS)}", b)
    for c in b:
        if c not in COMPONENTS:
            raise _err(where, t, "boundary", f"components of {list(COMPONENTS)}", c)
    out["boundary"] = list(b)
    for key in ("tiles", "vectors", "ops_per_mac"):
        out[key] = _positive_int(where, t, key, table[key])
    for key in ("rows_used", "cols_used"):
        out[key] = (_fraction_used(where, key, table[key]) if key in table
                    else Quantity(si=1.0, value=1.0, unit="ratio", source="default: all in use"))
    out["tops_per_w"] = _figure(where, t, "tops_per_w", "ops_per_joule", table["tops_per_w"])
    if "tops_per_mm2" in table:
        out["tops_per_mm2"] = _figure(where, t, "tops_per_mm2", "op_rate_density", table["tops_per_mm2"])
    if "breakdown" in table:
        bd = table["breakdown"]
        if not isinstance(bd, dict) or not bd:
            raise _err(where, t, "breakdown", "a table component -> fraction of the measured energy", bd)
        for c, f in bd.items():
            if c not in out["boundary"]:
                raise _err(where, t, f"breakdown.{c}", f"a component of boundary {out['boundary']}", c)
            if not isinstance(f, (int, float)) or isinstance(f, bool) or not 0 <= f <= 1:
                raise _err(where, t, f"breakdown.{c}", "a fraction in [0, 1]", f)
        if sum(bd.values()) > 1.02:  # published percentages are rounded; more is a typo
            raise _err(where, t, "breakdown", "fractions summing to at most 1", round(sum(bd.values()), 4))
        if "breakdown_source" not in table:
            raise _err(where, t, "breakdown_source", "where the published breakdown is (required with "
                       "breakdown)", "missing")
        out["breakdown"] = {c: float(f) for c, f in bd.items()}
    if "breakdown_source" in table:
        out["breakdown_source"] = _text(where, t, "breakdown_source", table["breakdown_source"])
    if "note" in table:
        out["note"] = _text(where, t, "note", table["note"])
    points = table.get("point", [])
    if isinstance(points, dict):
        points = [points]
    if not isinstance(points, list):
        raise _err(where, t, "point", KEYS["point"], points)
    out["point"] = []
    for i, p in enumerate(points, 1):
        pt = f"validation.point {i}"
        if not isinstance(p, dict):
            raise _err(where, pt, "(table)", "a table", p)
        for key in p:
            if key not in POINT_KEYS:
                raise _err(where, pt, key, f"one of {list(POINT_KEYS)}", "unknown key")
        for key in ("name", "set", "tops_per_w"):
            if key not in p:
                raise _err(where, pt, key, "this required key", "missing")
        name = _text(where, pt, "name", p["name"])
        if any(q["name"] == name for q in out["point"]):
            raise _err(where, pt, "name", "a name no other point has", name)
        q = {"name": name, "set": _check_set(where, pt, p["set"], family, kind),
             "tops_per_w": _figure(where, pt, "tops_per_w", "ops_per_joule", p["tops_per_w"])}
        if "tops_per_mm2" in p:
            q["tops_per_mm2"] = _figure(where, pt, "tops_per_mm2", "op_rate_density", p["tops_per_mm2"])
        if "note" in p:
            q["note"] = _text(where, pt, "note", p["note"])
        out["point"].append(q)
    return out
