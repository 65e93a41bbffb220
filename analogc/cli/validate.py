"""``analogc validate``: estimated vs published TOPS/W of measured chips (docs/validation.md).

Example::

    $ analogc validate                                  # every chip in hw_models/validation/
    $ analogc validate hermes --format json
    $ analogc validate my-chip.toml --plot val.png --sensitivity --out out/
"""
from __future__ import annotations

import argparse
from typing import Any

from analogc.cli.common import check_out_dir, check_out_file, console
from analogc.errors import AnalogcError


def cmd_validate(args: argparse.Namespace) -> int:
    from analogc import validate as v
    from analogc.fileio import write_atomic

    out = check_out_dir(args.out) if args.out else None
    if args.plot:
        check_out_file(args.plot, "--plot")
        if not args.plot.lower().endswith((".png", ".svg")):
            raise AnalogcError(f"--plot {args.plot}: expected a file name ending in .png or .svg")
    files = [v.chip_path(c) for c in args.chips] if args.chips else v.chip_files()
    if not files:
        raise AnalogcError("validate: expected chip files, found none in hw_models/validation/")
    results = [v.validate_chip(f) for f in files]
    sens = [s for f in files for s in v.sensitivity(f)] if args.sensitivity else None

    if out is not None:
        write_atomic(out / "validation.csv", v.results_frame(results).to_csv(index=False))
        write_atomic(out / "validation.json", v.to_json(results, sens))
        if sens is not None:
            write_atomic(out / "sensitivity.csv", v.sensitivity_frame(sens).to_csv(index=False))
    if args.plot:
        v.plot(results, args.plot)

    if args.format == "json":
        print(v.to_json(results, sens))
    elif args.format == "csv":
        print(v.results_frame(results).to_csv(index=False), end="")
        if sens is not None:  # a second block; --out writes it to its own file
            print()
            print(v.sensitivity_frame(sens).to_csv(index=False), end="")
    else:
        con = console()
        v.render_table(results, con)
        if sens is not None:
            v.render_sensitivity(sens, con)
        if out is not None:
            con.print(f"wrote {out / 'validation.csv'}, {out / 'validation.json'}"
                      + (f", {out / 'sensitivity.csv'}" if sens is not None else ""))
        if args.plot:
            con.print(f"wrote {args.plot}")
    return 0


def add_validate_parser(sub: Any) -> None:
    """Register ``validate`` on the CLI's subparsers."""
    p = sub.add_parser("validate", help="estimated vs published TOPS/W of measured chips "
                       "(hw_models/validation/, docs/validation.md)")
    p.add_argument("chips", nargs="*", metavar="CHIP",
                   help="chip file (.toml with a [validation] table) or shipped chip name; "
                   "default: every file in hw_models/validation/")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table",
                   help="output on stdout (default: table)")
    p.add_argument("--plot", metavar="FILE", help="plot estimated vs published TOPS/W (.png or .svg)")
    p.add_argument("--sensitivity", action="store_true",
                   help="vary each stock constant over its published range and report what moves "
                   "the estimate by more than 10%%")
    p.add_argument("--out", metavar="DIR", help="also write validation.csv, validation.json "
                   "(and sensitivity.csv) in DIR")
    p.set_defaults(func=cmd_validate)
