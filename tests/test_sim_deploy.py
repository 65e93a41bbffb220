"""deploy(): ideal equivalence, determinism, noise statistics at the tile, training, bad input."""

import pytest
import torch
from torch import nn

import analogc
from analogc.errors import AnalogcError
from analogc.sim import analog_layers, calibrate, deploy, reseed, set_drift_time
from sim_helpers import hw, mlp, plan_for


def cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=2, stride=2),
                         nn.ReLU(), nn.Flatten(), nn.Linear(8 * 3 * 3, 5)).eval()


def assert_close(a, b, rel=1e-5):
    assert (a - b).abs().max() <= rel * b.abs().max() + 1e-7


def test_ideal_mlp_equals_digital_with_partitioning():
    m, x = mlp(), torch.randn(6, 40)
    p = plan_for(m, x, hw())
    assert p.mappings[next(iter(p.mappings))].row_tiles == 3  # 40 rows on 16-row tiles
    am = deploy(m, p, seed=0)
    assert len(analog_layers(am)) == 2
    with torch.no_grad():
        assert_close(am(x), m(x))


def test_ideal_cnn_equals_digital():
    m, x = cnn(), torch.randn(2, 3, 8, 8)
    am = deploy(m, plan_for(m, x, hw()), seed=0)
    with torch.no_grad():
        assert_close(am(x), m(x))


def test_ideal_conv1d_equals_digital():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv1d(4, 6, 3, padding=1), nn.ReLU(), nn.Conv1d(6, 6, 3, groups=3)).eval()
    x = torch.randn(2, 4, 12)
    am = deploy(m, plan_for(m, x, hw()), seed=0)
    with torch.no_grad():
        assert_close(am(x), m(x))


def test_ideal_tiny_gpt2_with_analog_attention_equals_digital():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=64, n_positions=32)
    torch.manual_seed(0)
    m = transformers.GPT2LMHeadModel(cfg).eval()
    ids = torch.randint(0, 64, (2, 8))
    p = plan_for(m, {"input_ids": ids}, hw(dyn="analog"))
    assert any(mp.kind == "matmul" and mp.placement == "analog" for mp in p.mappings.values())
    am = deploy(m, p, seed=0)
    with torch.no_grad():
        assert_close(am(input_ids=ids).logits, m(input_ids=ids).logits)


def test_ideal_tiny_bert_equals_digital():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.BertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2,
                                  intermediate_size=64, vocab_size=64, max_position_embeddings=32)
    torch.manual_seed(0)
    m = transformers.BertModel(cfg).eval()
    ids = torch.randint(0, 64, (2, 8))
    am = deploy(m, plan_for(m, {"input_ids": ids}, hw()), seed=0)
    with torch.no_grad():
        assert_close(am(input_ids=ids).last_hidden_state, m(input_ids=ids).last_hidden_state)


def test_noisy_gpt2_calibrates_from_kwargs_and_stays_close():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64, n_positions=32)
    torch.manual_seed(0)
    m = transformers.GPT2LMHeadModel(cfg).eval()
    ids = torch.randint(0, 64, (4, 8))
    am = deploy(m, plan_for(m, {"input_ids": ids}, hw("sram", rows=64, cols=64)), seed=0,
                calibration=[{"input_ids": ids}])
    with torch.no_grad():
        y0, y1 = m(input_ids=ids).logits, am(input_ids=ids).logits
    err = float((y1 - y0).norm() / y0.norm())
    assert 0 < err < 0.1


def test_same_seed_same_outputs_other_seed_differs():
    m, x = mlp(), torch.randn(8, 40)
    p = plan_for(m, x, hw("pcm"))
    a = deploy(m, p, seed=3, calibration=[x])
    b = deploy(m, p, seed=3, calibration=[x])
    c = deploy(m, p, seed=4, calibration=[x])
    with torch.no_grad():
        ya, yb, yc = a(x), b(x), c(x)
        assert torch.equal(ya, yb)
        assert not torch.equal(ya, yc)
        reseed(c, 3)
        calibrate(c, [x])
        assert torch.equal(c(x), deploy(m, p, seed=3, calibration=[x])(x))


