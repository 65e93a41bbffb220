"""Per-pass converters: one ADC conversion per bit slice, input bit plane and row tile."""
import numpy as np
import pytest
import torch
from torch import nn

import analogc
import hw_models
from analogc.errors import AnalogcError
from analogc.sim import analog_layers, deploy
from hw_models import noise as nz
from hw_models.base import ChipSpec, Hardware, TileSpec

QUIET = {"out_noise": {"value": 0.0, "source": "test"}, "read_noise": {"value": 0.0, "source": "test"}}


def xbar(model, cell_bits, rows=16, cols=8, encoding="bit-serial", bits=8, adc=True, **noise):
    """rram-like (2-bit cells, one device per cell, offset-encoded) or sram-like (1-bit cells), built in
    code; ``adc=False``: an ideal (exact) ADC."""
    tile = TileSpec("crossbar", rows, cols, weight_bits=8, cell_bits=cell_bits, devices_per_cell=1)
    params = {"noise": {"model": model, **noise}, "tile": {"input_encoding": encoding}}
    if not adc:
        params["adc"] = {"model": "ideal"}
    return Hardware(name=model, tile=tile, chip=ChipSpec(4096), input_bits=bits, output_bits=bits, params=params)


def no_adc(h):
    """The same hardware with an ideal (exact) ADC."""
    if h.source_file:
        return hw_models.load(h, adc_model="ideal")
    return Hardware(name=h.name, tile=h.tile, chip=h.chip, input_bits=h.input_bits, output_bits=h.output_bits,
                    params={**h.params, "adc": {"model": "ideal"}})


def plan_for(m, x, h):
    return analogc.compile(analogc.trace(m, (x[:2],)), hw=h)


def mlp(k=40, h=24, n=10):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(k, h), nn.ReLU(), nn.Linear(h, n)).eval()


def rel(a, b):
    return float((a - b).detach().norm() / b.detach().norm())


@pytest.mark.parametrize("h", [xbar("rram", 2, **QUIET), xbar("sram", 1), xbar("rram", 2, encoding="multi-level", **QUIET),
                               xbar("sram", 8, encoding="bit-serial")], ids=["rram", "sram", "rram-ml", "sram-1slice"])
def test_passes_add_back_exactly_without_adc_and_output_noise(h):
    m, x = mlp(), torch.randn(12, 40)
    plan = plan_for(m, x, no_adc(h))
    assert plan.mappings[next(iter(plan.mappings))].row_tiles == 3  # 40 rows on 16-row tiles (16+16+8)
    pp = deploy(m, plan, seed=3, input_range=3.0, converter_passes="per-pass")
    rc = deploy(m, plan, seed=3, input_range=3.0, converter_passes="recombined")
    layer = analog_layers(pp)[0]
    assert layer.per_pass and not analog_layers(rc)[0].per_pass
    assert layer.input_planes == (8 if h.params["tile"]["input_encoding"] == "bit-serial" else 1)
    with torch.no_grad():
        a, b = pp(x), rc(x)
    assert (a - b).abs().max() <= 1e-5 * b.abs().max()
    # programming noise is in both (same devices): not the digital model for rram
    assert rel(b, m(x)) > (0.01 if h.name == "rram" else 0)


def test_per_pass_adc_matches_numpy_reference():
    torch.manual_seed(1)
    lin = nn.Sequential(nn.Linear(20, 6)).eval()
    x = torch.randn(7, 20)
    h = xbar("rram", 2, rows=8, cols=6, bits=6, **QUIET)  # 3 row tiles (8, 8, 4), 4 slices, 6 planes
    am = deploy(lin, plan_for(lin, x, h), seed=11, input_range=2.0, converter_passes="per-pass")
    layer = analog_layers(am)[0]
    layer.adc_range.fill_(2.5)  # clips some passes
    with torch.no_grad():
        y = am(x).numpy().astype(np.float64)
    # independent computation: the same devices (same seed), pass by pass in numpy
    sl, sig, cs, off = nz.program_crossbar(lin[0].weight.detach().t(), h.tile, h.tile_model.noise,
                                           torch.Generator().manual_seed(layer.seed), 0.0, per_slice=True)
    sl, sig, cs, off = sl.double().numpy(), sig.double().numpy(), cs.double().numpy(), off.double().numpy()
    Lx, La, B, R = 31, 31, 6, 8
    code = np.clip(np.round(x.double().numpy() / 2.0 * Lx), -Lx, Lx).astype(np.int64)
    twos = code & (2 ** B - 1)
    step = 2.5 / La
    acc = np.zeros((7, 6))
    clipped = 0
    for b in range(B):
        plane = ((twos >> b) & 1).astype(np.float64)
        cb = -(2.0 ** b) if b == B - 1 else 2.0 ** b
        for s in range(sl.shape[0]):
            for t0 in range(0, 20, R):
                p = plane[:, t0:t0 + R] @ sl[s, t0:t0 + R]
                q = np.clip(np.round(p / step), -La, La)
                clipped += int((np.abs(p / step) > La).sum())
                acc += cb * sig[s] * q * step
    acc += np.outer(code.sum(1), off)  # offset encoding (one device per cell): offset x sum of the codes, digital
    ref = acc * (2.0 / Lx) * cs + lin[0].bias.detach().double().numpy()
    assert clipped > 0
    assert np.abs(y - ref).max() <= 1e-5 * np.abs(ref).max()
    # and the ADC does something here
    with torch.no_grad():
        y0 = deploy(lin, plan_for(lin, x, no_adc(h)), seed=11, input_range=2.0,
                    converter_passes="per-pass")(x).numpy()
    assert np.abs(y0 - ref).max() > 1e-2 * np.abs(ref).max()


