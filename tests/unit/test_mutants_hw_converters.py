"""Data converters (hw_models.converters): the survey fit as its docstring states it, the
thermal floor, ADC/DAC scaling with resolution. Written from scripts/mutation.sh's surviving
mutants; milliseconds per test.
"""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from hw_models import converters as cv
from hw_models.config import Quantity
from hw_models.units import BOLTZMANN_J_K


def approx(expected, rel=1e-9, abs=0.0):
    """pytest.approx without its 1e-12 absolute tolerance (energies here are ~1e-12 J and below)."""
    return pytest.approx(expected, rel=rel, abs=abs)


def q(si):
    return Quantity(si=si, value=si, unit="x", source="test")


def _fit_by_hand():
    """The fit of the module docstring, recomputed here: designs since 2010 with
    3 <= ENOB <= 14 and f_s >= 100 kS/s, log10(P/fs) = a + b ENOB + c log10 fs."""
    X, y, Xa, ya = [], [], [], []
    with open(cv.SURVEY_CSV, newline="") as f:
        for r in csv.DictReader(ln for ln in f if not ln.startswith("#")):
            try:
                year, sndr, fs, p = int(r["year"]), float(r["sndr_hf_db"]), float(r["fs_nyquist_hz"]), float(r["power_w"])
            except (TypeError, ValueError):
                continue
            enob = (sndr - 1.76) / 6.02
            if year >= 2010 and 3 <= enob <= 14 and fs >= 1e5 and p > 0:
                X.append([1.0, enob, math.log10(fs)])
                y.append(math.log10(p / fs))
                try:
                    ya.append(math.log10(float(r["area_mm2"]) * 1e-6))
                    Xa.append(X[-1])
                except ValueError:
                    pass
    return np.array(X), np.array(y), np.array(Xa), np.array(ya)


def test_survey_fit_is_the_documented_least_squares_fit():
    X, y, Xa, ya = _fit_by_hand()
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    acoef = np.linalg.lstsq(Xa, ya, rcond=None)[0]
    fit = cv.survey_fit.__wrapped__()  # not the per-process cache: the fit itself
    assert fit == cv.survey_fit()
    # pins: the selection of designs, the model, the median / 10th percentile envelopes
    assert fit.designs == len(y) == 340
    assert fit.coef == approx(tuple(coef), rel=1e-9)
    assert fit.area_coef == approx(tuple(acoef), rel=1e-9)
    resid = y - X @ coef
    assert fit.offsets == approx({"typical": np.percentile(resid, 50), "sota": np.percentile(resid, 10)})
    assert 0.25 < fit.coef[1] < 0.31  # ~ Walden slope log10(2) per bit, as documented


def test_fit_evaluation():
    fit = cv.survey_fit()
    a, b, c = fit.coef
    # pins: E = 10^(a + b ENOB + c log10 fs + envelope offset), area likewise without offset
    assert fit.energy_j(8, 1e9) == approx(10 ** (a + 8 * b + 9 * c + fit.offsets["typical"]), rel=1e-12)
    assert fit.energy_j(6, 1e8, "sota") == approx(10 ** (a + 6 * b + 8 * c + fit.offsets["sota"]), rel=1e-12)
    a, b, c = fit.area_coef
    assert fit.area_m2(8, 1e9) == approx(10 ** (a + 8 * b + 9 * c), rel=1e-12)
    assert cv.adc_area_m2(8, 1e9) == fit.area_m2(8, 1e9)
    # pins: the docstring's figures at 8 bits and 1.28 GS/s (~15 pJ typical, ~2.8 pJ SOTA)
    assert cv.adc_energy_j(8, 1.28e9) == approx(15.2e-12, rel=0.01)
    assert cv.adc_energy_j(8, 1.28e9, "sota") == approx(2.75e-12, rel=0.01)


def test_read_survey_skips_the_comment_lines():
    rows = cv._read_survey()
    # pins: the csv's '#' header lines are not data: 666 designs, the columns of the header row
    assert len(rows) == 666
    assert list(rows[0])[:3] == ["year", "conference", "id"] and rows[0]["year"] == "1997"


def test_thermal_limit_and_floor():
    # pins: 8 kT SNR with SNR = 6.02 b + 1.76 dB
    assert cv.thermal_limit_j(8) == approx(8 * BOLTZMANN_J_K * 300 * 10 ** ((6.02 * 8 + 1.76) / 10), rel=1e-12)
    assert cv.thermal_limit_j(4, 77.0) == approx(8 * BOLTZMANN_J_K * 77 * 10 ** ((6.02 * 4 + 1.76) / 10), rel=1e-12)
    # pins: the survey envelope is used where it lies above the floor, the floor below it
    for bits, fs in [(14, 1e3), (14, 1e5), (12, 1e2)]:
        assert cv.adc_energy_j(bits, fs) == max(cv.survey_fit().energy_j(bits, fs), cv.thermal_limit_j(bits))
    assert cv.survey_fit().energy_j(14, 1e-9) < cv.thermal_limit_j(14)
    assert cv.adc_energy_j(14, 1e-9) == cv.thermal_limit_j(14)  # floor wins


