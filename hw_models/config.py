"""Preset files: schema, validation and loading.

A preset is a TOML file with one table per part of the hardware. Structural settings (rows,
bits, policy names) are plain values; every physical constant is a table with its value, its
unit and its source::

    [adc]
    model = "survey"
    envelope = "typical"
    conversion_time = {value = 1, unit = "ns", source = "ISAAC, Shafiee et al. ISCA 2016, Table 2"}

Quantities are converted to SI once, here (see :mod:`hw_models.units`). A missing unit or
source, an unknown key, a value of the wrong kind or dimension is a :class:`HardwareConfigError`
whose one-line message names the file, the key and what was expected.

Example::

    >>> import hw_models
    >>> hw = hw_models.load("pcm-hermes", adc_bits=6, rows=512)
    >>> hw.output_bits, hw.tile.rows
    (6, 512)
"""
from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hw_models.circuits import ADC_TYPES
from hw_models.base import MATMUL_POLICIES, ChipSpec, Hardware, TileSpec
from hw_models.errors import HardwareConfigError
from hw_models.noise import validate_noise
from hw_models.registry import FAMILIES, family_class
from hw_models.units import UnitError, parse_unit

PRESET_DIR = Path(__file__).parent / "presets"
DEFAULT_PRESET = "pcm-hermes"


# ---------------------------------------------------------------------------------------
# schema: section -> key -> kind
#   "int+"  positive integer        "int0" non-negative integer    "bool"   true/false
#   "str"   free text               ("choice", (...))              ("q", dimension) quantity
#   ("q0", dim) optional quantity that may also be a plain 0
# ---------------------------------------------------------------------------------------
Q = lambda dim: ("q", dim)  # noqa: E731
_BITS = "bits"  # integer 1..32

#: the tables every analog preset may have; each tile family adds its own (``sections``)
SCHEMA: dict[str, dict[str, Any]] = {
    "hardware": {
        "name": "str", "description": "str", "kind": ("choice", ("analog", "baseline", "ideal")),
        "dynamic_matmul": ("choice", MATMUL_POLICIES), "input_bits": _BITS, "output_bits": _BITS,
        "technology_node": Q("length"), "source": "str",
    },
    "tile": {
        "family": ("choice", tuple(FAMILIES)), "device": "str", "rows": "int+", "cols": "int+",
        "weight_bits": _BITS, "cell_bits": _BITS, "devices_per_cell": "int+",
        "static_weights": "bool", "dynamic_operands": "bool",
        "input_encoding": ("choice", ("pwm", "bit-serial", "multi-level")),
        "cols_per_adc": "int+", "area": Q("area"), "static_power": Q("power"), "source": "str",
        "slice_combining": ("choice", ("digital", "analog")),
        "input_accumulation": ("choice", ("digital", "analog")),
    },
    "chip": {
        "tiles_per_chip": "int+", "chips": "int+", "static_power": Q("power"),
        "area_overhead": Q("ratio"), "source": "str",
    },
    "technology": {  # stock constants of hw_models.circuits (defaults there, with sources)
        "supply_voltage": Q("voltage"), "wire_capacitance": Q("capacitance_per_length"),
        "gate_toggles_per_add8": Q("count"), "comparator_gates": Q("count"),
        "sar_logic_gates": Q("count"), "unit_capacitance": Q("capacitance"), "cco_stages": Q("count"),
        "mirror_ratio": Q("ratio"),
        "source": "str",
    },
    "adc": {
        "model": ("choice", ("survey", "fixed", "ideal", "circuit")),
        "type": ("choice", ADC_TYPES), "unit_capacitance": Q("capacitance"),
        "reference_voltage": Q("voltage"), "energy_supply": Q("voltage"), "envelope": ("choice", ("sota", "typical")),
        "energy": Q("energy"), "ref_bits": _BITS, "conversion_time": Q("time"),
        "time_scaling": ("choice", ("constant", "linear", "exponential")),
        "area": Q("area"), "overlaps_integration": "bool", "sample_rate": Q("frequency"),
    },
    "dac": {
        "model": ("choice", ("fixed", "ideal", "driver")), "energy_supply": Q("voltage"),
        "drive_voltage": Q("voltage"), "pitch": Q("length"), "cell_load": Q("capacitance"),
        "pulse_mode": ("choice", ("width", "count")), "energy": Q("energy"), "ref_bits": _BITS,
        "energy_scaling": ("choice", ("constant", "linear", "exponential")),
        "conversion_time": Q("time"), "area": Q("area"),
    },
    "programming": {
        "write_energy": Q("energy"), "write_time": Q("time"), "parallel_writes": "int+",
    },
    "memory": {
        "buffer_size": Q("bytes"), "offchip": ("choice", ("dram", "hbm")),
        "dram_energy_per_bit": Q("energy_per_bit"), "hbm_energy_per_bit": Q("energy_per_bit"),
        "offchip_bandwidth": Q("bandwidth"), "buffer_bandwidth": Q("bandwidth"),
        "activation_bytes": Q("bytes"),
    },
    "digital": {
        "precision": ("choice", ("fp16", "fp32", "int8", "int32")),
        "ops_per_s": Q("op_rate"), "partial_sum_precision": ("choice", ("int8", "int32", "fp16", "fp32")),
    },
    "baseline": {
        "peak_flops": Q("op_rate"), "power": Q("power"), "achieved_fraction": Q("ratio"),
        "memory_bandwidth": Q("bandwidth"), "bandwidth_fraction": Q("ratio"),
        "memory_energy_per_bit": Q("energy_per_bit"), "mac_energy": Q("energy"),
        "weight_bytes": Q("bytes"), "area": Q("area"), "onchip_memory": Q("bytes"),
        "memory_bound_power": Q("power"),
    },
    "noise": None,  # the family's noise models validate it (hw_models.noise.validate_noise)
    "validation": None,  # a chip file's measured figures (hw_models.chipfile.validate_validation)
}


