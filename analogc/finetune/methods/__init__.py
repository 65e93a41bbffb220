"""The fine-tuning methods, by name (``method=`` of :func:`analogc.finetune`).

Each entry is ``"module:Class"``, imported on first use (:func:`method_class`), so that a
method's dependencies (peft for LoRA) load only when it runs.
"""
from __future__ import annotations

import importlib
from typing import Any

from analogc.errors import AnalogcError

#: name -> "module:Class" of its :class:`~analogc.finetune.base.Method`
METHODS: dict[str, str] = {
    "hwa": "analogc.finetune.methods.hwa:HWA",
    "pat": "analogc.finetune.methods.pat:PAT",
    "distill": "analogc.finetune.methods.distill:Distill",
    "lora": "analogc.finetune.methods.lora:LoRA",
}


def method_class(name: Any) -> type:
    """The Method class registered as ``name``; an unknown name is one error line listing the
    known ones.

    Example::

        >>> method_class("hwa").__name__
        'HWA'
    """
    if not isinstance(name, str) or name not in METHODS:
        raise AnalogcError(f"finetune: method: expected one of {', '.join(METHODS)}, got {name!r}")
    mod_name, _, cls_name = METHODS[name].partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ModuleNotFoundError as e:
        if e.name != mod_name:  # a missing dependency of the method, not the method itself
            raise AnalogcError(f"finetune: method {name!r} needs the package {e.name!r}: install it") from None
        raise AnalogcError(f"finetune: method {name!r} is registered but not available in this install "
                           f"({mod_name} missing)") from None
    return getattr(mod, cls_name)
