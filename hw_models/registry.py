"""The tile families: name -> the class that owns both views of that hardware.

Adding a family is one line here (plus its module, its preset and its tests); nothing under
``analogc/`` changes. Classes are imported lazily so that the schema (``hw_models.config``)
and the families can import each other's building blocks without a cycle.

Example::

    >>> from hw_models.registry import FAMILIES, family_class
    >>> sorted(FAMILIES)
    ['charge', 'crossbar', 'freespace', 'mzi']
    >>> family_class("crossbar").__name__
    'Crossbar'
"""
from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any

#: family name -> "module:Class" of its :class:`hw_models.family.TileFamily`
FAMILIES: dict[str, str] = {
    "crossbar": "hw_models.crossbar:Crossbar",
    "mzi": "hw_models.photonics.mzi:MZIMesh",
    "freespace": "hw_models.photonics.freespace:FreeSpaceOptics",
    "charge": "hw_models.charge:ChargeCrossbar",
}


@lru_cache(maxsize=None)
def family_class(name: str) -> Any:
    """The :class:`~hw_models.family.TileFamily` subclass registered as ``name``."""
    try:
        path = FAMILIES[name]
    except KeyError:
        from hw_models.errors import HardwareConfigError
        raise HardwareConfigError(f"tile.family: expected one of {sorted(FAMILIES)}, got {name!r}") from None
    module, _, cls = path.partition(":")
    return getattr(importlib.import_module(module), cls)
