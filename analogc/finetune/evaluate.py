"""Metrics of a model on labelled or unlabelled batches, and of its deployment over chip
instances (seeds) and drift times, for fine-tuning.

A metric is ``"accuracy"`` (top-1 of the main output against integer labels, per row or per
token), ``"perplexity"`` (exp of the mean cross-entropy per label; a Hugging Face model given
its ``labels`` computes its own shifted loss), ``"loss"`` (mean cross-entropy), ``"fidelity"``
(``1 - ||y - y_ref|| / ||y_ref||`` against a reference model: unlabelled data) or a callable
``metric(model, batches) -> float``. :func:`evaluate_deployed` deploys a model on new chip
instances with :func:`analogc.sim.monte_carlo` (fresh noise per MVM, recalibrated per seed and
drift time on the first batch) and reports the metric's mean and std over them.

Example::

    from analogc.finetune.evaluate import evaluate_deployed
    r = evaluate_deployed(model, plan, val_batches, seeds=range(100, 105), metric="accuracy")
    r["mean"], r["std"]
"""
from __future__ import annotations

import inspect
import math
import statistics
from typing import Any, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from analogc.errors import AnalogcError
from analogc.finetune._batch import main_output, run_inputs, split_batch

#: metric names (or pass a callable)
METRICS = ("accuracy", "perplexity", "loss", "fidelity")
#: metrics where lower is better
LOWER_IS_BETTER = ("perplexity", "loss")


def accepts_labels(model: nn.Module) -> bool:
    """Whether ``model.forward`` takes a ``labels`` keyword (a Hugging Face head)."""
    try:
        return "labels" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def forward_batch(model: nn.Module, batch: Any) -> Any:
    """Run ``model`` on a batch: a dict batch keeps its ``labels`` when the model takes them (a
    Hugging Face model then returns its own loss), other batches give only their inputs."""
    if isinstance(batch, dict) and "labels" in batch and accepts_labels(model):
        return model(**batch)
    inputs, _ = split_batch(batch)
    return run_inputs(model, inputs)


def default_metric(batch: Any) -> str:
    """``accuracy`` for integer labels, ``fidelity`` without labels, ``loss`` otherwise."""
    _, labels = split_batch(batch)
    if labels is None:
        return "fidelity"
    if isinstance(labels, torch.Tensor) and not torch.is_floating_point(labels) and not labels.is_complex():
        return "accuracy"
    return "loss"


def check_metric(metric: Any) -> None:
    if callable(metric):
        return
    if metric not in METRICS:
        raise AnalogcError(f"finetune: metric: expected one of {', '.join(METRICS)} or a callable "
                           f"metric(model, batches), got {metric!r}")


def _ce(out: Any, labels: torch.Tensor) -> tuple[float, int]:
    """Summed cross-entropy of the main output against labels (ignore index -100), and the count."""
    y = main_output(out)
    lab = labels.reshape(-1)
    loss = F.cross_entropy(y.reshape(-1, y.shape[-1]).float(), lab, reduction="sum", ignore_index=-100)
    return float(loss), int((lab != -100).sum())


@torch.no_grad()
def metric_value(model: nn.Module, batches: Sequence[Any], metric: Any, reference: nn.Module | None = None) -> float:
    """The metric of ``model`` over the batches (see the module doc)."""
    check_metric(metric)
    if callable(metric):
        return float(metric(model, batches))
    if metric == "fidelity":
        if reference is None:
            raise AnalogcError("finetune: metric 'fidelity' needs the digital reference model")
        num = den = 0.0
        for b in batches:
            inputs, _ = split_batch(b)
            ya = main_output(run_inputs(model, inputs)).float()
            yd = main_output(run_inputs(reference, inputs)).float()
            num += float((ya - yd).pow(2).sum())
            den += float(yd.pow(2).sum())
        return 1.0 - math.sqrt(num / max(den, 1e-30))
    right = total = 0
    loss_sum = 0.0
    for i, b in enumerate(batches):
        _, labels = split_batch(b)
        if labels is None:
            raise AnalogcError(f"finetune: metric {metric!r}: evaluation batch {i} has no labels "
                               f"(use metric='fidelity' for unlabelled data)")
        out = forward_batch(model, b)
        if metric == "accuracy":
            pred = main_output(out).argmax(-1)
            keep = labels != -100
            right += int(((pred == labels) & keep).sum())
            total += int(keep.sum())
            continue
        hf_loss = getattr(out, "loss", None)
        if isinstance(hf_loss, torch.Tensor) and isinstance(b, dict):  # the model's own (shifted) loss
            n = int((labels != -100).sum())
            loss_sum += float(hf_loss) * n
            total += n
        else:
            s, n = _ce(out, labels)
            loss_sum += s
            total += n
    if metric == "accuracy":
        return right / max(total, 1)
    mean = loss_sum / max(total, 1)
    return math.exp(min(mean, 700.0)) if metric == "perplexity" else mean


