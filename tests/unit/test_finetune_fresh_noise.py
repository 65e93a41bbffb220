"""train_device_noise="fresh": a new device draw per training update with the statistics of a
full programming (hardware-aware training), against "fixed" (the last programming's error)."""
import pytest
import torch
from torch import nn

import analogc
from analogc.errors import AnalogcError
from analogc.sim import analog_layers


def _layer(mode: str, hw="pcm-hermes", **opts):
    torch.manual_seed(0)
    lin = nn.Linear(256, 512)
    am = analogc.deploy(lin, hw, seed=3, train_device_noise=mode, **opts).train()
    x = torch.randn(4, 256)
    am(x)
    lay = analog_layers(am)[0]
    return am, lay, x


def _error(lay) -> torch.Tensor:
    wn = lay.weight.detach().t() / lay._col_scale[0]
    return (lay._w_eff[0] - wn).flatten()


def _update(am, x):
    with torch.no_grad():
        am.weight.mul_(1.0)  # an optimizer step that leaves the values: the next forward updates
    am(x)


def _drifted():  # one year of drift, not compensated: a large level-dependent mean error
    import hw_models
    return dict(hw=hw_models.load("pcm-hermes", **{"noise.drift_compensation": False}), t_inference=3.15e7)


@pytest.mark.parametrize("setting", ["default", "drifted"])
def test_fresh_draw_has_the_programming_statistics_and_is_new(setting):
    am, lay, x = _layer("fresh", **(_drifted() if setting == "drifted" else {}))
    e_full = _error(lay).clone()
    _update(am, x)
    e1 = _error(lay).clone()
    _update(am, x)
    e2 = _error(lay).clone()
    # same spread as the chip's real programming (hand check: std over 131k weights)
    assert float(e1.std()) == pytest.approx(float(e_full.std()), rel=0.05)
    assert float(e1.mean()) == pytest.approx(float(e_full.mean()), abs=0.1 * float(e_full.std()))
    # a new draw per update: apart from the mean error of its level (drift), nearly
    # uncorrelated with the last one (the weight quantization error they share is ~0.5% of the variance)
    wn = lay.weight.detach().t() / lay._col_scale[0]
    q = torch.round(wn.clamp(-1, 1) * 127).flatten()
    b = (q + 127).long()
    lvl_mean = torch.bincount(b, e_full, 255) / torch.bincount(b, minlength=255).clamp(min=1)
    c = torch.corrcoef(torch.stack([e1 - lvl_mean[b], e2 - lvl_mean[b]]))[0, 1]
    assert abs(float(c)) < 0.1
    # per level: the std of the draws at the most populated level matches the programming's
    lvl = q.mode().values
    sel = q == lvl
    assert float(e1[sel].std()) == pytest.approx(float(e_full[sel].std()), rel=0.15)
    assert float(e1[sel].mean()) == pytest.approx(float(e_full[sel].mean()), abs=0.15 * float(e_full[sel].std()))


def test_fixed_keeps_the_last_programming_error():
    am, lay, x = _layer("fixed")
    e_full = _error(lay).clone()
    _update(am, x)
    assert torch.allclose(_error(lay), e_full, atol=1e-6)


def test_bad_mode_is_one_line():
    with pytest.raises(AnalogcError, match="train_device_noise: expected 'fixed' or 'fresh'"):
        analogc.deploy(nn.Linear(4, 4), "pcm-hermes", seed=0, train_device_noise="new")


@pytest.mark.parametrize("mode", ["fixed", "fresh"])
def test_update_path_with_an_adc_scaled_copy(mode):
    """converter_passes="recombined" keeps the programmed copy divided by the ADC step: an update
    writes the new weight plus the device error in that scale (not a full programming)."""
    torch.manual_seed(0)
    lin = nn.Linear(256, 512)
    am = analogc.deploy(lin, "pcm-hermes", seed=3, train_device_noise=mode, converter_passes="recombined",
                        calibration=[torch.randn(16, 256)]).train()
    x = torch.randn(4, 256)
    am(x)
    lay = analog_layers(am)[0]
    assert lay._w_factor != 1.0
    e_full = (lay._w_eff[0] * lay._w_factor - lay.weight.detach().t() / lay._col_scale[0]).clone()
    with torch.no_grad():
        am.weight.mul_(1.01)
    am(x)
    assert lay._updates == 1  # the update path ran
    e_new = lay._w_eff[0] * lay._w_factor - lay.weight.detach().t() / lay._col_scale[0]
    if mode == "fixed":
        assert torch.allclose(e_new, e_full, atol=1e-5)
    else:
        assert float(e_new.std()) == pytest.approx(float(e_full.std()), rel=0.05)
        assert abs(float(torch.corrcoef(torch.stack([e_new.flatten(), e_full.flatten()]))[0, 1])) < 0.2
