"""Plots of a sweep (matplotlib, PNG and SVG): energy per MAC, advantage, energy breakdown,
latency and throughput against model size.

Example::

    df = analogc.sweep(family="gpt", sizes=6, hws=["freespace", "pcm-hermes"])
    figs = sweep_figures(df)            # {"energy_per_mac": Figure, ...}
    write_sweep_plots(df, "out/")       # out/energy_per_mac.png, .svg, ...
"""
from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from analogc.fileio import write_atomic

#: the plots :func:`sweep_figures` makes, in the order reports show them
PLOTS = ("energy_per_mac", "advantage", "breakdown", "latency_throughput", "physical_size")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def series(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows sorted by MACs) per hardware and setting."""
    key = df["hw"] + df.get("setting", pd.Series([""] * len(df), index=df.index)).fillna("").map(
        lambda s: f" [{s}]" if s else "")
    return [(k, sub.sort_values("macs")) for k, sub in df.groupby(key, sort=False)]


def _finish(fig: Any, ax: Any, xlabel: str = "MACs per inference") -> None:
    for a in (ax if isinstance(ax, (list, tuple)) else [ax]):
        a.set_xlabel(xlabel)
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=7)
    fig.tight_layout()


def energy_per_mac_figure(df: pd.DataFrame) -> Any:
    from analogc.sweep import DIGITAL_300FJ_J

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.6))
    for label, sub in series(df):
        ax.loglog(sub["macs"], sub["energy_per_mac_j"], "o-", ms=3, label=label)
    models = df.drop_duplicates("model").sort_values("macs")
    if "h100_energy_j" in df:
        ax.loglog(models["macs"], models["h100_energy_j"] / models["macs"], "k--", alpha=0.6, label="h100 (baseline)")
    ax.axhline(DIGITAL_300FJ_J, color="gray", ls=":", label="300 fJ/MAC (Anderson et al. baseline)")
    ax.set_ylabel("energy per MAC (J)")
    ax.set_title("energy per MAC vs model size")
    _finish(fig, ax)
    return fig


def advantage_figure(df: pd.DataFrame) -> Any:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for label, sub in series(df):
        axes[0].loglog(sub["macs"], sub["advantage_vs_gpu"], "o-", ms=3, label=label)
        axes[1].loglog(sub["macs"], sub["advantage_vs_300fJ"], "o-", ms=3, label=label)
    axes[0].set_ylabel("H100 energy / this energy")
    axes[1].set_ylabel("300 fJ x MACs / this energy")
    for a in axes:
        a.axhline(1, color="k", lw=0.8)
    axes[0].set_title("advantage vs H100")
    axes[1].set_title("advantage vs 300 fJ/MAC")
    _finish(fig, list(axes))
    return fig


def breakdown_figure(df: pd.DataFrame) -> Any:
    """One panel per hardware (and setting): each component's share of the energy vs size."""
    from hw_models.pricing import COMPONENTS

    plt = _plt()
    ser = series(df)
    n = len(ser)
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    for ax, (label, sub) in zip(axes.flat, ser):
        tot = sub["energy_j"].where(sub["energy_j"] > 0)
        shares = [(c, 100 * sub[f"energy_{c}_j"] / tot) for c in COMPONENTS
                  if f"energy_{c}_j" in sub and (sub[f"energy_{c}_j"] > 0).any()]
        if shares:
            ax.stackplot(sub["macs"], *[s.fillna(0) for _, s in shares], labels=[c for c, _ in shares],
                         colors=[f"C{COMPONENTS.index(c)}" for c, _ in shares])
        ax.set_xscale("log")
        ax.set_ylim(0, 100)
        ax.set_title(label, fontsize=9)
        ax.set_ylabel("share of energy (%)")
        ax.set_xlabel("MACs per inference")
        ax.legend(fontsize=6, loc="lower left")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle("where the energy goes vs model size")
    fig.tight_layout()
    return fig


def latency_figure(df: pd.DataFrame) -> Any:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for label, sub in series(df):
        axes[0].loglog(sub["macs"], sub["latency_s"], "o-", ms=3, label=label)
        axes[1].loglog(sub["macs"], sub["throughput_inf_per_s"], "o-", ms=3, label=label)
    axes[0].set_ylabel("latency per inference (s)")
    axes[1].set_ylabel("throughput (inferences/s)")
    axes[0].set_title("latency vs size")
    axes[1].set_title("throughput vs size")
    _finish(fig, list(axes))
    return fig


def sweep_figures(df: pd.DataFrame) -> dict[str, Any]:
    """The sweep's plots as matplotlib figures, keyed by :data:`PLOTS` names."""
    from analogc.scaling.physical import physical_figure

    lo, hi = float(df["params"].min()), float(df["params"].max())
    params = [10 ** (math.log10(lo) + (math.log10(max(hi, 1e15)) - math.log10(lo)) * i / 40) for i in range(41)]
    return {"energy_per_mac": energy_per_mac_figure(df), "advantage": advantage_figure(df),
            "breakdown": breakdown_figure(df), "latency_throughput": latency_figure(df),
            "physical_size": physical_figure(df, params)}


def figure_bytes(fig: Any, fmt: str = "png", dpi: int = 100) -> bytes:
    """The figure as PNG or SVG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    if fmt == "svg":  # one closing call is enough: the caller may save a PNG first
        _plt().close(fig)
    return buf.getvalue()


def render_figures(figs: dict[str, Any], svg: bool = True) -> dict[str, tuple[bytes, bytes | None]]:
    """``{name: (png bytes, svg bytes or None)}``; the figures are closed."""
    out = {}
    for name, fig in figs.items():
        png = figure_bytes(fig, "png")
        out[name] = (png, figure_bytes(fig, "svg") if svg else None)
        if not svg:
            _plt().close(fig)
    return out


def write_figures(figs: dict[str, Any], out_dir: str | os.PathLike,
                  rendered: dict[str, tuple[bytes, bytes | None]] | None = None) -> list[Path]:
    """``<name>.png`` and ``<name>.svg`` per figure in ``out_dir`` (atomically)."""
    out = Path(out_dir)
    written = []
    for name, (png, svg) in (rendered or render_figures(figs)).items():
        written.append(write_atomic(out / f"{name}.png", png))
        if svg is not None:
            written.append(write_atomic(out / f"{name}.svg", svg))
    return written


def write_sweep_plots(df: pd.DataFrame, out_dir: str | os.PathLike,
                      rendered: dict[str, tuple[bytes, bytes | None]] | None = None) -> list[Path]:
    """:func:`sweep_figures` as PNG and SVG files in ``out_dir`` (``rendered``: already
    rendered bytes, as :func:`render_figures` returns)."""
    return write_figures({} if rendered else sweep_figures(df), out_dir, rendered)
