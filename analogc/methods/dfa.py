"""Direct feedback alignment (Nøkland, NeurIPS 2016): the output error is sent to the hidden
layer through a fixed random matrix instead of the transposed forward weights, so no gradient
crosses the physical layers and no twin is needed; the forward (both layers' outputs) is
physical. What it needs to know: the derivative of the hidden activation (ReLU's step)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from analogc.methods._loop import gradient_loop
from analogc.methods.base import Outcome, Setup, Tracker, TrainingMethod, forward_macs, mlp, n_params, \
    physical_accuracy


def dfa_grads(model, x: torch.Tensor, y: torch.Tensor, out: torch.Tensor, a1: torch.Tensor,
              feedback: torch.Tensor) -> None:
    """Set ``.grad`` of the 2-layer MLP's parameters by DFA from the physical output ``out``
    and hidden pre-activation ``a1``: e = (softmax(out) - onehot(y)) / B, dW2 = e^T relu(a1),
    delta1 = (e @ feedback) * relu'(a1), dW1 = delta1^T x (Nøkland 2016, eq. 3)."""
    e = (torch.softmax(out, -1) - F.one_hot(y, out.shape[-1]).float()) / len(y)
    h = torch.relu(a1)
    d1 = (e @ feedback) * (a1 > 0).float()
    model[2].weight.grad = e.T @ h
    model[2].bias.grad = e.sum(0)
    model[0].weight.grad = d1.T @ x
    model[0].bias.grad = d1.sum(0)


class DFA(TrainingMethod):
    name = "dfa"
    title = "direct feedback alignment (fixed random feedback)"
    knows = "activation derivative"
    needs_programmable = True

    def run(self, setup: Setup, tr: Tracker, hidden: int) -> Outcome:
        task = setup.task
        model = mlp(task.n_in, hidden, task.n_classes, setup.seed)
        chip = setup.physical(model, tr)
        g = torch.Generator().manual_seed(setup.seed + 1)
        feedback = torch.randn(task.n_classes, hidden, generator=g) / hidden ** 0.5
        tr.keep(feedback)
        B = 64

        def step(batch):
            x, y = batch
            out, acts = chip.layer_outputs(model, (x, y))
            dfa_grads(model, x, y, out, acts[next(iter(acts))], feedback)

        gradient_loop(setup, tr, list(model.parameters()), steps=setup.budget(200, 800), lr=3e-3, batch_size=B,
                      step_fn=step, evaluate=lambda: physical_accuracy(chip, model, task),
                      macs_per_step=(forward_macs(model) + task.n_classes * hidden) * B)
        p = n_params(model.parameters())
        return Outcome(tr.curve[-1]["accuracy"], p, p)
