"""Area model (issue 9, item 10): the ADCs counted are the ADCs instantiated (cols / cols_per_adc),
on bottom-up tiles and on tiles whose area is measured; validated against ISAAC's published area
breakdown (Shafiee et al., ISCA 2016, Table 2) and the HERMES core (Khaddam-Aljameh et al.,
IEEE JSSC 2022).

ISAAC's figures below are written here, in the test, from the paper; the preset does not use
them: its ADC area is the measured area of the converter ISAAC adopts (Kull et al. ISSCC 2013,
a row of the Murmann survey), so the comparison is a prediction, not a fit.
"""
import math

import pytest

import hw_models

# Shafiee et al., ISCA 2016, Table 2 (32 nm): per IMA (8 crossbars of 128x128, 8 ADCs)
ISAAC_IMA_ADC_MM2 = 0.0096          # 8 ADCs, 8 bit, 1.28 GS/s
ISAAC_IMA_DAC_MM2 = 0.00017         # 8 x 128 1-bit DACs
ISAAC_IMA_SH_MM2 = 0.00004          # 8 x 128 sample-and-hold
ISAAC_IMA_ARRAY_MM2 = 0.0002        # 8 memristor arrays 128x128
ISAAC_IMAS_PER_TILE, ISAAC_TILES_PER_CHIP = 12, 168
ISAAC_CHIP_MM2 = 85.4               # whole chip, incl. eDRAM, routers, HyperTransport links


def _tile(name, **kw):
    return hw_models.load(name, **kw).tile_model


def test_rram_predicts_isaac_adc_and_analog_area_within_30_percent():
    """Tolerance 30% (the model uses Kull et al.'s measured 0.0015 mm2 where ISAAC scaled it
    to 0.0012 mm2: +25%). Source: Shafiee et al. ISCA 2016, Table 2."""
    hw = hw_models.load("rram")
    t = hw.tile_model
    parts = t.tile_area_breakdown_m2()
    assert t.n_adc == 1  # 128 columns, one ADC shared by 128 columns
    ima_adc_mm2 = 8 * parts["adc"] * 1e6
    assert ima_adc_mm2 == pytest.approx(ISAAC_IMA_ADC_MM2, rel=0.30)
    chip_mm2 = hw.chip.tiles_per_chip * t.tile_area_m2() * 1e6
    crossbars = ISAAC_TILES_PER_CHIP * ISAAC_IMAS_PER_TILE * 8
    assert hw.chip.tiles_per_chip == crossbars
    isaac_analog_mm2 = ISAAC_TILES_PER_CHIP * ISAAC_IMAS_PER_TILE * (
        ISAAC_IMA_ADC_MM2 + ISAAC_IMA_DAC_MM2 + ISAAC_IMA_SH_MM2 + ISAAC_IMA_ARRAY_MM2)
    assert chip_mm2 == pytest.approx(isaac_analog_mm2, rel=0.30)
    # what is not modelled (eDRAM, buses, routers, registers, chip links) is the rest of
    # ISAAC's 85.4 mm2; the modelled part never exceeds the whole chip, and is no longer the
    # 1378 mm2 a survey-median ADC area gave (issue 9, item 10)
    assert 0.2 * ISAAC_CHIP_MM2 < chip_mm2 < ISAAC_CHIP_MM2


def test_adc_area_follows_the_adcs_instantiated_bottom_up():
    base = _tile("rram")
    shared = _tile("rram", cols_per_adc=32)  # 128 / 32 = 4 ADCs per crossbar
    assert shared.n_adc == 4
    # hand formula: cells x cell_area + ceil(cols / cols_per_adc) x A_adc + rows x A_dac
    cell, adc, dac = 0.0015e-12, 1500e-12, 0.166e-12
    assert base.tile_area_m2() == pytest.approx(128 * 128 * cell + 1 * adc + 128 * dac, rel=1e-9)
    assert shared.tile_area_m2() == pytest.approx(128 * 128 * cell + 4 * adc + 128 * dac, rel=1e-9)


# Khaddam-Aljameh et al. IEEE JSSC 2022: 1.59 TOPS/mm2 at 2*256*256 ops per 128-ns MVM
HERMES_CORE_TOPS_PER_MM2 = 1.59


def test_hermes_core_area_matches_published_density():
    """The core area is the preset's measured input (1.59 TOPS/mm2), so this holds within
    1% (rounding of the published figure); what is predicted is how it moves with the ADCs."""
    t = _tile("pcm-hermes")
    tops = 2 * 256 * 256 / t.pass_time_s(256, 256) / 1e12
    assert tops / (t.tile_area_m2() * 1e6) == pytest.approx(HERMES_CORE_TOPS_PER_MM2, rel=0.01)


@pytest.mark.parametrize("cols_per_adc", [1, 4, 16, 256])
def test_hermes_area_follows_cols_per_adc(cols_per_adc):
    """A measured tile area holds its own 256 ADCs: sharing them removes the ADCs no longer
    instantiated, A(k) = A_core - (256 - ceil(256/k)) x A_adc (A_adc = 400 um2 in the preset)."""
    a_core, a_adc = 0.64e-6, 400e-12
    t = _tile("pcm-hermes", cols_per_adc=cols_per_adc)
    assert t.n_adc == math.ceil(256 / cols_per_adc)
    assert t.tile_area_m2() == pytest.approx(a_core - (256 - t.n_adc) * a_adc, rel=1e-9)


def test_hermes_area_distinguishes_1_and_256_columns_per_adc():
    one, shared = _tile("pcm-hermes", cols_per_adc=1), _tile("pcm-hermes", cols_per_adc=256)
    assert shared.tile_area_m2() < one.tile_area_m2()
    # and the estimate sees it: chip area = tiles_per_chip x tile area
    assert one.tile_area_m2() - shared.tile_area_m2() == pytest.approx(255 * 400e-12, rel=1e-9)


def test_sram_cim_adc_area_is_a_measured_converter_per_instantiated_adc():
    """sram-cim's column ADCs take the measured area of an 8-bit SAR of a comparable node
    (Kull et al. ISSCC 2013: 0.0015 mm2), one per column (cols_per_adc = 1): hand formula
    tiles x cols x 1500 um2, not the survey median (~0.05 mm2 each: 794 mm2 per chip)."""
    hw = hw_models.load("sram-cim")
    t = hw.tile_model
    adc_mm2 = hw.chip.tiles_per_chip * t.tile_area_breakdown_m2()["adc"] * 1e6
    assert t.n_adc == 256
    assert adc_mm2 == pytest.approx(64 * 256 * 1500e-6, rel=1e-9)
