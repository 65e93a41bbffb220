"""Physics-aware training (PAT; Wright et al., "Deep physical neural networks trained with
backpropagation", Nature 601:549, 2022).

The forward pass runs the *physical* system (:class:`~analogc.finetune.base.PhysicalSystem`);
the backward pass is the differentiable digital twin's, evaluated at the physical activations.
Where the system exposes its per-layer outputs (``layer_outputs``), the twin runs with every
one of those layers' outputs replaced in value by the physical one (``y_twin + (y_phys -
y_twin).detach()``): each twin layer sees the physical input of its layer, and the gradient
flows through the twin's Jacobians at those points, as in Wright et al.'s layer-by-layer
scheme. Otherwise only the output is replaced. The loss is therefore always the loss of the
physical output; only its gradient is estimated.

Options: ``layerwise`` (default True: use ``layer_outputs`` when the system has it).
Without ``physical=``, the system is the plan's hardware itself (:class:`DeployedSystem`, no
hidden mismatch, the run's seed).
"""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from analogc.errors import AnalogcError
from analogc.finetune._batch import main_output, split_batch
from analogc.finetune.base import Method, TrainContext
from analogc.finetune.methods._common import check_options, default_loss
from analogc.finetune.physical import DeployedSystem, as_physical

OPTIONS = {"layerwise": True}


def _substitute(twin: Any, phys: Any) -> Any:
    """The twin's output carrying the physical values (twin gradient, physical value)."""
    if isinstance(twin, torch.Tensor):
        if not isinstance(phys, torch.Tensor) or phys.shape != twin.shape:
            raise AnalogcError(f"pat: the physical output {getattr(phys, 'shape', type(phys).__name__)} does not "
                               f"match the twin's {tuple(twin.shape)}")
        if not twin.is_floating_point():
            return twin
        return twin + (phys.to(twin.dtype) - twin).detach()
    if isinstance(twin, dict):  # also Hugging Face ModelOutput
        out = copy.copy(twin)
        for k, v in twin.items():
            if isinstance(v, torch.Tensor) and k in phys:
                out[k] = _substitute(v, phys[k])
        return out
    if isinstance(twin, (tuple, list)):
        return type(twin)(_substitute(t, p) for t, p in zip(twin, phys))
    return twin


def pat_forward(system: Any, model: nn.Module, batch: Any, layerwise: bool = True) -> Any:
    """Output of the physical system for ``batch`` with the twin's gradient (see the module)."""
    twin = getattr(system, "twin", None)
    if twin is None:
        raise AnalogcError("pat: the physical system has no differentiable twin (twin is None): PAT takes its "
                           "gradient from one; pass twin= to the system")
    lo = getattr(system, "layer_outputs", None) if layerwise else None
    if lo is not None:
        phys_out, acts = lo(model, batch)
    else:
        with torch.no_grad():
            phys_out, acts = system.forward(model, batch), {}
    tm = system.twin_module(model) if hasattr(system, "twin_module") else model
    handles = []
    for path, a in acts.items():
        try:
            mod = tm.get_submodule(path) if path else tm
        except AttributeError:
            raise AnalogcError(f"pat: the physical system reports layer {path!r}, which the twin's model does "
                               f"not have") from None

        def replace(m: nn.Module, inp: Any, o: torch.Tensor, a: torch.Tensor = a) -> torch.Tensor:
            return _substitute(o, a)
        handles.append(mod.register_forward_hook(replace))
    try:
        out = twin(model, batch)
    finally:
        for h in handles:
            h.remove()
    return _substitute(out, phys_out)


class PAT(Method):
    """Physics-aware training on ``ctx.physical`` (see the module docstring)."""

    name = "pat"
    needs_labels = True

    def setup(self, ctx: TrainContext) -> None:
        self.opts = check_options(self.name, ctx.options, OPTIONS)
        self.model = copy.deepcopy(ctx.model).train()
        self.system = as_physical(ctx.physical) or DeployedSystem(ctx.plan, seed=ctx.seed)
        self.loss_fn = ctx.loss_fn or self._hf_loss
        if hasattr(self.system, "prepare") and ctx.example_batch is not None:
            self.system.prepare(self.model, ctx.example_batch)

    def module(self) -> nn.Module:
        return self.model

    def forward(self, batch: Any) -> Any:
        return pat_forward(self.system, self.model, batch, bool(self.opts["layerwise"]))

    def loss(self, batch: Any) -> torch.Tensor:
        return self.loss_fn(self.forward(batch), batch)

    def _hf_loss(self, out: Any, batch: Any) -> torch.Tensor:
        """The default loss: a Hugging Face causal LM's own (shifted) loss of the *physical*
        logits (its ``.loss`` would be the twin's), else :func:`default_loss`."""
        _, labels = split_batch(batch)
        if (isinstance(batch, dict) and labels is not None
                and type(self.model).__name__.endswith(("LMHeadModel", "ForCausalLM"))):
            y = main_output(out)
            return self.model.loss_function(logits=y, labels=labels, vocab_size=y.shape[-1])
        return default_loss(out, batch)

    def export(self) -> nn.Module:
        return copy.deepcopy(self.model).eval()

    def state_dict(self) -> dict[str, Any]:
        sd = getattr(self.system, "state_dict", None)
        return {"system": sd()} if callable(sd) and not isinstance(self.system, nn.Module) else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        ld = getattr(self.system, "load_state_dict", None)
        if "system" in state and callable(ld):
            ld(state["system"])
