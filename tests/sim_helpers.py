"""Small hardware and models shared by the deploy tests."""
import torch
from torch import nn

import analogc
import hw_models

#: noise model -> the preset a test tile of that model is cut from
_BASE = {"ideal": "ideal", "pcm": "pcm-hermes", "rram": "rram", "sram": "sram-cim", "mzi": "mzi",
         "freespace": "freespace", "charge": "charge-jia2020"}


def hw(model="ideal", rows=16, cols=8, family="crossbar", bits=8, dyn="digital", dac=True, adc=True,
       hw_set=None, **noise):
    """A test tile (16 x 8 by default, smaller than the layers so partitioning is exercised):
    the preset of noise ``model`` with 8-bit weights in one 8-bit cell held by a differential
    pair, inputs in one pass (multi-level or PWM), ``bits``-bit converters (``dac=False`` /
    ``adc=False``: ideal, exact converters), other hardware overrides ``hw_set`` and ``noise``
    overrides of its [noise]."""
    base = _BASE[model] if family == "crossbar" else family
    over = {"rows": rows, "cols": cols, "input_bits": bits, "output_bits": bits, "dynamic_matmul": dyn,
            "weight_bits": 8, "cell_bits": 8, **{f"noise.{k}": v for k, v in noise.items()}}
    if family == "crossbar":
        over.update({"devices_per_cell": 2, "tile.dynamic_operands": dyn == "analog"})
        if model in ("sram", "rram", "charge"):
            over["input_encoding"] = "multi-level"  # one pass per input (these presets are bit-serial)
    if not dac:
        over["dac_model"] = "ideal"
    if not adc:
        over["adc_model"] = "ideal"
    over.update(hw_set or {})
    if model == "ideal" and family != "crossbar":
        over["noise.model"] = "ideal"
    return hw_models.load(base, **over)


def plan_for(model, inputs, h):
    ex = inputs if isinstance(inputs, (tuple, dict)) else (inputs,)
    return analogc.compile(analogc.trace(model, ex), hw=h)


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(40, 70), nn.ReLU(), nn.Linear(70, 10)).eval()
