"""Silence torch's own logging around a call that fails on the user's model.

``torch.export`` logs a failing fake-tensor kernel with its whole traceback at ERROR level
(about 20 lines on stderr) before raising; analogc reports the failure itself, in one line.
:func:`quiet_torch_logging` raises the level of every ``torch`` logger for the duration of the
``with`` block and restores each afterwards, so that torch's logging is untouched outside it.

Example::

    >>> import logging
    >>> log = logging.getLogger("torch._subclasses.fake_tensor")
    >>> before = log.level
    >>> with quiet_torch_logging():
    ...     log.isEnabledFor(logging.CRITICAL)
    False
    >>> log.level == before
    True
"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator


@contextlib.contextmanager
def quiet_torch_logging() -> Iterator[None]:
    """Mute the ``torch`` logger and its children (loggers created inside the block inherit
    the muted level); restore every level on exit, also when the block raises."""
    manager = logging.Logger.manager
    loggers = [logging.getLogger("torch")] + [
        lg for name, lg in list(manager.loggerDict.items())
        if name.startswith("torch.") and isinstance(lg, logging.Logger)]
    saved = [(lg, lg.level) for lg in loggers]
    for lg, _ in saved:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in saved:
            lg.setLevel(level)
