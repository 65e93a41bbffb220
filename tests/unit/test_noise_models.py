"""Statistics of each noise source against its model (hw_models.noise)."""
import math

import pytest
import torch

from hw_models import noise as nz
from hw_models.base import TileSpec


def gen(s=0):
    return torch.Generator().manual_seed(s)


def test_pcm_programming_noise_std_matches_polynomial_within_10pct():
    p = nz.noise_defaults("pcm")
    for g_us in (2.0, 10.0, 20.0):
        g = nz.pcm_programming_noise(torch.full((200_000,), g_us, dtype=torch.float64), p, gen())
        c0, c1, c2 = p["prog_coeffs_us"]
        r = g_us / 25.0  # g_max of the Nandakumar fit
        expect = c0 + c1 * r + c2 * r * r
        assert abs(float(g.std()) / expect - 1) < 0.10
        assert abs(float(g.mean()) - g_us) < 0.05


def test_pcm_drift_follows_power_law():
    p = nz.noise_defaults("pcm")
    nu = torch.full((10,), 0.06)
    for t in (1.0, 3600.0, 86400.0, 3.15e7):
        f = nz.pcm_drift_factor(nu, t, p)
        t0 = p["drift_t0_s"]
        assert torch.allclose(f, torch.full((10,), ((t + t0) / t0) ** -0.06))
    # sampled exponents: mean conductance ratio follows the mean nu of the model
    g = torch.full((100_000,), 12.5, dtype=torch.float64)
    nus = nz.pcm_drift_nu(g, p, gen())
    a, b, lo, hi = p["drift_nu_mean"]
    assert abs(float(nus.mean()) - min(max(a * math.log(0.5) + b, lo), hi)) < 0.005


def test_pcm_conductance_decays_and_spreads_with_time():
    p = nz.noise_defaults("pcm")
    g = torch.full((50_000,), 20.0, dtype=torch.float64)
    means, stds = [], []
    for t in (1.0, 3600.0, 3.15e7):
        _, gt = nz.pcm_conductance_at(g, t, p, gen(1))
        means.append(float(gt.mean()))
        stds.append(float(gt.std()))
    assert means[0] > means[1] > means[2]
    assert stds[0] < stds[2]


def test_rram_std_matches_wan_fit():
    p = nz.noise_defaults("rram")
    g = torch.full((200_000,), 20.0, dtype=torch.float64)
    g1, _ = nz.rram_conductance_at(g, 1.0, p, gen())
    coeffs = p["prog_coeffs_us_by_time"]["1.0"] if "1.0" in p["prog_coeffs_us_by_time"] else p["prog_coeffs_us_by_time"]["1"]
    r = 0.5
    expect = sum(c * r ** i for i, c in enumerate(coeffs))
    assert abs(float(g1.std()) / expect - 1) < 0.10


def test_program_crossbar_ideal_sram_exact_and_pcm_noisy():
    torch.manual_seed(0)
    w = torch.randn(64, 32)
    tile = TileSpec("crossbar", 64, 32, weight_bits=8, cell_bits=8, devices_per_cell=2)
    e, s = nz.program_crossbar(w, tile, nz.noise_defaults("ideal"), gen())
    assert torch.allclose(e * s, w, atol=1e-6)
    e, s = nz.program_crossbar(w, tile, nz.noise_defaults("sram"), gen())
    assert (e * s - w).abs().max() <= s.max() / 127 / 2 + 1e-6
    e, s = nz.program_crossbar(w, tile, nz.noise_defaults("pcm"), gen())
    err = (e * s - w).norm() / w.norm()
    assert 0.01 < err < 0.5


def test_bit_slices_recombine_to_quantized_weight():
    torch.manual_seed(0)
    w = torch.randn(128, 64)
    p = dict(nz.noise_defaults("pcm"), prog_coeffs_us=[0.0, 0.0, 0.0], read_1f=[0.0, 0.65, 0.0])
    two = TileSpec("crossbar", 128, 64, weight_bits=8, cell_bits=4, devices_per_cell=2)
    assert two.slices == 2
    e, s = nz.program_crossbar(w, two, p, gen())
    q = nz.quantize_symmetric(w / w.abs().amax(0), 8)
    assert torch.allclose(e, q, atol=1e-5)
    # with programming noise, the slices' errors add up: still close to the weight
    e2, s2 = nz.program_crossbar(w, two, nz.noise_defaults("pcm"), gen())
    assert 0.01 < float((e2 - q).norm() / q.norm()) < 0.5


def test_global_drift_compensation_restores_scale():
    torch.manual_seed(0)
    w = torch.randn(256, 64)
    tile = TileSpec("crossbar", 256, 64, devices_per_cell=2)
    p = nz.noise_defaults("pcm")
    pn = dict(p, drift_compensation=False)
    e_c, s = nz.program_crossbar(w, tile, p, gen(), t_inference_s=3.15e7)
    e_n, _ = nz.program_crossbar(w, tile, pn, gen(), t_inference_s=3.15e7)
    ratio_n = float((e_n * s).norm() / w.norm())
    ratio_c = float((e_c * s).norm() / w.norm())
    assert ratio_n < 0.6  # a year of drift loses almost half of the conductance
    assert abs(ratio_c - 1) < abs(ratio_n - 1)


