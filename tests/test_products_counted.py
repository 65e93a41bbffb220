"""Every product counted (issue 9, item 2): recurrent layers are ``mvm`` ops with
hand-computed MACs and weights, and deploy puts them on tiles."""
import warnings

import pytest
import torch
from torch import nn

import analogc
from analogc.sim.deploy import analog_layers


# -- recurrent layers ---------------------------------------------------------------------
class _Seq(nn.Module):
    def __init__(self, cls, **kw):
        super().__init__()
        self.rnn = cls(batch_first=True, **kw)

    def forward(self, x):
        return self.rnn(x)[0]


GATES = {nn.LSTM: 4, nn.GRU: 3, nn.RNN: 1}


def _rnn_hand(gates, I, H, layers, dirs=1, P=0):
    """(MACs per step, weights) by hand: per layer and direction W_ih is gates·H x I_l and
    W_hh gates·H x H (x P with an LSTM projection, plus W_hr P x H); I_0 = I, I_l = dirs·(P or H)."""
    macs = 0
    for layer in range(layers):
        i_l = I if layer == 0 else dirs * (P or H)
        per_dir = gates * H * i_l + gates * H * (P or H) + (P * H if P else 0)
        macs += dirs * per_dir
    return macs, macs  # one MAC per weight per step


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
def test_recurrent_layers_are_mvm_ops_with_hand_macs(cls):
    B, T, I, H, L = 4, 20, 32, 64, 2
    g = analogc.trace(_Seq(cls, input_size=I, hidden_size=H, num_layers=L), (torch.randn(B, T, I),))
    s = g.summary()
    gates = GATES[cls]
    # by hand: gates·H·(I+H) for layer 0 and gates·H·(H+H) for layer 1, per step, x B·T vectors
    per_step = gates * H * (I + H) + gates * H * (H + H)
    assert s["macs_mvm"] == per_step * B * T
    assert s["params"] == per_step  # every weight once
    assert s["mvm_count"] == 2 * L  # W_ih and W_hh per layer
    assert g.ops("other") == []
    if cls is nn.LSTM:  # the 2-layer LSTM 32 -> 64 over 80 vectors: 4.6 M MACs
        assert s["macs_mvm"] == 4 * 64 * (32 + 64) * 80 + 4 * 64 * (64 + 64) * 80 == 4_587_520
    ops = {o.meta["rnn_weight"]: o for o in g.ops("mvm")}
    assert ops["weight_ih_l0"].in_features == I and ops["weight_ih_l0"].out_features == gates * H
    assert ops["weight_hh_l1"].in_features == H and ops["weight_hh_l1"].vectors == B * T
    assert ops["weight_ih_l1"].param == "rnn.weight_ih_l1"


def test_bidirectional_projected_lstm_and_gru_hand_macs():
    B, T, I, H, P = 3, 7, 10, 12, 5
    m = _Seq(nn.LSTM, input_size=I, hidden_size=H, num_layers=2, bidirectional=True, proj_size=P)
    g = analogc.trace(m, (torch.randn(B, T, I),))
    per_step, weights = _rnn_hand(4, I, H, 2, dirs=2, P=P)
    # layer 0 by hand: 2 dirs x (4·12·10 + 4·12·5 + 5·12); layer 1: input 2·5 = 10
    assert per_step == 2 * (480 + 240 + 60) + 2 * (480 + 240 + 60)
    assert g.summary()["macs_mvm"] == per_step * B * T
    assert g.summary()["params"] == sum(p.numel() for n, p in m.named_parameters() if "weight" in n)
    assert g.summary()["mvm_count"] == 2 * 2 * 3
    m = _Seq(nn.GRU, input_size=I, hidden_size=H, num_layers=1, bidirectional=True)
    g = analogc.trace(m, (torch.randn(B, T, I),))
    assert g.summary()["macs_mvm"] == 2 * (3 * H * I + 3 * H * H) * B * T


@pytest.mark.parametrize("cls,kw", [(nn.LSTM, {}), (nn.GRU, {}), (nn.RNN, {"nonlinearity": "relu"}),
                                    (nn.LSTM, {"bidirectional": True, "proj_size": 8})])
def test_recurrent_layers_deploy_on_tiles(cls, kw):
    torch.manual_seed(0)
    m = _Seq(cls, input_size=16, hidden_size=24, num_layers=2, **kw).eval()
    x = torch.randn(2, 6, 16)
    with torch.no_grad():
        y = m(x)
        dirs = 2 if kw.get("bidirectional") else 1
        per_dir = 3 if kw.get("proj_size") else 2
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing left digital, nothing warned
            ideal = analogc.deploy(m, "ideal", seed=0, example_inputs=(x,))
        assert len(analog_layers(ideal)) == 2 * dirs * per_dir
        assert torch.allclose(ideal(x), y, atol=1e-5)
        noisy = analogc.deploy(m, "pcm-hermes", seed=0, example_inputs=(x,))
        assert len(analog_layers(noisy)) == 2 * dirs * per_dir
        yn = noisy(x)
        assert yn.shape == y.shape and (yn - y).abs().max() > 1e-3
        # the recurrent product runs once per time step on every sequence
        hh = [a for a in analog_layers(noisy) if a.name == "rnn.weight_hh_l0"][0]
        ih = [a for a in analog_layers(noisy) if a.name == "rnn.weight_ih_l0"][0]
        assert hh.conversions == ih.conversions > 0  # both: B·T vectors x gates·H columns
