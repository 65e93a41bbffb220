"""Deployed-model edge cases: dtypes, state_dict / deepcopy, analog attention gradients and
semantics, noiseless calibration, converter-off units."""
import copy
import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from analogc.sim import AnalogMatmul, NoisePool, analog_layers, deploy
from analogc.sim.deploy import _MatmulMode
from sim_helpers import hw, mlp, plan_for


class Attn(nn.Module):
    def __init__(self, d=16):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x):
        return F.scaled_dot_product_attention(self.q(x), self.k(x), self.v(x), is_causal=True)


class AttnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.att, self.out = Attn(), nn.Linear(16, 4)

    def forward(self, x):
        return self.out(self.att(x))


def attn_net():
    torch.manual_seed(0)
    return AttnNet().eval(), torch.randn(2, 6, 16)


# -- dtypes ------------------------------------------------------------------------------
@pytest.mark.parametrize("model,family", [("pcm", "crossbar"), ("mzi", "mzi")])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_noisy_deploy_runs_in_the_model_dtype(model, family, dtype):
    # The noise pool draws float32 N(0, 1) values; a float64 / float16 / bfloat16 model must get
    # them in its own dtype (addmm refuses mixed dtypes) and keep its dtype at the output.
    m, x = mlp(), torch.randn(8, 40)
    p = plan_for(m, x, hw(model, family=family))
    md = copy.deepcopy(m).to(dtype)
    am = deploy(md, p, seed=0, calibration=[x.to(dtype)])
    ref = deploy(m, p, seed=0, calibration=[x])
    with torch.no_grad():
        y, y32 = am(x.to(dtype)), ref(x)
    assert y.dtype == dtype
    # same seed, same draws: the float32 model's output up to the dtype's rounding (and the
    # ADC codes that rounding flips): far below the noise itself
    tol = {torch.float64: 0.02, torch.float16: 0.05, torch.bfloat16: 0.15}[dtype]
    assert float((y.double() - y32.double()).norm() / y32.double().norm()) < tol


def test_analog_attention_keeps_half_precision():
    h = hw("pcm", dyn="analog")
    amm = AnalogMatmul(h, 0, NoisePool(0), "att")
    a, b = torch.randn(2, 5, 8, dtype=torch.float16), torch.randn(2, 8, 3, dtype=torch.float16)
    assert amm(a, b).dtype == torch.float16


# -- state_dict, deepcopy ----------------------------------------------------------------
def test_state_dict_roundtrip_keeps_calibrated_ranges():
    # A calibrated model's ranges are static; a fresh deploy (dynamic ranges) that loads its
    # state_dict must use the loaded ranges, not re-derive them per batch: the same chip
    # (same seed) then gives the same output as the calibrated original.
    m, x = mlp(), torch.randn(8, 40)
    p = plan_for(m, x, hw("pcm"))
    a = deploy(m, p, seed=0, calibration=[5 * x])  # ranges from larger inputs than x
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    b = deploy(m, p, seed=0)
    b.load_state_dict(torch.load(io.BytesIO(buf.getvalue())))
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    assert [float(la.input_range) for la in analog_layers(a)] == [float(lb.input_range) for lb in analog_layers(b)]


def test_deepcopy_of_deployed_model_with_analog_attention_is_independent():
    m, x = attn_net()
    am = deploy(m, plan_for(m, x, hw(dyn="analog")), seed=0)
    c = copy.deepcopy(am)
    with torch.no_grad():
        c.att.v.weight.zero_()
        c.att.v.bias.zero_()
        # v = 0 -> attention output 0 -> the copy's output is its out-layer bias
        assert torch.allclose(c(x), c.out.bias.expand(2, 6, 4), atol=1e-6)
        assert torch.allclose(am(x), m(x), atol=1e-5)  # the original is untouched


# -- analog attention ------------------------------------------------------------------------
def test_analog_attention_has_straight_through_gradients():
    # ideal preset: the analog matmul computes q k^T and A v exactly, so the gradients of the
    # deployed model must be those of the digital model (q, k, v projections included)
    m, x = attn_net()
    am = deploy(m, plan_for(m, x, hw(dyn="analog")), seed=0)
    m2 = attn_net()[0]
    xa, xd = x.clone().requires_grad_(), x.clone().requires_grad_()
    am(xa).square().sum().backward()
    m2(xd).square().sum().backward()
    assert xa.grad is not None and torch.allclose(xa.grad, xd.grad, atol=1e-5)
    for name in ("q", "k", "v"):
        ga, gd = getattr(am.att, name).weight.grad, getattr(m2.att, name).weight.grad
        assert ga is not None and torch.allclose(ga, gd, atol=1e-5), name


def test_analog_sdpa_follows_torch_causal_alignment():
    # torch's is_causal mask is tril(ones(L, S)) (top-left aligned) also when L != S
    h = hw(dyn="analog")
    amm = AnalogMatmul(h, 0, NoisePool(0), "att")
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, n, 8, generator=g) for n in (3, 5, 5))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    with _MatmulMode(amm):
        got = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(got, ref, atol=1e-5)


