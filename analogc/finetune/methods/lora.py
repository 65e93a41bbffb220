"""LoRA adapters on frozen analog weights (Hu et al., "LoRA: Low-Rank Adaptation of Large
Language Models", ICLR 2022), through Hugging Face ``peft``.

The model is wrapped by ``peft`` (``LoraConfig``; Hugging Face models and plain torch modules
alike, ``target_modules`` naming the layers) and deployed: every base weight goes on the analog
tiles of the plan's hardware, programmed once and never rewritten (the base is frozen, so its
programmed copy never changes), while the adapters ``lora_A``/``lora_B`` stay digital (the
compiler places every ``...lora_A/lora_B...`` product digital and prices it on the estimate's
``adapters`` line, :attr:`analogc.ir.Op.adapter`). The adapters are trained through the
deployed model, i.e. under the hardware's read noise, converters and the programming errors
of the chip they sit beside.

Options: ``r`` (rank, default 8), ``alpha`` (scaling ``alpha / r``, default ``2 r``),
``dropout`` (0), ``target_modules`` (peft's: a list of module names or a regex; default every
Linear / Conv1D / Conv layer of the model except the output layer of a Hugging Face model),
``reseed_every`` (default 10: a fresh chip instance every 10 steps, the same base weights
programmed on another chip, so the adapters learn the errors every chip of the hardware
shares rather than one chip's draws and carry over to the chips they are evaluated on;
0: one chip for the whole run, a per-chip adapter), ``t_inference`` (read time after
programming, PCM drift; default the hardware's).

``export()`` returns the digital peft model (base weights + adapters); deploy it with a
hardware and a calibration batch (``analogc.deploy(m, hw, calibration=[x])``: traced, so the
adapters are placed digital) or :func:`deploy_adapted`.
"""
from __future__ import annotations

import copy
import warnings
from typing import Any

import torch
from torch import nn

from analogc.errors import AnalogcError, first_line
from analogc.finetune._batch import run_inputs, split_batch
from analogc.finetune.base import Method, TrainContext
from analogc.finetune.methods._common import check_options, default_loss

OPTIONS = {"r": 8, "alpha": None, "dropout": 0.0, "target_modules": None, "reseed_every": 10,
           "t_inference": None}


def _weight_layers(model: nn.Module) -> list[str]:
    from analogc.weights import weight_kind
    return [p for p, m in model.named_modules() if p and weight_kind(m) is not None]


def wrap(model: nn.Module, *, r: int = 8, alpha: float | None = None, dropout: float = 0.0,
         target_modules: Any = None) -> nn.Module:
    """``model`` (not copied) wrapped by peft with LoRA adapters on ``target_modules``; a target
    that matches no layer is one :class:`AnalogcError` naming the layers there are."""
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise AnalogcError(f"lora: r: expected a positive integer rank, got {r!r}")
    layers = _weight_layers(model)
    if target_modules is None:
        if hasattr(model, "get_output_embeddings") and hasattr(model, "config"):
            target_modules = "all-linear"  # peft: every linear layer but the output head
        else:
            target_modules = layers
        if not layers:
            raise AnalogcError(f"lora: {type(model).__name__} has no Linear/Conv layer to adapt")
    if isinstance(target_modules, str) and target_modules != "all-linear":
        import re
        try:
            pat = re.compile(target_modules)
        except re.error as e:
            raise AnalogcError(f"lora: target_modules: bad regular expression {target_modules!r} ({e})") from None
        if not any(pat.fullmatch(p) for p, _ in model.named_modules()):
            raise AnalogcError(f"lora: target_modules {target_modules!r} matches no layer of {type(model).__name__}; "
                               f"its weight layers are {', '.join(layers[:12])}{' ...' if len(layers) > 12 else ''}")
    elif not isinstance(target_modules, str):
        targets = [target_modules] if not isinstance(target_modules, (list, tuple, set)) else list(target_modules)
        names = [p for p, _ in model.named_modules() if p]
        missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
        if missing:
            raise AnalogcError(f"lora: target_modules {', '.join(map(repr, missing))} match(es) no layer of "
                               f"{type(model).__name__}; its weight layers are "
                               f"{', '.join(layers[:12])}{' ...' if len(layers) > 12 else ''}")
    from peft import LoraConfig, get_peft_model  # after the checks: importing peft takes seconds
    cfg = LoraConfig(r=r, lora_alpha=float(alpha if alpha is not None else 2 * r), lora_dropout=float(dropout),
                     target_modules=target_modules, bias="none")
    task = _task_type(model)
    if task is not None:  # peft's task model keeps the HF signature (labels=, so the shifted LM loss)
        cfg.task_type = task
    fan = any(type(m).__name__ == "Conv1D" for m in model.modules())  # HF GPT-2 stores [in, out]
    if fan:
        cfg.fan_in_fan_out = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return get_peft_model(model, cfg)
    except (ValueError, TypeError, KeyError) as e:
        raise AnalogcError(f"lora: peft cannot add adapters to {type(model).__name__}: {first_line(e)}") from None