def test_output_noise_std_matches_model():
    # one tile, identity-like weight, no DAC/ADC: output = x @ W + sigma * N(0,1) in normalised units
    torch.manual_seed(0)
    lin = nn.Linear(16, 16, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(16))
    m = nn.Sequential(lin).eval()
    x = torch.full((4000, 16), 0.5)
    am = deploy(m, plan_for(m, x[:2], hw("sram", rows=16, cols=16, dac=False, adc=False,
                                          out_noise={"value": 0.05, "source": "test"})),
                seed=0, input_range=1.0)
    with torch.no_grad():
        y = am(x)
    assert abs(float((y - 0.5).std()) / 0.05 - 1) < 0.05
    assert abs(float((y - 0.5).mean())) < 0.005


def test_adc_quantizes_to_its_levels_and_clips():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(16, 8, bias=False)).eval()
    x = torch.randn(256, 16)
    am = deploy(m, plan_for(m, x[:2], hw("sram", rows=16, cols=8, bits=4)), seed=0, calibration=[x],
                converter_passes="per-pass")
    layer = analog_layers(am)[0]
    with torch.no_grad():
        y = am(x)
    levels = y / (layer._col_scale[0] * float(layer.input_range) / 7 * float(layer.adc_range) * 7 / 7)
    assert torch.allclose(levels, levels.round(), atol=1e-3)  # integers: ADC codes
    assert levels.abs().max() <= 7 + 1e-3


def test_fewer_adc_bits_is_noisier():
    m, x = mlp(), torch.randn(64, 40)
    errs = []
    with torch.no_grad():
        y0 = m(x)
        for bits in (3, 6, 10):
            am = deploy(m, plan_for(m, x[:2], hw("sram", bits=bits)), seed=0, calibration=[x])
            errs.append(float((am(x) - y0).norm() / y0.norm()))
    assert errs[0] > errs[1] > errs[2]


def test_pcm_drift_time_changes_outputs_same_devices():
    m, x = mlp(), torch.randn(32, 40)
    am = deploy(m, plan_for(m, x[:2], hw("pcm", rows=64, cols=64)), seed=0, calibration=[x], t_inference=1.0)
    with torch.no_grad():
        y0 = m(x)
        e1 = float((am(x) - y0).norm() / y0.norm())
        set_drift_time(am, 3.15e7)
        e2 = float((am(x) - y0).norm() / y0.norm())
    assert e2 > e1 > 0


def test_training_step_through_analog_model():
    m, x = mlp(), torch.randn(32, 40)
    am = deploy(m, plan_for(m, x[:2], hw("sram")), seed=0, calibration=[x], input_range_mode="learned")
    am.train()
    opt = torch.optim.SGD(am.parameters(), lr=0.1)
    target = torch.randn(32, 10)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = (am(x) - target).pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    assert analog_layers(am)[0].input_range.grad is not None


def test_ideal_gradients_equal_digital():
    m, x = mlp(), torch.randn(5, 40)
    am = deploy(m, plan_for(m, x, hw()), seed=0)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    am(x1).square().sum().backward()
    m2 = mlp()
    m2(x2).square().sum().backward()
    assert_close(x1.grad, x2.grad)
    assert_close(am[0].weight.grad, m2[0].weight.grad)


def test_mzi_and_freespace_deploy_run_and_ideal_matches():
    m, x = mlp(), torch.randn(16, 40)
    with torch.no_grad():
        y0 = m(x)
        am = deploy(m, plan_for(m, x[:2], hw("ideal", family="mzi", rows=8, cols=8)), seed=0)
        assert_close(am(x), y0)
        am = deploy(m, plan_for(m, x[:2], hw("mzi", family="mzi", rows=8, cols=8)), seed=0, calibration=[x])
        e = float((am(x) - y0).norm() / y0.norm())
        assert 0 < e < 0.5
        errs = []
        for ppm in (1.0, 100.0):
            fs = deploy(m, plan_for(m, x[:2], hw("freespace", family="freespace", rows=64, cols=64,
                                                 hw_set={"photons_per_mac": ppm})), seed=0, calibration=[x])
            errs.append(float((fs(x) - y0).norm() / y0.norm()))
        assert errs[0] > errs[1]


