"""Physics-aware training (Wright et al., Nature 601:549, 2022): the forward pass runs the
physical system, the backward pass is the digital twin's at the physical activations. Reuses
:func:`analogc.finetune.methods.pat.pat_forward` (layer by layer, through the system's
``layer_outputs``)."""
from __future__ import annotations

import torch.nn.functional as F

from analogc.finetune.methods.pat import pat_forward
from analogc.methods._loop import gradient_loop
from analogc.methods.base import Outcome, Setup, Tracker, TrainingMethod, forward_macs, mlp, n_params, \
    physical_accuracy


class PAT(TrainingMethod):
    name = "pat"
    title = "physics-aware training (physical forward, twin backward)"
    knows = "twin"
    needs_programmable = True

    def run(self, setup: Setup, tr: Tracker, hidden: int) -> Outcome:
        task = setup.task
        model = mlp(task.n_in, hidden, task.n_classes, setup.seed)
        chip = setup.physical(model, tr)
        B = 64

        def step(batch):
            x, y = batch
            F.cross_entropy(pat_forward(chip, model, (x, y)), y).backward()

        gradient_loop(setup, tr, list(model.parameters()), steps=setup.budget(200, 800), lr=3e-3, batch_size=B,
                      step_fn=step, evaluate=lambda: physical_accuracy(chip, model, task),
                      macs_per_step=3 * forward_macs(model) * B)
        p = n_params(model.parameters())
        return Outcome(tr.curve[-1]["accuracy"], p, p)