def layer_ranges(amodel: nn.Module) -> dict[str, dict[str, float]]:
    """``{layer: {"input_range", "adc_range"}}`` of a deployed model's analog layers."""
    from analogc.sim.deploy import analog_layers

    return {m.name: {"input_range": abs(float(m.input_range.detach())), "adc_range": float(m.adc_range)}
            for m in analog_layers(amodel)}


def apply_ranges(amodel: nn.Module, ranges: dict[str, dict[str, float]]) -> None:
    """Set the DAC input range and ADC range of each analog layer named in ``ranges`` (what
    :func:`layer_ranges` returned for a deployment of the same plan), fixed from then on: the
    ranges a hardware-aware training ran with, on a new chip (after its calibration)."""
    from analogc.sim.deploy import analog_layers

    for m in analog_layers(amodel):
        r = ranges.get(m.name)
        if r is None:
            continue
        m.input_range.data.fill_(float(r["input_range"]))
        if m.range_mode == "dynamic":
            m.range_mode = "static"
        m.set_adc_range(float(r["adc_range"]))


def evaluate_deployed(model: nn.Module, plan: Any, data: Iterable[Any], seeds: Iterable[int] = range(100, 105),
                      metric: Any = "accuracy", *, drift_times: Iterable[float] | None = None,
                      reference: nn.Module | None = None, ranges: dict[str, dict[str, float]] | None = None,
                      **options: Any) -> dict[str, Any]:
    """Deploy ``model`` on ``plan``'s hardware as new chip instances (one per seed), calibrate
    each on the first batch, and return the metric's ``{"mean", "std", "values", "n"}`` over
    them (population std); with ``drift_times`` (PCM: seconds after programming), also
    ``"drift"``: one such row per time, with ``"t_inference_s"``. ``options`` are deploy's
    simulation options (``t_inference``, ``converter_passes``...). ``reference``: the digital
    model for ``metric="fidelity"`` (default: ``model`` itself). ``ranges``: input and ADC
    ranges to use instead of the calibrated ones (:func:`apply_ranges`; the trained model's
    ``analogc_ranges`` after hardware-aware training)."""
    from analogc.sim.evaluate import monte_carlo

    batches = list(data)
    if not batches:
        raise AnalogcError("finetune: evaluation data: expected at least one batch, got none")
    check_metric(metric)
    seeds = list(seeds)
    ref = reference if reference is not None else model
    inputs = [split_batch(b)[0] for b in batches]
    options = {k: v for k, v in options.items() if v is not None}

    def score(am: nn.Module) -> float:
        if ranges:
            apply_ranges(am, ranges)
        return metric_value(am, batches, metric, reference=ref)

    was = model.training
    model.eval()
    try:
        times = list(drift_times) if drift_times is not None else None
        rows = monte_carlo(model, plan, inputs, metric=score, seeds=seeds, drift_times=times, **options)
    finally:
        model.train(was)
    first = rows[0]
    out = {"mean": first["mean"], "std": first["std"], "values": first["values"], "n": first["n"]}
    if times is not None:
        out["t_inference_s"] = first["t_inference_s"]
        out["drift"] = rows
    return out


def summary(values: Sequence[float]) -> dict[str, Any]:
    """{"mean", "std", "values", "n"} of a list (population std, as monte_carlo reports)."""
    v = [float(x) for x in values]
    return {"mean": statistics.fmean(v), "std": statistics.pstdev(v) if len(v) > 1 else 0.0, "values": v,
            "n": len(v)}


__all__ = ["METRICS", "LOWER_IS_BETTER", "accepts_labels", "apply_ranges", "default_metric", "evaluate_deployed",
           "forward_batch", "layer_ranges", "metric_value", "summary"]
