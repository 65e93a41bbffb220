"""Zeroth-order training by simultaneous perturbation (SPSA; Spall, IEEE TAC 37:332, 1992):
every parameter perturbed at once by ``c`` times a random sign, the gradient estimated from two
loss queries, ``(L(θ + cΔ) - L(θ - cΔ)) / 2c · Δ``. Its variance grows with the parameter
count, so the queries to a given accuracy do too. Needs nothing about the hardware."""
from __future__ import annotations

import torch

from analogc.methods._zo import ZerothOrder


class SPSA(ZerothOrder):
    name = "spsa"
    title = "zeroth-order: SPSA (2 queries per step)"
    c = 0.2  # perturbation: above the chip's query-to-query noise, as for fd
    lr = 0.05

    def queries_per_step(self, n: int) -> int:
        return 2

    def estimate(self, q, batch, g: torch.Generator) -> torch.Tensor:
        delta = torch.randint(0, 2, (q.n,), generator=g).float() * 2 - 1
        lp = q.loss(q.theta + self.c * delta, batch)
        lm = q.loss(q.theta - self.c * delta, batch)
        return (lp - lm) / (2 * self.c) * delta
