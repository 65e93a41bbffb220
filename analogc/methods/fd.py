"""Zeroth-order training by finite differences: the gradient of the physical loss, one
parameter at a time (forward differences, ``n + 1`` loss queries per step for ``n``
parameters, step ``eps``). Needs nothing about the hardware."""
from __future__ import annotations

import torch

from analogc.methods._zo import ZerothOrder


class FiniteDifferences(ZerothOrder):
    name = "fd"
    title = "zeroth-order: finite differences (n + 1 queries per step)"
    #: step of the differences: above the chip's query-to-query noise (programming and read noise
    #: move the loss by ~0.005 on pcm-hermes; a 0.05 step on one weight moves it by about as much)
    eps = 0.2
    lr = 0.2

    def queries_per_step(self, n: int) -> int:
        return n + 1

    def estimate(self, q, batch, g: torch.Generator) -> torch.Tensor:
        theta = q.theta
        l0 = q.loss(theta, batch)
        grad = torch.empty_like(theta)
        for i in range(q.n):
            t = theta.clone()
            t[i] += self.eps
            grad[i] = (q.loss(t, batch) - l0) / self.eps
        return grad
