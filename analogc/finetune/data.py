"""Built-in data sets for fine-tuning (offline: nothing is downloaded).

``digits``: scikit-learn's handwritten digits (UCI ML hand-written digits, 1797 images of 8x8
pixels, 10 classes, shipped inside scikit-learn), pixels scaled to [0, 1] (÷16) and flattened
to 64 features; a deterministic stratified split (``val_fraction``, default 20%, by
``seed``) into shuffled batches of ``(x float32 [B, 64], y int64 [B])``.

Example::

    from analogc.finetune.data import digits
    train, val = digits(batch_size=64)
    x, y = train[0]
"""
from __future__ import annotations

from typing import Any

import torch

from analogc.errors import AnalogcError

#: the built-in data factories of ``analogc finetune --data``
BUILTIN = ("digits",)


def _batches(x: torch.Tensor, y: torch.Tensor, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]


def digits_tensors(*, val_fraction: float = 0.2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                          torch.Tensor]:
    """(x_train, y_train, x_val, y_val) of the digits set (see the module doc)."""
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
        raise AnalogcError(f"digits: val_fraction: expected a number in (0, 1), got {val_fraction!r}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0
    y = torch.tensor(d.target, dtype=torch.int64)
    idx = torch.arange(len(y)).numpy()
    tr, va = train_test_split(idx, test_size=val_fraction, random_state=seed, stratify=d.target)
    return x[tr], y[tr], x[va], y[va]


def digits(batch_size: int = 64, *, val_fraction: float = 0.2, seed: int = 0,
           val_batch_size: int | None = None) -> tuple[list[Any], list[Any]]:
    """(train batches, validation batches) of scikit-learn's digits: lists of ``(x, y)``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise AnalogcError(f"digits: batch_size: expected a positive integer, got {batch_size!r}")
    xt, yt, xv, yv = digits_tensors(val_fraction=val_fraction, seed=seed)
    return _batches(xt, yt, batch_size), _batches(xv, yv, val_batch_size or len(xv))


def digits_mlp(hidden: int = 64, seed: int = 0) -> torch.nn.Module:
    """The built-in ``digits-mlp`` model of ``analogc finetune``: 64 -> hidden -> 10 with ReLU
    (random weights from ``seed``: train it digitally first, see examples/digits_finetune.py)."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2 ** 31 - 1, (1,), generator=g)))
        return torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))


def train_digital(model: torch.nn.Module, train: list[Any], *, epochs: int = 30, lr: float = 3e-3,
                  seed: int = 0) -> torch.nn.Module:
    """Train ``model`` digitally (AdamW, cross-entropy) on ``(x, y)`` batches; returns it (in
    place), in eval mode. Deterministic for a seed."""
    import torch.nn.functional as F

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        opt = torch.optim.AdamW(model.parameters(), lr=lr)
        model.train()
        for _ in range(epochs):
            for i in torch.randperm(len(train)).tolist():
                x, y = train[i]
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(model(x), y).backward()
                opt.step()
    return model.eval()


def load_data(spec: str) -> tuple[Any, Any]:
    """``--data``: a built-in name (``digits``) or ``module:factory`` returning (train, val)."""
    if spec in BUILTIN:
        return digits()
    if ":" not in spec:
        raise AnalogcError(f"--data {spec!r}: expected module:factory (returning train and validation iterables) "
                           f"or one of the built-ins: {', '.join(BUILTIN)}")
    import importlib

    mod_name, _, attr = spec.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except Exception as e:  # noqa: BLE001 - any import failure is the user's module
        raise AnalogcError(f"--data {spec!r}: cannot import {mod_name} ({type(e).__name__}: {e})") from None
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise AnalogcError(f"--data {spec!r}: module {mod_name} has no callable {attr!r}")
    try:
        got = fn()
    except Exception as e:  # noqa: BLE001
        raise AnalogcError(f"--data {spec!r}: {attr}() failed ({type(e).__name__}: {e})") from None
    if not (isinstance(got, tuple) and len(got) == 2):
        raise AnalogcError(f"--data {spec!r}: expected {attr}() to return (train, validation) iterables, "
                           f"got {type(got).__name__}")
    return got
