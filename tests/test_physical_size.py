"""Physical size (issue 12): the review's ~16 m2 for 1e15 optical weights (factor 2), 2D/3D
storage against hand formulas, chips/boards/racks, first model not on one chip, reload vs
replication."""
import math

import pytest

from analogc.scaling import physical as P


def test_review_16_m2_within_factor_2():
    a = P.optical_area_m2(P.REVIEW_PARAMS, P.REVIEW_WAVELENGTH_M, "2d", "dof")
    assert 0.5 <= a / P.REVIEW_AREA_M2 <= 2
    assert a == pytest.approx(1e15 * (500e-9) ** 2 / 16)
    # one weight per 500 nm pixel is 16x more: the review's figure is not that count
    assert P.optical_area_m2(1e15, 500e-9, "2d", "pixel") == pytest.approx(250.0)


def test_3d_storage_is_the_footprint_of_a_cube():
    v = 1e15 * (500e-9) ** 3 / 32
    assert P.optical_area_m2(1e15, 500e-9, "3d", "dof") == pytest.approx(v ** (2 / 3))
    # area grows as N for 2D, N^(2/3) for 3D
    r2 = P.optical_area_m2(8e15, storage="2d") / P.optical_area_m2(1e15, storage="2d")
    r3 = P.optical_area_m2(8e15, storage="3d") / P.optical_area_m2(1e15, storage="3d")
    assert r2 == pytest.approx(8) and r3 == pytest.approx(4)


def test_boards_and_racks():
    assert P.boards_racks(1) == (1, 1)
    assert P.boards_racks(8 * 4 + 1) == (5, 2)
    assert P.boards_racks(0) == (0, 0)


def test_crossbar_sizes_and_reload_vs_replication():
    from analogc.scaling.families import build
    from analogc.sweep import sweep

    df = sweep(family="mlp", sizes=[1e5, 1e8], hws=["pcm-hermes", "rram"], workers=1)
    cs = P.crossbar_sizes(df)
    # the small MLP (784-w-w-10, w ~ 300) fits one 64-tile HERMES chip; the 1e8-MAC one does not
    nf = P.first_not_fitting(df).set_index("hw")
    assert nf.loc["pcm-hermes", "params_not_fitting"] > nf.loc["pcm-hermes", "params_fitting"]
    big = cs[(cs["hw"] == "pcm-hermes")].sort_values("params").iloc[-1]
    # chips = ceil(tiles / 64): the 256x256 tiles of each weight matrix (8-bit weights in one slice)
    import analogc

    plan = analogc.compile(build("mlp", 1e8), hw="pcm-hermes")
    assert big["chips"] == math.ceil(plan.tiles / 64)
    g = build("mlp", 1e8)
    rv = P.reload_vs_replication(g, ["pcm-hermes"]).iloc[0]
    # one chip of 64 tiles refilled ceil(tiles / 64) times per inference = the chips replication needs
    assert rv["chips_reload"] == 1 and rv["weight_reloads"] == rv["chips_replicated"] >= 2
    assert rv["energy_reload_j"] > rv["energy_replicated_j"] and rv["latency_reload_s"] > rv["latency_replicated_s"]
    fig = P.physical_figure(df)
    assert len(fig.axes) == 2