def schema_for(family: str | None, kind: str | None = None) -> dict[str, Any]:
    """The tables a preset may have: a digital baseline (``kind = "baseline"``) its two; an
    analog preset the common ones and its tile family's own."""
    if kind == "baseline":
        return {"hardware": SCHEMA["hardware"], "baseline": SCHEMA["baseline"]}
    out = {k: v for k, v in SCHEMA.items() if k != "baseline"}
    if family in FAMILIES:
        out.update(family_class(family).sections)
    return out


#: flat override names -> (section, key); anything else may be given as "section.key"
OVERRIDE_ALIASES: dict[str, tuple[str, str]] = {
    "adc_bits": ("hardware", "output_bits"), "output_bits": ("hardware", "output_bits"),
    "dac_bits": ("hardware", "input_bits"), "input_bits": ("hardware", "input_bits"),
    "dac_model": ("dac", "model"),
    "dynamic_matmul": ("hardware", "dynamic_matmul"),
    "rows": ("tile", "rows"), "cols": ("tile", "cols"), "weight_bits": ("tile", "weight_bits"),
    "cell_bits": ("tile", "cell_bits"), "devices_per_cell": ("tile", "devices_per_cell"),
    "cols_per_adc": ("tile", "cols_per_adc"), "input_encoding": ("tile", "input_encoding"),
    "tiles_per_chip": ("chip", "tiles_per_chip"), "chips": ("chip", "chips"),
    "adc_envelope": ("adc", "envelope"), "adc_model": ("adc", "model"),
    "offchip": ("memory", "offchip"), "technology_node": ("hardware", "technology_node"),
    "supply_voltage": ("technology", "supply_voltage"), "adc_type": ("adc", "type"),
}


def override_aliases(family: str | None) -> dict[str, tuple[str, str]]:
    """Flat override names of a family's presets: the common ones and the family's own."""
    out = dict(OVERRIDE_ALIASES)
    if family in FAMILIES:
        out.update(family_class(family).aliases)
    return out

_REQUIRED = {"hardware": ("name",), "tile": ("family", "rows", "cols"), "chip": ("tiles_per_chip",)}


#: quantities for which zero is meaningless (and would price below the physical floor)
_STRICTLY_POSITIVE = {("freespace", "photons_per_mac"): "zero photons carry no signal"}


@dataclass(frozen=True)
class Quantity:
    """A validated constant: SI value plus what the file said (value, unit, source)."""

    si: float
    value: float
    unit: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "source": self.source, "si": self.si}


