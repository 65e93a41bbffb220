"""Renderings of :class:`~analogc.estimate.report.Report` objects: rich tables on the console
(:func:`render`), csv/json files and a PNG of the energy breakdown (:func:`write_reports`,
:func:`breakdown_png`), and the SI formatter they all use (:func:`fmt_si`). Reports are
passed in; this module does not import :mod:`analogc.estimate.report` (which imports it).

Example::

    reps = [analogc.estimate(analogc.compile(g, hw=h)) for h in ("pcm-hermes", "mzi")]
    render(reps)                             # rich tables on the console
    write_reports(reps, "out/")              # csv + json per hardware, energy_breakdown.png
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from hw_models.pricing import COMPONENTS

from analogc.estimate.baseline import DEFAULT_BASELINES
from analogc.fileio import safe_name, write_atomic


def fmt_si(v: float, unit: str) -> str:
    """1.2e-12, 'J' -> '1.2 pJ'; 1.5e14, 'MAC' -> '150 TMAC'; no unit -> '1.5 G'."""
    if v == 0 or not math.isfinite(v):
        return f"{v:g} {unit}".strip()
    exp = int(math.floor(math.log10(abs(v)) / 3) * 3)
    exp = max(-24, min(exp, 18))
    prefix = {-24: "y", -21: "z", -18: "a", -15: "f", -12: "p", -9: "n", -6: "u", -3: "m", 0: "",
              3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}[exp]
    return f"{v / 10 ** exp:.3g} {prefix}{unit}".strip()


def render(reports: list[Any], console: Any = None,
           baselines: Iterable[str] = DEFAULT_BASELINES) -> None:
    """Print reports with rich: one summary table across hardware, the energy breakdown, and
    the ratios against the digital baselines. The CLI calls ``render(reports, console)``."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    baselines = list(baselines)
    if not reports:
        return
    t = Table(title=f"{reports[0].model}: cost per inference")
    t.add_column("metric")
    for r in reports:
        t.add_column(r.hw, justify="right")
    rows = [("energy / inference", lambda s: fmt_si(s["energy_j"], "J")),
            ("energy / MAC", lambda s: fmt_si(s["energy_per_mac_j"], "J")),
            ("TOPS/W", lambda s: f"{s['tops_per_w']:.3g}"),
            ("TOPS", lambda s: f"{s['tops']:.3g}"),
            ("latency", lambda s: fmt_si(s["latency_s"], "s")),
            ("throughput (inf/s)", lambda s: f"{s['throughput_inf_per_s']:.3g}"),
            ("area (mm2)", lambda s: f"{s['area_mm2']:.3g}"),
            ("chips / tiles", lambda s: f"{s['chips']} / {s['tiles']}"),
            ("weight reloads", lambda s: str(s["weight_reloads"]))]
    if any("decode_energy_per_token_j" in r.summary for r in reports):
        rows += [("prefill energy", lambda s: fmt_si(s.get("prefill_energy_j", float("nan")), "J")),
                 ("prefill latency", lambda s: fmt_si(s.get("prefill_latency_s", float("nan")), "s")),
                 ("decode energy / token", lambda s: fmt_si(s.get("decode_energy_per_token_j", float("nan")), "J")),
                 ("decode latency / token", lambda s: fmt_si(s.get("decode_latency_per_token_s", float("nan")), "s"))]
    for label, f in rows:
        t.add_row(label, *[f(r.summary) for r in reports])
    console.print(t)

    bt = Table(title="energy breakdown per inference")
    bt.add_column("component")
    for r in reports:
        bt.add_column(r.hw, justify="right")
    for c in COMPONENTS:
        if any(r.breakdown.get(c, 0) > 0 for r in reports):
            bt.add_row(c, *[f"{fmt_si(r.breakdown.get(c, 0.0), 'J')} "
                            f"({r.breakdown.get(c, 0.0) / r.summary['energy_j']:.0%})"
                            if r.summary["energy_j"] > 0 else "0" for r in reports])
    console.print(bt)

    if baselines:
        ct = Table(title="vs digital baselines (x = baseline / this: > 1 means this hardware wins)")
        ct.add_column("baseline")
        for r in reports:
            ct.add_column(r.hw, justify="right")
        for b in baselines:
            cells = []
            for r in reports:
                c = r.compare(b)
                cell = f"energy x{c['energy_ratio']:.3g}, speed x{c['speedup']:.3g}"
                if "decode_energy_ratio" in c:
                    cell += f", decode x{c['decode_energy_ratio']:.3g}"
                cells.append(cell)
            base = reports[0].compare(b)
            ct.add_row(f"{b} ({fmt_si(base['baseline_energy_j'], 'J')})", *cells)
        console.print(ct)
    for r in reports:
        for n in r.notes:
            console.print(f"[yellow]note ({r.hw}):[/yellow] {n}")


