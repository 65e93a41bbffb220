"""How the fine-tuning methods of this package read a batch.

A batch is a tensor (inputs only), a tuple/list whose last element is the labels when it has
two or more elements (``(x, y)``; ``(x1, x2, y)`` runs ``model(x1, x2)``), or a Hugging Face
dict of keyword tensors whose ``"labels"`` entry, if any, is the labels.
"""
from __future__ import annotations

from typing import Any

import torch

from analogc.errors import AnalogcError


def split_batch(batch: Any) -> tuple[Any, Any]:
    """``(inputs, labels)`` of a batch; ``inputs`` is what :func:`run_inputs` passes to the
    model (a tensor, a tuple of positional tensors or a dict of keyword tensors); ``labels``
    is None when the batch has none."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, (tuple, list)):
        if not batch:
            raise AnalogcError("batch: expected a tensor, a tuple (inputs..., labels) or a dict, got an empty tuple")
        if len(batch) == 1:
            return tuple(batch), None
        return tuple(batch[:-1]), batch[-1]
    if isinstance(batch, dict):
        return {k: v for k, v in batch.items() if k != "labels"}, batch.get("labels")
    raise AnalogcError(f"batch: expected a tensor, a tuple (inputs..., labels) or a dict of keyword tensors, "
                       f"got {type(batch).__name__}")


def run_inputs(model: Any, inputs: Any) -> Any:
    """Call ``model`` on the inputs part of a batch (see :func:`split_batch`)."""
    if isinstance(inputs, torch.Tensor):
        return model(inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    if isinstance(inputs, dict):
        return model(**inputs)
    raise AnalogcError(f"batch inputs: expected a tensor, a tuple of tensors or a dict, got {type(inputs).__name__}")


def main_output(out: Any) -> torch.Tensor:
    """The tensor a loss reads from a model output: the tensor itself, ``.logits``,
    ``.last_hidden_state`` or the first tensor of a tuple."""
    if isinstance(out, torch.Tensor):
        return out
    for k in ("logits", "last_hidden_state"):
        v = getattr(out, k, None)
        if isinstance(v, torch.Tensor):
            return v
        if isinstance(out, dict) and isinstance(out.get(k), torch.Tensor):
            return out[k]
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise AnalogcError(f"model output: cannot find a tensor in {type(out).__name__}")