# -- calibration, converters off --------------------------------------------------------------
def test_freespace_calibration_sees_noiseless_outputs():
    # calibrate sets the ADC range from noiseless partial sums: an SLM has no programming noise,
    # so the range must not depend on the photon budget (shot noise) nor on the seed
    m, x = mlp(), torch.randn(32, 40)
    ranges = []
    for seed, ppm in ((0, 0.5), (1, 0.5), (0, 1e12)):
        p = plan_for(m, x, hw("freespace", family="freespace", rows=64, cols=64, hw_set={"photons_per_mac": ppm}))
        a = deploy(m, p, seed=seed, calibration=[x])
        ranges.append([float(la.adc_range) for la in analog_layers(a)])
    assert ranges[0] == ranges[1] == ranges[2]


@pytest.mark.parametrize("r", [1.0, 10.0])
def test_output_noise_is_relative_to_the_input_range_without_dac(r):
    # out_noise is a fraction of the full-scale normalised output (input at the input range, on
    # a full-scale weight); turning the DAC's quantization off keeps that unit: identity weight,
    # x = r/2 -> y = r/2 + r * 0.05 * N(0, 1), with or without the DAC.
    lin = nn.Linear(16, 16, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(16))
    m = nn.Sequential(lin).eval()
    x = torch.full((4000, 16), 0.5 * r)
    for dac in (False, True):
        p = plan_for(m, x[:2], hw("sram", rows=16, cols=16, dac=dac, adc=False,
                                  out_noise={"value": 0.05, "source": "test"}))
        am = deploy(m, p, seed=0, input_range=r)
        with torch.no_grad():
            y = am(x)
        assert abs(float((y - 0.5 * r).std()) / (0.05 * r) - 1) < 0.05


# -- gradients ---------------------------------------------------------------------------------
def test_two_forwards_before_one_backward():
    # dynamic input ranges are refreshed in place on every forward; a layer run twice before
    # backward (two batches, or a shared layer) must still backpropagate, and under the ideal
    # preset give the digital gradient
    m, x = mlp(), torch.randn(8, 40)
    for h in (hw("pcm"), hw()):
        am = deploy(m, plan_for(m, x, h), seed=0).train()
        (am(x).sum() + am(2 * x).sum()).backward()
        assert am[0].weight.grad is not None
    m2 = mlp()
    (m2(x).sum() + m2(2 * x).sum()).backward()
    assert torch.allclose(am[0].weight.grad, m2[0].weight.grad, atol=1e-4)


def test_learned_range_that_turns_negative_acts_as_its_magnitude():
    """The input range is symmetric: a learned range pushed below zero by an optimizer step
    must act as |r| (not clip everything to one code), with the gradient sign following."""
    import analogc
    from analogc.sim import analog_layers

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(16, 8))
    x = torch.randn(32, 16)
    a = analogc.deploy(m, "pcm-hermes", seed=0, calibration=[x], input_range_mode="learned")
    layer = analog_layers(a)[0]
    from analogc.sim import reseed
    with torch.no_grad():
        reseed(a, 0)  # the same noise draws for both calls
        y_pos = a(x)
        layer.input_range.mul_(-1)
        reseed(a, 0)
        y_neg = a(x)
    assert torch.equal(y_pos, y_neg)
    with torch.no_grad():
        layer.input_range.mul_(-0.5)  # positive, half: now inputs clip
    reseed(a, 0)
    a(x).square().sum().backward()
    g_pos = float(layer.input_range.grad)
    layer.input_range.grad = None
    with torch.no_grad():
        layer.input_range.mul_(-1)
    reseed(a, 0)
    a(x).square().sum().backward()
    assert float(layer.input_range.grad) == pytest.approx(-g_pos, rel=1e-5) and g_pos != 0


@pytest.mark.parametrize("preset", ["sram-cim", "pcm-hermes"])
def test_learned_range_gradient_of_a_first_layer(preset):
    """A first layer (inputs without gradient) gets its range gradient from the clipped inputs
    alone (a sparse product, no GEMM); it must equal the full path's (inputs with gradient, the
    same noise draws) and the hand formula sum_{|x|>r} sign(x) (gy @ W^T)[m, k]."""
    import analogc
    from analogc.sim import reseed
    torch.manual_seed(1)
    m = torch.nn.Sequential(torch.nn.Linear(40, 24), torch.nn.ReLU(), torch.nn.Linear(24, 6))
    x = torch.randn(64, 40) * 2
    a = analogc.deploy(m, preset, seed=0, calibration=[x * 0.7], input_range_mode="learned")
    layer = analog_layers(a)[0]
    r = float(layer.input_range.detach())
    # the calibration range clips some of these inputs, few enough for the sparse product
    assert 0.005 < float((x.abs() > r).float().mean()) < 0.125
    reseed(a, 0)
    a(x).square().sum().backward()
    g_sparse = float(layer.input_range.grad)
    a.zero_grad()
    reseed(a, 0)
    xg = x.clone().requires_grad_(True)
    a(xg).square().sum().backward()
    g_full = float(layer.input_range.grad)
    assert g_sparse == pytest.approx(g_full, rel=1e-4) and g_sparse != 0
    # the hand formula, with the layer's output gradient captured by a hook
    a.zero_grad()
    reseed(a, 0)
    cap = {}
    h = layer.register_full_backward_hook(lambda mod, gi, go: cap.update(gy=go[0]))
    a(x.clone().requires_grad_(True)).square().sum().backward()
    h.remove()
    w_dev, cs, f = layer._programmed_dev()
    w_real = layer._weight_real(w_dev, cs, f)[0]  # [K, N]
    g = cap["gy"] @ w_real.t()
    want = float((torch.sign(x) * g)[x.abs() > r].sum())
    assert g_sparse == pytest.approx(want, rel=1e-3)
