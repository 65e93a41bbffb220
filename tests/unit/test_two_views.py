"""The estimator and the simulator read one hardware: what one prices the other runs.

Table-driven over every shipped preset: the ADC conversions the estimate counts are the
conversions the deployed layer performs; the photons the estimate pays for are the ones whose
shot noise deploy draws (variance against the formula); the tile blocks the simulator runs
are the plan's. No tracing: plans come from a hand-made IR graph.
"""
import dataclasses
import math

import pytest
import torch
from torch import nn

import analogc
import hw_models
from analogc.ir import Graph, Op, OpKind
from analogc.sim import analog_layers, deploy

PRESETS = [p for p in hw_models.presets() if p != "ideal"]


def linear_plan(hw, K, N, M, bias=False, seed=0):
    """nn.Sequential(nn.Linear(K, N)) and its plan for M input vectors on ``hw``."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(K, N, bias=bias)).eval()
    g = Graph("lin", "manual")
    g.add(Op(name="fc", kind=OpKind.MVM, target="linear", in_features=K, out_features=N, vectors=M,
             module_path="0"))
    return model, analogc.compile(g, hw=hw)


@pytest.mark.parametrize("preset", PRESETS)
def test_adc_conversions_counted_are_the_conversions_run(preset):
    K, N, M = 300, 70, 5
    model, plan = linear_plan(preset, K, N, M)
    counted = analogc.estimate(plan).counts["adc_conversion"]
    am = deploy(model, plan, seed=0)
    layer = analog_layers(am)[0]
    with torch.no_grad():
        am(torch.randn(M, K))
    assert layer.conversions == counted
    fam = plan.hw.tile_model
    if fam.multi_pass:  # the fast approximation converts once per row tile: fewer than priced
        rc = deploy(model, plan, seed=0, converter_passes="recombined")
        with torch.no_grad():
            rc(torch.randn(M, K))
        assert analog_layers(rc)[0].conversions == counted / (fam.slices * fam.input_cycles)


@pytest.mark.parametrize("preset, over", [
    ("freespace", {"rows": 64, "cols": 16}),                               # SNR-sized photon budget
    ("freespace", {"rows": 64, "cols": 16, "photons_per_mac": 3.1}),       # Wang et al. regime
    ("mzi", {}),                                                          # receiver-limited budget
])
def test_shot_noise_drawn_is_that_of_the_photons_priced(preset, over):
    hw = hw_models.load(preset, adc_model="ideal", dac_model="ideal", **over,
                        **{"noise.out_noise": 0.0, **({"noise.detector_noise_photons": 0.0} if preset == "freespace" else {})})
    R = hw.tile.rows
    K, N, M = R, 4, 4000
    model, plan = linear_plan(hw, K, N, M)
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    rep = analogc.estimate(plan)
    # photons the estimate pays for per output (all of its detectors), at full scale
    photons = rep.counts["photon"] / (M * N)
    qe = {"freespace": 0.8, "mzi": 0.8}[preset]  # detector quantum efficiency of the preset
    am = deploy(model, plan, seed=0, input_range=1.0, exact_noise=True)
    x = torch.ones(M, K)
    with torch.no_grad():
        y = am(x)  # full scale: every |x| = |w| = 1 on K = rows inputs
    layer = analog_layers(am)[0]
    w_abs = layer._weight_real(*layer._programmed_dev()).abs()[0]  # programmed |w| (MZI: with errors)
    signal = (x[:1].abs() @ w_abs)[0]  # sum |x||w| per output
    var_expected = signal / (qe * photons / K)  # Poisson: var = sum|x||w| / photoelectrons per MAC
    var = y.var(0)
    assert torch.allclose(var, var_expected, rtol=0.08), (var, var_expected)


@pytest.mark.parametrize("preset", PRESETS)
def test_simulator_runs_the_plans_tile_blocks(preset):
    K, N, M = 300, 70, 3
    model, plan = linear_plan(preset, K, N, M)
    (name, m), = plan.mappings.items()
    layer = analog_layers(deploy(model, plan, seed=0))[0]
    assert layer.row_blocks == sorted({(r0, r1) for r0, r1, _, _ in m.tile_blocks()})
    assert layer.tile_blocks == m.tile_blocks()
    # a plan cut differently is run as cut: the simulator does not recompute the grid
    rows = 100
    other = dataclasses.replace(m, rows=rows, row_tiles=math.ceil(K / rows))
    plan2 = dataclasses.replace(plan, mappings={name: other})
    layer2 = analog_layers(deploy(model, plan2, seed=0))[0]
    assert layer2.row_blocks == [(0, 100), (100, 200), (200, 300)]


def test_mzi_meshes_follow_the_plans_blocks():
    """A mesh is programmed per tile block: on 12 x 12 blocks a 24 x 12 weight is two meshes;
    on one 24-row block, one mesh of 24 modes - different phases, different errors."""
    hw = hw_models.load("mzi", rows=24, cols=24)
    model, plan = linear_plan(hw, 24, 12, 2)
    model12, plan12 = linear_plan("mzi", 24, 12, 2)
    w24 = analog_layers(deploy(model, plan, seed=0))[0]
    w12 = analog_layers(deploy(model12, plan12, seed=0))[0]
    assert w12.tile_blocks == [(0, 12, 0, 12), (12, 24, 0, 12)] and w24.tile_blocks == [(0, 24, 0, 12)]
    a, b = (m._weight_real(*m._programmed_dev()) for m in (w24, w12))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("preset", ["pcm-hermes", "freespace", "rram"])  # read / shot noise, per pass
def test_signal_dependent_noise_leaves_the_shared_noise_pool_as_drawn(preset):
    """Per-MVM noise is taken from a pool shared by the model's layers; scaling it by a
    signal-dependent std must not write into the pool (later calls would draw scaled noise)."""
    model, plan = linear_plan(preset, 300, 70, 5)
    am = deploy(model, plan, seed=0)
    layer = analog_layers(am)[0]
    with torch.no_grad():
        am(torch.randn(5, 300))
        before = layer.pool.pool.clone()
        am(torch.randn(5, 300))
    assert before.numel() and torch.equal(layer.pool.pool, before)
