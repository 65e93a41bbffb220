"""Writing results: atomically (a temporary file, then a rename), so that an interrupted
run never leaves a half-written report or checkpoint."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path


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
