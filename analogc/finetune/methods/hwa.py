"""Hardware-aware training (HWA): train the digital weights through the deployed model.

The module trained is :func:`analogc.deploy` of the same plan (the hardware that is priced),
in train mode, so every forward has the hardware's non-idealities:

* programming noise drawn fresh at every update (``train_device_noise="fresh"``: per weight
  level the error statistics of a full programming of this chip, drift at ``t_inference`` and
  drift compensation included; see docs/deploy.md), a full programming every
  ``AnalogMVM.REPROGRAM_EVERY`` updates;
* per-MVM read / output / shot noise, DAC and ADC quantization and clipping (the statistical
  converter model by default, ``converter_passes="per-pass"`` for the exact passes), with
  straight-through gradients (clipped inputs get none);
* input ranges learned (``input_range_mode="learned"``, from a calibration on the first batch).

:meth:`HWA.export` returns a plain digital copy of the user's model with the trained weights;
the ranges the training ran with (learned input ranges, the ADC ranges of the first
calibration) ride along as its ``analogc_ranges`` attribute, and the trainer evaluates new chips
with them (``deployed_after``) as well as recalibrated (``deployed_after_calibrated``):
``analogc.finetune.evaluate.apply_ranges(amodel, trained.analogc_ranges)`` after a deploy and
calibration does the same.

Options (all are :func:`analogc.deploy` simulation options, defaults in :data:`OPTIONS`):
``t_inference`` (s after programming the forward is read at; default: the preset's),
``input_range_mode``, ``train_device_noise``, ``converter_passes``, ``exact_noise``,
``weight_clip_sigma``, ``calibration_method``, ``outlier_threshold``.
"""
from __future__ import annotations

import copy
from typing import Any

from torch import nn

from analogc.errors import AnalogcError
from analogc.finetune._batch import split_batch
from analogc.finetune.base import Method, TrainContext
from analogc.finetune.evaluate import forward_batch
from analogc.finetune.methods._common import check_options, default_loss

#: the options of HWA and their defaults (None: deploy's default)
OPTIONS: dict[str, Any] = {
    "t_inference": None,
    "input_range_mode": "learned",
    "train_device_noise": "fresh",
    "converter_passes": None,
    "exact_noise": None,
    "weight_clip_sigma": None,
    "calibration_method": None,
    "outlier_threshold": 8.0,
}
#: the options that also describe the chip the trained model is evaluated on
EVAL_OPTIONS = ("t_inference", "converter_passes", "weight_clip_sigma", "calibration_method", "outlier_threshold")


def copy_trained_weights(digital: nn.Module, trained: nn.Module, plan: Any) -> nn.Module:
    """A copy of ``digital`` carrying the parameters and buffers of ``trained`` (a deployed
    copy of it, whose analog layers keep their module's names and ``weight``/``bias``)."""
    from analogc.sim.fold import fold_batchnorm_modules

    out = copy.deepcopy(digital)
    fold_batchnorm_modules(out, plan)  # deploy trained the folded weights: keep them folded
    own, src = out.state_dict(), trained.state_dict()
    missing = [k for k in own if k not in src]
    if missing:
        raise AnalogcError(f"finetune: the trained model has no {missing[0]} to export "
                           f"({len(missing)} tensor(s) missing)")
    out.load_state_dict({k: src[k] for k in own})
    return out


class HWA(Method):
    """Hardware-aware training (see the module doc)."""

    name = "hwa"
    needs_labels = True

    def setup(self, ctx: TrainContext) -> None:
        self.options = check_options("hwa", ctx.options, OPTIONS)
        self.ctx = ctx
        self.loss_fn = ctx.loss_fn or default_loss
        from analogc.sim.deploy import deploy

        sim = {k: v for k, v in self.options.items() if v is not None}
        inputs, _ = split_batch(ctx.example_batch)
        self.amodel = deploy(ctx.model, ctx.plan, seed=ctx.seed, calibration=[inputs], **sim).train()
        #: deploy options of the chips the trained model is evaluated on
        self.eval_options = {k: self.options[k] for k in EVAL_OPTIONS if self.options[k] is not None}

    def module(self) -> nn.Module:
        return self.amodel

    def loss(self, batch: Any):
        return self.loss_fn(forward_batch(self.amodel, batch), batch)

    def export(self) -> nn.Module:
        out = copy_trained_weights(self.ctx.model, self.amodel, self.ctx.plan)
        out.analogc_ranges = self.ranges()  # type: ignore[attr-defined]
        return out

    def ranges(self) -> dict[str, dict[str, float]]:
        """The input ranges (learned) and ADC ranges (of the calibration at the start) the
        training ran with, per analog layer: the trained model is evaluated with them."""
        from analogc.finetune.evaluate import layer_ranges
        return layer_ranges(self.amodel)
