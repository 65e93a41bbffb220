"""Hardware-aware (noise-injected) training: the digital weights are trained through the
simulated deployed model with the hardware's modelled non-idealities (programming noise drawn
fresh, read noise, DAC/ADC quantization with straight-through gradients, learned input
ranges), then deployed on the physical system, whose hidden mismatches the noise model does
not contain. Reuses :class:`analogc.finetune.methods.hwa.HWA` (setup, loss, export)."""
from __future__ import annotations

import warnings

from analogc.finetune.base import TrainContext
from analogc.finetune.methods.hwa import HWA as _HWA
from analogc.methods._loop import gradient_loop
from analogc.methods.base import Outcome, Setup, Tracker, TrainingMethod, forward_macs, mlp, n_params, \
    physical_accuracy


class HWA(TrainingMethod):
    name = "hwa"
    title = "hardware-aware noise-injected training (then deployed)"
    knows = "twin + noise model"

    def run(self, setup: Setup, tr: Tracker, hidden: int) -> Outcome:
        task = setup.task
        model = mlp(task.n_in, hidden, task.n_classes, setup.seed)
        chip = setup.physical(model, tr)
        B = 64
        method = _HWA()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            method.setup(TrainContext(model=model, plan=setup.pricing(model).plan, seed=setup.seed,
                                      example_batch=(task.x_train[:256], task.y_train[:256])))
        method.module().train()

        def step(batch):
            method.loss(batch).backward()

        def evaluate():
            return physical_accuracy(chip, method.export(), task)

        gradient_loop(setup, tr, method.trainable(), steps=setup.budget(200, 800), lr=3e-3, batch_size=B,
                      step_fn=step, evaluate=evaluate, macs_per_step=3 * forward_macs(model) * B)
        p = n_params(model.parameters())
        return Outcome(tr.curve[-1]["accuracy"], n_params(method.trainable()), p)
