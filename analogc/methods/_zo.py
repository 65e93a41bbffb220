"""What the zeroth-order and population methods share: they train the readout (the MLP's
second layer) of a chip whose first layer stays at its random initialization, from loss
queries to the physical chip alone (each query: the parameters programmed, one physical
forward of a minibatch, its cross-entropy). Training only the readout keeps the parameter
count small enough for a finite-difference gradient within the table's time; the two model
sizes (:meth:`ZerothOrder.sizes`) show how the queries grow with it."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from analogc.methods.base import ADAM_MACS_PER_PARAM, Outcome, Setup, Tracker, TrainingMethod, mlp, n_params, \
    physical_accuracy


class ReadoutQueries:
    """Loss queries of the chip as a function of the flat readout parameters."""

    def __init__(self, setup: Setup, tr: Tracker, hidden: int, gain: float = 1.0) -> None:
        task = setup.task
        self.task = task
        self.model = mlp(task.n_in, hidden, task.n_classes, setup.seed)
        with torch.no_grad():
            for p in self.model.parameters():
                p.mul_(gain)
        self.chip = setup.physical(self.model, tr)
        self.params = list(self.model[2].parameters())
        self.theta = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.tr = tr

    @property
    def n(self) -> int:
        return self.theta.numel()

    def set(self, theta: torch.Tensor) -> None:
        with torch.no_grad():
            i = 0
            for p in self.params:
                p.copy_(theta[i:i + p.numel()].view_as(p))
                i += p.numel()

    @torch.no_grad()
    def loss(self, theta: torch.Tensor, batch: Any) -> float:
        self.set(theta)
        x, y = batch
        return float(F.cross_entropy(self.chip.forward(self.model, (x, y)), y))

    def accuracy(self) -> float:
        self.set(self.theta)
        return physical_accuracy(self.chip, self.model, self.task)


class ZerothOrder(TrainingMethod):
    """A readout trainer from queries: subclasses implement ``estimate(q, batch) -> gradient``
    and set ``queries_per_step(n)``; Adam takes the step."""

    knows = "nothing"
    needs_programmable = True
    lr = 0.05
    batch_size = 256
    #: scale of the random initial weights (1: PyTorch's default initialization)
    gain = 1.0

    def sizes(self, setup: Setup) -> list[int]:
        return list(setup.budget((8, 16), (16, 32)))

    def query_budget(self, setup: Setup) -> int:
        return setup.budget(150, 3000)

    def queries_per_step(self, n: int) -> int:
        raise NotImplementedError

    def estimate(self, q: ReadoutQueries, batch: Any, g: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def run(self, setup: Setup, tr: Tracker, hidden: int) -> Outcome:
        q = ReadoutQueries(setup, tr, hidden, self.gain)
        theta = q.theta.clone().requires_grad_(True)
        opt = torch.optim.Adam([theta], lr=self.lr)
        tr.keep(4 * theta.numel() * 4)  # parameters, gradient estimate, two Adam moments
        steps = max(1, self.query_budget(setup) // self.queries_per_step(q.n))
        every = max(1, steps // 30)  # finer than the others: the queries to a level are compared
        g = torch.Generator().manual_seed(setup.seed + 3)
        for i, batch in enumerate(setup.batches(self.batch_size, steps), 1):
            grad = self.estimate(q, batch, g)
            theta.grad = grad
            opt.step()
            q.theta = theta.detach().clone()
            tr.step()
            tr.digital(ADAM_MACS_PER_PARAM * q.n + 2 * q.n * self.queries_per_step(q.n))
            if i % every == 0 or i == steps:
                tr.checkpoint(q.accuracy)
        return Outcome(tr.curve[-1]["accuracy"], q.n, n_params(q.model.parameters()),
                       extra={"queries_per_step": self.queries_per_step(q.n), "hidden": hidden})
