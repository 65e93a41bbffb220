"""The tasks of ``analogc methods`` (offline: nothing is downloaded).

* ``digits``: scikit-learn's handwritten digits (real data: 1797 scanned 8x8 images, 10
  classes, shipped inside scikit-learn), through :func:`analogc.finetune.data.digits_tensors`
  (pixels / 16, a stratified 80/20 split). Chance: 10%.
* ``recall``: a temporal task for the reservoir, built here (synthetic, deterministic per
  seed): sequences of ``length`` symbols drawn uniformly from 4 levels ``{-1, -1/3, 1/3, 1}``;
  the label at every step t >= ``delay`` is the symbol seen ``delay`` steps earlier (a
  delayed-recall memory task, the standard probe of a reservoir's fading memory; Jaeger,
  "Short term memory in echo state networks", GMD report 152, 2002). Chance: 25%.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from analogc.errors import AnalogcError


@dataclass
class Task:
    """A classification task: ``kind`` is ``"static"`` (x [N, F]) or ``"sequence"`` (x [N, T, F],
    y [N, T] with -100 where no label is defined)."""

    name: str
    kind: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    n_classes: int
    description: str

    @property
    def n_in(self) -> int:
        return int(self.x_train.shape[-1])

    @property
    def chance(self) -> float:
        return 1.0 / self.n_classes


def digits(seed: int = 0) -> Task:
    from analogc.finetune.data import digits_tensors

    xt, yt, xv, yv = digits_tensors(seed=seed)
    return Task("digits", "static", xt, yt, xv, yv, 10, "scikit-learn digits (1797 real 8x8 images, 10 classes)")


def recall(seed: int = 0, *, n_train: int = 200, n_val: int = 100, length: int = 40, delay: int = 2,
           levels: int = 4) -> Task:
    g = torch.Generator().manual_seed(1_000 + seed)
    n = n_train + n_val
    sym = torch.randint(0, levels, (n, length), generator=g)
    x = (2.0 * sym.float() / (levels - 1) - 1.0).unsqueeze(-1)
    y = torch.full((n, length), -100, dtype=torch.int64)
    y[:, delay:] = sym[:, :-delay]
    return Task("recall", "sequence", x[:n_train], y[:n_train], x[n_train:], y[n_train:], levels,
                f"delayed recall: the symbol {delay} steps back, {levels} levels, sequences of {length} (synthetic)")


#: task name -> factory(seed)
TASKS = {"digits": digits, "recall": recall}


def load_task(name: object, seed: int = 0) -> Task:
    if not isinstance(name, str) or name not in TASKS:
        raise AnalogcError(f"methods: task: expected one of {', '.join(TASKS)}, got {name!r}")
    return TASKS[name](seed)
