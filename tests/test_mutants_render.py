"""The PNG of the energy breakdown (analogc.estimate.render.breakdown_png): data, labels and
layout of the figure pinned (written from scripts/mutation.sh's surviving mutants). Outside
tests/unit because matplotlib takes about a second per figure; scripts/mutation.sh runs it.
"""
from __future__ import annotations

import dataclasses
import importlib

import pytest

import analogc
import hw_models
from analogc.ir import Graph, Op, OpKind


def approx(expected, rel=1e-9, abs=0.0):
    """pytest.approx without its 1e-12 absolute tolerance (energies here are ~1e-12 J and below)."""
    return pytest.approx(expected, rel=rel, abs=abs)

rd = importlib.import_module("analogc.estimate.render")  # the package re-exports render()


def graph(decoder: bool = False) -> Graph:
    g = Graph("m", "manual")
    g.add(Op(name="emb", kind=OpKind.EMBEDDING, target="embedding", elements=1000))
    g.add(Op(name="fc", kind=OpKind.MVM, target="linear", in_features=300, out_features=70,
             vectors=5, module_path="fc"), ["emb"])
    g.add(Op(name="sm", kind=OpKind.SOFTMAX, target="softmax", elements=350), ["fc"])
    if decoder:
        g.meta.update(decoder=True, seq_len=4, n_layers=2, n_heads=2, d_model=8, batch=3)
    return g


@pytest.fixture(scope="module")
def rep():
    return analogc.estimate(analogc.compile(graph(), hw="pcm-hermes"))


@pytest.fixture(scope="module")
def dec_rep():
    return analogc.estimate(analogc.compile(graph(decoder=True), hw="pcm-hermes"))



def test_breakdown_png_is_a_png(rep):
    # pins: PNG bytes (magic number) of a figure with one bar per hardware
    data = rd.breakdown_png([rep])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"


