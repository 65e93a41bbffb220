"""Forward-forward (Hinton, arXiv:2212.13345, 2022), layer-local on physical layers: the label
is embedded in the input (one-hot appended to the pixels); each layer is trained to give a high
"goodness" (mean squared ReLU activity) to the input with its correct label and a low one to
the input with a wrong label, from its own physical input and output (the symmetric loss
softplus(α (g_neg - g_pos)) of Lee & Song, "SymBa", arXiv:2303.08418, α = 4). Inference runs
the chain once per candidate label and picks the label with the highest summed goodness.
Needs the derivative of the layer's activation (ReLU), nothing across layers."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from analogc.methods._local import LayerChain
from analogc.methods.base import Outcome, Setup, Tracker, TrainingMethod

ALPHA = 4.0


def embed(x: torch.Tensor, labels: torch.Tensor, n: int) -> torch.Tensor:
    return torch.cat([x, F.one_hot(labels, n).float()], 1)


def goodness(a: torch.Tensor) -> torch.Tensor:
    return torch.relu(a).pow(2).mean(-1)


class ForwardForward(TrainingMethod):
    name = "ff"
    title = "forward-forward (layer-local, label in the input)"
    knows = "activation derivative"
    needs_programmable = True

    def run(self, setup: Setup, tr: Tracker, hidden: int) -> Outcome:
        task = setup.task
        C = task.n_classes
        H = 2 * hidden
        chain = LayerChain(setup, tr, [task.n_in + C, H, H], embed(task.x_train[:256], task.y_train[:256], C),
                           lr=3e-3)
        g = torch.Generator().manual_seed(setup.seed + 11)
        steps = setup.budget(60, 400)
        every = max(1, steps // 10)

        def evaluate() -> float:
            x = task.x_val
            scores = torch.stack([sum(goodness(a) for a in chain.forward_all(
                embed(x, torch.full((len(x),), c), C))) for c in range(C)], 1)
            return float((scores.argmax(1) == task.y_val).float().mean())

        for i, (x, y) in enumerate(setup.batches(128, steps), 1):
            wrong = (y + torch.randint(1, C, y.shape, generator=g)) % C
            inp = torch.cat([embed(x, y, C), embed(x, wrong, C)])
            B = len(x)
            for k in range(len(chain.layers)):
                a = chain.run(inp, k)
                inp = chain.local_step(k, inp, a, lambda a: F.softplus(ALPHA * (goodness(a[B:]) - goodness(a[:B])))
                                       .mean())
            tr.step()
            if i % every == 0 or i == steps:
                tr.checkpoint(evaluate)
        return Outcome(tr.curve[-1]["accuracy"], chain.n_params, chain.n_params,
                       note=f"{C} chain passes per inference")
