"""One-line errors of the fine-tuning methods and physical systems (unknown mismatch key, LoRA
target matching no layer, unknown method options), and the hidden mismatches of a deployed
physical system against their hand formulas (ideal hardware: the deployed layer is exact)."""
import math

import pytest
import torch
from torch import nn

from analogc.errors import AnalogcError
from analogc.finetune.base import TrainContext
from analogc.finetune.physical import (DEFAULT_MISMATCH, MISMATCH, CallableSystem, DeployedSystem, _seed,
                                       as_physical, mismatched_system)


def _one_line(e):
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_unknown_mismatch_key_is_one_line_naming_the_known_ones():
    with pytest.raises(AnalogcError) as e:
        mismatched_system("ideal", seed=0, adc_nonlinearity=0.5)
    msg = _one_line(e)
    assert "adc_nonlinearity" in msg and all(k in msg for k in MISMATCH)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), "big", True])
def test_bad_mismatch_strength(bad):
    with pytest.raises(AnalogcError) as e:
        mismatched_system("ideal", seed=0, crosstalk=bad)
    assert "crosstalk" in _one_line(e)


def test_defaults_fill_unnamed_mismatches():
    s = mismatched_system("ideal", seed=0, crosstalk=0.25)
    assert s.mismatch == {**DEFAULT_MISMATCH, "crosstalk": 0.25}


def test_callable_system_checks_its_callables():
    with pytest.raises(AnalogcError) as e:
        CallableSystem(forward=3)
    assert "forward" in _one_line(e)
    with pytest.raises(AnalogcError):
        as_physical(nn.Linear(2, 2))
    s = as_physical(lambda m, b: m(b) + 1)
    lin = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    assert torch.equal(s.forward(lin, x), lin(x) + 1)
    assert torch.equal(s.twin(lin, x), lin(x))


def test_lora_target_that_matches_no_layer():
    from analogc.finetune.methods.lora import wrap
    m = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    with pytest.raises(AnalogcError) as e:
        wrap(m, target_modules=["q_proj"])
    msg = _one_line(e)
    assert "'q_proj'" in msg and "matches no layer" in msg.replace("match(es)", "matches") and "0, 2" in msg
    with pytest.raises(AnalogcError) as e:
        wrap(m, target_modules=r"attn\..*")
    assert "matches no layer" in _one_line(e)
    with pytest.raises(AnalogcError) as e:
        wrap(m, r=0)
    assert "rank" in _one_line(e)


@pytest.mark.parametrize("name", ["pat", "lora", "distill"])
def test_unknown_method_option(name):
    from analogc.finetune.methods import method_class
    m = nn.Sequential(nn.Linear(4, 3))
    x = torch.randn(5, 4)
    ctx = TrainContext(model=m, plan="ideal", seed=0, options={"rank": 3}, example_batch=(x, torch.zeros(5).long()))
    with pytest.raises(AnalogcError) as e:
        method_class(name)().setup(ctx)
    msg = _one_line(e)
    assert "rank" in msg and name in msg


def test_distill_bad_target():
    from analogc.finetune.methods.distill import Distill
    m = nn.Sequential(nn.Linear(4, 3))
    ctx = TrainContext(model=m, plan="ideal", seed=0, options={"target": "attention"}, example_batch=torch.randn(5, 4))
    with pytest.raises(AnalogcError) as e:
        Distill().setup(ctx)
    assert "logits, hidden, pooled" in _one_line(e)


def test_pat_without_a_twin():
    from analogc.finetune.methods.pat import pat_forward
    s = CallableSystem(lambda m, b: m(b))
    s.twin = None
    with pytest.raises(AnalogcError) as e:
        pat_forward(s, nn.Linear(2, 2), torch.randn(3, 2))
    assert "twin" in _one_line(e)


# -- the mismatches, by hand -----------------------------------------------------------------
def _layer():
    torch.manual_seed(0)
    lin = nn.Linear(6, 5)
    return lin, torch.randn(16, 6)


def _phys(lin, x, **mm):
    s = DeployedSystem("ideal", seed=3, mismatch=mm, calibration=[x])
    with torch.no_grad():
        return s, s.forward(lin, x)


def test_crosstalk_adds_the_neighbours():
    lin, x = _layer()
    _, y = _phys(lin, x, crosstalk=0.2)
    a = x @ lin.weight.T.detach()
    nb = torch.zeros_like(a)
    nb[:, 1:] += a[:, :-1]
    nb[:, :-1] += a[:, 1:]
    assert torch.allclose(y, a + 0.2 * nb + lin.bias.detach(), atol=1e-5)


def test_compressive_adc_and_offsets_against_the_formula():
    lin, x = _layer()
    with torch.no_grad():
        a = x @ lin.weight.T
    Y = float(a.abs().max())  # the full scale: the largest analog output on the calibration batch
    k = 1.5
    s, y = _phys(lin, x, adc_compression=k, offset_sigma=0.1, gain_sigma=0.2)
    h = next(iter(s._hooks.values()))
    assert h.full_scale == pytest.approx(Y, rel=1e-6)
    # the fixed per-column draws of this chip: gain 1 + 0.2 N(0,1), offset 0.1 Y N(0,1)
    path = next(iter(s._hooks))
    assert path == ""  # the model is the layer itself
    g = torch.Generator().manual_seed(_seed(3, path))
    gain = 1 + 0.2 * torch.randn(5, generator=g)
    off = 0.1 * torch.randn(5, generator=g)
    want = (Y / k) * torch.tanh(a * gain * (k / Y)) + off * Y + lin.bias.detach()
    assert torch.allclose(y, want, atol=1e-5)
    # at full scale the ADC reads tanh(k)/k of the value
    assert (Y / k) * math.tanh(k) / Y == pytest.approx(math.tanh(1.5) / 1.5)
    # the same chip keeps its draws when programmed again (a new noise seed)
    chip = s.instance(lin, seed=11)
    with torch.no_grad():
        assert torch.allclose(chip(x), want, atol=1e-5)


def test_no_mismatch_is_the_deployed_model():
    lin, x = _layer()
    _, y = _phys(lin, x)
    with torch.no_grad():
        assert torch.allclose(y, lin(x), atol=1e-5)
