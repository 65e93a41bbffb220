"""PhyLL-style physical local learning (after Momeni et al., "Backpropagation-free training of
deep physical neural networks", Science 382:1297, 2023): layer-local and contrastive, with a
cosine-similarity objective and no label in the input. Our variant (a modelling choice, not the
paper's exact recipe): in a minibatch, the passes of two samples of the same class are a
positive pair and of different classes a negative pair; each layer is trained, from its own
physical input and output, to make the cosine similarity of its (ReLU) outputs high for
positive pairs and low for negative ones (a supervised contrastive loss at temperature 0.1;
Khosla et al., NeurIPS 2020). Inference: nearest class centroid (cosine) of the last layer's
outputs, the centroids averaged over the training passes. Needs the layer's activation
derivative, nothing across layers."""
from __future__ import annotations

import torch

from analogc.methods._local import LayerChain, normalize
from analogc.methods.base import Outcome, Setup, Tracker, TrainingMethod

TEMPERATURE = 0.1


def contrastive(a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    z = normalize(torch.relu(a))
    s = z @ z.T / TEMPERATURE
    eye = torch.eye(len(y), dtype=torch.bool)
    s = s.masked_fill(eye, -1e9)
    logp = s - torch.logsumexp(s, 1, keepdim=True)
    pos = (y[:, None] == y[None, :]) & ~eye
    return -(logp * pos).sum(1).div(pos.sum(1).clamp(min=1)).mean()


class PhyLL(TrainingMethod):
    name = "phyll"
    title = "PhyLL-style contrastive local learning (cosine similarity of positive/negative passes)"
    knows = "activation derivative"
    needs_programmable = True

    def run(self, setup: Setup, tr: Tracker, hidden: int) -> Outcome:
        task = setup.task
        C = task.n_classes
        H = 2 * hidden
        chain = LayerChain(setup, tr, [task.n_in, H, H], task.x_train[:256], lr=3e-3)
        steps = setup.budget(60, 400)
        every = max(1, steps // 10)
        sums = torch.zeros(C, H)
        tr.keep(sums)

        def evaluate() -> float:
            cent = normalize(sums)
            z = normalize(torch.relu(chain.forward_all(task.x_val)[-1]))
            return float(((z @ cent.T).argmax(1) == task.y_val).float().mean())

        for i, (x, y) in enumerate(setup.batches(128, steps), 1):
            inp = x
            for k in range(len(chain.layers)):
                a = chain.run(inp, k)
                inp = chain.local_step(k, inp, a, lambda a: contrastive(a, y))
            sums.mul_(0.9).index_add_(0, y, inp)  # running class centroids of the last layer's outputs
            tr.step()
            if i % every == 0 or i == steps:
                tr.checkpoint(evaluate)
        return Outcome(tr.curve[-1]["accuracy"], chain.n_params, chain.n_params,
                       note="nearest-centroid readout (digital)")