@pytest.mark.parametrize("n", [2, 5, 8])
def test_ideal_mesh_reproduces_unitary(n):
    a = torch.randn(4, n, n, dtype=torch.complex128, generator=gen(n))
    u, _, _ = torch.linalg.svd(a)
    dec = nz.clements_decompose(u)
    assert len(dec["right"]) + len(dec["left"]) == n * (n - 1) // 2
    r = nz.mesh_unitary(nz.mesh_phases_with_errors(dec, {"phase_bits": None}, gen()))
    assert (r - u).abs().max() < 1e-6


def test_phase_error_degrades_as_sigma():
    n = 8
    a = torch.randn(16, n, n, dtype=torch.complex128, generator=gen(3))
    u, _, _ = torch.linalg.svd(a)
    dec = nz.clements_decompose(u)
    errs = []
    for sig in (1e-3, 1e-2, 1e-1):
        r = nz.mesh_unitary(nz.mesh_phases_with_errors(dec, {"phase_error_rad": sig}, gen()))
        errs.append(float((r - u).norm() / u.norm()))
    assert errs[0] < errs[1] < errs[2]
    # first order in sigma: 10x sigma -> about 10x error
    assert 5 < errs[1] / errs[0] < 20
    # erroneous mesh stays unitary (lossless)
    r = nz.mesh_unitary(nz.mesh_phases_with_errors(dec, {"phase_error_rad": 0.1}, gen()))
    eye = torch.eye(n, dtype=torch.complex128)
    assert (r @ r.conj().transpose(-1, -2) - eye).abs().max() < 1e-9


def test_phase_quantization_and_crosstalk_and_splitter_errors_degrade():
    n = 6
    a = torch.randn(8, n, n, dtype=torch.complex128, generator=gen(4))
    u, _, _ = torch.linalg.svd(a)
    dec = nz.clements_decompose(u)
    def err(p):
        return float((nz.mesh_unitary(nz.mesh_phases_with_errors(dec, p, gen())) - u).norm())
    assert err({"phase_bits": 4}) > err({"phase_bits": 10}) > 0
    assert err({"crosstalk": 0.05}) > 1e-3
    assert err({"splitter_error_rad": 0.05}) > 1e-3


def test_program_mzi_ideal_and_noisy():
    torch.manual_seed(0)
    w = torch.randn(12, 10)
    tile = TileSpec("mzi", 8, 8, weight_bits=16, cell_bits=16)
    p = nz.noise_defaults("mzi")
    exact = dict(p, phase_bits=None, phase_error_rad=0.0)
    e, s = nz.program_mzi(w, tile, exact, gen())
    assert torch.allclose(e * s, w, atol=1e-4)
    e2, s2 = nz.program_mzi(w, tile, dict(p, phase_error_rad=0.05), gen())
    assert (e2 * s2 - w).norm() / w.norm() > 0.01


def test_shot_noise_variance_scales_inverse_with_photons():
    """var(y) = sum|x||w| / ppm + detectors (read-out / ppm)^2, ppm = QE * photons per MAC."""
    import hw_models
    xn, wn = torch.full((1, 4), 1.0), torch.full((4, 1), 1.0)  # sum |x||w| = 4
    for ppm in (10.0, 100.0, 1000.0):
        fam = hw_models.load("freespace", photons_per_mac=ppm,
                             **{"noise.detector_noise_photons": 0.0}).tile_model
        assert float(fam.noise_std(xn, wn)) == pytest.approx(math.sqrt(4.0 / (0.8 * ppm)))
    # detector read-out noise adds in quadrature, once per detector of the output (2 here)
    fam = hw_models.load("freespace", photons_per_mac=100.0, **{"noise.detector_noise_photons": 2.0}).tile_model
    assert float(fam.noise_std(torch.zeros(1, 4), wn)) == pytest.approx(math.sqrt(2) * 2.0 / 80.0)


def test_validate_noise_errors_name_key():
    models = ("pcm", "rram", "sram", "ideal")
    with pytest.raises(ValueError, match=r"\[noise\] out_noise"):
        nz.validate_noise(models, {"model": "pcm", "out_noise": 0.04}, "x.toml")
    with pytest.raises(ValueError, match=r"\[noise\] model"):
        nz.validate_noise(models, {"model": "mzi"}, "x.toml")
    with pytest.raises(ValueError, match=r"\[noise\] bogus"):
        nz.validate_noise(models, {"bogus": {"value": 1, "source": "s"}}, "x.toml")
    with pytest.raises(ValueError, match=r"\[noise\] phase_bits"):  # a key the model does not read
        nz.validate_noise(models, {"phase_bits": {"value": 8, "source": "s"}}, "x.toml")
    ok = nz.validate_noise(models, {"model": "pcm", "out_noise": {"value": 0.02, "source": "paper"}}, "x.toml")
    assert ok["out_noise"] == 0.02 and ok["_sources"]["out_noise"] == "paper"
    assert ok["prog_coeffs_g_ref_us"] == 25.0
