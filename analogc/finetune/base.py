"""The contracts of fine-tuning: a training method, and a physical system to train against.

Every fine-tuning method (``hwa``, ``pat``, ``distill``, ``lora``; one module each under
:mod:`analogc.finetune.methods`, registered in :data:`analogc.finetune.methods.METHODS`) is a
:class:`Method`: the trainer in :mod:`analogc.finetune.trainer` owns the loop (optimizer,
progress bar, checkpoints and resume, torch.distributed), the method owns what is trained and
what the loss is. The trainer never asks which method it runs.

A :class:`PhysicalSystem` is anything with a black-box forward (a deployed model with hidden
mismatches, a user's instrument driver) and, optionally, a differentiable digital twin:
physics-aware training (Wright et al., Nature 601:549, 2022) runs the forward on the system
and takes gradients from the twin at the system's activations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Protocol, runtime_checkable

import torch
from torch import nn


@dataclass
class TrainContext:
    """What the trainer hands a method.

    ``model``: the user's digital model (never modified in place by a method: methods train a
    copy and return it from :meth:`Method.export`); ``plan``: the compiled Plan of the
    hardware (its ``plan.hw`` is the Hardware that is priced and deployed); ``seed``: the
    run's seed; ``loss_fn``: ``loss_fn(outputs, batch) -> scalar`` for labelled data (None for
    methods that need no labels); ``options``: the method's own keyword options, checked by
    the method (an unknown one is an :class:`~analogc.errors.AnalogcError`);
    ``physical``: the physical system (PAT); ``example_batch``: the first training batch."""

    model: nn.Module
    plan: Any
    seed: int
    loss_fn: Callable[[Any, Any], torch.Tensor] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    physical: "PhysicalSystem | None" = None
    example_batch: Any = None


class Method:
    """One fine-tuning method. Subclasses set :attr:`name` and implement the four methods.

    Life cycle: ``setup(ctx)`` once (build the module being trained, e.g. a deployed copy, a
    peft-wrapped copy, a student and a frozen teacher); the trainer optimizes
    ``trainable()`` with ``loss(batch)`` for the given steps (when distributed, DDP wraps a small
    module holding the trainable parameters whose forward is ``loss``); ``export()`` returns the
    trained *digital* model, which
    :func:`analogc.deploy` programs onto fresh chip instances for evaluation.
    ``state_dict``/``load_state_dict`` carry what a checkpoint must hold beyond the
    parameters of ``module()`` (default: nothing)."""

    #: registry name (``method=`` of :func:`analogc.finetune`)
    name: ClassVar[str] = ""
    #: whether ``loss`` needs labels in the batch (distillation does not)
    needs_labels: ClassVar[bool] = True

    def setup(self, ctx: TrainContext) -> None:
        raise NotImplementedError

    def module(self) -> nn.Module:
        """The module whose forward the loss runs."""
        raise NotImplementedError

    def trainable(self) -> list[nn.Parameter]:
        """Parameters the optimizer updates."""
        return [p for p in self.module().parameters() if p.requires_grad]

    def loss(self, batch: Any) -> torch.Tensor:
        raise NotImplementedError

    def export(self) -> nn.Module:
        """The trained digital model (deployable with :func:`analogc.deploy`)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


@runtime_checkable
class PhysicalSystem(Protocol):
    """A physical system that runs a parameterised model.

    ``forward(model, batch)`` runs the batch through the *physical* system with the weights of
    ``model`` (a digital module whose parameters are being trained) and returns the outputs;
    it need not be differentiable. ``twin`` (or None) is a callable ``twin(model, batch)``
    computing the same thing differentiably in torch (the digital twin: usually the digital
    model itself, or a deployed model without the hidden mismatches). ``layer_outputs`` (may
    be absent) lets physics-aware training use the physical activation of every layer, not
    only the output."""

    def forward(self, model: nn.Module, batch: Any) -> Any: ...

    twin: Callable[[nn.Module, Any], Any] | None