# ---------------------------------------------------------------------------------------
def _err(where: str, section: str, key: str, expected: str, got: Any) -> HardwareConfigError:
    return HardwareConfigError(f"{where}: [{section}] {key}: expected {expected}, got {got!r}")


def _check_value(where: str, section: str, key: str, kind: Any, v: Any) -> Any:
    if kind == "int+" or kind == "int0":
        lo = 1 if kind == "int+" else 0
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise _err(where, section, key, "a positive integer" if lo else "an integer >= 0", v)
        return v
    if kind == _BITS:
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 32:
            raise _err(where, section, key, "an integer number of bits in 1..32", v)
        return v
    if kind == "bool":
        if not isinstance(v, bool):
            raise _err(where, section, key, "true or false", v)
        return v
    if kind == "str":
        if not isinstance(v, str):
            raise _err(where, section, key, "a string", v)
        return v
    tag, arg = kind
    if tag == "choice":
        if v not in arg:
            raise _err(where, section, key, f"one of {list(arg)}", v)
        return v
    if tag == "q":
        return _check_quantity(where, section, key, arg, v)
    raise AssertionError(kind)


def _check_quantity(where: str, section: str, key: str, dim: str, v: Any) -> Quantity:
    if isinstance(v, Quantity):
        return v
    if isinstance(v, str):  # override shorthand "30 mW"
        parts = v.split(None, 1)
        try:
            v = {"value": float(parts[0]), "unit": parts[1], "source": "user override"}
        except (ValueError, IndexError):
            raise _err(where, section, key, "a value with a unit such as '30 mW'", v) from None
    if isinstance(v, tuple) and len(v) == 2:
        v = {"value": v[0], "unit": v[1], "source": "user override"}
    if (isinstance(v, (int, float)) and not isinstance(v, bool) and dim in ("count", "ratio")
            and where.endswith("(override)")):  # dimensionless override: photons_per_mac=3.1
        v = {"value": v, "unit": "count" if dim == "count" else "ratio", "source": "user override"}
    if not isinstance(v, dict):
        raise _err(where, section, key,
                   f"a table {{value = ..., unit = \"...\", source = \"...\"}} ({dim})", v)
    extra = set(v) - {"value", "unit", "source", "note"}
    if extra:
        raise _err(where, section, key, "only value, unit, source, note in the table", sorted(extra))
    if "unit" not in v:
        raise _err(where, section, key, f"a unit for this {dim} (missing 'unit')", v)
    if not v.get("source"):
        raise _err(where, section, key, "a source (paper, year, table) for this constant", v)
    val = v.get("value")
    if not isinstance(val, (int, float)) or isinstance(val, bool):
        raise _err(where, section, key, "a numeric value", val)
    try:
        got_dim, factor = parse_unit(str(v["unit"]))
    except UnitError:
        raise _err(where, section, key, f"a known unit of {dim}", v["unit"]) from None
    if got_dim != dim:
        raise _err(where, section, key, f"a unit of {dim}", v["unit"])
    if val < 0 and dim not in ("decibel",):
        raise _err(where, section, key, f"a non-negative {dim}", val)
    if val == 0 and (section, key) in _STRICTLY_POSITIVE:
        raise _err(where, section, key, f"a positive {dim} ({_STRICTLY_POSITIVE[section, key]})", val)
    if dim == "ratio" and val * factor > 1e6:
        raise _err(where, section, key, "a ratio", val)
    return Quantity(si=float(val) * factor, value=float(val), unit=str(v["unit"]), source=str(v["source"]))


