"""Distillation: the deployed (analog) model learns to reproduce the digital model's outputs on
unlabeled inputs (no labels needed), as analog foundation-model work trains its students
(Büchel et al., "Analog Foundation Models", 2025, distil from the digital model on its own
outputs; Hinton et al. 2015 for the softened-logit loss).

The student is a deployed copy of the model (its weights digital and trained straight through
the hardware's non-idealities, as in hardware-aware training); the teacher is the digital model,
frozen. What is matched (option ``target``):

* ``"logits"`` (default when the output has logits): ``T² KL(softmax(t/T) ‖ softmax(s/T))`` per
  position, ``T`` = option ``temperature`` (default 1);
* ``"hidden"``: the output of every weight layer (Linear / Conv / HF Conv1D), mean squared error
  over the teacher's mean square, averaged over layers;
* ``"pooled"``: the mean-pooled last hidden state (the sentence embedding; padding excluded with
  the batch's ``attention_mask``): squared error over the teacher embeddings' spread around
  their batch mean (``‖s - t‖² / ‖t - mean(t)‖²``; ``1 - cosine`` would be ~1e-4 from the
  start, pooled embeddings sharing one large direction, and Adam's steps on it follow noise).

Works for Hugging Face encoders and decoders (dict batches) and plain modules (tensor batches).
Other options: ``temperature``, ``deploy_options`` (simulation options of
:func:`analogc.deploy` for the student, e.g. ``{"t_inference": 86400}``; default
:data:`STUDENT_DEFAULTS`: a fresh device draw per update, so that what the student learns
carries over to other chips than the one it trains on).
"""
from __future__ import annotations

import copy
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from analogc.errors import AnalogcError
from analogc.finetune._batch import main_output, run_inputs, split_batch
from analogc.finetune.base import Method, TrainContext
from analogc.finetune.methods._common import check_options

OPTIONS = {"target": None, "temperature": 1.0, "deploy_options": None}
#: the student's deploy options unless ``deploy_options`` says otherwise: a fresh device draw
#: at every update (as hardware-aware training), so the student learns what every chip of the
#: hardware shares, not the programming errors of the one chip it trains on
STUDENT_DEFAULTS = {"train_device_noise": "fresh"}
TARGETS = ("logits", "hidden", "pooled")


def pooled_output(out: Any, inputs: Any) -> torch.Tensor:
    """Mean-pooled last hidden state [B, H] (attention mask respected) of an encoder output, or
    a plain [B, T, H] / [B, H] tensor output."""
    h = getattr(out, "last_hidden_state", None)
    if h is None:
        h = main_output(out)
    if h.dim() == 2:
        return h
    mask = inputs.get("attention_mask") if isinstance(inputs, dict) else None
    if mask is None:
        return h.mean(1)
    m = mask.to(h.dtype).unsqueeze(-1)
    return (h * m).sum(1) / m.sum(1).clamp(min=1)


def _weight_layer_paths(model: nn.Module) -> list[str]:
    from analogc.weights import weight_kind
    return [p for p, m in model.named_modules() if p and weight_kind(m) is not None]


class _Capture:
    def __init__(self, model: nn.Module, paths: list[str]) -> None:
        self.out: dict[str, torch.Tensor] = {}
        self.handles = []
        for p in paths:
            def hook(m, i, o, p=p):
                self.out[p] = o
            self.handles.append(model.get_submodule(p).register_forward_hook(hook))

    def close(self) -> None:
        for h in self.handles:
            h.remove()


class Distill(Method):
    """Trains the deployed model to match the digital model (see the module docstring)."""

    name = "distill"
    needs_labels = False

    def setup(self, ctx: TrainContext) -> None:
        import analogc
        self.opts = check_options(self.name, ctx.options, OPTIONS)
        t = self.opts["target"]
        if t is not None and t not in TARGETS:
            raise AnalogcError(f"distill: target: expected one of {', '.join(TARGETS)}, got {t!r}")
        T = self.opts["temperature"]
        if isinstance(T, bool) or not isinstance(T, (int, float)) or not T > 0:
            raise AnalogcError(f"distill: temperature: expected a positive number, got {T!r}")
        if ctx.example_batch is None:
            raise AnalogcError("distill: needs an example batch to calibrate the deployed student")
        self.teacher = copy.deepcopy(ctx.model).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.source = ctx.model
        self.plan = ctx.plan
        x0 = split_batch(ctx.example_batch)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.student = analogc.deploy(copy.deepcopy(ctx.model), ctx.plan, seed=ctx.seed, calibration=[x0],
                                          **{**STUDENT_DEFAULTS, **(self.opts["deploy_options"] or {})})
        self.student.train()
        if t is None:
            with torch.no_grad():
                out = run_inputs(self.teacher, x0)
            t = "logits" if (getattr(out, "logits", None) is not None or isinstance(out, torch.Tensor)) else "pooled"
        self.target = t
        self.paths = _weight_layer_paths(self.teacher) if t == "hidden" else []
        if t == "hidden":
            have = {p for p, _ in self.student.named_modules()}
            self.paths = [p for p in self.paths if p in have]
            if not self.paths:
                raise AnalogcError("distill: target 'hidden': the model has no weight layer to match")

    def module(self) -> nn.Module:
        return self.student

    def loss(self, batch: Any) -> torch.Tensor:
        x = split_batch(batch)[0]
        if self.target == "hidden":
            ct, cs = _Capture(self.teacher, self.paths), _Capture(self.student, self.paths)
            try:
                with torch.no_grad():
                    run_inputs(self.teacher, x)
                run_inputs(self.student, x)
            finally:
                ct.close()
                cs.close()
            losses = [F.mse_loss(cs.out[p], ct.out[p]) / ct.out[p].pow(2).mean().clamp(min=1e-12)
                      for p in self.paths if p in cs.out and p in ct.out]
            return torch.stack(losses).mean()
        with torch.no_grad():
            yt = run_inputs(self.teacher, x)
        ys = run_inputs(self.student, x)
        if self.target == "pooled":
            ps, pt = pooled_output(ys, x), pooled_output(yt, x)
            # squared error over the teacher's spread across the batch: pooled embeddings share a
            # large common direction, so 1 - cosine is ~1e-4 from the start and Adam's normalised
            # steps on it follow the noise; this loss weighs the part that tells sentences apart
            spread = (pt - pt.mean(0)).pow(2).sum() if len(pt) > 1 else pt.pow(2).sum()
            return (ps - pt).pow(2).sum() / spread.clamp(min=1e-12)
        T = float(self.opts["temperature"])
        s, t = main_output(ys), main_output(yt)
        s, t = s.reshape(-1, s.shape[-1]), t.reshape(-1, t.shape[-1])
        return F.kl_div(F.log_softmax(s / T, -1), F.log_softmax(t / T, -1), log_target=True,
                        reduction="batchmean") * T * T

    def export(self) -> nn.Module:
        from analogc.finetune.evaluate import layer_ranges
        from analogc.finetune.methods.hwa import copy_trained_weights
        out = copy_trained_weights(self.source, self.student, self.plan).eval()
        # the input and ADC ranges the student was trained with ride along (as after HWA):
        # evaluation applies them to new chips (analogc.finetune.evaluate.apply_ranges)
        out.analogc_ranges = layer_ranges(self.student)  # type: ignore[attr-defined]
        return out
