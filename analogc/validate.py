"""Validation on published measured chips: price each chip file on its paper's workload.

A chip file (``hw_models/validation/*.toml``, format in :mod:`hw_models.chipfile` and
docs/validation.md) describes a measured chip from its paper's design parameters and says in
its ``[validation]`` table what the paper measured. :func:`validate_chip` prices it:

* the workload: ``tiles`` independent MVMs (one per array busy in the measurement), each of
  ``round(rows * rows_used)`` inputs x ``round(cols * cols_used)`` outputs of the chip's tile,
  ``vectors`` input vectors each. ``[tile] cols`` are analogc's logical columns (outputs of one
  bit slice; ``devices_per_cell`` devices each), so one op fills one array as the paper ran
  it; a weight of ``slices > 1`` bit slices takes ``slices`` of analogc's tiles per array
  (checked: the plan must hold each op in exactly ``slices`` tiles, no row or column split);
* compiled with :func:`analogc.compile` on the chip and priced with :func:`analogc.estimate`;
* energy = the estimate's breakdown summed over the components in ``boundary`` (what the
  measured figure contains; memory traffic outside the macro only when listed);
* TOPS/W = ``ops_per_mac * MACs / energy``; TOPS/mm2 = ``ops_per_mac * MACs / latency /
  (analogc tiles x tile area)`` where the paper publishes one;
* each ``[[validation.point]]`` the same on ``hw_models.load(path, **set)``.

:func:`sensitivity` varies each stock constant of :data:`hw_models.circuits.STOCK` over its
published range (``[technology]`` overrides) and reports how much the estimate moves.

Example::

    >>> from analogc.validate import TOLERANCE, chip_files, validate_chip
    >>> TOLERANCE
    0.3
    >>> r = validate_chip("tests/data/validation/fixed-crossbar.toml")   # doctest: +SKIP
    >>> round(r.main.estimated_tops_per_w, 2), r.main.within              # doctest: +SKIP
    (33.86, True)
    >>> all(f.suffix == ".toml" for f in chip_files())
    True
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from analogc.errors import AnalogcError

#: a chip is validated when its estimate is within this relative distance of the published figure
TOLERANCE = 0.30
#: the geometric-mean error the issue targets, exp(mean |ln ratio|) - 1
GEOMEAN_TARGET = 0.15
#: a stock constant "matters" for a chip when varying it over its range moves TOPS/W by more
SENSITIVITY_THRESHOLD = 0.10


def chip_files() -> list[Path]:
    """The shipped chip files (``hw_models/validation/*.toml``), sorted by name."""
    import hw_models

    d = Path(hw_models.__file__).resolve().parent / "validation"
    return sorted(d.glob("*.toml")) if d.is_dir() else []


def chip_path(name_or_path: str | Path) -> Path:
    """The file of a shipped chip name (``"hermes"``) or an explicit ``.toml`` path."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise AnalogcError(f"{p}: chip file not found")
        return p
    names = {f.stem: f for f in chip_files()}
    if str(name_or_path) in names:
        return names[str(name_or_path)]
    raise AnalogcError(f"chip {str(name_or_path)!r}: expected a chip file name (one of {sorted(names)}) "
                       f"or a path to a .toml file")


# ---------------------------------------------------------------------------------------
@dataclass
class PointResult:
    """One operating point of a chip: published vs estimated."""

    name: str
    published_tops_per_w: float
    estimated_tops_per_w: float
    published_tops_per_mm2: float | None
    estimated_tops_per_mm2: float
    breakdown: dict[str, float]          # estimated fraction of the boundary energy per component
    energy_j: float                      # boundary energy of the workload
    macs: int
    latency_s: float
    analogc_tiles: int
    overrides: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def ratio(self) -> float:
        """Estimated / published TOPS/W."""
        return self.estimated_tops_per_w / self.published_tops_per_w

    @property
    def within(self) -> bool:
        return abs(self.ratio - 1) <= TOLERANCE

    @property
    def ratio_mm2(self) -> float | None:
        if self.published_tops_per_mm2 is None:
            return None
        return self.estimated_tops_per_mm2 / self.published_tops_per_mm2


@dataclass
class ChipResult:
    """A chip file priced on its paper's workload: the main point and its further points."""

    file: str
    chip: str
    paper: str
    family: str
    node_nm: float | None
    boundary: list[str]
    main: PointResult
    points: list[PointResult]
    published_breakdown: dict[str, float] | None = None
    breakdown_source: str | None = None
    note: str | None = None

    @property
    def name(self) -> str:
        return Path(self.file).stem

    def to_dict(self) -> dict[str, Any]:
        def pt(p: PointResult) -> dict[str, Any]:
            return {"name": p.name, "published_tops_per_w": p.published_tops_per_w,
                    "estimated_tops_per_w": p.estimated_tops_per_w, "ratio": p.ratio,
                    "within_tolerance": p.within, "published_tops_per_mm2": p.published_tops_per_mm2,
                    "estimated_tops_per_mm2": p.estimated_tops_per_mm2, "ratio_tops_per_mm2": p.ratio_mm2,
                    "breakdown_estimated": p.breakdown, "energy_j": p.energy_j, "macs": p.macs,
                    "latency_s": p.latency_s, "analogc_tiles": p.analogc_tiles,
                    "overrides": {k: str(v) for k, v in p.overrides.items()}, "source": p.source}
        return {"file": self.file, "name": self.name, "chip": self.chip, "paper": self.paper,
                "family": self.family, "node_nm": self.node_nm, "boundary": self.boundary,
                "published_breakdown": self.published_breakdown, "breakdown_source": self.breakdown_source,
                "note": self.note, "main": pt(self.main), "points": [pt(p) for p in self.points]}


def load_chip(name_or_path: str | Path, **overrides: Any) -> Any:
    """The chip's :class:`hw_models.Hardware` (overrides applied); an error when the file has
    no ``[validation]`` table."""
    import hw_models

    path = chip_path(name_or_path)
    try:
        hw = hw_models.load(path, **overrides)
    except hw_models.HardwareConfigError as e:
        raise AnalogcError(str(e)) from None
    if "validation" not in hw.params:
        raise AnalogcError(f"{path}: [validation] (table): expected the measured figures of a chip file "
                           f"(chip, paper, boundary, tiles, vectors, ops_per_mac, tops_per_w; see "
                           f"docs/validation.md), got nothing")
    return hw


def workload(hw: Any) -> tuple[Any, int, int]:
    """The paper's workload on ``hw``: (graph, rows used, columns used per array)."""
    from analogc.ir import Graph, Op

    v = hw.params["validation"]
    k = max(1, round(hw.tile.rows * v["rows_used"].si))
    n = max(1, round(hw.tile.cols * v["cols_used"].si))
    g = Graph(f"validate-{Path(hw.params.get('_file', hw.name)).stem}")
    for i in range(v["tiles"]):
        g.add(Op(name=f"array{i}", kind="mvm", target="linear", in_features=k, out_features=n,
                 vectors=v["vectors"]))
    return g, k, n


def price(hw: Any, name: str = "main", published: Any = None, published_mm2: Any = None,
          overrides: dict[str, Any] | None = None) -> PointResult:
    """Price ``hw`` (a loaded chip file) on its paper's workload (the module doc's rules)."""
    import analogc
    from analogc.estimate import estimate

    v = hw.params["validation"]
    where = hw.params.get("_file", hw.name)
    g, k, n = workload(hw)
    plan = analogc.compile(g, hw=hw)
    slices = hw.tile.slices
    for m in plan.mappings.values():
        if m.placement != "analog" or m.row_tiles != 1 or m.col_tiles != 1 or m.tiles != slices:
            raise AnalogcError(f"{where}: [validation] tiles: expected each array of the workload ({k} x {n}) "
                               f"on {slices} analogc tile(s) (one per bit slice), got {m.tiles} "
                               f"({m.placement}, {m.row_tiles} x {m.col_tiles} blocks)")
    if plan.weight_reloads:
        raise AnalogcError(f"{where}: [validation] tiles: expected the {v['tiles']} arrays to fit the chip "
                           f"([chip] tiles_per_chip x chips), got {plan.weight_reloads} weight reloads")
    rep = estimate(plan)
    energy = sum(rep.breakdown.get(c, 0.0) for c in v["boundary"])
    macs = v["tiles"] * k * n * v["vectors"]
    if macs != rep.summary["macs"]:  # the estimate priced the workload we built
        raise AssertionError(f"{where}: workload of {macs} MACs priced as {rep.summary['macs']}")
    if energy <= 0:
        raise AnalogcError(f"{where}: [validation] boundary: expected components with energy in the estimate, "
                           f"got 0 J for {v['boundary']}")
    ops = v["ops_per_mac"] * macs
    area = plan.tiles * hw.tile_model.tile_area_m2()
    lat = rep.summary["latency_s"]
    pub = published if published is not None else v["tops_per_w"]
    pub_mm2 = published_mm2 if published is not None else v.get("tops_per_mm2")
    return PointResult(
        name=name, published_tops_per_w=pub.si / 1e12, estimated_tops_per_w=ops / energy / 1e12,
        published_tops_per_mm2=pub_mm2.si / 1e18 if pub_mm2 is not None else None,
        estimated_tops_per_mm2=(ops / lat / area / 1e18) if lat > 0 and area > 0 else math.inf,
        breakdown={c: rep.breakdown.get(c, 0.0) / energy for c in v["boundary"]},
        energy_j=energy, macs=macs, latency_s=lat, analogc_tiles=plan.tiles,
        overrides=dict(overrides or {}), source=pub.source)


def validate_chip(name_or_path: str | Path) -> ChipResult:
    """Price a chip file's main point and every ``[[validation.point]]``."""
    path = chip_path(name_or_path)
    hw = load_chip(path)
    v = hw.params["validation"]
    main = price(hw)
    points = []
    for i, p in enumerate(v["point"], 1):
        try:
            hp = load_chip(path, **p["set"])
        except AnalogcError as e:
            detail = str(e).split(" (override): ", 1)[-1]
            raise AnalogcError(f"{path}: [validation.point {i}] set ({p['name']}): {detail}") from None
        points.append(price(hp, p["name"], p["tops_per_w"], p.get("tops_per_mm2"), p["set"]))
    node = hw.params["hardware"].get("technology_node")
    return ChipResult(file=str(path), chip=v["chip"], paper=v["paper"], family=hw.family,
                      node_nm=node.si * 1e9 if node is not None else None, boundary=list(v["boundary"]),
                      main=main, points=points, published_breakdown=v.get("breakdown"),
                      breakdown_source=v.get("breakdown_source"), note=v.get("note"))


def validate(chips: Sequence[str | Path] | None = None) -> list[ChipResult]:
    """Every chip given (default: every shipped chip file), priced; errors before any output."""
    files = [chip_path(c) for c in chips] if chips else chip_files()
    if not files:
        raise AnalogcError("validate: expected chip files, found none in hw_models/validation/")
    return [validate_chip(f) for f in files]


def summary(results: Sequence[ChipResult]) -> dict[str, Any]:
    """Chips within tolerance, the geometric-mean error exp(mean |ln ratio|) - 1 of the main
    points against its target, and further points within tolerance."""
    ratios = [r.main.ratio for r in results]
    pts = [p for r in results for p in r.points]
    gm = math.exp(sum(abs(math.log(x)) for x in ratios) / len(ratios)) - 1 if ratios else math.nan
    return {"chips": len(results), "chips_within": sum(r.main.within for r in results),
            "geomean_error": gm, "geomean_target": GEOMEAN_TARGET, "geomean_met": gm <= GEOMEAN_TARGET,
            "points": len(pts), "points_within": sum(p.within for p in pts), "tolerance": TOLERANCE,
            "missed": [r.name for r in results if not r.main.within]
            + [f"{r.name}:{p.name}" for r in results for p in r.points if not p.within]}


# ---------------------------------------------------------------------------------------
@dataclass
class Sensitivity:
    """How much one stock constant moves one chip's estimated TOPS/W over its range."""

    chip: str
    constant: str
    unit: str
    low: float | None            # in ``unit``
    high: float | None
    change_low: float | None     # estimate at low / estimate - 1
    change_high: float | None
    set_by_file: bool
    note: str = ""

    @property
    def matters(self) -> bool:
        ch = [abs(c) for c in (self.change_low, self.change_high) if c is not None]
        return bool(ch) and max(ch) > SENSITIVITY_THRESHOLD

    def to_dict(self) -> dict[str, Any]:
        return {"chip": self.chip, "constant": self.constant, "unit": self.unit, "low": self.low,
                "high": self.high, "change_low": self.change_low, "change_high": self.change_high,
                "matters": self.matters, "set_by_file": self.set_by_file, "note": self.note}


def sensitivity(name_or_path: str | Path) -> list[Sensitivity]:
    """Each constant of :data:`hw_models.circuits.STOCK` set to its low and its high end
    (``technology.<name>`` overrides, in the constant's unit, source "sensitivity") and the
    chip's main point repriced. A constant the chip file sets itself is still varied and marked
    ``set_by_file``; other ``[technology]`` values of the file (no published range) are listed,
    not varied."""
    from hw_models.circuits import STOCK
    from hw_models.units import parse_unit

    path = chip_path(name_or_path)
    hw = load_chip(path)
    base = price(hw).estimated_tops_per_w
    own = {k for k in hw.params.get("technology", {}) if k != "source"}
    out = []
    for name, s in STOCK.items():
        factor = parse_unit(s.unit)[1]
        lo, hi = s.low / factor, s.high / factor
        changes = []
        for val in (lo, hi):
            ov = {f"technology.{name}": {"value": val, "unit": s.unit, "source": "sensitivity"}}
            changes.append(price(load_chip(path, **ov)).estimated_tops_per_w / base - 1)
        out.append(Sensitivity(path.stem, name, s.unit, lo, hi, changes[0], changes[1], name in own,
                               "set by the file" if name in own else ""))
    for name in sorted(own - set(STOCK)):
        q = hw.params["technology"][name]
        out.append(Sensitivity(path.stem, name, q.unit, None, None, None, None, True,
                               "set by the file; no published range, not varied"))
    return out


# ---------------------------------------------------------------------------------------
def results_frame(results: Sequence[ChipResult]) -> Any:
    """One row per chip and point (pandas DataFrame), the columns of ``--format csv``."""
    import pandas as pd

    comps = sorted({c for r in results for c in r.boundary})
    recs = []
    for r in results:
        for p in [r.main, *r.points]:
            rec = {"name": r.name, "chip": r.chip, "paper": r.paper, "family": r.family,
                   "node_nm": r.node_nm, "point": p.name, "published_tops_per_w": p.published_tops_per_w,
                   "estimated_tops_per_w": p.estimated_tops_per_w, "ratio": p.ratio,
                   "within_30pct": p.within, "published_tops_per_mm2": p.published_tops_per_mm2,
                   "estimated_tops_per_mm2": p.estimated_tops_per_mm2, "ratio_tops_per_mm2": p.ratio_mm2,
                   "boundary": " ".join(r.boundary)}
            for c in comps:
                rec[f"est_share_{c}"] = p.breakdown.get(c)
                rec[f"pub_share_{c}"] = ((r.published_breakdown or {}).get(c) if p is r.main else None)
            recs.append(rec)
    return pd.DataFrame(recs)


def sensitivity_frame(rows: Sequence[Sensitivity]) -> Any:
    import pandas as pd

    return pd.DataFrame([s.to_dict() for s in rows])


def to_json(results: Sequence[ChipResult], sens: Sequence[Sensitivity] | None = None) -> str:
    from analogc.fileio import json_dumps

    doc: dict[str, Any] = {"summary": summary(results), "chips": [r.to_dict() for r in results]}
    if sens is not None:
        doc["sensitivity"] = [s.to_dict() for s in sens]
    return json_dumps(doc, indent=2)


def _num(x: float) -> str:
    """3 significant digits, without an exponent below 1e6."""
    return f"{x:.3g}" if x < 1000 or x >= 1e6 else f"{x:.0f}"


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:+.0%}"


def render_table(results: Sequence[ChipResult], console: Any) -> None:
    """The rich table of published vs estimated, a MISSED marker per chip or point outside
    tolerance, and the summary line."""
    from hw_models.family import COMPONENTS
    from rich.table import Table

    t = Table(title="analogc validate: estimated vs published (measured chips)", show_lines=False)
    for col, just in (("chip", "left"), ("family", "left"), ("node", "right"), ("point", "left"),
                      ("TOPS/W pub", "right"), ("est", "right"), ("est/pub", "right"),
                      (f"±{TOLERANCE:.0%}", "left"), ("TOPS/mm2 pub/est", "right")):
        t.add_column(col, justify=just, no_wrap=col != "point", max_width=12 if col == "point" else None)
    for r in results:
        for p in [r.main, *r.points]:
            first = p is r.main
            ok = "[green]ok[/]" if p.within else "[bold red]MISSED[/]"
            mm2 = (f"{_num(p.published_tops_per_mm2)}/{_num(p.estimated_tops_per_mm2)}"
                   if p.published_tops_per_mm2 is not None else "")
            t.add_row(r.name if first else "", r.family if first else "",
                      (f"{r.node_nm:g}nm" if r.node_nm else "") if first else "",
                      p.name if first else f"↳ {p.name}", _num(p.published_tops_per_w),
                      _num(p.estimated_tops_per_w), f"{p.ratio:.2f}", ok, mm2)
    console.print(t)
    comps = [c for c in COMPONENTS if any(c in r.boundary for r in results)]
    b = Table(title="energy breakdown inside the boundary: estimated (published)")
    for col in ("chip", "point", *comps):
        b.add_column(col, no_wrap=True)
    for r in results:
        for p in [r.main, *r.points]:
            pubb = (r.published_breakdown or {}) if p is r.main else {}
            b.add_row(r.name if p is r.main else "", p.name,
                      *[("" if c not in r.boundary else f"{p.breakdown[c]:.0%}"
                         + (f" ({pubb[c]:.0%})" if c in pubb else "")) for c in comps])
    console.print(b)
    for r in results:
        console.print(f"  {r.name}: {r.chip}; {r.paper}" + (f"; breakdown: {r.breakdown_source}"
                                                           if r.breakdown_source else ""))
    s = summary(results)
    console.print(f"chips within ±{TOLERANCE:.0%}: {s['chips_within']} of {s['chips']}; "
                  f"geometric-mean error {s['geomean_error']:.0%} (target ≤ {GEOMEAN_TARGET:.0%}: "
                  f"{'met' if s['geomean_met'] else 'MISSED'}); further points within ±{TOLERANCE:.0%}: "
                  f"{s['points_within']} of {s['points']}")
    if s["missed"]:
        console.print("MISSED: " + ", ".join(s["missed"]) + " (docs/validation.md says which component is missing)")


def render_sensitivity(rows: Sequence[Sensitivity], console: Any) -> None:
    """Chip x constant: the TOPS/W change at the low / high end of the constant's range, bold
    where it exceeds the threshold; ``*`` where the chip file sets the constant itself."""
    from rich.table import Table

    consts = list(dict.fromkeys(s.constant for s in rows))
    chips = list(dict.fromkeys(s.chip for s in rows))
    cell = {(s.chip, s.constant): s for s in rows}
    t = Table(title=f"sensitivity: % change of the estimated TOPS/W at the low / high end of each stock "
                    f"constant's published range (bold: > {SENSITIVITY_THRESHOLD:.0%}; *: set by the chip file; "
                    f"·: no change; –: no published range, not varied)")
    t.add_column("chip", no_wrap=True)
    for c in consts:
        t.add_column(c.replace("_", " "), justify="right", overflow="fold")
    for chip in chips:
        vals = []
        for c in consts:
            s = cell.get((chip, c))
            if s is None:
                vals.append("")
                continue
            mark = "*" if s.set_by_file else ""
            if s.change_low is None:
                vals.append(f"{mark}–")
                continue
            lo, hi = round(100 * s.change_low), round(100 * s.change_high)
            txt = f"{mark}{lo:+d}/{hi:+d}" if (lo or hi) else f"{mark}·"
            vals.append(f"[bold]{txt}[/]" if s.matters else txt)
        t.add_row(chip, *vals)
    console.print(t)
    for chip in chips:
        big = [s.constant for s in rows if s.chip == chip and s.matters]
        console.print(f"  {chip}: " + (", ".join(big) if big else "no stock constant")
                      + f" moves the estimate by more than {SENSITIVITY_THRESHOLD:.0%}")


def plot(results: Sequence[ChipResult], path: str | Path) -> Path:
    """Estimated vs published TOPS/W on log-log axes: the y = x line and the ±30% band, one
    marker per chip (circles), another for further operating points (triangles), labelled."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analogc.fileio import write_atomic

    path = Path(path)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=120)
    vals = [x for r in results for p in [r.main, *r.points]
            for x in (p.published_tops_per_w, p.estimated_tops_per_w)]
    lo, hi = min(vals) / 2, max(vals) * 2
    xs = [lo, hi]
    ax.plot(xs, xs, color="k", lw=1, label="estimate = published")
    ax.fill_between(xs, [x * (1 - TOLERANCE) for x in xs], [x * (1 + TOLERANCE) for x in xs],
                    color="tab:green", alpha=0.15, label=f"±{TOLERANCE:.0%}")
    for i, r in enumerate(results):
        color = plt.get_cmap("tab10")(i % 10)
        ax.scatter([r.main.published_tops_per_w], [r.main.estimated_tops_per_w], marker="o", s=40,
                   color=color, zorder=3, label=r.chip)
        ax.annotate(r.name, (r.main.published_tops_per_w, r.main.estimated_tops_per_w),
                    textcoords="offset points", xytext=(5, 4), fontsize=7)
        for p in r.points:
            ax.scatter([p.published_tops_per_w], [p.estimated_tops_per_w], marker="^", s=40,
                       color=color, edgecolors="k", linewidths=0.5, zorder=3)
            ax.annotate(p.name, (p.published_tops_per_w, p.estimated_tops_per_w),
                        textcoords="offset points", xytext=(5, -9), fontsize=6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        axis.set_minor_formatter(FuncFormatter(lambda x, _: f"{x:g}" if f"{x:g}"[0] in "25" else ""))
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("published TOPS/W (measured)")
    ax.set_ylabel("analogc estimate TOPS/W")
    ax.set_title("analogc validate (▲: further operating points)")
    ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg" if path.suffix.lower() == ".svg" else "png")
    plt.close(fig)
    return write_atomic(path, buf.getvalue())
