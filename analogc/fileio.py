"""Writing results: atomically (a temporary file, then a rename), so that an interrupted
run never leaves a half-written report or checkpoint; JSON that is valid JSON (no ``NaN``)."""
from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def safe_name(s: str) -> str:
    """A file-name-safe version of a model or hardware name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_") or "model"


def json_dumps(obj: Any, **kw: Any) -> str:
    """``json.dumps`` of ``obj`` as strict JSON: NaN and ±inf (a utilization with no tiles, a
    ratio over zero) become ``null``, numpy/torch scalars their Python values, anything else
    unknown its ``str``. ``json.dumps`` alone writes ``NaN``, which JSON parsers refuse.

    Example::

        >>> json_dumps({"u": float("nan"), "r": [1.5, float("inf")]})
        '{"u": null, "r": [1.5, null]}'
    """
    return json.dumps(finite(obj), allow_nan=False, **kw)


def finite(obj: Any) -> Any:
    """``obj`` with non-finite floats replaced by None and scalars as Python values, recursively
    through dicts, lists and tuples."""
    if isinstance(obj, dict):
        return {(k if isinstance(k, (str, int, float, bool)) or k is None else str(k)): finite(v)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, (str, bool, int)) or obj is None:
        return obj
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    item = getattr(obj, "item", None)  # numpy and torch scalars
    if callable(item) and getattr(obj, "ndim", 0) == 0:
        try:
            return finite(item())
        except (TypeError, ValueError):
            pass
    if hasattr(obj, "tolist"):  # small arrays
        return finite(obj.tolist())
    return str(obj)
