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