def write_reports(reports: list[Any], out_dir: str | os.PathLike,
                  baselines: Iterable[str] = DEFAULT_BASELINES) -> list[Path]:
    """Write, per report, ``<model>_<hw>.csv`` (per-op table) and ``<model>_<hw>.json``
    (summary, breakdown, comparisons), plus ``summary.csv`` across hardware and
    ``energy_breakdown.png`` (stacked bars, one per hardware). Every file is written to a
    temporary file and renamed into place. Returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    baselines = list(baselines)
    paths: list[Path] = []
    for r in reports:
        stem = safe_name(f"{r.model}_{r.hw}")
        p = out / f"{stem}.csv"
        write_atomic(p, r.to_csv().encode())
        paths.append(p)
        p = out / f"{stem}.json"
        write_atomic(p, r.to_json(baselines).encode())
        paths.append(p)
    summary = pd.DataFrame([{**r.summary, **{f"{c}_j": r.breakdown.get(c, 0.0) for c in COMPONENTS},
                             **{f"energy_ratio_vs_{b}": r.compare(b)["energy_ratio"] for b in baselines}}
                            for r in reports])
    p = out / "summary.csv"
    write_atomic(p, summary.to_csv(index=False).encode())
    paths.append(p)
    if reports:
        p = out / "energy_breakdown.png"
        write_atomic(p, breakdown_png(reports))
        paths.append(p)
    return paths


def breakdown_png(reports: list[Any]) -> bytes:
    """PNG bytes of two panels: total energy per inference per hardware on a log axis, with
    the digital baselines as reference lines (totals differ by orders of magnitude, so a
    stacked log bar would hide the small ones), and each hardware's component shares as
    100 % stacked bars."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(reports)
    fig, (ax_tot, ax_mix) = plt.subplots(1, 2, figsize=(3.0 + 2.2 * n, 4.4), dpi=120)
    x = list(range(n))
    totals = [r.summary["energy_j"] for r in reports]
    ax_tot.bar(x, totals, color="#4c72b0")
    for xi, t in zip(x, totals):
        ax_tot.annotate(fmt_si(t, "J"), (xi, t), ha="center", va="bottom", fontsize=8)
    for i, b in enumerate(DEFAULT_BASELINES):
        try:
            e = reports[0].compare(b)["baseline_energy_j"]
        except Exception:  # noqa: BLE001 - a plot without a reference line is still a plot
            continue
        ax_tot.axhline(e, ls="--", lw=1, color=f"C{i + 1}", label=f"{b} ({fmt_si(e, 'J')})")
    ax_tot.set_yscale("log")
    ax_tot.set_xticks(x, [r.hw for r in reports], rotation=30, ha="right")
    ax_tot.set_ylabel("energy per inference (J)")
    ax_tot.set_title("total")
    ax_tot.legend(fontsize=7, loc="best")
    bottom = [0.0] * n
    for c in COMPONENTS:
        shares = [r.breakdown.get(c, 0.0) / t if t else 0.0 for r, t in zip(reports, totals)]
        if any(v > 0 for v in shares):
            ax_mix.bar(x, [100 * v for v in shares], bottom=bottom, label=c)
            bottom = [b + 100 * v for b, v in zip(bottom, shares)]
    ax_mix.set_xticks(x, [r.hw for r in reports], rotation=30, ha="right")
    ax_mix.set_ylabel("share of energy (%)")
    ax_mix.set_ylim(0, 100)
    ax_mix.set_title("where the energy goes")
    ax_mix.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"{reports[0].model}: energy per inference")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


# -- one self-contained HTML file --------------------------------------------------------
_CSS = ("body{font-family:sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;font-size:12px;margin:1em 0}"
        "th,td{border:1px solid #bbb;padding:2px 6px;text-align:right}"
        "th{background:#eee}td:first-child,th:first-child{text-align:left}"
        "img{max-width:100%;display:block;margin:1em 0}.note{color:#555;font-size:12px}")