def test_fewer_adc_bits_cost_more_with_per_pass_conversion_on_rram():
    m, x = mlp(256, 64, 10), torch.randn(64, 256)
    err, total = {}, {}
    for bits in (8, 4):
        hw = hw_models.load("rram", adc_bits=bits)
        plan, plan0 = plan_for(m, x, hw), plan_for(m, x, no_adc(hw))
        for cp in ("per-pass", "statistical", "recombined"):
            # same chip (seed) with and without the ADC: the difference is the ADC's doing
            with_adc = deploy(m, plan, seed=0, calibration=[x], converter_passes=cp, exact_noise=True)
            exact = deploy(m, plan0, seed=0, calibration=[x], converter_passes=cp, exact_noise=True)
            with torch.no_grad():
                y, y0 = with_adc(x), exact(x)
                total[cp, bits] = rel(y, m(x))
            err[cp, bits] = rel(y, y0)
    for bits in (8, 4):
        assert err["per-pass", bits] > 2 * err["recombined", bits]
    # the default statistical model draws noise and ADC error as one Gaussian, so its error is
    # held against the digital model, not path by path: it matches per-pass at 8 and 4 bits
    # (measured 0.243 vs 0.263 and 1.93 vs 1.83), far from the optimistic recombined conversion
    for bits in (8, 4):
        assert total["statistical", bits] == pytest.approx(total["per-pass", bits], rel=0.15)
    assert total["statistical", 4] > 3 * total["recombined", 4]
    assert err["per-pass", 4] - err["per-pass", 8] > 2 * (err["recombined", 4] - err["recombined", 8])


def test_same_seed_same_outputs_and_per_slice_programming_reproduces_recombined_weight():
    m, x = mlp(), torch.randn(12, 40)
    plan = plan_for(m, x, xbar("rram", 2))  # rram noise on: programming, output and read noise
    outs = []
    for _ in range(2):
        am = deploy(m, plan, seed=5, calibration=[x], exact_noise=True)
        with torch.no_grad():
            outs.append(am(x))
    assert torch.equal(outs[0], outs[1])
    with torch.no_grad():
        other = deploy(m, plan, seed=6, calibration=[x], exact_noise=True)(x)
    assert not torch.equal(outs[0], other)
    w = torch.randn(50, 12)
    for model, cb, dpc, t in [("rram", 2, 1, 0.0), ("rram", 4, 2, 86400.0), ("pcm", 4, 2, 3600.0), ("sram", 1, 1, 0.0)]:
        tile = TileSpec("crossbar", 64, 16, weight_bits=8, cell_bits=cb, devices_per_cell=dpc)
        p = nz.noise_defaults(model)
        e, s = nz.program_crossbar(w, tile, p, torch.Generator().manual_seed(9), t)
        sl, sig, s2, off = nz.program_crossbar(w, tile, p, torch.Generator().manual_seed(9), t, per_slice=True)
        assert sl.shape == (tile.slices, 50, 12) and torch.equal(s, s2)
        assert (off is not None) == (model != "sram" and dpc == 1)  # offset encoding: one device per cell
        assert torch.allclose((sig[:, None, None] * sl).sum(0) + (0 if off is None else off), e, atol=1e-6)
        if model == "sram":  # exact digits in [-1, 1]
            assert float(sl.abs().max()) == 1.0 and torch.equal(sl, sl.round())


def test_straight_through_gradients_follow_the_recombined_weight():
    m, x = mlp(), torch.randn(12, 40)
    plan = plan_for(m, x, xbar("rram", 2, **QUIET))  # programming noise on
    plan0 = plan_for(m, x, xbar("rram", 2, adc=False, **QUIET))
    grads = {}
    for cp in ("per-pass", "recombined"):  # no ADC / output noise: same forward, so same gradients
        am = deploy(m, plan0, seed=2, input_range=3.0, converter_passes=cp).train()
        xx = x.clone().requires_grad_(True)
        am(xx).square().sum().backward()
        grads[cp] = (xx.grad, am[0].weight.grad, am[2].weight.grad)
    for gp, gr in zip(grads["per-pass"], grads["recombined"]):
        assert gp is not None and rel(gp, gr) < 1e-5
    # with the ADC on, training still runs and the weight seen backward is the recombined one
    am = deploy(m, plan, seed=2, calibration=[x], input_range_mode="learned").train()
    am(x).square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in am.parameters())
    pp = analog_layers(am)[0]
    rc = analog_layers(deploy(m, plan, seed=2, converter_passes="recombined"))[0]
    wp, wr = pp._weight_real(*pp._programmed_dev()), rc._weight_real(*rc._programmed_dev())
    assert torch.allclose(wp, wr, atol=1e-6 * float(wr.abs().max()))


def test_bad_converter_passes_option():
    m, x = mlp(), torch.randn(4, 40)
    with pytest.raises(AnalogcError, match="converter_passes"):
        deploy(m, plan_for(m, x, xbar("sram", 1)), seed=0, converter_passes="per-slice")
