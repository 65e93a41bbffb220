"""Equilibrium propagation (Scellier & Bengio, Front. Comput. Neurosci. 11:24, 2017) on an
energy-based physical system: a layered Hopfield-like network x -> h -> y with symmetric
couplings (the same conductances read in both directions, as in a resistive network), whose
states relax to a minimum of its energy. Training uses two relaxations per minibatch: a free
one, and one nudged towards the target (strength β); each coupling is updated from the local
states of its two ends, ΔW ∝ (ρ(s_i^β) ρ(s_j^β) - ρ(s_i^0) ρ(s_j^0)) / β. No gradient is
computed anywhere and nothing about the system needs to be known.

The physical system here (:class:`HopfieldSystem`) is simulated in torch, with the same kind
of hidden mismatch as the deployed chips: every coupling's conductance carries a fixed gain
error 1 + gain_sigma N(0, 1), and every unit a fixed offset offset_sigma N(0, 1) (states are
in [0, 1]), at :data:`analogc.finetune.physical.DEFAULT_MISMATCH`'s strengths. Relaxation:
the discrete-time fixed-point iteration s <- ρ(dΦ/ds) of Ernoult et al. (NeurIPS 2019),
ρ = clip to [0, 1], 20 free and 4 nudged iterations. One relaxation of a minibatch counts as
one physical pass; it is priced as 2 x the MLP plan's energy per inference per iteration and
sample (every crossbar read in both directions: a modelling choice).
"""
from __future__ import annotations

import torch

from analogc.finetune.physical import DEFAULT_MISMATCH
from analogc.methods.base import ADAM_MACS_PER_PARAM, Outcome, Setup, Tracker, TrainingMethod, accuracy, mlp

FREE, NUDGED, BETA = 20, 4, 0.5


def rho(s: torch.Tensor) -> torch.Tensor:
    return s.clamp(0.0, 1.0)


class HopfieldSystem:
    """The physical energy-based network: ``relax(params, x, target, beta, h, y)`` returns the
    states it settles in (see the module doc)."""

    def __init__(self, n_in: int, hidden: int, n_out: int, seed: int) -> None:
        g = torch.Generator().manual_seed(20_000 + seed)
        gs, os_ = DEFAULT_MISMATCH["gain_sigma"], DEFAULT_MISMATCH["offset_sigma"]
        self.g1 = 1 + gs * torch.randn(hidden, n_in, generator=g)
        self.g2 = 1 + gs * torch.randn(n_out, hidden, generator=g)
        self.oh = os_ * torch.randn(hidden, generator=g)
        self.oy = os_ * torch.randn(n_out, generator=g)

    @torch.no_grad()
    def relax(self, p: dict[str, torch.Tensor], x: torch.Tensor, steps: int, h: torch.Tensor, y: torch.Tensor,
              target: torch.Tensor | None = None, beta: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        w1, w2 = p["w1"] * self.g1, p["w2"] * self.g2
        for _ in range(steps):
            h = rho(x @ w1.T + rho(y) @ w2 + p["b1"] + self.oh)
            dy = rho(h) @ w2.T + p["b2"] + self.oy
            if target is not None:
                dy = dy + beta * (target - y)
            y = rho(dy)
        return h, y


class EP(TrainingMethod):
    name = "ep"
    title = "equilibrium propagation on a Hopfield-like network"
    knows = "nothing"
    needs_programmable = True

    def run(self, setup: Setup, tr: Tracker, hidden: int) -> Outcome:
        task = setup.task
        H, C = 2 * hidden, task.n_classes
        ref = mlp(task.n_in, H, C, setup.seed)
        pr = setup.pricing(ref)
        p = {"w1": ref[0].weight.detach().clone(), "b1": ref[0].bias.detach().clone(),
             "w2": ref[2].weight.detach().clone(), "b2": ref[2].bias.detach().clone()}
        params = [t.requires_grad_(False) for t in p.values()]
        phys = HopfieldSystem(task.n_in, H, C, setup.seed)
        opt = torch.optim.Adam([t.requires_grad_(True) for t in params], lr=3e-3)
        n = sum(t.numel() for t in params)
        tr.keep(4 * n * 4)

        def relax(x, steps, h, y, target=None, beta=0.0, count=True):
            if count and tr.counting:
                tr.passes += 1
                tr.samples += len(x)
                tr.phys_j += len(x) * steps * 2 * pr.sample_j
            return phys.relax({k: v.detach() for k, v in p.items()}, x, steps, h, y, target, beta)

        def evaluate() -> float:
            x = task.x_val
            _, y = relax(x, FREE, torch.zeros(len(x), H), torch.zeros(len(x), C))
            return accuracy(y, task.y_val)

        steps = setup.budget(150, 800)
        every = max(1, steps // 10)
        for i, (x, lab) in enumerate(setup.batches(64, steps), 1):
            t = torch.nn.functional.one_hot(lab, C).float()
            h0, y0 = relax(x, FREE, torch.zeros(len(x), H), torch.zeros(len(x), C))
            hb, yb = relax(x, NUDGED, h0, y0, t, BETA)
            B = len(x)
            r0, rb = rho(h0), rho(hb)
            # -ΔW / B as the gradient (Scellier & Bengio 2017, eq. 10)
            p["w1"].grad = -((rb - r0).T @ x) / (BETA * B)
            p["b1"].grad = -(rb - r0).sum(0) / (BETA * B)
            p["w2"].grad = -(rho(yb).T @ rb - rho(y0).T @ r0) / (BETA * B)
            p["b2"].grad = -(rho(yb) - rho(y0)).sum(0) / (BETA * B)
            opt.step()
            tr.programs += 1
            tr.program_j += pr.program_j
            tr.digital(ADAM_MACS_PER_PARAM * n + 2 * B * (H * task.n_in + C * H))
            tr.step()
            if i % every == 0 or i == steps:
                tr.checkpoint(evaluate)
        return Outcome(tr.curve[-1]["accuracy"], n, n, note="energy-based system simulated in torch (see ep.py)")