def test_scale_kinds():
    # pins: constant 1, linear b/ref, exponential 2^(b-ref)
    assert cv._scale("constant", 6, 8) == 1.0
    assert cv._scale("linear", 6, 8) == 0.75
    assert cv._scale("exponential", 6, 8) == 0.25
    assert cv._scale("anything", 10, 8) == 4.0


def test_adc_survey_model():
    adc = cv.ADC.from_params({"conversion_time": q(2e-9), "time_scaling": "linear", "ref_bits": 8}, 6)
    # pins: time scales with the resolution from ref_bits; energy from the survey at 1/t
    assert adc.conversion_time_s == approx(2e-9 * 6 / 8)
    assert adc.energy_j == approx(cv.adc_energy_j(6, 1 / (1.5e-9), "typical"))
    assert adc.area_m2 == approx(cv.adc_area_m2(6, 1 / 1.5e-9))
    assert (adc.bits, adc.model, adc.overlaps_integration) == (6, "survey", False)
    s = cv.ADC.from_params({"envelope": "sota", "area": q(1e-9), "ref_bits": 8}, 6)
    # pins: default 1 ns, sota envelope, a stated area scaled 2^(bits - ref)
    assert s.conversion_time_s == 1e-9
    assert s.energy_j == approx(cv.adc_energy_j(6, 1e9, "sota"))
    assert s.area_m2 == approx(1e-9 / 4)
    d = cv.ADC.from_params({"conversion_time": q(1e-9), "time_scaling": "exponential"}, 6, default_ref_bits=4)
    # pins: without ref_bits the file's output_bits is the reference
    assert d.conversion_time_s == approx(4e-9)
    assert cv.ADC.from_params({"time_scaling": "exponential"}, 6).conversion_time_s == 1e-9  # ref = bits


def test_adc_fixed_and_ideal():
    f = cv.ADC.from_params({"model": "fixed", "energy": q(2e-12), "area": q(1e-8), "ref_bits": 8,
                            "overlaps_integration": True}, 10)
    # pins: fixed energy and area scale 2^(bits - ref) (Walden regime)
    assert (f.energy_j, f.area_m2) == (approx(8e-12), approx(4e-8))
    assert f.overlaps_integration is True and f.model == "fixed"
    assert cv.ADC.from_params({"model": "fixed"}, 10).energy_j == 0.0
    assert cv.ADC.from_params({"model": "fixed"}, 10).area_m2 == 0.0
    i = cv.ADC.from_params({"model": "ideal", "conversion_time": q(3e-9)}, 10)
    # pins: an ideal ADC is free, keeps its time, overlaps integration by default
    assert (i.energy_j, i.area_m2, i.conversion_time_s, i.overlaps_integration, i.model) == \
        (0.0, 0.0, 3e-9, True, "ideal")


def test_dac():
    d = cv.DAC.from_params({"energy": q(1e-12), "area": q(2e-9), "ref_bits": 8, "conversion_time": q(5e-10)}, 6)
    # pins: exponential energy scaling by default, area alike, time as stated
    assert (d.energy_j, d.area_m2, d.conversion_time_s, d.model) == \
        (approx(0.25e-12), approx(0.5e-9), 5e-10, "fixed")
    lin = cv.DAC.from_params({"energy": q(1e-12), "ref_bits": 8, "energy_scaling": "linear"}, 6)
    assert lin.energy_j == approx(0.75e-12) and lin.conversion_time_s == 1e-9 and lin.area_m2 == 0.0
    assert cv.DAC.from_params({"energy": q(1e-12)}, 6).energy_j == 1e-12  # ref = bits
    assert cv.DAC.from_params({}, 6).energy_j == 0.0
    i = cv.DAC.from_params({"model": "ideal", "energy": q(1.0)}, 6)
    assert (i.energy_j, i.area_m2, i.conversion_time_s, i.model, i.bits) == (0.0, 0.0, 1e-9, "ideal", 6)


def test_q_default():
    # pins: a missing quantity takes the default, a present one its SI value
    assert cv._q({}, "k", 7.0) == 7.0 and cv._q({"k": q(3.0)}, "k", 7.0) == 3.0
    assert cv._q({"k": None}, "k", None) is None
