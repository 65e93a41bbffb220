"""Data converters: ADC energy, time and area as a function of resolution and sample rate.

The ADC model is fitted to B. Murmann, "ADC Performance Survey 1997-2025" (ISSCC and VLSI,
revision 2025-06-09; extract in ``hw_models/data/adc_survey.csv``). For designs published
since 2010 with 3 <= ENOB <= 14 and f_s >= 100 kS/s we fit, by least squares,

    log10(E_conv / J) = a + b * ENOB + c * log10(f_s / Hz)

(b comes out ~0.28, close to the Walden slope log10 2 = 0.30: energy doubles per bit in this
range). The *typical* envelope is the median of the residuals, the *state-of-the-art* envelope
the 10th percentile. At 8 bits and 1.28 GS/s this gives ~15 pJ typical and ~2.8 pJ SOTA,
against the survey's 14 pJ median and 1.1 pJ minimum for ENOB 7-9 at >= 1 GS/s; ISAAC's
1.56 pJ (and the Accelergy plug-in, another 10x lower) sit below even the SOTA envelope.
Nothing goes below the thermal limit E >= 8 kT * SNR (Murmann, survey notes).

Area is fitted the same way (median). ENOB is taken equal to the nominal bits (no ENOB loss).

Example::

    >>> from hw_models.converters import adc_energy_j
    >>> 5e-12 < adc_energy_j(8, 1.28e9, "typical") < 40e-12
    True
    >>> adc_energy_j(8, 1.28e9, "sota") < adc_energy_j(8, 1.28e9, "typical")
    True
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from hw_models.units import BOLTZMANN_J_K

SURVEY_CSV = Path(__file__).parent / "data" / "adc_survey.csv"
SURVEY_SOURCE = "Murmann ADC Performance Survey 1997-2025, rev. 2025-06-09 (ISSCC + VLSI)"
_FIT_FROM_YEAR = 2010
_ENVELOPE_QUANTILE = {"typical": 50.0, "sota": 10.0}


@dataclass(frozen=True)
class SurveyFit:
    """Coefficients of ``log10 E = a + b*ENOB + c*log10 fs`` and residual quantiles."""

    coef: tuple[float, float, float]
    offsets: dict[str, float]  # envelope -> residual quantile added to the fit
    area_coef: tuple[float, float, float]
    designs: int

    def energy_j(self, enob: float, fs_hz: float, envelope: str = "typical") -> float:
        a, b, c = self.coef
        return 10 ** (a + b * enob + c * math.log10(fs_hz) + self.offsets[envelope])

    def area_m2(self, enob: float, fs_hz: float) -> float:
        a, b, c = self.area_coef
        return 10 ** (a + b * enob + c * math.log10(fs_hz))


def _read_survey() -> list[dict[str, Any]]:
    with open(SURVEY_CSV, newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


@lru_cache(maxsize=1)
def survey_fit() -> SurveyFit:
    """Fit the survey once per process (666 rows, a few ms)."""
    X, y, Xa, ya = [], [], [], []
    for r in _read_survey():
        try:
            year, sndr = int(r["year"]), float(r["sndr_hf_db"])
            fs, p = float(r["fs_nyquist_hz"]), float(r["power_w"])
        except (TypeError, ValueError):
            continue
        enob = (sndr - 1.76) / 6.02
        if year < _FIT_FROM_YEAR or not 3 <= enob <= 14 or fs < 1e5 or p <= 0:
            continue
        row = [1.0, enob, math.log10(fs)]
        X.append(row)
        y.append(math.log10(p / fs))
        if r.get("area_mm2"):
            try:
                Xa.append(row)
                ya.append(math.log10(float(r["area_mm2"]) * 1e-6))
            except ValueError:
                Xa.pop()
    A, Y = np.asarray(X), np.asarray(y)
    coef, *_ = np.linalg.lstsq(A, Y, rcond=None)
    resid = Y - A @ coef
    offsets = {k: float(np.percentile(resid, q)) for k, q in _ENVELOPE_QUANTILE.items()}
    acoef, *_ = np.linalg.lstsq(np.asarray(Xa), np.asarray(ya), rcond=None)
    return SurveyFit(tuple(float(c) for c in coef), offsets, tuple(float(c) for c in acoef), len(Y))


def thermal_limit_j(bits: float, temperature_k: float = 300.0) -> float:
    """Minimum energy per conversion of a thermal-noise-limited ADC: 8 kT * SNR (linear),
    SNR = 6.02 b + 1.76 dB (Murmann, ADC survey notes)."""
    snr = 10 ** ((6.02 * bits + 1.76) / 10)
    return 8 * BOLTZMANN_J_K * temperature_k * snr


def adc_energy_j(bits: float, sample_rate_hz: float, envelope: str = "typical") -> float:
    """Energy per conversion from the survey envelope, never below the thermal limit."""
    e = survey_fit().energy_j(bits, sample_rate_hz, envelope)
    return max(e, thermal_limit_j(bits))


def adc_area_m2(bits: float, sample_rate_hz: float) -> float:
    """Median survey area of an ADC of this resolution and rate."""
    return survey_fit().area_m2(bits, sample_rate_hz)


def _scale(kind: str, bits: int, ref_bits: int) -> float:
    if kind == "constant":
        return 1.0
    if kind == "linear":
        return bits / ref_bits
    return 2.0 ** (bits - ref_bits)


@dataclass(frozen=True)
class ADC:
    """One ADC at a resolution: ``energy_j`` per conversion, ``conversion_time_s``, ``area_m2``.

    ``model = "survey"`` prices from the Murmann fit at the rate ``1/conversion_time``;
    ``"fixed"`` scales a preset energy by 2^(bits - ref_bits) (Walden regime); ``"ideal"`` is free
    and the simulation neither rounds nor clips.
    """

    bits: int
    model: str
    energy_j: float
    conversion_time_s: float
    area_m2: float
    overlaps_integration: bool

    @classmethod
    def from_params(cls, adc: dict[str, Any], bits: int, default_ref_bits: int | None = None,
                    tech: Any = None) -> "ADC":
        """``default_ref_bits``: the resolution the table's ``conversion_time`` (and ``area``)
        refer to when it has no ``ref_bits`` — the preset file's ``output_bits``, so that an
        ``adc_bits`` override follows ``time_scaling``. ``tech``: the chip's
        :class:`~hw_models.circuits.Technology` (``model = "circuit"`` prices the converter
        ``type`` from it; a ``fixed`` energy stated at ``energy_supply`` scales as V^2 to its supply)."""
        model = adc.get("model", "survey")
        ref_bits = adc.get("ref_bits", default_ref_bits or bits)
        t_ref = _q(adc, "conversion_time", 1e-9)
        t = t_ref * _scale(adc.get("time_scaling", "constant"), bits, ref_bits)
        if model == "ideal":
            return cls(bits, model, 0.0, t, 0.0, adc.get("overlaps_integration", True))
        if model == "survey":
            e = adc_energy_j(bits, 1.0 / t, adc.get("envelope", "typical"))
            area = _q(adc, "area", None)
            area = adc_area_m2(bits, 1.0 / t) if area is None else area * 2.0 ** (bits - ref_bits)
        elif model == "circuit":
            from hw_models.circuits import adc_energy_j as circuit_energy_j
            if tech is None:
                raise ValueError("[adc] model = \"circuit\" needs [hardware] technology_node")
            e = circuit_energy_j(adc.get("type", "sar"), bits, tech,
                                 unit_capacitance_f=_q(adc, "unit_capacitance", None),
                                 v_ref=_q(adc, "reference_voltage", None))
            area = _q(adc, "area", None)
            area = adc_area_m2(bits, 1.0 / t) if area is None else area * 2.0 ** (bits - ref_bits)
        else:
            e = _q(adc, "energy", 0.0) * 2.0 ** (bits - ref_bits) * _supply_scale(adc, tech)
            area = _q(adc, "area", 0.0) * 2.0 ** (bits - ref_bits)
        return cls(bits, model, e, t, area, adc.get("overlaps_integration", False))


@dataclass(frozen=True)
class DAC:
    """One DAC (or row driver) conversion: ``energy_j``, ``conversion_time_s``, ``area_m2``.

    Bit-serial inputs use a 1-bit DAC ``bits`` times; multi-level inputs one conversion at
    ``bits`` (energy scaled by ``energy_scaling`` from ``ref_bits``); PWM one pulse.
    ``model = "ideal"``: free, and the simulation applies exact inputs.
    """

    bits: int
    energy_j: float
    conversion_time_s: float
    area_m2: float
    model: str = "fixed"

    @classmethod
    def from_params(cls, dac: dict[str, Any], bits: int, tech: Any = None) -> "DAC":
        """``model = "driver"``: ``energy_j`` is 0 here; the tile family prices the driver from
        the line it drives (:meth:`hw_models.family.TileFamily.dac_energy_j`)."""
        if dac.get("model") == "ideal":
            return cls(bits, 0.0, _q(dac, "conversion_time", 1e-9), 0.0, "ideal")
        if dac.get("model") == "driver":
            return cls(bits, 0.0, _q(dac, "conversion_time", 1e-9), _q(dac, "area", 0.0), "driver")
        ref = dac.get("ref_bits", bits)
        s = _scale(dac.get("energy_scaling", "exponential"), bits, ref)
        return cls(bits, _q(dac, "energy", 0.0) * s * _supply_scale(dac, tech), _q(dac, "conversion_time", 1e-9),
                   _q(dac, "area", 0.0) * s)


def _supply_scale(table: dict[str, Any], tech: Any) -> float:
    """(V_dd / energy_supply)^2 for an energy stated at ``energy_supply`` (1 when not stated)."""
    v0 = _q(table, "energy_supply", None)
    return 1.0 if v0 is None or tech is None else tech.voltage_scale(v0)


def _q(table: dict[str, Any], key: str, default: float | None) -> float | None:
    """SI value of a validated quantity, or ``default`` when the preset omits it."""
    v = table.get(key)
    return default if v is None else v.si
