"""Small hardware and models shared by the deploy tests."""
import torch
from torch import nn

import analogc
from hw_models.base import ChipSpec, Hardware, TileSpec


def hw(model="ideal", rows=16, cols=8, family="crossbar", bits=8, dyn="digital", **noise):
    """A test tile (16 x 8 by default, smaller than the layers so partitioning is exercised)."""
    tile = TileSpec(family, rows, cols, weight_bits=8, cell_bits=8, devices_per_cell=2,
                    dynamic_operands=dyn == "analog")
    return Hardware(name=model, tile=tile, chip=ChipSpec(1024), input_bits=bits, output_bits=bits,
                    dynamic_matmul=dyn, params={"noise": {"model": model, **noise}})


def plan_for(model, inputs, h):
    ex = inputs if isinstance(inputs, (tuple, dict)) else (inputs,)
    return analogc.compile(analogc.trace(model, ex), hw=h)


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(40, 70), nn.ReLU(), nn.Linear(70, 10)).eval()
