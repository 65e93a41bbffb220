"""Text for ``analogc hw`` (list the presets) and ``analogc hw show NAME`` (one preset, every
constant with its unit and source).

Example::

    >>> from hw_models.describe import hw_list_text, hw_show_text
    >>> print(hw_list_text())          # doctest: +SKIP
    >>> "source" in hw_show_text("pcm-hermes")
    True
"""
from __future__ import annotations

from typing import Any

from hw_models.config import Quantity, baselines, load_params, preset_path, presets


def hw_list_text() -> str:
    """One line per preset: name, family, tile, bits, description; then the baselines."""
    lines = ["analog presets (hw_models.load(NAME, **overrides)):"]
    for name in presets():
        p = load_params(name)
        h, t = p["hardware"], p["tile"]
        lines.append(f"  {name:<12} {t['family']:<9} {t['rows']}x{t['cols']:<6} "
                     f"in {h.get('input_bits', 8)}b / out {h.get('output_bits', 8)}b  "
                     f"{h.get('description', '')}")
    lines.append("digital baselines (Report.compare(NAME)):")
    for name in baselines():
        p = load_params(name)
        lines.append(f"  {name:<12} {p['hardware'].get('description', '')}")
    lines.append("user presets: any .toml file in the same format (see docs/hardware.md)")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, Quantity):
        return f"{v.value:g} {v.unit}    [{v.source}]"
    return repr(v) if isinstance(v, str) else str(v)


def hw_show_text(name: str, **overrides: Any) -> str:
    """Every table and key of a preset (after overrides) with value, unit and source."""
    p = load_params(name, **overrides)
    lines = [f"# {p['hardware']['name']}  ({preset_path(name)})"]
    if p.get("_overrides"):
        lines.append(f"# overrides: {p['_overrides']}")
    for section, table in p.items():
        if section.startswith("_") or not isinstance(table, dict):
            continue
        lines.append(f"[{section}]")
        for k, v in table.items():
            if k.startswith("_"):
                continue
            src = table.get("_sources", {}).get(k) if section == "noise" else None
            lines.append(f"  {k} = {_fmt(v)}" + (f"    [{src}]" if src else ""))
    return "\n".join(lines)
