"""The minibatch loop the gradient-based methods share (in silico, PAT, HWA, DFA)."""
from __future__ import annotations

from typing import Any, Callable

import torch

from analogc.methods.base import ADAM_MACS_PER_PARAM, Setup, Tracker, n_params


def gradient_loop(setup: Setup, tr: Tracker, params: list[torch.nn.Parameter], *, steps: int, lr: float,
                  batch_size: int, step_fn: Callable[[Any], None], evaluate: Callable[[], float],
                  macs_per_step: float, checkpoints: int = 10) -> None:
    """Adam on ``params`` for ``steps`` minibatches; ``step_fn(batch)`` fills the gradients
    (a backward, or a method's own rule); ``evaluate()`` is the physical accuracy, measured at
    ``checkpoints`` points. Declares the state (parameters, gradients, two Adam moments) and
    counts ``macs_per_step`` + the update arithmetic as digital work."""
    opt = torch.optim.Adam(params, lr=lr)
    p = n_params(params)
    tr.keep(4 * p * 4)  # float32 parameters, gradients, first and second moments
    every = max(1, steps // checkpoints)
    for i, batch in enumerate(setup.batches(batch_size, steps), 1):
        opt.zero_grad(set_to_none=True)
        step_fn(batch)
        opt.step()
        tr.step()
        tr.digital(macs_per_step + ADAM_MACS_PER_PARAM * p)
        if i % every == 0 or i == steps:
            tr.checkpoint(evaluate)
