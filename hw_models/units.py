"""Units: every quantity inside ``hw_models`` and ``analogc.estimate`` is SI (J, s, W, m, m²,
Hz, V, S, F, bytes). Preset files give each constant a unit; :func:`to_si` converts it once, at
load time. Reports convert back (pJ, µs, mm²) only when they print.

Example::

    >>> to_si(1.2, "fJ")
    1.2e-15
    >>> dimension("mm2")
    'area'
"""
from __future__ import annotations

_PREFIX = {"y": 1e-24, "z": 1e-21, "a": 1e-18, "f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6,
           "µ": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}

# base unit -> (dimension, factor to SI)
_BASE = {
    "J": ("energy", 1.0),
    "W": ("power", 1.0),
    "s": ("time", 1.0),
    "Hz": ("frequency", 1.0),
    "V": ("voltage", 1.0),
    "S": ("conductance", 1.0),
    "F": ("capacitance", 1.0),
    "A": ("current", 1.0),
    "m": ("length", 1.0),
    "m2": ("area", 1.0),
    "J/bit": ("energy_per_bit", 1.0),
    "J/B": ("energy_per_byte", 1.0),
    "J/conversion": ("energy", 1.0),
    "J/step": ("energy", 1.0),  # Walden figure of merit: energy per conversion step
    "J/op": ("energy", 1.0),
    "J/FLOP": ("energy", 1.0),
    "B": ("bytes", 1.0),
    "B/s": ("bandwidth", 1.0),
    "bit/s": ("bandwidth", 0.125),
    "FLOP/s": ("op_rate", 1.0),
    "OP/s": ("op_rate", 1.0),
    "FLOPS": ("op_rate", 1.0),
    "OPS": ("op_rate", 1.0),
    "W/m2": ("power_density", 1.0),
    "F/m": ("capacitance_per_length", 1.0),
}
_PLAIN = {
    "1": ("ratio", 1.0), "ratio": ("ratio", 1.0), "%": ("ratio", 0.01),
    "dB": ("decibel", 1.0), "rad": ("angle", 1.0), "photons": ("count", 1.0),
    "count": ("count", 1.0), "bits": ("count", 1.0), "cycles": ("count", 1.0),
    "nm_node": ("length", 1e-9),
    "mm2": ("area", 1e-6), "um2": ("area", 1e-12), "µm2": ("area", 1e-12), "nm2": ("area", 1e-18),
    "cm2": ("area", 1e-4), "m2": ("area", 1.0),
    "GB": ("bytes", 1e9), "MB": ("bytes", 1e6), "kB": ("bytes", 1e3), "KB": ("bytes", 1e3),
    "GiB": ("bytes", 2.0**30), "MiB": ("bytes", 2.0**20), "KiB": ("bytes", 2.0**10), "B": ("bytes", 1.0),
    "GB/s": ("bandwidth", 1e9), "TB/s": ("bandwidth", 1e12), "MB/s": ("bandwidth", 1e6),
    "min": ("time", 60.0), "h": ("time", 3600.0),
    "fF/um": ("capacitance_per_length", 1e-9), "aF/um": ("capacitance_per_length", 1e-12),
    "TOPS/W": ("ops_per_joule", 1e12), "GOPS/W": ("ops_per_joule", 1e9),
    "TOPS/mm2": ("op_rate_density", 1e18), "GOPS/mm2": ("op_rate_density", 1e15),
}


class UnitError(ValueError):
    """An unknown unit string."""


def parse_unit(unit: str) -> tuple[str, float]:
    """(dimension, factor to SI) of a unit string such as ``"pJ"``, ``"mm2"``, ``"pJ/bit"``."""
    u = unit.strip()
    if u in _PLAIN:
        return _PLAIN[u]
    for base in sorted(_BASE, key=len, reverse=True):
        if u.endswith(base):
            pre = u[: len(u) - len(base)]
            if pre in _PREFIX:
                dim, f = _BASE[base]
                if base == "m2":  # a prefix on m2 is squared: um2 = (1e-6 m)^2
                    return dim, f * _PREFIX[pre] ** 2
                return dim, f * _PREFIX[pre]
    raise UnitError(f"unknown unit {unit!r}")


def to_si(value: float, unit: str) -> float:
    """``value`` in ``unit`` converted to SI."""
    return float(value) * parse_unit(unit)[1]


def dimension(unit: str) -> str:
    return parse_unit(unit)[0]


# physical constants (CODATA 2018 exact values)
PLANCK_J_S = 6.62607015e-34
LIGHT_M_S = 299792458.0
BOLTZMANN_J_K = 1.380649e-23
ELEMENTARY_CHARGE_C = 1.602176634e-19


def photon_energy_j(wavelength_m: float) -> float:
    """h·c/λ; 1550 nm -> 1.28e-19 J (0.128 aJ)."""
    return PLANCK_J_S * LIGHT_M_S / wavelength_m


def landauer_j(temperature_k: float = 300.0) -> float:
    """k·T·ln2, the minimum energy to erase one bit; 300 K -> 2.87e-21 J."""
    import math
    return BOLTZMANN_J_K * temperature_k * math.log(2)
