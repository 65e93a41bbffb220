"""``analogc hw`` (list presets and baselines) and ``analogc hw show NAME [--set k=v]``.

Example::

    $ analogc hw
    $ analogc hw show pcm-hermes --set adc_bits=6 --costs
"""
from __future__ import annotations

import argparse
from typing import Any

from analogc.cli.common import check_sets
from analogc.estimate import fmt_si
from analogc.hardware import resolve_hw


def cmd_hw(args: argparse.Namespace) -> int:
    import hw_models

    if getattr(args, "action", None) == "show":
        if not args.name:
            raise hw_models.HardwareConfigError("analogc hw show: expected a preset name or .toml file")
        overrides = check_sets(args.set, [args.name])
        print(hw_models.hw_show_text(args.name, **overrides))
        if args.costs:
            print(_costs_text(args.name, **overrides))
    else:
        print(hw_models.hw_list_text())
    return 0


def _costs_text(name: str, **overrides: Any) -> str:
    """Derived unit costs (SI -> readable) of an analog preset."""
    from hw_models.pricing import HardwareCosts

    hw = resolve_hw(name, **overrides)
    c = HardwareCosts(hw)
    t = hw.tile
    lines = ["# derived unit costs"]
    for action, comps in c.unit_energy.items():
        lines.append(f"  {action:<16} " + ", ".join(f"{k} {fmt_si(v, 'J')}" for k, v in comps.items()))
    e = c.tile.pass_energy_j(t.rows, t.cols)
    lines.append(f"  full tile pass   {fmt_si(sum(e.values()), 'J')} in "
                 f"{fmt_si(c.tile.pass_time_s(t.rows, t.cols), 's')} "
                 f"({fmt_si(sum(e.values()) / (t.rows * t.cols), 'J')}/MAC)")
    lines.append(f"  static / tile    {fmt_si(c.tile.static_power_w(), 'W')}")
    lines.append(f"  tile area        {c.tile.tile_area_m2() * 1e6:.4g} mm2")
    return "\n".join(lines)


def add_hw_parser(sub: Any) -> None:
    """Register ``hw`` on the CLI's subparsers."""
    p = sub.add_parser("hw", help="list hardware presets, or show one with its sources")
    p.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    p.add_argument("name", nargs="?", help="preset name or .toml file (for show)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a preset value, e.g. adc_bits=6 or \"mzi.settle_time=5 us\" "
                   "(repeatable, or comma-separated)")
    p.add_argument("--costs", action="store_true", help="also print the derived unit costs")
    p.set_defaults(func=cmd_hw)
