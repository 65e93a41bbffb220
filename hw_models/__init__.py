"""Hardware models for analogc: tiles, converters, memories, digital logic and baselines.

Imports nothing from ``analogc``.
"""
from hw_models.base import ChipSpec, Hardware, TileSpec

__all__ = ["ChipSpec", "Hardware", "TileSpec"]
