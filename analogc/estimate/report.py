"""Report: the priced plan (summary, breakdown by component, per-op table, baseline ratios)
and its renderings (rich text, csv, json, a PNG of the energy breakdown).

Example::

    plan = analogc.compile(analogc.trace("gpt2", seq_len=128), hw="pcm-hermes")
    rep = analogc.estimate(plan)
    rep.summary["tops_per_w"], rep.breakdown["adc"]
    rep.compare("h100")["energy_ratio"]      # > 1: the analog system uses less energy
    render([rep])                            # rich tables on the console
    write_reports([rep], "out/")             # csv + json per hardware, energy_breakdown.png
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from analogc.fileio import safe_name, write_atomic
from analogc.estimate.rollup import COMPONENTS, CostRollup, Phase

DEFAULT_BASELINES = ("a100", "h100", "digital-int8")


def _meta(graph: Any) -> dict[str, Any]:
    return dict(getattr(graph, "meta", {}) or {})


def kv_cache_bytes(meta: dict[str, Any], bytes_per_value: int = 2) -> float:
    """Bytes of the K/V cache of a decoder at ``seq_len`` (0 when the meta is incomplete)."""
    try:
        L, T, B = int(meta["n_layers"]), int(meta["seq_len"]), int(meta.get("batch", 1))
        kv = int(meta.get("n_kv_heads") or meta["n_heads"])
        hd = int(meta.get("head_dim") or int(meta["d_model"]) // int(meta["n_heads"]))
    except (KeyError, TypeError, ValueError):
        return 0.0
    return 2.0 * L * kv * hd * T * B * bytes_per_value


def _is_decoder(meta: dict[str, Any]) -> bool:
    return bool(meta.get("decoder")) and int(meta.get("seq_len") or 0) > 1


@dataclass
class Report:
    """Energy, latency, throughput and area of one model on one hardware.

    ``summary`` (SI units unless the key says otherwise): ``energy_j`` per inference,
    ``latency_s``, ``throughput_inf_per_s``, ``area_mm2``, ``macs``, ``tops``, ``tops_per_w``,
    ``energy_per_mac_j``, tiles/chips/reloads, one-time ``program_energy_j``; for decoders
    also ``prefill_*`` and ``decode_*`` (per generated token). ``breakdown``: component -> J
    per inference, summing to ``energy_j``. ``table``: one row per op.
    """

    model: str
    hw: str
    family: str
    summary: dict[str, Any]
    breakdown: dict[str, float]
    table: pd.DataFrame
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    plan: Any = field(default=None, repr=False)
    _compare_cache: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    # -- comparison ------------------------------------------------------------------
    def compare(self, baseline: str = "h100") -> dict[str, Any]:
        """Ratios against a digital baseline (``a100``, ``h100``, ``digital-int8`` or a file).

        ``energy_ratio`` = baseline energy / this energy (> 1: this hardware wins), likewise
        ``decode_energy_ratio`` for decoders; ``speedup`` = baseline latency / this latency;
        ``throughput_ratio`` = this throughput / baseline throughput.
        """
        if baseline not in self._compare_cache:
            base = baseline_estimate(self.plan.graph, baseline)
            s = self.summary
            out = {"baseline": baseline, **{f"baseline_{k}": v for k, v in base.items()},
                   "energy_ratio": _ratio(base["energy_j"], s["energy_j"]),
                   "speedup": _ratio(base["latency_s"], s["latency_s"]),
                   "throughput_ratio": _ratio(s["throughput_inf_per_s"], base["throughput_inf_per_s"]),
                   "tops_per_w_ratio": _ratio(s["tops_per_w"], base["tops_per_w"])}
            if "decode_energy_per_token_j" in s and "decode_energy_per_token_j" in base:
                out["decode_energy_ratio"] = _ratio(base["decode_energy_per_token_j"],
                                                    s["decode_energy_per_token_j"])
                out["decode_speedup"] = _ratio(base["decode_latency_per_token_s"],
                                               s["decode_latency_per_token_s"])
            self._compare_cache[baseline] = out
        return dict(self._compare_cache[baseline])

    # -- renderings ------------------------------------------------------------------
    def to_dict(self, baselines: Iterable[str] = DEFAULT_BASELINES) -> dict[str, Any]:
        return {"model": self.model, "hw": self.hw, "family": self.family,
                "summary": self.summary, "breakdown_j": self.breakdown, "phases": self.phases,
                "compare": {b: self.compare(b) for b in baselines}, "notes": self.notes}

    def to_json(self, baselines: Iterable[str] = DEFAULT_BASELINES) -> str:
        return json.dumps(self.to_dict(baselines), indent=2, default=_jsonable)

    def to_csv(self) -> str:
        """The per-op table as csv."""
        return self.table.to_csv(index=False)

    def to_text(self, baselines: Iterable[str] = DEFAULT_BASELINES) -> str:
        """Plain-text summary (what :func:`render` prints, without colours)."""
        s = self.summary
        lines = [f"{self.model} on {self.hw} ({self.family})",
                 f"  energy / inference   {fmt_si(s['energy_j'], 'J')}",
                 f"  latency              {fmt_si(s['latency_s'], 's')}",
                 f"  throughput           {s['throughput_inf_per_s']:.4g} inf/s",
                 f"  TOPS / TOPS/W        {s['tops']:.4g} / {s['tops_per_w']:.4g}",
                 f"  energy / MAC         {fmt_si(s['energy_per_mac_j'], 'J')}",
                 f"  area                 {s['area_mm2']:.4g} mm2 ({s['chips']} chip(s), {s['tiles']} tiles)"]
        if "decode_energy_per_token_j" in s:
            lines += [f"  prefill ({s['seq_len']} tok)    {fmt_si(s['prefill_energy_j'], 'J')}, "
                      f"{fmt_si(s['prefill_latency_s'], 's')}",
                      f"  decode / token       {fmt_si(s['decode_energy_per_token_j'], 'J')}, "
                      f"{fmt_si(s['decode_latency_per_token_s'], 's')}"]
        lines.append("  breakdown: " + ", ".join(
            f"{k} {fmt_si(v, 'J')} ({v / s['energy_j']:.0%})" for k, v in self.breakdown.items()
            if v > 0 and s["energy_j"] > 0))
        for b in baselines:
            c = self.compare(b)
            lines.append(f"  vs {b:<13} energy x{c['energy_ratio']:.3g}, speed x{c['speedup']:.3g}"
                         + (f", decode energy x{c['decode_energy_ratio']:.3g}"
                            if "decode_energy_ratio" in c else ""))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        s = self.summary
        return (f"Report({self.model!r} on {self.hw!r}: {fmt_si(s['energy_j'], 'J')}/inf, "
                f"{s['tops_per_w']:.3g} TOPS/W, {fmt_si(s['latency_s'], 's')})")


def _ratio(a: float, b: float) -> float:
    if b == 0:
        return math.inf if a > 0 else 1.0
    return a / b


def _jsonable(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    return str(o)


def fmt_si(v: float, unit: str) -> str:
    """1.2e-12, 'J' -> '1.2 pJ'; 1.5e14, 'MAC' -> '150 TMAC'; no unit -> '1.5 G'."""
    if v == 0 or not math.isfinite(v):
        return f"{v:g} {unit}".strip()
    exp = int(math.floor(math.log10(abs(v)) / 3) * 3)
    exp = max(-24, min(exp, 18))
    prefix = {-24: "y", -21: "z", -18: "a", -15: "f", -12: "p", -9: "n", -6: "u", -3: "m", 0: "",
              3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}[exp]
    return f"{v / 10 ** exp:.3g} {prefix}{unit}".strip()


# ---------------------------------------------------------------------------------------
def estimate(plan: Any, *, costs: Any = None) -> Report:
    """Price a :class:`~analogc.mapping.plan.Plan`: energy by component, latency, throughput,
    area; for decoder LLMs also prefill and per-token decode.

    Example::

        >>> import analogc
        >>> rep = analogc.estimate(analogc.compile(analogc.trace("mlp"), hw="pcm-hermes"))
        >>> abs(sum(rep.breakdown.values()) - rep.summary["energy_j"]) < 1e-12 * rep.summary["energy_j"]
        True
    """
    from hw_models.pricing import HardwareCosts

    roll = CostRollup(plan, costs or HardwareCosts(plan.hw))
    rows = roll.per_op()
    meta = _meta(plan.graph)
    # a decoder's prefill writes the K/V cache that every decode step reads
    main = roll.phase(rows, kv_write_bytes=kv_cache_bytes(meta) if _is_decoder(meta) else 0.0)
    s = _summary(plan, roll, main)
    phases: dict[str, dict[str, Any]] = {}
    if _is_decoder(meta):
        T = int(meta["seq_len"])
        dec = roll.phase(rows, scale=1.0 / T, kv_bytes=kv_cache_bytes(meta), decode=True)
        B = int(meta.get("batch", 1))
        s.update(seq_len=T, batch=B,
                 prefill_energy_j=main.energy_j, prefill_latency_s=main.latency_s,
                 decode_energy_per_token_j=dec.energy_j / B,
                 decode_latency_per_token_s=dec.latency_s,
                 decode_tokens_per_s=B * dec.throughput_per_s if not plan.weight_reloads
                 else B / dec.latency_s,
                 kv_cache_bytes=kv_cache_bytes(meta))
        phases = {"prefill": _phase_dict(main), "decode_step": _phase_dict(dec)}
    table = _table(main)
    notes = list(getattr(plan, "notes", [])) + _dominance_notes(plan, main)
    return Report(model=plan.graph.name, hw=plan.hw.name, family=plan.hw.family, summary=s,
                  breakdown=dict(main.energy), table=table, phases=phases,
                  notes=notes, plan=plan)


def _dominance_notes(plan: Any, ph: Phase) -> list[str]:
    """Say which component dominates when one takes most of the energy, so that a reader
    knows which assumption the total hangs on."""
    total = ph.energy_j
    if total <= 0:
        return []
    comp, e = max(ph.energy.items(), key=lambda kv: kv[1])
    share = e / total
    if share < 0.6:
        return []
    why = {
        "static": f"static power of {plan.physical_tiles} tiles held for "
                  f"{fmt_si(1 / ph.throughput_per_s, 's')} per inference" if ph.throughput_per_s
                  else "static power",
        "adc": "output conversions (fewer ADC bits, ADC sharing or larger tiles cut it)",
        "laser": "laser power sized to the detectors' SNR through the optical loss",
        "programming": "rewriting tile weights or dynamic operands",
        "memory": "moving weights and activations",
        "digital": "the ops that stay digital",
    }.get(comp, comp)
    return [f"{comp} is {share:.0%} of the energy: {why}"]


def _phase_dict(ph: Phase) -> dict[str, Any]:
    return {"energy_j": ph.energy_j, "latency_s": ph.latency_s,
            "throughput_per_s": ph.throughput_per_s, "breakdown_j": dict(ph.energy)}


def _summary(plan: Any, roll: CostRollup, ph: Phase) -> dict[str, Any]:
    e, macs = ph.energy_j, ph.macs
    prog_e, prog_t = roll.program_once()
    area_mm2 = roll.area_m2() * 1e6
    tops = 2 * macs * ph.throughput_per_s / 1e12
    return {
        "model": plan.graph.name, "hw": plan.hw.name, "family": plan.hw.family,
        "energy_j": e, "latency_s": ph.latency_s, "throughput_inf_per_s": ph.throughput_per_s,
        "area_mm2": area_mm2, "macs": int(macs), "tops": tops,
        "tops_per_w": (2 * macs / e / 1e12) if e > 0 else math.inf,
        "tops_per_mm2": tops / area_mm2 if area_mm2 > 0 else math.inf,
        "energy_per_mac_j": e / macs if macs else 0.0,
        "tiles": plan.tiles, "chips": plan.chips, "weight_reloads": plan.weight_reloads,
        "static_power_w": roll.static_power_w(),
        "program_energy_j": prog_e, "program_time_s": prog_t,
        "input_bits": plan.hw.input_bits, "output_bits": plan.hw.output_bits,
    }


def _table(ph: Phase) -> pd.DataFrame:
    recs = []
    for r in ph.rows:
        e = r["energy"]
        rec = {k: r[k] for k in ("op", "kind", "placement", "module", "macs", "elements", "tiles",
                                 "time_s")}
        rec.update({f"{c}_j": e.get(c, 0.0) for c in COMPONENTS})  # already this phase's
        rec["energy_j"] = sum(e.values())
        recs.append(rec)
    return pd.DataFrame(recs)


# ---------------------------------------------------------------------------------------
def baseline_estimate(graph: Any, name: str) -> dict[str, Any]:
    """Energy, latency and throughput of ``graph`` on a digital baseline.

    FLOPs: 2 per MAC of every mvm/matmul plus the digital ops' arithmetic. Bytes: every weight
    read once per inference (``weight_bytes`` per parameter), embeddings, and for decoders the
    K/V cache (written in prefill, read per decode step). Activations are assumed to stay on
    chip (fused kernels) — optimistic for the baseline.
    """
    import hw_models
    from hw_models.digital import ops_per_element

    from analogc.ir import OpKind

    b = hw_models.baseline(name)
    wb = b.params["baseline"].get("weight_bytes")
    per_param = wb.si if wb is not None else 2.0
    macs = flops_digital = 0.0
    params = emb_bytes = 0.0
    for op in graph.ops():
        if op.kind in (OpKind.MVM, OpKind.MATMUL):
            macs += op.macs
            params += op.weight_params
        else:
            flops_digital += op.elements * ops_per_element(op.kind.value, op.target)
            if op.kind is OpKind.EMBEDDING:
                emb_bytes += op.elements * per_param
    flops = 2 * macs + flops_digital
    meta = _meta(graph)
    kv = kv_cache_bytes(meta, bytes_per_value=int(per_param))
    c = b.cost(flops, params * per_param + emb_bytes + kv)
    e = c["digital"] + c["memory"] + c["static"]
    out = {"energy_j": e, "latency_s": c["time_s"],
           "throughput_inf_per_s": 1 / c["time_s"] if c["time_s"] else math.inf,
           "tops_per_w": 2 * macs / e / 1e12 if e else math.inf,
           "compute_bound": c["compute_bound"], "energy_per_flop_j": b.energy_per_flop_j,
           "breakdown_j": {k: c[k] for k in ("digital", "memory", "static")}}
    if _is_decoder(meta):
        T, B = int(meta["seq_len"]), int(meta.get("batch", 1))
        d = b.cost(flops / T, params * per_param + emb_bytes / T + kv)
        de = d["digital"] + d["memory"] + d["static"]
        out.update(decode_energy_per_token_j=de / B, decode_latency_per_token_s=d["time_s"],
                   decode_compute_bound=d["compute_bound"])
    return out


# ---------------------------------------------------------------------------------------
def render(reports: list[Report], console: Any = None,
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


def write_reports(reports: list[Report], out_dir: str | os.PathLike,
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


def breakdown_png(reports: list[Report]) -> bytes:
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
