"""``analogc report`` (compile a model on one or more hardware and report tiles, energy,
latency against the digital baselines) and ``analogc models`` (the zoo).

Example::

    $ analogc report llama-3-8b --hw pcm-hermes --hw mzi --seq-len 2048 --out out/
    $ analogc models
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from analogc.cli.common import check_out_dir, check_sets, console, parse_dims
from analogc.errors import AnalogcError
from analogc.estimate import estimate, fmt_si, render, write_reports
from analogc.fileio import json_dumps, safe_name, write_atomic
from analogc.frontends.spec import load_graph
from analogc.mapping import compile

DEFAULT_MODEL = "gpt2"


# -- layer-type grouping -----------------------------------------------------------------
_INDEX = re.compile(r"\.\d+(?=\.)")  # a block index inside a path, not a Sequential leaf


def layer_type(module_path: str | None, kind: str) -> str:
    """``transformer.h.7.attn.c_attn`` -> ``transformer.h.*.attn.c_attn``; ``net.2`` stays."""
    if not module_path:
        return f"({kind})"
    return _INDEX.sub(".*", module_path)


def plan_table(plan: Any) -> Any:
    """Per-layer-type rows of a plan: count, MACs, tiles and utilization (a DataFrame)."""
    df = plan.to_dataframe()
    if df.empty:
        return df
    df["layer_type"] = [layer_type(m, k) if k in ("mvm", "matmul") else f"({k})"
                        for m, k in zip(df["module"], df["kind"])]
    df["cap"] = df["tiles"] * plan.hw.tile.rows * plan.hw.tile.cols
    df["used"] = df["utilization"].fillna(0) * df["cap"]
    g = df.groupby(["layer_type", "kind", "placement"], sort=False).agg(
        ops=("op", "count"), macs=("macs", "sum"), elements=("elements", "sum"),
        tiles=("tiles", "sum"), used=("used", "sum"), cap=("cap", "sum")).reset_index()
    g["utilization"] = (g["used"] / g["cap"]).where(g["cap"] > 0)
    return g.drop(columns=["used", "cap"])


# -- report ------------------------------------------------------------------------------
def uncounted_warning(uncounted: dict[str, int]) -> str:
    """One line naming the ``other`` ops that look like products, with their counts."""
    n = sum(uncounted.values())
    ops = ", ".join(f"{t} x{c}" for t, c in sorted(uncounted.items(), key=lambda kv: -kv[1]))
    return (f"{n} op(s) look like matrix products but were not recognised and count 0 MACs "
            f"(kept as 'other', digital): {ops}; MACs, energy and per-MAC figures leave them out")


def cmd_report(args: argparse.Namespace) -> int:
    for name, v in (("--seq-len", args.seq_len), ("--batch", args.batch)):
        if v is not None and v < 1:
            raise AnalogcError(f"{name}: expected a positive integer, got {v}")
    if args.out:  # before any work: a bad destination is found in a second, not after the report
        check_out_dir(args.out)
    if args.html:
        from analogc.cli.common import check_out_file

        check_out_file(args.html, "--html")
    overrides = check_sets(args.set, args.hw or [None])
    model = args.model or DEFAULT_MODEL

    def ignored(names: list[str], reason: str) -> None:  # one line on stderr, the run goes on
        if names[0].startswith("dims["):  # dims['batch'] -> --dims batch
            flags, hint = "--dims " + ",".join(n[6:-2] for n in names), ""
        else:
            flags = " and ".join(f"--{n.replace('_', '-')}" for n in names)
            hint = "; symbolic dimensions, if any, are bound with --dims NAME=INT" if model.endswith(".onnx") else ""
        print(f"warning: {flags} ignored: {reason}{hint}", file=sys.stderr)

    graph = load_graph(model, seq_len=args.seq_len, batch=args.batch,
                       dims=parse_dims(args.dims), name=model, on_ignored=ignored)
    uncounted = graph.uncounted_products()
    if uncounted:  # a product the frontend did not recognise has 0 MACs: never silently
        print(f"warning: {uncounted_warning(uncounted)}", file=sys.stderr)
    plans = [compile(graph, hw=h, digital=args.digital or (), **overrides)
             for h in (args.hw or [None])]
    reports = [estimate(p) for p in plans]
    if args.format == "table":
        con = console()
        _print_graph(graph, con)
        for plan in plans:
            _print_plan(plan, con)
        render(reports, con)
    elif args.format == "csv":
        import pandas as pd

        frames = [plan_table(p).assign(hw=p.hw.name) for p in plans]
        sys.stdout.write(pd.concat(frames).to_csv(index=False))
    else:
        sys.stdout.write(json_dumps(_json_doc(graph, plans, reports), indent=2) + "\n")
    if args.out:
        try:
            written = _write_outputs(Path(args.out), graph, plans, reports)
        except OSError as e:  # the folder checked above went away, the disk filled up...
            raise AnalogcError(f"--out {args.out}: cannot write {e.filename or ''} ({e.strerror or e})") from None
        if args.format == "table":
            print(f"wrote {', '.join(str(w) for w in written)}")
    if args.html:
        from analogc.estimate.render import report_html

        try:
            p = write_atomic(Path(args.html), report_html(graph, plans, reports, [plan_table(p) for p in plans]))
        except OSError as e:
            raise AnalogcError(f"--html {args.html}: cannot write ({e.strerror or e})") from None
        if args.format == "table":
            print(f"wrote {p}")
    return 0


def _json_doc(graph: Any, plans: list[Any], reports: list[Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"model": graph.summary(), "plans": []}
    for i, p in enumerate(plans):
        doc["plans"].append({"summary": p.summary(), "layers": plan_table(p).to_dict(orient="records"),
                             "estimate": reports[i].to_dict()})
    return doc


def _write_outputs(out: Path, graph: Any, plans: list[Any], reports: list[Any]) -> list[Path]:
    written = []
    for i, p in enumerate(plans):
        stem = safe_name(f"{graph.name}_{p.hw.name}")
        written.append(write_atomic(out / f"{stem}_ops.csv", p.to_dataframe().to_csv(index=False)))
        written.append(write_atomic(out / f"{stem}_layers.csv", plan_table(p).to_csv(index=False)))
    written.append(write_atomic(out / f"{safe_name(graph.name)}_report.json",
                                json_dumps(_json_doc(graph, plans, reports), indent=2)))
    written += [Path(w) for w in (write_reports(reports, out) or [])]
    return written


def _print_graph(graph: Any, con: Any) -> None:
    s = graph.summary()
    con.print(f"[bold]{graph.name}[/bold] ({graph.source}) — {s['ops']} ops: "
              f"{s['mvm_count']} MVM ({fmt_si(s['macs_mvm'], 'MAC')}, {fmt_si(s['params'], '')} weights), "
              f"{s['matmul_count']} dynamic matmul ({fmt_si(s['macs_matmul'], 'MAC')})")
    meta = graph.meta
    if meta.get("seq_len"):
        con.print(f"  batch {meta.get('batch', 1)}, sequence {meta['seq_len']} tokens")


def _print_plan(plan: Any, con: Any) -> None:
    from rich.table import Table

    s = plan.summary()
    hw = plan.hw
    t = hw.tile
    title = (f"{hw.name}: {t.family} tiles {t.rows}×{t.cols}, {t.weight_bits}-bit weights in "
             f"{t.slices} slice(s) of {t.cell_bits}-bit cells, dynamic matmul {hw.dynamic_matmul}")
    con.print(f"[bold]{title}[/bold]")
    tab = Table()
    for col, just in (("layer type", "left"), ("kind", "left"), ("where", "left"), ("ops", "right"),
                      ("MACs", "right"), ("tiles", "right"), ("util.", "right")):
        tab.add_column(col, justify=just)
    df = plan_table(plan)
    df = df.assign(_order=df["kind"].map(lambda k: 0 if k == "mvm" else 1 if k == "matmul" else 2))
    df = df.sort_values(["_order", "macs"], ascending=[True, False], kind="stable")
    digital = df[df["_order"] == 2]
    for r in df[df["_order"] < 2].itertuples():
        util = "" if r.utilization != r.utilization else f"{r.utilization:.0%}"
        tab.add_row(r.layer_type, r.kind, r.placement, str(r.ops), fmt_si(r.macs, ''),
                    str(int(r.tiles)) if r.tiles else "", util)
    if len(digital):
        by_kind = digital.groupby("kind").agg(ops=("ops", "sum"), elements=("elements", "sum"))
        for k, r in by_kind.iterrows():
            tab.add_row(f"({k} ops)", k, "digital", str(int(r.ops)), f"{fmt_si(r.elements, '')} el.", "", "")
    tab.add_section()
    tab.add_row("total", "", "", str(len(plan.graph)), fmt_si(s["macs_analog"] + s["macs_digital_matmul"], ""),
                str(s["tiles"]), f"{s['utilization']:.0%}")
    con.print(tab)
    con.print(f"  {s['analog_ops']} ops on analog tiles ({fmt_si(s['macs_analog'], 'MAC')}), "
              f"{s['digital_ops']} digital; {s['tiles']} tiles on {s['chips']} chip(s) of "
              f"{hw.chip.tiles_per_chip} tiles" + (f" (needs {s['chips_needed']})" if s['chips'] != s['chips_needed'] else ""))
    for n in plan.notes:
        con.print(f"  note: {n}")


def cmd_models(args: argparse.Namespace) -> int:
    from rich.table import Table

    from analogc.frontends import zoo

    tab = Table(title="analogc models (built on the meta device, no download)", title_justify="left")
    tab.add_column("name")
    tab.add_column("family")
    tab.add_column("description")
    tab.add_column("default seq", justify="right")
    for e in zoo.ZOO.values():
        tab.add_row(e.name, e.family, e.description, str(e.default_seq_len or ""))
    console().print(tab)
    return 0


# -- parsers -----------------------------------------------------------------------------
def add_report_parser(sub: Any) -> None:
    """Register ``report`` on the CLI's subparsers."""
    r = sub.add_parser("report", help="compile a model and report tiles, energy, latency")
    r.add_argument("model", nargs="?", help="zoo name, .onnx file or module:factory (default gpt2)")
    r.add_argument("--hw", action="append", help="preset name or hardware file (repeatable)")
    r.add_argument("--seq-len", type=int, help="tokens per sequence (transformers)")
    r.add_argument("--batch", type=int, help="batch size (default 1)")
    r.add_argument("--dims", metavar="NAME=INT,...",
                   help="bind symbolic dimensions of an ONNX file, e.g. batch=1,seq=128")
    r.add_argument("--out", help="directory for csv/json (and plots)")
    r.add_argument("--format", choices=("table", "csv", "json"), default="table")
    r.add_argument("--html", metavar="FILE", help="one self-contained HTML report (tables and plots)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a preset value, e.g. adc_bits=6 or \"adc.energy=20 pJ\" "
                   "(repeatable, or comma-separated: adc_bits=6,rows=128)")
    r.add_argument("--digital", action="append", metavar="REGEX",
                   help="keep matching ops/modules digital, e.g. lm_head (repeatable)")
    r.set_defaults(func=cmd_report)


def add_models_parser(sub: Any) -> None:
    """Register ``models`` on the CLI's subparsers."""
    m = sub.add_parser("models", help="list the model zoo")
    m.set_defaults(func=cmd_models)
