"""Products that no Linear/Conv module holds, run on analog tiles: recurrent layers
(``nn.LSTM``, ``nn.GRU``, ``nn.RNN``).

Each weight matrix of the plan (an ``mvm`` op) becomes one :class:`~analogc.sim.tile.AnalogMVM`
over a view of the module's parameter (training updates reach it, as for ``nn.Linear``):

* :class:`AnalogRNN` replaces a recurrent module and runs its cells in Python, the input
  product ``W_ih x_t`` for all time steps in one call, the recurrent product ``W_hh h_(t-1)``
  step by step (the LSTM projection ``W_hr h_t`` too), biases and gates digitally — the
  equations of ``torch.nn.LSTM``/``GRU``/``RNN``.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from analogc.errors import AnalogcError
from analogc.sim.tile import AnalogMVM


class _WeightView:
    """What AnalogMVM reads from the module it replaces: a weight (N x K for "linear", K x N
    for "conv1d_hf") and no bias (biases are added by the caller)."""

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight = weight
        self.bias = None


def weight_view(weight: torch.Tensor) -> _WeightView:
    return _WeightView(weight)


# ---------------------------------------------------------------------------------------
# recurrent layers
# ---------------------------------------------------------------------------------------
class AnalogRNN(nn.Module):
    """An ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` whose weight products run on analog tiles.

    ``layers`` maps the parameter name (``weight_ih_l0``, ``weight_hh_l1_reverse``,
    ``weight_hr_l0``) to its :class:`AnalogMVM`; a weight the plan keeps digital is absent and
    runs as ``F.linear``. Parameters are those of the original module (shared)."""

    def __init__(self, orig: nn.RNNBase, layers: dict[str, AnalogMVM]) -> None:
        super().__init__()
        self.mode = orig.mode  # "LSTM", "GRU", "RNN_TANH", "RNN_RELU"
        self.input_size, self.hidden_size = orig.input_size, orig.hidden_size
        self.num_layers, self.bias = orig.num_layers, orig.bias
        self.batch_first, self.dropout = orig.batch_first, orig.dropout
        self.bidirectional = orig.bidirectional
        self.proj_size = getattr(orig, "proj_size", 0)
        for name, p in orig.named_parameters(recurse=False):
            self.register_parameter(name, p)
        self.analog = nn.ModuleDict(layers)

    def _product(self, name: str, x: torch.Tensor) -> torch.Tensor:
        if name in self.analog:
            return self.analog[name](x)
        return F.linear(x, getattr(self, name))

    def _cell(self, sfx: str, gi: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None
              ) -> tuple[torch.Tensor, torch.Tensor | None]:
        gh = self._product(f"weight_hh_{sfx}", h)
        if self.bias:
            gh = gh + getattr(self, f"bias_hh_{sfx}")
        if self.mode == "LSTM":
            i, f, g, o = (gi + gh).chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            if self.proj_size:
                h = self._product(f"weight_hr_{sfx}", h)
            return h, c
        if self.mode == "GRU":
            ir, iz, in_ = gi.chunk(3, -1)
            hr, hz, hn = gh.chunk(3, -1)
            r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
            n = torch.tanh(in_ + r * hn)
            return (1 - z) * n + z * h, None
        act = torch.tanh if self.mode == "RNN_TANH" else torch.relu
        return act(gi + gh), None

    def forward(self, x: Any, hx: Any = None) -> tuple[torch.Tensor, Any]:
        if isinstance(x, nn.utils.rnn.PackedSequence):
            raise AnalogcError("deploy: packed sequences are not supported by the analog recurrent layer; "
                               "pass a padded tensor")
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1 if not self.batch_first else 0)
        if self.batch_first:
            x = x.transpose(0, 1)  # [T, B, I]
        T, B = x.shape[0], x.shape[1]
        dirs = 2 if self.bidirectional else 1
        h_out = self.proj_size or self.hidden_size
        lstm = self.mode == "LSTM"
        if hx is None:
            h0 = x.new_zeros(self.num_layers * dirs, B, h_out)
            c0 = x.new_zeros(self.num_layers * dirs, B, self.hidden_size) if lstm else None
        else:
            h0, c0 = hx if lstm else (hx, None)
            if unbatched:
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if c0 is not None else None
        hn, cn = [], []
        inp = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                sfx = f"l{layer}" + ("_reverse" if d else "")
                gi = self._product(f"weight_ih_{sfx}", inp)  # all time steps at once
                if self.bias:
                    gi = gi + getattr(self, f"bias_ih_{sfx}")
                idx = layer * dirs + d
                h, c = h0[idx], (c0[idx] if lstm else None)
                ys = [None] * T
                for t in (range(T - 1, -1, -1) if d else range(T)):
                    h, c = self._cell(sfx, gi[t], h, c)
                    ys[t] = h
                outs.append(torch.stack(ys))
                hn.append(h)
                if lstm:
                    cn.append(c)
            inp = torch.cat(outs, -1) if dirs > 1 else outs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                inp = F.dropout(inp, self.dropout, True)
        out = inp.transpose(0, 1) if self.batch_first else inp
        h_n = torch.stack(hn)
        c_n = torch.stack(cn) if lstm else None
        if unbatched:
            out = out.squeeze(0 if self.batch_first else 1)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        return out, ((h_n, c_n) if lstm else h_n)
