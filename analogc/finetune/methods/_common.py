"""What the methods of this package share: option checking and the default task loss."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from analogc.errors import AnalogcError
from analogc.finetune._batch import main_output, split_batch


def check_options(method: str, options: dict[str, Any], known: dict[str, Any]) -> dict[str, Any]:
    """``known`` (name -> default) updated with ``options``; an unknown option is one error line."""
    bad = sorted(set(options) - set(known))
    if bad:
        raise AnalogcError(f"finetune method {method!r}: unknown option(s) {', '.join(bad)}: expected one of "
                           f"{', '.join(sorted(known)) or '(none)'}")
    out = dict(known)
    out.update(options)
    return out


def default_loss(out: Any, batch: Any) -> torch.Tensor:
    """The task loss when the trainer gives none: a Hugging Face output's own ``.loss`` (labels
    in the batch dict), else cross-entropy of the main output against the batch's labels."""
    loss = getattr(out, "loss", None)
    if isinstance(loss, torch.Tensor):
        return loss
    _, labels = split_batch(batch)
    if labels is None:
        raise AnalogcError("finetune: this method needs labels: expected batches (inputs..., labels) or a dict "
                           "with 'labels', or a loss_fn")
    y = main_output(out)
    return F.cross_entropy(y.reshape(-1, y.shape[-1]), labels.reshape(-1))
