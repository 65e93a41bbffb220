"""The training methods for physical hardware side by side: a measured version of Table 1 of
Momeni et al., "Training of physical neural networks" (Nature 645:53, 2025).

Each method is one module here and one line in :data:`METHODS` (``"module:Class"``, imported
on first use); :func:`analogc.methods.table.run_table` (``analogc.methods(...)``, ``analogc
methods``) runs them on one task and hardware and measures them. See docs/methods.md.
"""
from __future__ import annotations

import importlib
from typing import Any

from analogc.errors import AnalogcError

#: name -> "module:Class" of its :class:`~analogc.methods.base.TrainingMethod`
METHODS: dict[str, str] = {
    "insilico": "analogc.methods.insilico:InSilico",
    "pat": "analogc.methods.pat:PAT",
    "hwa": "analogc.methods.hwa:HWA",
    "elm": "analogc.methods.elm:ELM",
    "dfa": "analogc.methods.dfa:DFA",
    "fd": "analogc.methods.fd:FiniteDifferences",
    "spsa": "analogc.methods.spsa:SPSA",
    "es": "analogc.methods.es:ES",
    "ff": "analogc.methods.ff:ForwardForward",
    "phyll": "analogc.methods.phyll:PhyLL",
    "ep": "analogc.methods.ep:EP",
}


def method_class(name: Any) -> type:
    """The TrainingMethod class registered as ``name``; an unknown name is one error line."""
    if not isinstance(name, str) or name not in METHODS:
        raise AnalogcError(f"methods: method: expected one of {', '.join(METHODS)}, got {name!r}")
    mod, _, cls = METHODS[name].partition(":")
    return getattr(importlib.import_module(mod), cls)


def methods(task: str = "digits", hw: Any = None, **kw: Any) -> Any:
    """Run the methods on ``task`` and ``hw`` (see :func:`analogc.methods.table.run_table`)."""
    from analogc.methods.table import run_table

    return run_table(task, hw, **kw)


__all__ = ["METHODS", "method_class", "methods"]


# ``analogc.methods(...)`` keeps working once this package is imported (as analogc.estimate)
from analogc._callable import make_callable  # noqa: E402

make_callable(__name__, methods)
