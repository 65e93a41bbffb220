"""In-silico backpropagation: train the digital twin (the digital model) only, then deploy it
on the physical system. Needs a twin; makes no physical forward pass while training, and is
blind to what the twin does not model (the mismatched chip's crosstalk, gains, offsets and
compressive ADC)."""
from __future__ import annotations

import torch.nn.functional as F

from analogc.methods._loop import gradient_loop
from analogc.methods.base import Outcome, Setup, Tracker, TrainingMethod, forward_macs, mlp, n_params, \
    physical_accuracy


class InSilico(TrainingMethod):
    name = "insilico"
    title = "in-silico backprop (twin only, then deployed)"
    knows = "twin"

    def run(self, setup: Setup, tr: Tracker, hidden: int) -> Outcome:
        task = setup.task
        model = mlp(task.n_in, hidden, task.n_classes, setup.seed)
        chip = setup.physical(model, tr)
        B = 64

        def step(batch):
            x, y = batch
            F.cross_entropy(model(x), y).backward()

        gradient_loop(setup, tr, list(model.parameters()), steps=setup.budget(200, 800), lr=3e-3, batch_size=B,
                      step_fn=step, evaluate=lambda: physical_accuracy(chip, model, task),
                      macs_per_step=3 * forward_macs(model) * B)
        acc = tr.curve[-1]["accuracy"]
        p = n_params(model.parameters())
        return Outcome(acc, p, p)
