"""The hardware a plan runs on: a preset name, a hardware file or a ``hw_models.Hardware``
turned into one ``Hardware``, with hw_models' errors as one-line
:class:`~analogc.errors.AnalogcError` messages. Every part of analogc that takes a ``hw``
argument goes through :func:`resolve_hw`.

Example::

    >>> resolve_hw("pcm-hermes", adc_bits=6).output_bits
    6
    >>> resolve_hw(resolve_hw("pcm-hermes", adc_bits=6), rows=128).tile.rows  # keeps adc_bits=6
    128
"""
from __future__ import annotations

from typing import Any

from analogc.errors import AnalogcError


def resolve_hw(hw: Any = None, **overrides: Any) -> Any:
    """A ``hw_models.Hardware`` from a preset name, a hardware file path or a Hardware object
    (``None``: the default preset), with ``overrides`` applied (``adc_bits=6``, ``rows=512``,
    ``"mzi.settle_time": "5 us"``...). Overrides on a Hardware object reload the file it was
    loaded from with its own overrides and these (``hw_models.load`` semantics)."""
    import hw_models

    if hw is None:
        hw = hw_models.DEFAULT_PRESET
    if not isinstance(hw, (str, hw_models.Hardware)):
        raise AnalogcError(f"hw: expected a preset name, a hardware file or a hw_models.Hardware, "
                           f"got {type(hw).__name__}")
    if overrides and isinstance(hw, hw_models.Hardware) and hw.source_file is None:
        raise AnalogcError(f"hardware overrides need a preset name, a file or a Hardware loaded "
                           f"from one; {hw.name!r} was built in code")
    try:
        return hw_models.load(hw, **overrides)
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise AnalogcError(str(e).splitlines()[0] if str(e) else repr(e)) from None
