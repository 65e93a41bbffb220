"""``analogc methods``: the training methods for physical hardware side by side, measured.

Example::

    $ analogc methods --task digits --hw pcm-hermes --out methods/
    $ analogc methods --task digits --hw my_chip.toml --out m/ --quick --method pat --method insilico
    $ analogc methods --task recall --hw rram --out rc/

Writes ``DIR/methods.csv`` (a row per method and model size), ``DIR/methods.md``,
``DIR/methods.json`` (rows and accuracy curves) and ``DIR/methods.png``. See docs/methods.md.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any


def add_methods_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("methods", help="training methods for physical hardware side by side "
                                              "(accuracy, physical passes, time, memory, energy per step)")
    p.add_argument("--task", default="digits", help="digits (default) or recall (temporal, for the reservoir)")
    p.add_argument("--hw", required=True, help="hardware preset name or .toml file")
    p.add_argument("--set", action="append", default=None, metavar="KEY=VALUE",
                   help="hardware override (as for report), e.g. adc_bits=6")
    p.add_argument("--out", required=True, help="directory for methods.csv, methods.md, methods.json, methods.png")
    p.add_argument("--method", action="append", default=None, metavar="M",
                   help="run only this method (repeatable; default: every method that trains the task)")
    p.add_argument("--quick", action="store_true", help="small budgets (about a minute; what the tests run)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", type=float, default=None, help="target accuracy of the wall-clock-to-target column")
    p.set_defaults(func=cmd_methods)
    return p


def cmd_methods(args: argparse.Namespace) -> int:
    from analogc.cli.common import check_out_dir, check_sets
    from analogc.hardware import resolve_hw
    from analogc.methods.table import MARGIN, run_table

    check_out_dir(args.out)
    overrides = check_sets(args.set, [args.hw])
    hw = resolve_hw(args.hw, **overrides)
    df = run_table(args.task, hw, out=args.out, quick=args.quick, methods=args.method, seed=args.seed,
                   target=args.target, progress=True)
    rc = 0
    for _, r in df.iterrows():
        st = str(r["status"])
        if st.startswith("error"):
            rc = 1
            print(f"{r['method']}: {st}", file=sys.stderr)
        elif st != "converged":
            print(f"{r['method']}: accuracy {r['accuracy']:.3f} did not reach chance + {MARGIN} "
                  f"({r['chance'] + MARGIN:.2f}) within its {'quick ' if args.quick else ''}budget")
    cols = ["method", "accuracy", "physical_passes", "train_s", "energy_per_step_j"]
    print(df[[c for c in cols if c in df]].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"wrote {args.out}/methods.csv, methods.md, methods.json, methods.png")
    return rc
