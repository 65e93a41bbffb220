"""The one (groups, K, N) view of a weight-bearing module, as the IR and the tiles see it.

An ``mvm`` op multiplies ``vectors`` input vectors of length K by a static weight K x N, per
group. This module says which torch modules are such ops and how their ``weight`` parameter
maps onto that view, for the simulator (programming, straight-through gradients) and for
deploy (matching modules to the plan's ops, building a plan from module shapes alone).

Example::

    >>> import torch
    >>> from analogc.weights import canonical_weight, weight_kind, weight_shape
    >>> conv = torch.nn.Conv2d(8, 16, 3, groups=2)
    >>> weight_kind(conv), weight_shape(conv)
    ('conv', (2, 36, 8))
    >>> tuple(canonical_weight(conv).shape)
    (2, 36, 8)
"""
from __future__ import annotations

import math

import torch
from torch import nn


def is_hf_conv1d(m: nn.Module) -> bool:
    """Hugging Face's GPT-2 ``Conv1D``: a linear layer whose weight is stored K x N."""
    return type(m).__name__ == "Conv1D" and hasattr(m, "nf") and hasattr(m, "weight")


def weight_kind(m: nn.Module) -> str | None:
    """``"linear"``, ``"conv1d_hf"``, ``"conv"`` (Conv1d/Conv2d) or None for other modules."""
    if isinstance(m, nn.Linear):
        return "linear"
    if is_hf_conv1d(m):
        return "conv1d_hf"
    if isinstance(m, (nn.Conv1d, nn.Conv2d)) and not isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d)):
        return "conv"
    return None


def weight_shape(m: nn.Module, kind: str | None = None) -> tuple[int, int, int]:
    """(groups, K, N): K inputs per output (a conv's im2col length), N outputs per group."""
    kind = kind or weight_kind(m)
    w = m.weight
    if kind == "linear":
        return 1, w.shape[1], w.shape[0]
    if kind == "conv1d_hf":
        return 1, w.shape[0], w.shape[1]
    if kind == "conv":
        g = m.groups
        return g, math.prod(w.shape[1:]), w.shape[0] // g
    raise ValueError(f"{type(m).__name__}: not a weight layer analogc maps onto tiles")


def canonical_weight(m: nn.Module, kind: str | None = None, weight: torch.Tensor | None = None) -> torch.Tensor:
    """The weight as [G, K, N] (a view where the layout allows it)."""
    kind = kind or weight_kind(m)
    w = m.weight if weight is None else weight
    if kind == "linear":
        return w.t().unsqueeze(0)
    if kind == "conv1d_hf":
        return w.unsqueeze(0)
    g = m.groups
    cout = w.shape[0]
    return w.reshape(g, cout // g, -1).transpose(1, 2)


def weight_layers(model: nn.Module) -> dict[str, tuple[nn.Module, str]]:
    """Every weight layer of ``model`` that maps onto tiles: path -> (module, kind)."""
    out = {}
    for path, m in model.named_modules():
        k = weight_kind(m)
        if k is not None:
            out[path] = (m, k)
    return out