def _task_type(model: nn.Module) -> str | None:
    """peft's task type for a Hugging Face causal LM or bare encoder/decoder body (their task
    models keep the forward signature); None for anything else (plain PeftModel)."""
    if not hasattr(model, "config"):
        return None
    name = type(model).__name__
    if name.endswith(("ForCausalLM", "LMHeadModel")):
        return "CAUSAL_LM"
    if name.endswith("Model"):
        return "FEATURE_EXTRACTION"
    return None


def deploy_adapted(model: nn.Module, hw: Any, *, seed: int, calibration: list[Any], **options: Any) -> nn.Module:
    """Deploy an adapted (peft) model: base weights on tiles, adapters digital. ``hw``: a preset
    name, a Hardware or a Plan (its hardware is used: the adapted model is traced again)."""
    import analogc
    from analogc.mapping.plan import Plan
    hw = hw.hw if isinstance(hw, Plan) else hw
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analogc.deploy(model, hw, seed=seed, calibration=calibration, **options)


class LoRA(Method):
    """Trains LoRA adapters beside frozen analog weights (see the module docstring)."""

    name = "lora"
    needs_labels = True

    def setup(self, ctx: TrainContext) -> None:
        self.opts = check_options(self.name, ctx.options, OPTIONS)
        o = self.opts
        self.seed = ctx.seed
        self.loss_fn = ctx.loss_fn or default_loss
        self.digital = wrap(copy.deepcopy(ctx.model), r=o["r"], alpha=o["alpha"], dropout=o["dropout"],
                            target_modules=o["target_modules"])
        if ctx.example_batch is None:
            raise AnalogcError("lora: needs an example batch to trace and calibrate the adapted model")
        self.calibration = [split_batch(ctx.example_batch)[0]]
        self.deploy_opts = {} if o["t_inference"] is None else {"t_inference": float(o["t_inference"])}
        self.model = deploy_adapted(self.digital, ctx.plan, seed=ctx.seed, calibration=self.calibration,
                                    **self.deploy_opts)
        self.model.train()
        #: the plan of the adapted model (base on tiles, adapters digital): deploy the exported
        #: model with this plan, not the original model's (its module paths differ)
        self.export_plan = self.model.analogc_plan
        self._steps = 0
        for n, p in self.model.named_parameters():  # only the adapters train
            p.requires_grad_("lora_" in n)

    def module(self) -> nn.Module:
        return self.model

    def loss(self, batch: Any) -> torch.Tensor:
        every = int(self.opts["reseed_every"] or 0)
        if every and self._steps and self._steps % every == 0:
            from analogc.sim.deploy import reseed
            reseed(self.model, self.seed + self._steps // every)
        self._steps += 1
        # a Hugging Face dict goes in whole: with "labels" the model computes its own loss
        out = self.model(**batch) if isinstance(batch, dict) else run_inputs(self.model, split_batch(batch)[0])
        return self.loss_fn(out, batch)

    def export(self) -> nn.Module:
        out = copy.deepcopy(self.digital)
        adapters = {k: v.detach().clone() for k, v in self.model.state_dict().items() if "lora_" in k}
        missing = set(adapters) - set(out.state_dict())
        if missing:
            raise AnalogcError(f"lora: adapter weights {sorted(missing)[:3]} have no place in the digital model")
        out.load_state_dict(adapters, strict=False)
        return out.eval()

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self._steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._steps = int(state.get("steps", 0))
        every = int(self.opts["reseed_every"] or 0)
        if every and self._steps % every and self._steps // every:  # back on the chip of that step
            from analogc.sim.deploy import reseed
            reseed(self.model, self.seed + self._steps // every)
