"""Physical size of analog models: optical weight storage (2D planar, 3D volumetric) against
parameter count, chips / boards / racks of the crossbar presets, and weight reloads versus
replication once a model stops fitting on one chip.

Optical storage (modelling choices, stated):

* ``pixel``: one weight per SLM pixel of pitch ``pitch`` (default the wavelength, the
  "~500 nm pixels" of the review): ``A = N p^2``.
* ``dof`` (2D): the real degrees of freedom an optical field carries through an aperture at
  the diffraction limit: spots of (lambda/2)^2 (Nyquist at NA = 1), 2 polarizations, 2
  quadratures (a complex transmission holds two real weights): ``N = 16 A / lambda^2``.
* ``dof`` (3D): the same per volume, voxels of (lambda/2)^3: ``N = 32 V / lambda^3``; the
  footprint is that of a cube, ``V^(2/3)``.

The review "Training of Physical Neural Networks" (Momeni et al., Nature 2025, arXiv
2406.03372, section on analog large models) puts an optical model of 10^15 parameters at
~16 m^2 of SLM area at lambda ~ 500 nm (``shared/reference/published_figures.csv``). The
2D ``dof`` count gives 15.6 m^2 for it; one weight per 500 nm pixel gives 250 m^2. The review's
own derivation could not be read in this session, so which count it used is not verified.

Crossbars: a preset's chips come from :func:`analogc.compile` (tiles / tiles per chip);
boards and racks from :data:`CHIPS_PER_BOARD` and :data:`BOARDS_PER_RACK`.

Example::

    >>> round(optical_area_m2(1e15, 500e-9, "2d", "dof"), 1)
    15.6
    >>> round(optical_area_m2(1e15, 500e-9, "2d", "pixel"))
    250
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import pandas as pd

#: accelerator chips per board: the NVIDIA HGX H100 baseboard carries 8 GPUs (NVIDIA HGX
#: H100 datasheet); modelling choice for analog chips of any size
CHIPS_PER_BOARD = 8
#: boards per rack: 4 DGX H100 systems (one HGX board each) per rack in NVIDIA's DGX
#: SuperPOD reference architecture (power-limited racks); modelling choice
BOARDS_PER_RACK = 4
#: presets whose plan area is not a physical size (anderson-2023: full-size 2^21 x 2^23
#: optical units, one per layer op), left out of the area panel
NOT_PHYSICAL_AREA = ("anderson-2023",)
#: the review's figure: 10^15 parameters, ~16 m^2 of SLM area at lambda ~ 500 nm
REVIEW_PARAMS, REVIEW_AREA_M2, REVIEW_WAVELENGTH_M = 1e15, 16.0, 500e-9


def optical_area_m2(params: float, wavelength_m: float = REVIEW_WAVELENGTH_M, storage: str = "2d",
                    model: str = "dof", pitch_m: float | None = None) -> float:
    """Area (2D: the aperture; 3D: the footprint of a cube) that stores ``params`` weights."""
    if params < 0 or wavelength_m <= 0:
        raise ValueError("params >= 0 and wavelength > 0 expected")
    if model == "pixel":
        p = wavelength_m if pitch_m is None else pitch_m
        if storage == "2d":
            return params * p * p
        return (params * p ** 3) ** (2 / 3)
    if model != "dof":
        raise ValueError(f"model: expected 'dof' or 'pixel', got {model!r}")
    if storage == "2d":
        return params * wavelength_m ** 2 / 16
    if storage == "3d":
        return (params * wavelength_m ** 3 / 32) ** (2 / 3)
    raise ValueError(f"storage: expected '2d' or '3d', got {storage!r}")


def boards_racks(chips: float) -> tuple[int, int]:
    boards = math.ceil(chips / CHIPS_PER_BOARD) if chips else 0
    return boards, math.ceil(boards / BOARDS_PER_RACK) if boards else 0


def optical_sizes(params: Sequence[float], wavelength_m: float = REVIEW_WAVELENGTH_M) -> pd.DataFrame:
    """Area of optical weight storage per parameter count: 2D/3D, pixel/dof counts."""
    rows = []
    for n in params:
        for storage in ("2d", "3d"):
            for model in ("pixel", "dof"):
                rows.append({"params": n, "storage": storage, "model": model,
                             "area_m2": optical_area_m2(n, wavelength_m, storage, model)})
    return pd.DataFrame(rows)


def crossbar_sizes(df: pd.DataFrame) -> pd.DataFrame:
    """Chips, boards, racks and silicon area per model and hardware of a sweep, and where
    the model stops fitting on one chip (``fits_one_chip``)."""
    out = df[["model", "hw", "params", "macs", "chips", "area_mm2"]].copy()
    br = [boards_racks(c) for c in out["chips"]]
    out["boards"] = [b for b, _ in br]
    out["racks"] = [r for _, r in br]
    out["fits_one_chip"] = out["chips"] <= 1
    return out


def first_not_fitting(df: pd.DataFrame) -> pd.DataFrame:
    """Per hardware: the largest model that fits on one chip and the smallest that does not."""
    rows = []
    for hw, sub in crossbar_sizes(df).groupby("hw", sort=False):
        sub = sub.sort_values("params")
        fit, nofit = sub[sub["fits_one_chip"]], sub[~sub["fits_one_chip"]]
        rows.append({"hw": hw, "largest_on_one_chip": fit["model"].iloc[-1] if len(fit) else None,
                     "params_fitting": fit["params"].iloc[-1] if len(fit) else float("nan"),
                     "first_needing_more": nofit["model"].iloc[0] if len(nofit) else None,
                     "params_not_fitting": nofit["params"].iloc[0] if len(nofit) else float("nan"),
                     "chips_then": nofit["chips"].iloc[0] if len(nofit) else float("nan")})
    return pd.DataFrame(rows)


def reload_vs_replication(graph: Any, hws: Sequence[str], chips: int = 1) -> pd.DataFrame:
    """Per hardware: the model replicated over as many chips as it needs (weights resident)
    against ``chips`` chips that reprogram the weights every inference (streamed from
    off-chip memory): energy and latency per inference of each, and the ratio."""
    from analogc.estimate import estimate
    from analogc.mapping import compile

    rows = []
    for hw in hws:
        res = compile(graph, hw=hw)
        e_res = estimate(res).summary
        rel = compile(graph, hw=hw, chips=chips)
        e_rel = estimate(rel).summary
        rows.append({"model": graph.name, "hw": res.hw.name, "params": graph.summary()["params"],
                     "chips_replicated": res.chips, "energy_replicated_j": e_res["energy_j"],
                     "latency_replicated_s": e_res["latency_s"], "chips_reload": rel.chips,
                     "weight_reloads": rel.weight_reloads, "energy_reload_j": e_rel["energy_j"],
                     "latency_reload_s": e_rel["latency_s"],
                     "reload_energy_ratio": e_rel["energy_j"] / e_res["energy_j"],
                     "reload_latency_ratio": e_rel["latency_s"] / e_res["latency_s"]})
    return pd.DataFrame(rows)


def physical_figure(crossbar_df: pd.DataFrame | None = None,
                    params: Sequence[float] | None = None) -> Any:
    """Left: area vs parameters for optical 2D/3D storage and each crossbar preset's silicon;
    right: chips (solid), boards (dashed) and racks (dotted) vs parameters per preset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if params is None:
        params = [10 ** (x / 2) for x in range(10, 33)]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.8))
    opt = optical_sizes(params)
    for (storage, model), sub in opt.groupby(["storage", "model"]):
        label = {("2d", "pixel"): "optical 2D, one weight per 500 nm pixel",
                 ("2d", "dof"): "optical 2D, diffraction-limited (16 A/λ²)",
                 ("3d", "pixel"): "optical 3D, one weight per (500 nm)³ voxel (footprint)",
                 ("3d", "dof"): "optical 3D, diffraction-limited (32 V/λ³, footprint)"}[(storage, model)]
        ax.loglog(sub["params"], sub["area_m2"], "-" if storage == "2d" else "--", label=label)
    ax.plot([REVIEW_PARAMS], [REVIEW_AREA_M2], "k*", ms=12, label="review: 1e15 params, ~16 m²")
    if crossbar_df is not None and len(crossbar_df):
        cs = crossbar_sizes(crossbar_df)
        for i, (hw, sub) in enumerate(cs.groupby("hw", sort=False)):
            sub = sub.sort_values("params")
            if hw not in NOT_PHYSICAL_AREA:
                ax.loglog(sub["params"], sub["area_mm2"] * 1e-6, "o:", ms=3, color=f"C{i + 4}",
                          label=f"{hw}: area of its chips (SLM for free space)")
            bx.loglog(sub["params"], sub["chips"].clip(lower=1), "o-", ms=3, color=f"C{i + 4}", label=f"{hw} chips")
            bx.loglog(sub["params"], sub["boards"].clip(lower=1), "--", color=f"C{i + 4}", alpha=0.7)
            bx.loglog(sub["params"], sub["racks"].clip(lower=1), ":", color=f"C{i + 4}", alpha=0.7)
    ax.set_xlabel("parameters")
    ax.set_ylabel("area (m²)")
    ax.set_title("physical size of the weights")
    bx.set_xlabel("parameters")
    bx.set_ylabel(f"count (chips —, boards of {CHIPS_PER_BOARD} --, racks of {BOARDS_PER_RACK} boards ··)")
    bx.set_title("chips, boards, racks")
    for a in (ax, bx):
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=7)
    fig.tight_layout()
    return fig
