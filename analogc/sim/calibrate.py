"""calibrate(): set each analog layer's DAC input range and ADC range from a few batches."""
from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from analogc.errors import AnalogcError
from analogc.sim.tile import AnalogMVM


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


@torch.no_grad()
def calibrate(analog_model: nn.Module, batches: Iterable[Any] | Any, *, input_percentile: float | None = None,
              adc_margin: float = 1.0) -> dict[str, dict[str, float]]:
    """Set every analog layer's input range (max |x|, or the ``input_percentile`` of |x|) and
    ADC range (``adc_margin`` × the largest noiseless tile partial sum, normalised) from the
    batches; ranges become static afterwards (learned ranges keep training from there).

    Returns {layer: {"input_range", "adc_range"}}.

    Example::

        amodel = analogc.deploy(model, plan, seed=0)
        analogc.calibrate(amodel, [x[:64]])          # or dicts of kwargs for HF models
    """
    layers = [m for m in analog_model.modules() if isinstance(m, AnalogMVM)]
    if not layers:
        raise AnalogcError("calibrate: the model has no analog layers (was it made by analogc.deploy?)")
    bl = _as_batches(batches)
    if not bl:
        raise AnalogcError("calibrate: expected at least one batch, got none")
    for m in layers:  # while _calib is set a layer runs without noise and ADC (noiseless partial sums)
        m._calib = {"percentile": input_percentile}
    was_training = analog_model.training
    analog_model.eval()
    try:
        for i, b in enumerate(bl):
            try:
                run_batch(analog_model, b)
            except AnalogcError as e:
                raise AnalogcError(f"calibration batch {i}: {e}") from None
            except (RuntimeError, TypeError, ValueError, IndexError) as e:
                raise AnalogcError(f"calibration batch {i}: the model rejected it "
                                   f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    finally:
        out = {}
        for m in layers:
            c = m._calib or {}
            m._calib = None
            if "input_max" in c:
                m.input_range.data.fill_(max(c["input_max"], 1e-12))
                if m.range_mode == "dynamic":
                    m.range_mode = "static"
            if "adc_max" in c and c["adc_max"] > 0:
                m.adc_range.fill_(c["adc_max"] * adc_margin)
            out[m.name] = {"input_range": float(m.input_range), "adc_range": float(m.adc_range)}
        analog_model.train(was_training)
    missing = [m.name for m in layers if out[m.name] and m.range_mode == "dynamic" and m.dac_levels is not None]
    if missing:
        import warnings
        warnings.warn(f"calibrate: layer(s) not reached by the batches keep dynamic ranges: {', '.join(missing[:10])}")
    return out
