"""Population-based training: a plain evolution strategy with antithetic sampling (Salimans
et al., arXiv:1703.03864, 2017): each step draws ``population`` Gaussian directions, queries
the physical loss at θ ± σ ε for each, and steps along the fitness-weighted directions
(Adam on the estimate). No CMA-ES package is installed in this environment, so the plain ES
it is. Needs nothing about the hardware."""
from __future__ import annotations

import torch

from analogc.methods._zo import ZerothOrder


class ES(ZerothOrder):
    name = "es"
    title = "evolution strategy (antithetic, population of 2 x 10)"
    sigma = 0.2  # above the chip's query-to-query noise, as for fd
    population = 10
    lr = 0.05

    def sizes(self, setup):
        return [setup.budget(16, 16)]

    def queries_per_step(self, n: int) -> int:
        return 2 * self.population

    def estimate(self, q, batch, g: torch.Generator) -> torch.Tensor:
        grad = torch.zeros_like(q.theta)
        for _ in range(self.population):
            eps = torch.randn(q.n, generator=g)
            lp = q.loss(q.theta + self.sigma * eps, batch)
            lm = q.loss(q.theta - self.sigma * eps, batch)
            grad += (lp - lm) * eps
        return grad / (2 * self.population * self.sigma)
