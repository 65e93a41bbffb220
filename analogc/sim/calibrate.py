"""calibrate(): set each analog layer's DAC input range, outlier channels and ADC range.

Two passes over the batches (noise and ADC off while they run):

1. inputs: every layer records the largest |x| of each input channel and a sample of its input
   rows. Channels whose maximum exceeds ``outlier_threshold`` x the median channel maximum are
   *outlier channels* (LayerNorm outputs of trained transformers have a few, 10-100x the rest:
   Dettmers et al., "LLM.int8()", NeurIPS 2022; Bondarenko et al., EMNLP 2021): their products
   run digitally and exactly, the rest on the tiles, so one channel no longer sets the DAC range
   of all the others. The input range is then chosen on the remaining channels: ``"mse"``
   (default; the range minimising the clipping + rounding error of the DAC), ``"percentile"`` or
   ``"max"``.
2. ADC: with the input ranges fixed, every layer records its largest noiseless pass output
   (per bit slice, input bit plane and row tile, as the hardware converts them); the ADC range
   is that times ``adc_margin``.

Digital outlier channels are MACs the estimate of the plan does not price (a few channels per
layer; ``calibrate`` returns them per layer so they can be counted).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import nn

from analogc.errors import AnalogcError
from analogc.sim.tile import AnalogMVM

METHODS = ("mse", "percentile", "max")


def _as_batches(batches: Any) -> list[Any]:
    if isinstance(batches, (torch.Tensor, dict, tuple)):
        return [batches]
    try:
        return list(batches)
    except TypeError:
        raise AnalogcError(f"calibrate: expected batches as a tensor, a tuple of tensors, a dict of keyword "
                           f"tensors or an iterable of those, got {type(batches).__name__}") from None


def run_batch(model: nn.Module, batch: Any) -> Any:
    """Call ``model`` with one batch: a tensor, a tuple of positional tensors or a dict of kwargs."""
    if isinstance(batch, torch.Tensor):
        return model(batch)
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    if isinstance(batch, dict):
        return model(**batch)
    raise AnalogcError(f"calibration batch: expected a tensor, a tuple of tensors or a dict of keyword tensors, "
                       f"got {type(batch).__name__}")


def _check_batch(i: int, batch: Any) -> None:
    """NaN or inf in a floating-point input of batch ``i``: one line naming the batch and input."""
    if isinstance(batch, torch.Tensor):
        items = [("input", batch)]
    elif isinstance(batch, (tuple, list)):
        items = [(f"input {j}", b) for j, b in enumerate(batch)]
    elif isinstance(batch, dict):
        items = [(f"input {k!r}", b) for k, b in batch.items()]
    else:
        items = []
    for name, t in items:
        if isinstance(t, torch.Tensor) and torch.is_floating_point(t) and t.numel() and not bool(torch.isfinite(t).all()):
            raise AnalogcError(f"calibration batch {i}: {name} contains NaN or inf; expected finite values")


def _run_all(model: nn.Module, bl: list[Any]) -> None:
    for i, b in enumerate(bl):
        try:
            run_batch(model, b)
        except AnalogcError as e:
            raise AnalogcError(f"calibration batch {i}: {e}") from None
        except (RuntimeError, TypeError, ValueError, IndexError) as e:
            raise AnalogcError(f"calibration batch {i}: the model rejected it "
                               f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


@torch.no_grad()
def calibrate(analog_model: nn.Module, batches: Iterable[Any] | Any, *, method: str = "mse",
              input_percentile: float | None = None, outlier_threshold: float | None = 8.0,
              adc_margin: float = 1.0) -> dict[str, dict[str, Any]]:
    """Set every analog layer's outlier channels, input range and ADC range from the batches
    (see the module doc); ranges become static afterwards (learned ranges keep training from
    there).

    ``method``: ``"mse"`` (default), ``"percentile"`` (``input_percentile``, default 99.99) or
    ``"max"``; ``input_percentile`` alone selects ``"percentile"``. ``outlier_threshold``: a
    channel whose max |x| exceeds this multiple of the median channel's is computed digitally
    (None: every channel on the tiles). Returns {layer: {"input_range", "adc_range",
    "outlier_channels"}}.

    Example::

        amodel = analogc.deploy(model, plan, seed=0)
        analogc.calibrate(amodel, [x[:64]])          # or dicts of kwargs for HF models
    """
    if input_percentile is not None and method == "mse":
        method = "percentile"
    if method not in METHODS:
        raise AnalogcError(f"calibrate: method: expected one of {', '.join(METHODS)}, got {method!r}")
    pct = 99.99 if input_percentile is None else input_percentile
    if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 < pct <= 100:
        raise AnalogcError(f"calibrate: input_percentile: expected a number in (0, 100], got {input_percentile!r}")
    if outlier_threshold is not None and (isinstance(outlier_threshold, bool)
                                          or not isinstance(outlier_threshold, (int, float))
                                          or not outlier_threshold > 1):
        raise AnalogcError(f"calibrate: outlier_threshold: expected a number > 1 or None, got {outlier_threshold!r}")
    if isinstance(adc_margin, bool) or not isinstance(adc_margin, (int, float)) or not adc_margin > 0 \
            or not math.isfinite(adc_margin):
        raise AnalogcError(f"calibrate: adc_margin: expected a positive number, got {adc_margin!r}")
    layers = [m for m in analog_model.modules() if isinstance(m, AnalogMVM)]
    if not layers:
        raise AnalogcError("calibrate: the model has no analog layers (was it made by analogc.deploy?)")
    bl = _as_batches(batches)
    if not bl:
        raise AnalogcError("calibrate: expected at least one batch, got none")
    for i, b in enumerate(bl):
        _check_batch(i, b)
    was_training = analog_model.training
    analog_model.eval()
    out: dict[str, dict[str, Any]] = {}
    try:
        for m in layers:  # phase 1: inputs (noise and ADC off, outlier channels not yet split)
            m._calib = {"phase": "inputs"}
            m.outlier_channels = None
            m._outlier_version += 1
        _run_all(analog_model, bl)
        reached = {m.name for m in layers if m._calib.get("chan_max") is not None}
        for m in layers:
            m.finish_input_calibration(method, float(pct), outlier_threshold)
            m._calib = {"phase": "adc"}  # phase 2: pass outputs at the final input ranges
            if m.name in reached and m.range_mode == "dynamic":
                m.range_mode = "static"
        if any(m.adc_levels is not None for m in layers):
            _run_all(analog_model, bl)
        for m in layers:
            c = m._calib or {}
            if c.get("adc_max", 0.0) > 0:
                m.set_adc_range(c["adc_max"] * adc_margin)
    finally:
        for m in layers:
            m._calib = None
            m.reprogram()  # the programmed layout of the calibration passes is dropped
            out[m.name] = {"input_range": float(m.input_range), "adc_range": float(m.adc_range),
                           "outlier_channels": [] if m.outlier_channels is None else m.outlier_channels.tolist()}
        analog_model.train(was_training)
    missing = [m.name for m in layers if m.name not in reached and m.dac_levels is not None]
    if missing:
        import warnings
        warnings.warn(f"calibrate: layer(s) not reached by the batches keep dynamic ranges: {', '.join(missing[:10])}")
    return out
