"""``analogc.estimate`` and ``analogc.sweep`` are both a module and the function
``analogc.estimate(plan)`` / ``analogc.sweep(models, hws)``: importing the module rebinds the
package attribute to the module, so the module itself must be callable."""
from __future__ import annotations

import sys
import types
from typing import Any, Callable


def make_callable(module_name: str, fn: Callable[..., Any]) -> None:
    """Calling module ``module_name`` calls ``fn``."""

    class _CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kw: Any) -> Any:
            return fn(*args, **kw)

    sys.modules[module_name].__class__ = _CallableModule
