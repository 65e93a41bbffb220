"""``analogc sweep [MODEL ...] [--family F [--sizes N]] [--hw NAME|FILE]... [--vary K=A..B]...
[--out DIR] [--html FILE]``: :func:`analogc.sweep` on the command line, as a rich table, csv
or json, and ``sweep.csv``/``sweep.json``/``sweep.png`` plus the scaling plots in DIR.

Example::

    $ analogc sweep --out sweep/                  # the MLP -> 1e19-MAC ladder
    $ analogc sweep gpt2 llama-3-8b --hw pcm-hermes --format csv
    $ analogc sweep --family gpt --sizes 30 --hw freespace --hw anderson-2023 --out gpt/ --html gpt.html
    $ analogc sweep --family vit --sizes 6 --hw pcm-hermes --vary adc_bits=4..10
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from analogc.cli.common import check_out_dir, check_sets, console
from analogc.errors import AnalogcError
from analogc.estimate import fmt_si
from analogc.fileio import json_dumps, write_atomic
from analogc.sweep import DEFAULT_HWS, DEFAULT_LADDER, baseline_names, sweep, sweep_png


def _table(df: pd.DataFrame) -> Any:
    from rich.table import Table

    bases = baseline_names(df)
    tab = Table(title="analogc sweep: energy per inference and per MAC vs model size",
                title_justify="left")
    for col in ("model", "hw", "MACs", "energy/inference", "energy/MAC", "TOPS/W",
                *(f"vs {b}" for b in bases)):
        tab.add_column(col, justify="left" if col in ("model", "hw") else "right")
    last = None
    for r in df.itertuples(index=False):
        if last is not None and r.model != last:
            tab.add_section()
        hw = r.hw + (f" [{r.setting}]" if getattr(r, "setting", "") else "")
        tab.add_row(r.model if r.model != last else "", hw, f"{r.macs:.3g}",
                    fmt_si(r.energy_j, "J"), fmt_si(r.energy_per_mac_j, "J"), f"{r.tops_per_w:.3g}",
                    *(f"×{getattr(r, f'{b}_energy_ratio'):.3g}" for b in bases))
        last = r.model
    return tab


def cmd_sweep(args: argparse.Namespace) -> int:
    from analogc.cli.common import check_out_file
    from analogc.scaling import families
    from analogc.sweep import check_hardware, parse_vary

    if args.anderson:
        return _cmd_anderson(args)
    if args.seq_len is not None and args.seq_len < 1:
        raise AnalogcError(f"--seq-len: expected a positive integer, got {args.seq_len}")
    if args.workers is not None and args.workers < 1:
        raise AnalogcError(f"--workers: expected a positive integer, got {args.workers}")
    if args.family is not None:
        if args.model:
            raise AnalogcError("give models or --family, not both")
        if args.seq_len is not None:
            raise AnalogcError("--seq-len: not with --family (the family's scaling rule sets the context)")
        families.check_family(args.family)
        families.default_sizes(args.sizes if args.sizes is not None else families.DEFAULT_SIZES)
    elif args.sizes is not None:
        raise AnalogcError("--sizes: only with --family")
    # before any work: destinations, --set and --vary on every hardware
    if args.out:
        check_out_dir(args.out)
    if args.html:
        check_out_file(args.html, "--html")
    hws = args.hw or list(DEFAULT_HWS)
    overrides = check_sets(args.set, hws)
    vary = parse_vary(args.vary)
    check_hardware(hws, vary, overrides)
    if args.family is not None:
        df = sweep(family=args.family, sizes=args.sizes, hws=hws, vary=vary,
                   unit_per_layer=args.unit_per_layer, workers=args.workers,
                   progress=args.format == "table", **overrides)
    else:
        df = sweep(args.model or DEFAULT_LADDER, hws, seq_len=args.seq_len, vary=vary,
                   unit_per_layer=args.unit_per_layer, workers=args.workers,
                   progress=args.format == "table", **overrides)
    if args.format == "table":
        console().print(_table(df))
    elif args.format == "csv":
        sys.stdout.write(df.to_csv(index=False))
    else:
        sys.stdout.write(json_dumps(df.to_dict(orient="records"), indent=2) + "\n")
    written: list[Any] = []
    try:
        rendered = None
        if args.out or args.html:  # the plots are drawn once, for the files and the page
            from analogc.scaling.plots import render_figures, sweep_figures

            rendered = render_figures(sweep_figures(df), svg=bool(args.out))
        if args.out:
            from analogc.scaling.plots import write_sweep_plots

            out = Path(args.out)
            written += [write_atomic(out / "sweep.csv", df.to_csv(index=False)),
                        write_atomic(out / "sweep.json", json_dumps(df.to_dict(orient="records"), indent=2)),
                        write_atomic(out / "sweep.png", sweep_png(df))]
            written += write_sweep_plots(df, out, rendered)
        if args.html:
            from analogc.estimate.render import sweep_html

            written.append(write_atomic(Path(args.html), sweep_html(df, pngs=[p for p, _ in rendered.values()])))
    except OSError as e:
        raise AnalogcError(f"cannot write {e.filename or ''} ({e.strerror or e})") from None
    if written and args.format == "table":
        print(f"wrote {', '.join(str(w) for w in written)}")
    return 0


def _cmd_anderson(args: argparse.Namespace) -> int:
    """``analogc sweep --anderson``: Anderson et al.'s claims under the anderson-2023 preset
    and the ablation of its assumptions (analogc.scaling.anderson)."""
    from analogc.cli.common import check_out_file
    from analogc.scaling import anderson

    if args.model or args.family or args.vary or args.set or args.hw:
        raise AnalogcError("--anderson takes no models, --family, --hw, --set or --vary "
                           "(it runs the anderson-2023 preset and its ablation)")
    if args.out:
        check_out_dir(args.out)
    if args.html:
        check_out_file(args.html, "--html")
    claims = anderson.claims()
    ab = anderson.ablation()
    carried = anderson.carried(ab)
    if args.format == "csv":
        sys.stdout.write(ab.to_csv(index=False))
    elif args.format == "json":
        sys.stdout.write(json_dumps({"claims": claims.to_dict(orient="records"),
                                     "ablation": ab.to_dict(orient="records")}, indent=2) + "\n")
    else:
        from rich.table import Table

        t = Table(title="Anderson et al. 2023 under anderson-2023: advantage vs 300 fJ/MAC", title_justify="left")
        for c in ("claim", "model", "params", "MACs", "paper", "measured"):
            t.add_column(c, justify="left" if c in ("claim", "model") else "right")
        for r in claims.itertuples(index=False):
            t.add_row(r.claim, r.model, f"{r.params:.3g}", f"{r.macs:.3g}", f"×{r.paper:g}", f"×{r.measured:.3g}")
        console().print(t)
        t = Table(title="factor each assumption carries (advantage with it / with analogc's model)",
                  title_justify="left")
        t.add_column("model")
        labels = [lab for lab, _ in anderson.ABLATION[1:]]
        for lab in labels:
            t.add_column(lab, justify="right")
        for m, sub in carried.groupby("model", sort=False):
            f = sub.set_index("replaced")["factor_carried"]
            t.add_row(m, *[f"×{f[lab]:.3g}" for lab in labels])
        console().print(t)
    written: list[Any] = []
    try:
        if args.out:
            from analogc.scaling.plots import write_figures

            out = Path(args.out)
            written += [write_atomic(out / "anderson_claims.csv", claims.to_csv(index=False)),
                        write_atomic(out / "anderson_ablation.csv", ab.to_csv(index=False)),
                        write_atomic(out / "anderson_carried.csv", carried.to_csv(index=False))]
            written += write_figures({"anderson_ablation": anderson.ablation_figure(ab)}, out)
        if args.html:
            from analogc.estimate.render import _fig_png, html_document

            doc = html_document("Optical Transformers (Anderson et al. 2023) reproduced by analogc", [
                ("Claims at the sizes the paper names", [("table", claims)]),
                ("Which assumption carries the claim", [("png", _fig_png(anderson.ablation_figure(ab))),
                                                        ("table", carried)]),
                ("Ablation rows", [("table", ab[["variant", "model", "params", "macs", "energy_per_mac_j",
                                                 "advantage_vs_300fJ", "advantage_vs_gpu"]])])])
            written.append(write_atomic(Path(args.html), doc))
    except OSError as e:
        raise AnalogcError(f"cannot write {e.filename or ''} ({e.strerror or e})") from None
    if written and args.format == "table":
        print(f"wrote {', '.join(str(w) for w in written)}")
    return 0


def add_sweep_parser(sub: Any) -> None:
    """``analogc sweep [MODEL ...] [--hw NAME|FILE]... [--out DIR] [--format ...]``."""
    p = sub.add_parser("sweep", help="energy per inference and per MAC across model sizes "
                       "(default: a ladder from an MLP to 1e19 MACs)")
    p.add_argument("model", nargs="*", help="zoo names, gpt-scaled:d=INT,L=INT,T=INT specs, .onnx "
                   "files or module:factory (default: the built-in ladder)")
    p.add_argument("--hw", action="append", help="preset name or hardware file (repeatable; "
                   "default pcm-hermes and freespace)")
    p.add_argument("--seq-len", type=int, help="tokens per sequence for zoo transformers")
    p.add_argument("--family", help="scale a model family instead: gpt, llama, vit, mlp or "
                   "module:factory (a callable taking the target MACs per inference)")
    p.add_argument("--sizes", type=int, help="number of family sizes, log-spaced from 1e6 to 1e19 "
                   "MACs per inference (default 12)")
    p.add_argument("--vary", action="append", metavar="KEY=A..B|KEY=V1,V2",
                   help="price every value of a hardware parameter, e.g. adc_bits=4..10 "
                   "(repeatable: every combination)")
    p.add_argument("--anderson", action="store_true",
                   help="reproduce Anderson et al. 2023 (Optical Transformers) under the anderson-2023 "
                   "preset and ablate its assumptions")
    p.add_argument("--workers", type=int, help="processes (default: the machine's cores)")
    p.add_argument("--html", metavar="FILE", help="one self-contained HTML report (tables and plots)")
    p.add_argument("--unit-per-layer", action="store_true",
                   help="free-space tiles sized to the largest weight matrix (one optical unit "
                   "per layer, Anderson et al.)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a preset value, e.g. adc_bits=6 or \"adc.energy=20 pJ\" "
                   "(repeatable, or comma-separated: adc_bits=6,rows=128)")
    p.add_argument("--out", help="directory for sweep.csv, sweep.json, sweep.png and the plots "
                   "(PNG and SVG)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(func=cmd_sweep)
