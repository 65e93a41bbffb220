"""Hardware models for analogc: tiles, converters, memories, digital logic and baselines.

Imports nothing from ``analogc``. Presets are TOML files in ``hw_models/presets`` with every
constant's value, unit and source; :func:`load` validates one and returns the
:class:`Hardware` that ``analogc.compile(graph, hw=...)`` takes.

Example::

    >>> import hw_models
    >>> hw_models.presets()[:3]
    ['freespace', 'ideal', 'mzi']
    >>> hw = hw_models.load("pcm-hermes", adc_bits=6)
    >>> hw_models.baseline("h100").name
    'h100'
"""
from hw_models.base import ChipSpec, Hardware, TileSpec
from hw_models.config import (
    DEFAULT_PRESET,
    HardwareConfigError,
    baseline,
    baselines,
    load,
    preset_path,
    presets,
)

__all__ = [
    "ChipSpec", "Hardware", "TileSpec", "DEFAULT_PRESET", "HardwareConfigError",
    "baseline", "baselines", "load", "preset_path", "presets", "hw_list_text", "hw_show_text",
    "tile_model", "FAMILIES",
]


def __getattr__(name: str):  # lazy: pricing models and text helpers import more
    if name in ("hw_list_text", "hw_show_text"):
        from hw_models import describe
        return getattr(describe, name)
    if name == "tile_model":
        from hw_models.pricing import tile_model
        return tile_model
    if name == "FAMILIES":
        from hw_models.registry import FAMILIES
        return FAMILIES
    raise AttributeError(name)
