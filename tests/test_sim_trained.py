"""A trained model keeps its accuracy after one deploy call with one calibration batch
(no manual range tuning), on every tile family."""
import pytest
import torch
from torch import nn

import analogc
from analogc.sim.evaluate import accuracy


@pytest.fixture(scope="module")
def trained():
    """An MLP trained here on overlapping Gaussian classes (no download): ~70% test accuracy,
    so that accuracy lost to the hardware shows."""
    g = torch.Generator().manual_seed(0)
    classes, dim = 10, 32
    centers = torch.randn(classes, dim, generator=g) * 0.45

    def data(n):
        y = torch.randint(0, classes, (n,), generator=g)
        return centers[y] + torch.randn(n, dim, generator=g), y

    xtr, ytr = data(4000)
    xte, yte = data(2000)
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(dim, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                      nn.Linear(128, classes))
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    for _ in range(300):
        i = torch.randint(0, len(xtr), (128,), generator=g)
        loss = nn.functional.cross_entropy(m(xtr[i]), ytr[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    return m, xtr[:256], xte, yte


@pytest.mark.parametrize("hw", ["pcm-hermes", "rram", "sram-cim", "mzi-eo", "freespace"])
def test_one_call_deploy_keeps_accuracy(trained, hw):
    m, calib, xte, yte = trained
    digital = accuracy(m, [xte], [yte])
    assert digital > 0.5  # far above chance (0.1): a real classifier
    a = analogc.deploy(m, hw, seed=0, calibration=[calib])
    assert accuracy(a, [xte], [yte]) == pytest.approx(digital, abs=0.05)


def test_pcm_after_a_year_of_drift_still_sensible(trained):
    m, calib, xte, yte = trained
    digital = accuracy(m, [xte], [yte])
    a = analogc.deploy(m, "pcm-hermes", seed=0, calibration=[calib], t_inference=365 * 86400)
    assert accuracy(a, [xte], [yte]) == pytest.approx(digital, abs=0.08)


def test_without_calibration_ranges_are_dynamic_not_garbage(trained):
    """No calibration: per-batch dynamic input ranges still give a working model."""
    m, _, xte, yte = trained
    a = analogc.deploy(m, "pcm-hermes", seed=0, example_inputs=(xte[:8],))
    assert accuracy(a, [xte], [yte]) == pytest.approx(accuracy(m, [xte], [yte]), abs=0.08)


def _noise_scaled(preset, s):
    """Overrides that scale every noise source of the preset's family by ``s`` (0: none): the
    std of output, read, programming and 1/f noise; phase errors; shot noise (photons / s^2);
    kT/C noise (capacitance / s^2) and capacitor mismatch."""
    import hw_models
    fam = hw_models.load(preset).tile_model
    n, tiny = fam.noise, max(s, 1e-6)
    if fam.noise_model == "pcm":
        c, e, mx = n["read_1f"]
        return {"noise.out_noise": n["out_noise"] * s, "noise.read_noise": n["read_noise"] * s,
                "noise.prog_coeffs_us": [v * s for v in n["prog_coeffs_us"]], "noise.read_1f": [c * s, e, mx * s]}
    if fam.noise_model == "rram":
        return {"noise.out_noise": n["out_noise"] * s, "noise.read_noise": n["read_noise"] * s,
                "noise.prog_coeffs_us_by_time": {k: [v * s for v in cs] for k, cs in n["prog_coeffs_us_by_time"].items()}}
    if fam.noise_model == "freespace":
        return {"optics.snr_margin": f"{min(1e6, tiny ** -2)} ratio",
                "noise.detector_noise_photons": n["detector_noise_photons"] * min(1.0, 1 / tiny)}
    if fam.noise_model == "mzi":
        de = fam.p["optics"]["detector_energy"]
        return {"noise.out_noise": n["out_noise"] * s, "noise.phase_error_rad": n["phase_error_rad"] * s,
                "optics.detector_energy": f"{de.value * tiny ** -2} {de.unit}"}
    if fam.noise_model == "charge":
        return {"cell_capacitance": f"{1.2 * tiny ** -2} fF", "noise.cap_mismatch": n["cap_mismatch"] * s}
    raise AssertionError(preset)


#: noise-induced relative output error of the trained MLP at each preset's noise (ADC ideal so
#: that rounding does not mask small noise), measured with seed 0 on this CPU build. rram: 0.2483
#: with single devices around a mid-scale reference, 0.1236 with ISAAC's offset encoding (zero
#: digits at the low-noise end of Wan's deviation fit; docs/validation-noise.md)
NOISE_ERROR = {"pcm-hermes": 0.0660, "rram": 0.1236, "mzi-eo": 0.0128, "freespace": 0.0437,
               "charge-jia2020": 0.0873}


@pytest.mark.parametrize("preset", sorted(NOISE_ERROR))
def test_accuracy_loss_is_sensitive_to_the_noise_both_ways(trained, preset):
    """The error the noise adds to the trained model's outputs is held to its documented figure
    within [0.65, 1.55]x; scaling every noise source of the family by 0.3 or by 3 leaves that
    band (checked here), so a noise model that is too weak or too strong fails. sram-cim has no
    noise source (weights are exact bits): its quantization is tested in test_sim_deploy.py."""
    import hw_models
    m, calib, xte, _ = trained
    with torch.no_grad():
        y0 = m(xte)

        def out(s):
            hw = hw_models.load(preset, adc_model="ideal", **_noise_scaled(preset, s))
            return analogc.deploy(m, hw, seed=0, calibration=[calib])(xte)

        ref = out(0.0)
        err = {s: float((out(s) - ref).norm() / y0.norm()) for s in (0.3, 1.0, 3.0)}
    lo, hi = 0.65 * NOISE_ERROR[preset], 1.55 * NOISE_ERROR[preset]
    assert lo < err[1.0] < hi, err
    assert err[0.3] < lo and err[3.0] > hi, err
