"""Products that no Linear/Conv module holds, run on analog tiles: recurrent layers
(``nn.LSTM``, ``nn.GRU``, ``nn.RNN``) and mixture-of-experts grouped matmuls.

Each weight matrix of the plan (an ``mvm`` op) becomes one :class:`~analogc.sim.tile.AnalogMVM`
over a view of the module's parameter (training updates reach it, as for ``nn.Linear``):

* :class:`AnalogRNN` replaces a recurrent module and runs its cells in Python, the input
  product ``W_ih x_t`` for all time steps in one call, the recurrent product ``W_hh h_(t-1)``
  step by step (the LSTM projection ``W_hr h_t`` too), biases and gates digitally — the
  equations of ``torch.nn.LSTM``/``GRU``/``RNN``.
* :func:`wrap_experts` keeps a mixture-of-experts module and routes its grouped matmuls
  (``torch._grouped_mm``, transformers' ``grouped_mm_fallback``) through one analog layer per
  expert: the rows of expert ``e`` (``offs[e-1]:offs[e]``) go through expert ``e``'s tiles.
"""
from __future__ import annotations

import types
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from analogc.errors import AnalogcError
from analogc.sim.tile import AnalogMVM, in_analog_mvm


class WeightView:
    """What AnalogMVM reads from the module it replaces: a weight (N x K for "linear", K x N
    for "conv1d_hf") and no bias (biases are added by the caller)."""

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight = weight
        self.bias = None


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


# ---------------------------------------------------------------------------------------
# mixture of experts
# ---------------------------------------------------------------------------------------
def expert_weights(module: nn.Module, param: str, experts: int, k: int, n: int
                   ) -> tuple[torch.Tensor, str]:
    """The expert weight stack named ``param`` (its last component is the attribute of
    ``module``) and the AnalogMVM kind that reads ``stack[e]``: ``"linear"`` for a stack stored
    (E, N, K), ``"conv1d_hf"`` for one stored (E, K, N) (transformers' ``is_transposed``)."""
    attr = param.rsplit(".", 1)[-1]
    w = getattr(module, attr, None)
    if not isinstance(w, torch.Tensor) or w.dim() != 3 or w.shape[0] != experts:
        raise AnalogcError(f"deploy: expert weights {param!r}: expected a tensor of {experts} experts, "
                           f"got {None if w is None else tuple(getattr(w, 'shape', ()))}")
    if tuple(w.shape[1:]) == (n, k) and (k != n or not getattr(module, "is_transposed", False)):
        return w, "linear"
    if tuple(w.shape[1:]) == (k, n):
        return w, "conv1d_hf"
    raise AnalogcError(f"deploy: expert weights {param!r} of shape {tuple(w.shape)} do not match "
                       f"the plan's K x N = {k} x {n}")


class ExpertMVM(AnalogMVM):
    """The analog layer of expert ``index`` of a weight stack: its ``weight`` is ``stack[index]``
    taken on every access (a view: training updates of the stack reach it, and a deepcopy of the
    deployed model copies the stack, not a view of it)."""

    def __init__(self, stack: torch.Tensor, index: int, kind: str, *args: Any) -> None:
        self._expert = (index, [stack])  # set before AnalogMVM assigns .weight
        super().__init__(WeightView(stack[index]), kind, *args)

    @property
    def weight(self) -> torch.Tensor:  # type: ignore[override]
        index, stack = self._expert
        return stack[0][index]

    @weight.setter
    def weight(self, value: torch.Tensor) -> None:  # AnalogMVM.__init__: always this expert's view
        pass


class AnalogExperts(nn.Module):
    """One analog layer per expert of one grouped matmul; ``stack`` is the weight tensor
    (a parameter of the experts module) whose grouped matmuls it runs."""

    def __init__(self, stack: torch.Tensor, kind: str, layers: list[AnalogMVM]) -> None:
        super().__init__()
        self.kind = kind
        self.layers = nn.ModuleList(layers)
        self._stack = [stack]  # not a submodule or parameter: the experts module owns it

    def matches(self, w: torch.Tensor) -> bool:
        """Whether the grouped matmul's operand ``w`` is this stack (or a transpose or cast of it)."""
        s = self._stack[0]
        return (w.dim() == 3 and w.shape[0] == s.shape[0]
                and w.untyped_storage().data_ptr() == s.untyped_storage().data_ptr())

    def forward(self, x: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
        ends = [int(v) for v in offs.tolist()]
        n = self.layers[0].out_features
        out = x.new_zeros(x.shape[0], n)  # rows past offs[-1] (dropped tokens) stay zero
        start = 0
        for e, end in enumerate(ends):
            if end > start:
                out[start:end] = self.layers[e](x[start:end])
            start = end
        return out


#: the grouped matmuls an experts module may call (torch's, transformers' fallback op)
_GROUPED_MM = ("_grouped_mm", "grouped_mm_fallback", "grouped_mm")


class _ExpertsMode(TorchFunctionMode):
    """Routes grouped matmuls on the experts module's weight stacks through their analog experts."""

    def __init__(self, banks: list[AnalogExperts]) -> None:
        super().__init__()
        self.banks = banks

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if in_analog_mvm():
            return func(*args, **kwargs)
        name = getattr(func, "__name__", "").split(".")[0]  # an OpOverload: its packet's name
        if name in _GROUPED_MM and len(args) >= 2:
            x, w = args[0], args[1]
            offs = kwargs.get("offs", args[2] if len(args) > 2 else None)
            if offs is not None and kwargs.get("bias") is None and isinstance(w, torch.Tensor):
                for bank in self.banks:
                    if bank.matches(w):
                        return bank(x, offs)
        return func(*args, **kwargs)


def wrap_experts(module: nn.Module, banks: list[AnalogExperts]) -> None:
    """Run ``module`` with its grouped matmuls on ``banks`` (registered as a submodule, so that
    calibration, drift and reseeding reach every expert's layer)."""
    module.analogc_experts = nn.ModuleList(banks)  # type: ignore[attr-defined]
    module._analogc_experts_forward = module.forward  # type: ignore[attr-defined]
    module.forward = types.MethodType(_forward_with_analog_experts, module)  # type: ignore[method-assign]


def _forward_with_analog_experts(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
    with _ExpertsMode(list(self.analogc_experts)):
        return self._analogc_experts_forward(*args, **kwargs)