def html_document(title: str, sections: list[tuple[str, list[tuple[str, Any]]]]) -> str:
    """A self-contained HTML page: ``sections`` are ``(heading, items)`` with items
    ``("table", DataFrame)``, ``("png", bytes)`` (embedded as a base64 data URI) or
    ``("text", str)``. No scripts, no external stylesheet, fonts or images: nothing is
    fetched when it is opened."""
    import base64
    import html

    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{html.escape(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           f"<h1>{html.escape(title)}</h1>"]
    n_img = 0
    for heading, items in sections:
        out.append(f"<h2>{html.escape(heading)}</h2>")
        for kind, content in items:
            if kind == "table":
                out.append(content.to_html(index=False, escape=True, border=0, na_rep="",
                                           float_format=lambda v: f"{v:.4g}"))
            elif kind == "png":
                n_img += 1
                b64 = base64.b64encode(content).decode("ascii")
                out.append(f'<img alt="{html.escape(heading)} ({n_img})" src="data:image/png;base64,{b64}">')
            else:
                out.append(f'<p class="note">{html.escape(str(content))}</p>')
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _fig_png(fig: Any) -> bytes:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


#: the sweep columns the HTML table shows (all columns are in sweep.csv)
_SWEEP_HTML_COLS = ("model", "family", "hardware", "setting", "params", "macs", "energy_j",
                    "energy_per_mac_j", "latency_s", "throughput_inf_per_s", "area_mm2", "chips",
                    "advantage_vs_gpu", "advantage_vs_300fJ")


def sweep_html(df: pd.DataFrame, title: str = "analogc scaling sweep",
               extra: list[tuple[str, list[tuple[str, Any]]]] | None = None,
               pngs: list[bytes] | None = None) -> str:
    """A sweep as one self-contained HTML page: the table and the scaling plots
    (:mod:`analogc.scaling.plots`; ``pngs``: already rendered), plus ``extra`` sections."""
    from analogc.scaling.plots import render_figures, sweep_figures

    cols = [c for c in _SWEEP_HTML_COLS if c in df.columns]
    comps = [f"energy_{c}_j" for c in COMPONENTS if f"energy_{c}_j" in df and (df[f"energy_{c}_j"] > 0).any()]
    if pngs is None:
        pngs = [png for png, _ in render_figures(sweep_figures(df), svg=False).values()]
    from analogc.scaling.families import FAMILIES

    rules = [("text", f"family {f}: {FAMILIES[f].rule}") for f in dict.fromkeys(df.get("family", []))
             if f in FAMILIES]
    sections = [("Results", [*rules, ("text", "one row per model x hardware x setting; advantage = baseline "
                              "energy / this energy (> 1: this hardware wins); advantage_vs_300fJ: against "
                              "300 fJ/MAC, the digital baseline of Anderson et al. 2023"), ("table", df[cols])]),
                ("Energy breakdown per inference (J)", [("table", df[["model", "hw", *comps]])]),
                ("Plots", [("png", png) for png in pngs])]
    from analogc.scaling.physical import crossbar_sizes, optical_sizes

    params = sorted(set(df["params"]))
    opt = optical_sizes(params).pivot_table(index="params", columns=["storage", "model"], values="area_m2")
    opt.columns = [f"optical {s} {m} area_m2" for s, m in opt.columns]
    sections.append(("Physical size", [
        ("text", "chips per hardware (boards of 8, racks of 4 boards) and the area optical weight storage "
                 "needs at 500 nm (2D/3D; pixel = one weight per 500 nm pixel or voxel, dof = "
                 "diffraction-limited count); see docs/scaling.md"),
        ("table", crossbar_sizes(df)), ("table", opt.reset_index())]))
    return html_document(title, sections + list(extra or []))


def report_html(graph: Any, plans: list[Any], reports: list[Any],
                layers: list[pd.DataFrame] | None = None,
                baselines: Iterable[str] = DEFAULT_BASELINES) -> str:
    """``analogc report MODEL --html FILE``: summary, breakdown, baseline ratios, per-layer
    tables and the breakdown plot in one self-contained HTML page."""
    baselines = list(baselines)
    s = graph.summary()
    summ = pd.DataFrame([{"hardware": r.hw, "energy_j": r.summary["energy_j"],
                          "energy_per_mac_j": r.summary["energy_per_mac_j"],
                          "tops_per_w": r.summary["tops_per_w"], "latency_s": r.summary["latency_s"],
                          "throughput_inf_per_s": r.summary["throughput_inf_per_s"],
                          "area_mm2": r.summary["area_mm2"], "tiles": r.summary["tiles"],
                          "chips": r.summary["chips"], "weight_reloads": r.summary["weight_reloads"]}
                         for r in reports])
    brk = pd.DataFrame([{"hardware": r.hw, **{f"{c}_j": r.breakdown.get(c, 0.0) for c in COMPONENTS}}
                        for r in reports])
    brk = brk.loc[:, (brk != 0).any(axis=0)]
    cmp_rows = []
    for b in baselines:
        for r in reports:
            c = r.compare(b)
            cmp_rows.append({"baseline": b, "hardware": r.hw, "baseline_energy_j": c["baseline_energy_j"],
                             "energy_ratio": c["energy_ratio"], "speedup": c["speedup"]})
    sections: list[tuple[str, list[tuple[str, Any]]]] = [
        ("Model", [("text", f"{graph.name} ({graph.source}): {s['ops']} ops, {s['macs']:.4g} MACs, "
                    f"{s['params']:.4g} weights")]),
        ("Cost per inference", [("table", summ)]),
        ("Energy breakdown (J)", [("table", brk), ("png", breakdown_png(reports))]),
        ("Against the digital baselines (ratio = baseline / this: > 1 means this hardware wins)",
         [("table", pd.DataFrame(cmp_rows))]),
    ]
    for p, lt in zip(plans, layers or []):
        sections.append((f"Layers on {p.hw.name}", [("table", lt)]))
    notes = [n for r in reports for n in r.notes]
    if notes:
        sections.append(("Notes", [("text", n) for n in notes]))
    return html_document(f"analogc report: {graph.name}", sections)
