"""Each preset's noise, measured in the simulator, against the published constants it cites —
typed here from the sources, not read from the dict the code uses."""
import math

import pytest
import torch
from torch import nn

import analogc
import hw_models
from analogc.ir import Graph, Op, OpKind
from analogc.sim import analog_layers, deploy
from hw_models import noise as nz

# Nandakumar et al. ICECS 2019 (aihwkit PCMLikeNoiseModel): programming std = c0 + c1 g/gmax + c2 (g/gmax)^2 uS
NANDAKUMAR_PROG = (0.26348, 1.9650, -1.1731)
NANDAKUMAR_GMAX_US = 25.0
NANDAKUMAR_T0_S = 20.0
# Rasch et al. Nat. Commun. 14:5282 (2023), aihwkit StandardHWATrainingPreset: out_noise, w_noise (PCM read)
RASCH_OUT_NOISE, RASCH_READ_NOISE = 0.04, 0.0175
# Wan et al. Nature 608:504 (2022) as fitted by aihwkit ReRamWan2022NoiseModel: std(g) at 1 s, in uS at 40 uS
WAN_1S = (0.348, 16.030, -43.853, 45.393, -16.815)
WAN_GMAX_US = 40.0
# Hamamatsu ORCA-Flash4.0 V3 sCMOS: 1.6 e- rms read-out noise
ORCA_READ_E = 1.6
K_T = 1.380649e-23 * 300.0


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def layer(hw, K, N=8):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(K, N, bias=False)).eval()
    g = Graph("l", "manual")
    g.add(Op(name="fc", kind=OpKind.MVM, target="linear", in_features=K, out_features=N, vectors=1, module_path="0"))
    return model, analogc.compile(g, hw=hw)


def dynamic_std(hw, x, K):
    """Std of one chip's outputs over repeated reads of the same input (per-MVM noise only), in
    units of the input range (one full-scale row)."""
    model, plan = layer(hw, K)
    am = deploy(model, plan, seed=0, input_range=1.0, exact_noise=True)
    with torch.no_grad():
        y = am(x.expand(4000, K).contiguous())
    col_scale = analog_layers(am)[0]._programmed_dev()[1][0]
    return (y.std(0) / col_scale).mean().item()


def test_pcm_programming_noise_is_nandakumars():
    p = hw_models.load("pcm-hermes").tile_model.noise
    for g_us in (2.0, 10.0, 20.0):
        r = g_us / NANDAKUMAR_GMAX_US
        expect = NANDAKUMAR_PROG[0] + NANDAKUMAR_PROG[1] * r + NANDAKUMAR_PROG[2] * r * r
        g = nz.pcm_programming_noise(torch.full((200_000,), g_us, dtype=torch.float64), p, gen())
        assert float(g.std()) == pytest.approx(expect, rel=0.05)
    nu = torch.full((3,), 0.05)
    assert torch.allclose(nz.pcm_drift_factor(nu, 3600.0, p), ((3600 + NANDAKUMAR_T0_S) / NANDAKUMAR_T0_S) ** -nu)


def test_pcm_output_and_read_noise_are_rasch():
    ideal_conv = {"adc_model": "ideal", "dac_model": "ideal"}
    hw = hw_models.load("pcm-hermes", **ideal_conv)
    K = 64
    # zero input: only the output noise remains
    assert dynamic_std(hw, torch.zeros(1, K), K) == pytest.approx(RASCH_OUT_NOISE, rel=0.06)
    # full-scale input on every row: output noise and read noise sigma_r * ||x|| (||x|| = 8)
    expect = math.sqrt(RASCH_OUT_NOISE ** 2 + (RASCH_READ_NOISE * math.sqrt(K)) ** 2)
    assert dynamic_std(hw, torch.ones(1, K), K) == pytest.approx(expect, rel=0.06)


def test_rram_programming_noise_is_wans_fit():
    p = hw_models.load("rram").tile_model.noise
    g_us = 20.0
    r = g_us / WAN_GMAX_US
    expect = sum(c * r ** i for i, c in enumerate(WAN_1S))
    g1, _ = nz.rram_conductance_at(torch.full((200_000,), g_us, dtype=torch.float64), 1.0, p, gen())
    assert float(g1.std()) == pytest.approx(expect, rel=0.05)


def test_freespace_detector_noise_is_the_cameras():
    # no light (zero input): only the read-out of the output's two detectors, in photoelectrons
    hw = hw_models.load("freespace", rows=64, cols=8, adc_model="ideal", dac_model="ideal", photons_per_mac=100.0)
    ppm = 0.8 * 100.0  # photoelectrons per MAC at full scale
    expect = math.sqrt(2) * ORCA_READ_E / ppm
    assert dynamic_std(hw, torch.zeros(1, 64), 64) == pytest.approx(expect, rel=0.06)


def test_charge_ktc_noise_from_the_cited_capacitance_and_supply():
    # 1.2 fF cells (Valavi/Jia M-BC cell), 2304 rows per column, 1.2 V drive (Jia 2020 abstract)
    hw = hw_models.load("charge-jia2020", adc_model="ideal", dac_model="ideal", input_encoding="multi-level")
    sigma = math.sqrt(2304 * K_T / 1.2e-15) / 1.2  # one column sample, in full-scale rows
    # 8-bit weights in 8 one-bit slices, each its own pass with its own sample, shift-added
    # with weights 2^s / 127 (127 = the largest weight code): the noises add in quadrature
    expect = sigma * math.sqrt(sum((2 ** s / 127) ** 2 for s in range(8)))
    assert dynamic_std(hw, torch.zeros(1, 128), 128) == pytest.approx(expect, rel=0.06)


def test_mzi_detector_noise_is_the_chosen_value():
    # no published figure (Shen et al. 2017 give none): 1e-3 of a full-scale row, documented as chosen
    hw = hw_models.load("mzi", adc_model="ideal", dac_model="ideal")
    assert dynamic_std(hw, torch.zeros(1, 12), 12) == pytest.approx(1e-3, rel=0.06)
