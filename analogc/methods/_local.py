"""What the layer-local methods (forward-forward, PhyLL-style) share: a chain of physical
layers, each its own chip (one linear layer on the hardware's plan, with its own hidden
mismatches), joined by a digital ReLU and length normalization; each layer is trained from its
own physical input and output only (no gradient crosses a layer)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from analogc.methods.base import ADAM_MACS_PER_PARAM, Counted, Setup, Tracker, n_params


def normalize(h: torch.Tensor) -> torch.Tensor:
    """Length normalization between layers (Hinton 2022: the next layer cannot read the
    previous layer's goodness from the vector's length)."""
    return h / (h.norm(dim=-1, keepdim=True) + 1e-6)


class LayerChain:
    """``sizes[0] -> sizes[1] -> ...`` as single-layer chips; ``calib`` the first layer's typical
    input (the deeper layers are calibrated on the initial chain's outputs)."""

    def __init__(self, setup: Setup, tr: Tracker, sizes: list[int], calib: torch.Tensor, lr: float) -> None:
        g = torch.Generator().manual_seed(setup.seed + 5)
        self.layers: list[nn.Sequential] = []
        self.chips: list[Counted] = []
        x = calib
        for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            lin = nn.Linear(a, b)
            with torch.no_grad():
                bound = 1 / a ** 0.5
                lin.weight.copy_((torch.rand(b, a, generator=g) * 2 - 1) * bound)
                lin.bias.copy_((torch.rand(b, generator=g) * 2 - 1) * bound)
            m = nn.Sequential(lin)
            self.layers.append(m)
            self.chips.append(setup.physical(m, tr, chip=k + 1, calibration=[x]))
            with torch.no_grad():
                x = normalize(torch.relu(m(x)))
        self.opts = [torch.optim.Adam(m.parameters(), lr=lr) for m in self.layers]
        self.tr = tr
        self.n_params = n_params(p for m in self.layers for p in m.parameters())
        tr.keep(4 * self.n_params * 4)

    def run(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """The physical pre-activation of layer k for input x."""
        return self.chips[k].forward(self.layers[k], (x,))

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's physical pre-activation along the chain."""
        out = []
        for k in range(len(self.layers)):
            a = self.run(x, k)
            out.append(a)
            x = normalize(torch.relu(a))
        return out

    def local_step(self, k: int, x: torch.Tensor, a: torch.Tensor, loss_of: Callable[[torch.Tensor], torch.Tensor]
                   ) -> torch.Tensor:
        """One update of layer k from its physical input ``x`` and pre-activation ``a``:
        dL/da by autograd of the layer's own loss, then dW = (dL/da)^T x, db = sum dL/da (the
        layer is linear in its weights: what this method must know of it). Returns the next
        layer's input."""
        a = a.detach().requires_grad_(True)
        loss = loss_of(a)
        (da,) = torch.autograd.grad(loss, a)
        lin = self.layers[k][0]
        self.opts[k].zero_grad(set_to_none=True)
        lin.weight.grad = da.T @ x
        lin.bias.grad = da.sum(0)
        self.opts[k].step()
        p = lin.weight.numel() + lin.bias.numel()
        self.tr.digital(len(x) * lin.weight.numel() + ADAM_MACS_PER_PARAM * p + 4 * a.numel())
        return normalize(torch.relu(a.detach()))