def test_freespace_shot_noise_variance_scales_with_photons():
    torch.manual_seed(0)
    lin = nn.Linear(16, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    m = nn.Sequential(lin).eval()
    x = torch.full((20000, 16), 1.0)
    var = []
    for ppm in (10.0, 40.0):  # photons per MAC at the detectors; 80% become photoelectrons
        h = hw("freespace", family="freespace", rows=16, cols=16, dac=False, adc=False,
               hw_set={"photons_per_mac": ppm}, detector_noise_photons={"value": 0.0, "source": "test"})
        am = deploy(m, plan_for(m, x[:2], h), seed=0, input_range=1.0)
        with torch.no_grad():
            var.append(float(am(x).var()))
    # var(y) = sum|x||w| / (QE * photons_per_mac) = 16 / (0.8 * ppm)
    assert abs(var[0] / (16 / (0.8 * 10.0)) - 1) < 0.05
    assert abs(var[0] / var[1] / 4 - 1) < 0.08


# -- bad input ---------------------------------------------------------------------------
def test_nan_input_raises_naming_layer():
    m, x = mlp(), torch.randn(4, 40)
    am = deploy(m, plan_for(m, x, hw()), seed=0)
    x[0, 0] = float("nan")
    with pytest.raises(AnalogcError, match=r"layer 0: input contains NaN"):
        am(x)
    x[0, 0] = float("inf")
    with pytest.raises(AnalogcError, match=r"NaN or inf"):
        am(x)


def test_plan_for_other_model_is_refused():
    m, x = mlp(), torch.randn(4, 40)
    p = plan_for(m, x, hw())
    other = nn.Sequential(nn.Linear(40, 71), nn.ReLU(), nn.Linear(71, 10))
    with pytest.raises(AnalogcError, match=r"plan op .*module '0' has weight K x N = 40 x 71"):
        deploy(other, p)
    with pytest.raises(AnalogcError, match=r"module '0' not found"):
        deploy(nn.Sequential(), p)


def test_uncovered_layers_warn_and_run_digitally():
    m, x = mlp(), torch.randn(4, 40)
    p = plan_for(m, x, hw())
    bigger = nn.Sequential(*m, nn.Linear(10, 3))
    with pytest.warns(UserWarning, match=r"not in the plan run digitally: 3"):
        am = deploy(bigger, p, seed=0)
    with torch.no_grad():
        assert_close(am(x), bigger(x))


def test_calibration_batches_of_wrong_shape_raise():
    m, x = mlp(), torch.randn(4, 40)
    am = deploy(m, plan_for(m, x, hw("sram")), seed=0)
    with pytest.raises(AnalogcError, match=r"calibration batch 0"):
        calibrate(am, [torch.randn(4, 39)])
    with pytest.raises(AnalogcError, match=r"expected a tensor, a tuple"):
        calibrate(am, [3.0])
    with pytest.raises(AnalogcError, match=r"no analog layers"):
        calibrate(m, [x])


def test_deploy_with_hw_name_needs_no_inputs_for_linear_and_conv_models():
    """The tile mapping needs only weight shapes (as aihwkit's convert_to_analog): the same
    chip as a deploy of the traced model, on the same seed."""
    m, x = mlp(), torch.randn(8, 40)
    am = deploy(m, "pcm-hermes", seed=0)
    assert len(analog_layers(am)) == 2 and am.analogc_plan.graph.meta["shapes_only"]
    traced = deploy(m, "pcm-hermes", seed=0, example_inputs=x)
    with torch.no_grad():
        assert torch.equal(am(x), traced(x))
    with pytest.raises(AnalogcError, match=r"weight shapes without inputs"):  # it cannot be priced
        analogc.estimate(am.analogc_plan)


def test_deploy_without_inputs_says_when_attention_needs_them():
    from test_sim_edges import AttnNet  # a model with scaled-dot-product attention
    with pytest.raises(AnalogcError, match=r"sram-cim puts attention matmuls on tiles.*example_inputs"):
        deploy(AttnNet(), "sram-cim", seed=0)
    assert len(analog_layers(deploy(AttnNet(), "pcm-hermes", seed=0))) == 4  # attention stays digital there


def test_bare_layer_is_deployed():
    """A model that is itself one weight layer (module path "") runs on tiles too."""
    import analogc
    from analogc.sim import analog_layers

    torch.manual_seed(0)
    lin = torch.nn.Linear(40, 30)
    x = torch.randn(8, 40)
    a = analogc.deploy(lin, "pcm-hermes", seed=0, calibration=[x])
    assert len(analog_layers(a)) == 1
    with torch.no_grad():
        assert (a(x) - lin(x)).abs().max() > 1e-4  # noisy, so really analog
    ideal = analogc.deploy(lin, "ideal", seed=0, example_inputs=(x,))
    with torch.no_grad():
        torch.testing.assert_close(ideal(x), lin(x), rtol=1e-5, atol=1e-5)


def test_functional_products_warn_and_run_digitally():
    """An mvm written in forward() (F.linear with a parameter) has no layer to swap: the
    rest of the model is deployed, that op runs digitally and the warning names it."""
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.v = nn.Parameter(torch.randn(16, 8))
            self.head = nn.Linear(16, 3)

        def forward(self, x):
            return self.head(torch.nn.functional.linear(x, self.v))

    torch.manual_seed(0)
    m, x = Functional(), torch.randn(4, 8)
    with pytest.warns(UserWarning, match=r"1 mvm op\(s\) computed inside forward\(\).*linear in Functional"):
        a = deploy(m, "ideal", seed=0, example_inputs=(x,))
    assert [type(l).__name__ for l in analog_layers(a)] == ["AnalogMVM"]  # the head only
    with torch.no_grad():
        torch.testing.assert_close(a(x), m(x), rtol=1e-5, atol=1e-5)


def test_deploying_a_deployed_model_is_refused():
    m = nn.Sequential(nn.Linear(8, 4))
    x = torch.randn(2, 8)
    plan = analogc.compile(analogc.trace(m, (x,)), hw="ideal")
    a = deploy(m, plan, seed=0)
    with pytest.raises(AnalogcError, match="already deployed"):
        deploy(a, plan, seed=0)


def test_deploy_refuses_options_that_are_not_simulation_options():
    """A misspelled option used to run silently (t_infrence=3.15e7: no drift at all); a
    hardware number given to deploy would make the simulation disagree with the estimate."""
    m, x = mlp(), torch.randn(4, 40)
    plan = plan_for(m, x, hw("pcm"))
    with pytest.raises(AnalogcError, match=r"unknown option\(s\) t_infrence: expected one of calibration_method, "
                                           r"converter_passes, dims, exact_noise, input_range, input_range_mode, "
                                           r"matmul, outlier_threshold, t_inference, train_device_noise, "
                                           r"weight_clip_sigma"):
        deploy(m, plan, seed=0, t_infrence=3.15e7)
    with pytest.raises(AnalogcError, match=r"photons_per_mac.*hw_models.load"):
        deploy(m, plan, seed=0, photons_per_mac=3.0)
    with pytest.raises(AnalogcError, match=r"seed: expected an integer"):
        deploy(m, plan, seed="a")
    with pytest.raises(AnalogcError, match=r"t_inference: expected a non-negative number"):
        deploy(m, plan, seed=0, t_inference=-1)
    am = deploy(m, plan, seed=0)
    with pytest.raises(AnalogcError, match=r"layer 0: expected floating-point inputs, got torch.int64"):
        am(torch.ones(2, 40, dtype=torch.long))