def test_breakdown_png_figure_content(rep, dec_rep, monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figs = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig: figs.append(fig))
    reports = [rep, dec_rep]
    rd.breakdown_png(reports)
    (fig,) = figs
    try:
        ax_tot, ax_mix = fig.axes
        # pins: the figure the PNG shows: size grows with the hardware count, 120 dpi
        assert tuple(fig.get_size_inches()) == approx((3.0 + 2.2 * 2, 4.4)) and fig.dpi == 120
        # two panels side by side: totals left, shares right
        pt, pm = ax_tot.get_position(), ax_mix.get_position()
        assert pt.x1 <= pm.x0 and pt.y0 == approx(pm.y0, rel=0.2)
        assert fig._suptitle.get_text() == "m: energy per inference"
        # left: one bar per hardware at its total energy on a log axis, annotated, with the
        # digital baselines as dashed reference lines
        totals = [r.summary["energy_j"] for r in reports]
        assert [p.get_height() for p in ax_tot.patches] == approx(totals)
        assert ax_tot.get_yscale() == "log"
        assert ax_tot.get_title() == "total" and ax_tot.get_ylabel() == "energy per inference (J)"
        assert [t.get_text() for t in ax_tot.get_xticklabels()] == ["pcm-hermes", "pcm-hermes"]
        for ax in (ax_tot, ax_mix):
            assert [t.get_rotation() for t in ax.get_xticklabels()] == [30, 30]
            assert [t.get_ha() for t in ax.get_xticklabels()] == ["right", "right"]
        assert [a.get_text() for a in ax_tot.texts] == [rd.fmt_si(t, "J") for t in totals]
        assert [a.xy for a in ax_tot.texts] == [(0, totals[0]), (1, totals[1])]
        assert all(a.get_fontsize() == 8 and a.get_ha() == "center" and a.get_va() == "bottom" for a in ax_tot.texts)
        base = [rep.compare(b)["baseline_energy_j"] for b in rd.DEFAULT_BASELINES]
        assert [ln.get_ydata()[0] for ln in ax_tot.lines] == approx(base)
        assert [ln.get_label() for ln in ax_tot.lines] == [f"{b} ({rd.fmt_si(e, 'J')})"
                                                         for b, e in zip(rd.DEFAULT_BASELINES, base)]
        assert [ln.get_linestyle() for ln in ax_tot.lines] == ["--"] * 3
        assert [ln.get_linewidth() for ln in ax_tot.lines] == [1] * 3
        assert [ln.get_color() for ln in ax_tot.lines] == ["C1", "C2", "C3"]
        leg = ax_tot.get_legend()
        assert [t.get_text() for t in leg.get_texts()] == [ln.get_label() for ln in ax_tot.lines]
        assert leg._loc == 0 and all(t.get_fontsize() == 7 for t in leg.get_texts())  # "best"
        assert ax_tot.patches[0].get_facecolor() == approx(matplotlib.colors.to_rgba("#4c72b0"))
        # right: 100 % stacked shares of the non-zero components, in COMPONENTS order
        comps = [c for c in hw_models.pricing.COMPONENTS if any(r.breakdown.get(c, 0) > 0 for r in reports)]
        leg = ax_mix.get_legend()
        assert [t.get_text() for t in leg.get_texts()] == comps
        assert leg._loc == 2 and all(t.get_fontsize() == 7 for t in leg.get_texts())  # "upper left"
        bb = leg.get_bbox_to_anchor().transformed(ax_mix.transAxes.inverted())
        assert (bb.x0, bb.y0) == (approx(1.0), approx(1.0))  # outside, right of the panel
        bottom = [0.0, 0.0]
        for k, c in enumerate(comps):
            bars = ax_mix.containers[k]
            shares = [100 * r.breakdown.get(c, 0.0) / t for r, t in zip(reports, totals)]
            assert [b.get_height() for b in bars] == approx(shares)
            assert [b.get_y() for b in bars] == approx(bottom)
            bottom = [b + s for b, s in zip(bottom, shares)]
        assert bottom == approx([100.0, 100.0])
        assert ax_mix.get_ylim() == (0, 100) and ax_mix.get_title() == "where the energy goes"
        assert ax_mix.get_ylabel() == "share of energy (%)"
        assert [t.get_text() for t in ax_mix.get_xticklabels()] == ["pcm-hermes", "pcm-hermes"]
    finally:
        real_close(fig)


def test_breakdown_png_of_reports_missing_components(rep, monkeypatch):
    import matplotlib.pyplot as plt
    figs = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig: figs.append(fig))
    only_mem = dataclasses.replace(rep, breakdown={"memory": rep.breakdown["memory"]})
    rd.breakdown_png([rep, only_mem])
    (fig,) = figs
    try:
        _, ax_mix = fig.axes
        # pins: a component a report does not list is a zero share
        adc = [c for c in ax_mix.containers if c.get_label() == "adc"][0]
        assert adc[1].get_height() == 0.0 and adc[0].get_height() > 0
    finally:
        real_close(fig)


def test_breakdown_png_without_baselines_or_energy(rep, monkeypatch):
    import matplotlib.pyplot as plt
    figs = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig: figs.append(fig))
    zero = dataclasses.replace(rep, summary={**rep.summary, "energy_j": 0.0},
                               breakdown={k: 0.0 for k in rep.breakdown}, _compare_cache={})
    monkeypatch.setattr(type(zero), "compare", lambda self, b: (_ for _ in ()).throw(KeyError(b)) if b == "a100"
                        else {"baseline_energy_j": 1e-6})
    rd.breakdown_png([zero])
    (fig,) = figs
    try:
        ax_tot, ax_mix = fig.axes
        # pins: a baseline that cannot be priced leaves its line out (the others stay); a report
        # without energy has no share bars (not a division error)
        assert [ln.get_label().split()[0] for ln in ax_tot.lines] == ["h100", "digital-int8"]
        assert len(ax_mix.containers) == 0
    finally:
        real_close(fig)
