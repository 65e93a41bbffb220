"""Extreme learning machine / reservoir computing: the physical layer is fixed (random
weights, programmed once); only a linear readout is trained, by one least-squares solve
(``torch.linalg.lstsq``) on the physical layer's outputs. Needs nothing about the hardware.

* ``static`` tasks (digits): the MLP's first layer on the physical chip gives the features
  (its physical outputs through the ReLU, one pass over the training set); the readout is
  digital, as in the physical ELMs and reservoirs the review describes (a readout programmed
  into the chip's second layer would carry that layer's hidden offsets, which a single solve
  cannot see). The pass is priced as the whole MLP's plan (an upper bound: the readout's
  share of it is not used).
* ``sequence`` tasks (recall): an echo-state reservoir ``s_t = tanh(W [u_t, s_(t-1)])`` whose
  matrix-vector product runs on the physical chip (a single layer ``1 + N -> N``, recurrent
  part scaled to spectral radius 0.9, input weights uniform in [-1, 1]; Jaeger 2001's recipe),
  one physical pass per time step for the whole batch of sequences; the readout (states ->
  classes) is digital.
"""
from __future__ import annotations

import torch
from torch import nn

from analogc.methods.base import Outcome, Setup, Tracker, TrainingMethod, accuracy, mlp, n_params

#: the reservoir's state size and spectral radius (Jaeger, GMD report 148, 2001: radius < 1)
RESERVOIR = 64
RADIUS = 0.9


def solve_readout(feats: torch.Tensor, labels: torch.Tensor, n_classes: int, tr: Tracker) -> tuple[torch.Tensor,
                                                                                                   torch.Tensor]:
    """Least-squares readout ``[feats, 1] @ [W^T; b] ~ onehot(labels)``: (W, b). One solve,
    counted as digital work (n d^2 + d^3 MACs for the normal equations' worth of arithmetic)."""
    keep = labels != -100
    f, y = feats[keep], labels[keep]
    a = torch.cat([f, torch.ones(len(f), 1)], 1).double()
    t = torch.nn.functional.one_hot(y, n_classes).double()
    sol = torch.linalg.lstsq(a, t, driver="gelsd").solution
    n, d = a.shape
    tr.digital(n * d * d + d ** 3)
    tr.keep(a.numel() * 4, t.numel() * 4, sol.numel() * 4)
    tr.solves += 1
    return sol[:-1].T.float().contiguous(), sol[-1].float().contiguous()


def reservoir(n_in: int, seed: int) -> nn.Sequential:
    g = torch.Generator().manual_seed(10_000 + seed)
    lin = nn.Linear(n_in + RESERVOIR, RESERVOIR)
    with torch.no_grad():
        w_in = torch.rand(RESERVOIR, n_in, generator=g) * 2 - 1
        w = torch.randn(RESERVOIR, RESERVOIR, generator=g)
        w *= RADIUS / torch.linalg.eigvals(w).abs().max()
        lin.weight.copy_(torch.cat([w_in, w], 1))
        lin.bias.copy_(0.1 * (torch.rand(RESERVOIR, generator=g) * 2 - 1))
    return nn.Sequential(lin)


def run_reservoir(chip, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """States [N, T, RESERVOIR] of the physical reservoir driven by x [N, T, F]."""
    s = torch.zeros(x.shape[0], RESERVOIR)
    out = []
    for t in range(x.shape[1]):
        s = torch.tanh(chip.forward(model, (torch.cat([x[:, t], s], 1),)))
        out.append(s)
    return torch.stack(out, 1)


class ELM(TrainingMethod):
    name = "elm"
    title = "extreme learning machine / reservoir (fixed physical layer, one least-squares readout)"
    knows = "nothing"
    kinds = ("static", "sequence")

    def run(self, setup: Setup, tr: Tracker, hidden: int) -> Outcome:
        task = setup.task
        if task.kind == "sequence":
            return self._reservoir(setup, tr)
        model = mlp(task.n_in, hidden, task.n_classes, setup.seed)
        chip = setup.physical(model, tr)

        def features(x: torch.Tensor) -> torch.Tensor:
            _, acts = chip.layer_outputs(model, (x,))
            return torch.relu(next(iter(acts.values())))

        with torch.no_grad():
            w, b = solve_readout(features(task.x_train), task.y_train, task.n_classes, tr)
        tr.step()
        tr.checkpoint(lambda: accuracy(features(task.x_val) @ w.T + b, task.y_val))
        return Outcome(tr.curve[-1]["accuracy"], w.numel() + b.numel(), n_params(model[0].parameters()) + w.numel()
                       + b.numel(), note="readout digital")

    def _reservoir(self, setup: Setup, tr: Tracker) -> Outcome:
        task = setup.task
        model = reservoir(task.n_in, setup.seed)
        g = torch.Generator().manual_seed(setup.seed)
        calib = torch.cat([task.x_train[:, 0][:256], torch.tanh(torch.randn(min(256, len(task.x_train)), RESERVOIR,
                                                                           generator=g))], 1)
        chip = setup.physical(model, tr, calibration=[calib])
        with torch.no_grad():
            states = run_reservoir(chip, model, task.x_train)
            w, b = solve_readout(states.reshape(-1, RESERVOIR), task.y_train.reshape(-1), task.n_classes, tr)
        tr.step()

        def evaluate() -> float:
            sv = run_reservoir(chip, model, task.x_val)
            return accuracy(sv @ w.T + b, task.y_val)

        tr.checkpoint(evaluate)
        return Outcome(tr.curve[-1]["accuracy"], w.numel() + b.numel(), n_params(model.parameters()) + w.numel()
                       + b.numel(), note=f"reservoir of {RESERVOIR} states, readout digital")