def validate(raw: dict[str, Any], where: str, noise_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check a parsed preset against the schema of its tile family; return it with quantities
    as :class:`Quantity` and the ``[noise]`` table validated by the family's noise models."""
    is_baseline = raw.get("hardware", {}).get("kind") == "baseline"
    family = raw.get("tile", {}).get("family") if isinstance(raw.get("tile"), dict) else None
    schema = schema_for(family, raw.get("hardware", {}).get("kind"))
    out: dict[str, Any] = {}
    for section, table in raw.items():
        if section not in schema:
            what = f"a table of a {family} preset" if family in FAMILIES else "a known table"
            raise _err(where, section, "(table)", f"{what}, one of {sorted(schema)}", section)
        if not isinstance(table, dict):
            raise _err(where, section, "(table)", "a table", table)
        if section == "noise":
            continue
        if section == "validation":
            from hw_models.chipfile import validate_validation
            out[section] = validate_validation(table, where, family, raw.get("hardware", {}).get("kind"))
            continue
        keys = schema[section]
        out[section] = {}
        for key, v in table.items():
            if key not in keys:
                raise _err(where, section, key, f"one of {sorted(keys)}", "unknown key")
            out[section][key] = _check_value(where, section, key, keys[key], v)
    for section, req in _REQUIRED.items():
        if is_baseline and section != "hardware":
            continue
        for key in req:
            if key not in out.get(section, {}):
                raise _err(where, section, key, "this required key", "missing")
    if not is_baseline:
        models = family_class(out["tile"]["family"]).noise_models
        table = dict(raw.get("noise") or {})
        if not table and out["hardware"].get("kind") == "ideal":
            table = {"model": "ideal"}
        out["noise"] = validate_noise(models, table, where, noise_overrides)
    return out


# ---------------------------------------------------------------------------------------
def preset_path(name_or_path: str | Path) -> Path:
    """The file of a preset name (``"pcm-hermes"``) or an explicit ``.toml`` path."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.exists():
            raise HardwareConfigError(f"{p}: preset file not found")
        return p
    cand = PRESET_DIR / f"{name_or_path}.toml"
    if not cand.exists():
        raise HardwareConfigError(
            f"hardware {str(name_or_path)!r}: expected a preset name (one of {preset_names(all=True)}) "
            f"or a path to a .toml file")
    return cand


def preset_names(all: bool = False) -> list[str]:
    """Names of the shipped presets; baselines only with ``all=True``."""
    names = sorted(p.stem for p in PRESET_DIR.glob("*.toml"))
    if all:
        return names
    return [n for n in names if _read_raw(PRESET_DIR / f"{n}.toml").get("hardware", {}).get("kind") != "baseline"]


def _read_raw(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise HardwareConfigError(f"{path}: not valid TOML ({e})") from None


_CACHE: dict[str, tuple[float, dict[str, Any], dict[str, Any]]] = {}


def load_params(name_or_path: str | Path, **overrides: Any) -> dict[str, Any]:
    """The validated preset as nested dicts (quantities as :class:`Quantity`), overrides applied."""
    path = preset_path(name_or_path)
    key = str(path.resolve())
    mtime = path.stat().st_mtime
    hit = _CACHE.get(key)
    if hit is None or hit[0] != mtime:
        raw = _read_raw(path)
        hit = (mtime, raw, validate(raw, str(path)))
        _CACHE[key] = hit
    raw, params = hit[1], copy.deepcopy(hit[2])
    # what the file's per-tile and per-converter constants refer to (tile area and static
    # power are stated for the file's geometry, a conversion time for its ADC resolution);
    # overrides of rows/cols/bits rescale from these instead of silently reusing them
    ft, fh = hit[2].get("tile", {}), hit[2].get("hardware", {})
    params["_reference"] = {"rows": ft.get("rows"), "cols": ft.get("cols"),
                            "devices_per_cell": ft.get("devices_per_cell", 1),
                            "cols_per_adc": ft.get("cols_per_adc", 1),
                            "output_bits": fh.get("output_bits", 8)}
    where = f"{path.name} (override)"
    family = ft.get("family")
    schema, aliases = schema_for(family, fh.get("kind")), override_aliases(family)
    noise_overrides: dict[str, Any] = {}
    for name, v in overrides.items():
        if name in aliases:
            section, k = aliases[name]
        elif "." in name or "__" in name:
            section, k = name.replace("__", ".").split(".", 1)
        else:
            raise HardwareConfigError(
                f"{where}: {name}: expected an override in {sorted(aliases)} or 'table.key'")
        if section == "noise" and "noise" in params:
            noise_overrides[k] = v
            continue
        if section not in schema or schema[section] is None:
            what = f"a table of a {family} preset" if family else "a known table"
            raise _err(where, section, k, f"{what}, one of {sorted(t for t in schema if t not in ('noise', 'validation'))}", section)
        if k not in schema[section]:
            raise _err(where, section, k, f"one of {sorted(schema[section])}", "unknown key")
        if section == "chip" and k == "chips" and v is None:
            params.get("chip", {}).pop("chips", None)
            continue
        params.setdefault(section, {})[k] = _check_value(where, section, k, schema[section][k], v)
    if noise_overrides:
        models = family_class(family).noise_models
        table = dict(raw.get("noise") or {})
        if not table and params["hardware"].get("kind") == "ideal":
            table = {"model": "ideal"}
        params["noise"] = validate_noise(models, table, where, noise_overrides)
    params["_file"] = str(path)
    params["_overrides"] = dict(overrides)
    return params


def build_hardware(params: dict[str, Any]) -> Hardware:
    """A :class:`Hardware` from validated params (the estimator reads ``params`` for costs)."""
    where = params.get("_file", "<preset>")
    h, t, c = params["hardware"], params["tile"], params["chip"]
    family_class(t["family"]).check_tile(t, where)
    try:
        tile = TileSpec(
            family=t["family"], rows=t["rows"], cols=t["cols"],
            weight_bits=t.get("weight_bits", 8), cell_bits=t.get("cell_bits", t.get("weight_bits", 8)),
            devices_per_cell=t.get("devices_per_cell", 1), static_weights=t.get("static_weights", True),
            dynamic_operands=t.get("dynamic_operands", False),
            analog_slices=t.get("slice_combining", "digital") == "analog")
        chip = ChipSpec(tiles_per_chip=c["tiles_per_chip"], chips=c.get("chips"))
        hw = Hardware(name=h["name"], tile=tile, chip=chip,
                      dynamic_matmul=h.get("dynamic_matmul", "digital"),
                      input_bits=h.get("input_bits", 8), output_bits=h.get("output_bits", 8),
                      description=h.get("description", ""), params=params)
    except ValueError as e:
        raise HardwareConfigError(f"{where}: {e}") from None
    return hw


def load(name_or_path: str | Path = DEFAULT_PRESET, **overrides: Any) -> Hardware:
    """Load a preset by name or path, apply overrides, validate, return a :class:`Hardware`.

    Overrides use flat names (``adc_bits``/``output_bits``, ``dac_bits``/``input_bits``, ``rows``,
    ``cols``, ``tiles_per_chip``, ``chips``, ``dynamic_matmul``, ``photons_per_mac``,
    ``phase_shifter``, ``adc_envelope``, ...) or ``"section.key"``; a quantity takes a string
    with its unit (``"mzi.hold_power_pi": "20 mW"``) or a ``(value, unit)`` pair.

    Example::

        >>> import hw_models
        >>> hw_models.load("pcm-hermes", adc_bits=6).output_bits
        6
        >>> round(hw_models.load("mzi", **{"mzi.settle_time": "5 us"}).params["mzi"]["settle_time"].si * 1e6, 9)
        5.0
    """
    if isinstance(name_or_path, Hardware):
        if overrides:
            return load(name_or_path.params["_file"], **{**name_or_path.params.get("_overrides", {}), **overrides})
        return name_or_path
    params = load_params(name_or_path, **overrides)
    if params["hardware"].get("kind") == "baseline":
        raise HardwareConfigError(
            f"{params['_file']}: [hardware] kind: expected an analog preset for load(); "
            f"{params['hardware']['name']!r} is a digital baseline (use hw_models.baseline())")
    return build_hardware(params)


def presets() -> list[str]:
    """Names of the analog (and ``ideal``) presets shipped with analogc."""
    return preset_names()


def baselines() -> list[str]:
    """Names of the digital baselines (``a100``, ``h100``, ``digital-int8``)."""
    return [n for n in preset_names(all=True) if n not in preset_names()]


def baseline(name_or_path: str | Path, **overrides: Any):
    """Load a digital baseline (``a100``, ``h100``, ``digital-int8``) as a
    :class:`hw_models.digital.Baseline`.

    Example::

        >>> import hw_models
        >>> hw_models.baseline("h100").energy_per_flop_j > 700 / 989e12
        True
    """
    from hw_models.digital import Baseline

    params = load_params(name_or_path, **overrides)
    if params["hardware"].get("kind") != "baseline":
        raise HardwareConfigError(f"{params['_file']}: [hardware] kind: expected 'baseline' for a "
                                  f"digital baseline, got {params['hardware'].get('kind')!r}")
    return Baseline(params)
