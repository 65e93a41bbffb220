"""Every product counted (issue 9, items 1-3): mixture-of-experts grouped matmuls and
recurrent layers are ``mvm`` ops with hand-computed MACs and weights, deploy puts them on
tiles, and an ``other`` op that looks like a product makes ``report`` warn."""
import copy
import json
import math
import sys
import textwrap
import warnings

import pytest
import torch
from torch import nn

import analogc
from analogc.cli import main
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


# -- mixture of experts -------------------------------------------------------------------
def _mixtral():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.MixtralConfig(vocab_size=128, hidden_size=32, intermediate_size=64,
                                     num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                     num_local_experts=4, num_experts_per_tok=2, max_position_embeddings=64)
    torch.manual_seed(0)
    return transformers.MixtralForCausalLM(cfg).eval(), cfg


def test_mixtral_experts_are_mvm_ops_with_hand_macs():
    m, c = _mixtral()
    T = 16
    g = analogc.trace(m, {"input_ids": torch.randint(0, 128, (1, T))})
    H, F, E, k, V = c.hidden_size, c.intermediate_size, c.num_local_experts, c.num_experts_per_tok, c.vocab_size
    kv = c.num_key_value_heads * (H // c.num_attention_heads)
    attn = T * H * H * 2 + T * H * kv * 2  # q, o; k, v
    router = T * H * E
    experts = T * k * H * 2 * F + T * k * F * H  # gate+up, down: each token through its top-k experts
    per_layer = attn + router + experts
    assert g.summary()["macs_mvm"] == 2 * per_layer + T * H * V == 561_152
    # every expert's weights are resident: E x (H·2F + F·H) per layer
    w_layer = H * H * 2 + H * kv * 2 + H * E + E * (H * 2 * F + F * H)
    assert g.summary()["params"] == 2 * w_layer + H * V
    ex = [o for o in g.ops("mvm") if o.meta.get("experts")]
    assert len(ex) == 4 and all(o.experts == E and o.vectors == T * k for o in ex)
    assert g.ops("other") == [] and g.uncounted_products() == {}
    plan = analogc.compile(g, hw="pcm-hermes")
    rows, cols, slices = plan.hw.tile.rows, plan.hw.tile.cols, plan.hw.tile.slices
    for o in ex:  # E experts' tiles, each K x N cut into row and column tiles
        want = E * math.ceil(o.in_features / rows) * math.ceil(o.out_features / cols) * slices
        assert plan.mappings[o.name].tiles == want
        assert plan.mappings[o.name].cells_used == E * o.in_features * o.out_features * slices


def test_mixtral_experts_deploy_on_tiles():
    m, c = _mixtral()
    T, E, k = 16, c.num_local_experts, c.num_experts_per_tok
    ids = torch.randint(0, 128, (1, T))
    with torch.no_grad():
        y = m(input_ids=ids).logits
        ideal = analogc.deploy(m, "ideal", seed=0, example_inputs={"input_ids": ids})
        # per layer: q, k, v, o and E experts x (gate_up, down); plus lm_head
        assert len(analog_layers(ideal)) == 2 * (4 + 2 * E) + 1
        assert torch.allclose(ideal(input_ids=ids).logits, y, atol=1e-5)
        twin = copy.deepcopy(ideal)  # a copy runs its own experts' weights
        twin.model.layers[0].mlp.experts.down_proj.mul_(0)
        assert torch.allclose(ideal(input_ids=ids).logits, y, atol=1e-5)
        assert not torch.allclose(twin(input_ids=ids).logits, y, atol=1e-3)
        noisy = analogc.deploy(m, "pcm-hermes", seed=0, example_inputs={"input_ids": ids})
        yn = noisy(input_ids=ids).logits
        assert (yn - y).abs().max() > 1e-3
        layers = {a.name: a for a in analog_layers(noisy)}
        experts = [layers[f"model.layers.0.mlp.experts.gate_up_proj.{e}"] for e in range(E)]
        # T·k routed rows went through the experts' tiles, T rows through q_proj
        per_row = layers["model.layers.0.self_attn.q_proj"].conversions // (T * c.hidden_size)
        assert sum(a.conversions for a in experts) == T * k * 2 * c.intermediate_size * per_row
        assert sum(a.conversions > 0 for a in experts) >= 2


# -- the report warns about a product it could not count ------------------------------------
_CUSTOM = textwrap.dedent("""
    import torch
    from torch import nn

    @torch.library.custom_op("analogc_test::fused_gemm", mutates_args=())
    def fused_gemm(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return x @ w

    @fused_gemm.register_fake
    def _(x, w):
        return x.new_empty(x.shape[0], w.shape[1])

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(8, 6))
            self.fc = nn.Linear(6, 4)

        def forward(self, x):
            return self.fc(fused_gemm(fused_gemm(x, self.w), torch.eye(6)))

    def make():
        return Net(), (torch.randn(3, 8),)
""")


def test_report_warns_about_an_unrecognised_product(tmp_path, capsys):
    (tmp_path / "customprod.py").write_text(_CUSTOM)
    sys.path.insert(0, str(tmp_path))
    try:
        assert main(["report", "customprod:make", "--format", "json"]) == 0
    finally:
        sys.path.remove(str(tmp_path))
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert doc["model"]["macs_mvm"] == 3 * 6 * 4  # only the Linear is counted
    lines = [ln for ln in out.err.splitlines() if "not recognised" in ln]
    assert len(lines) == 1
    assert lines[0].startswith("warning: 2 op(s)") and "analogc_test.fused_gemm.default x2" in lines[0]
    assert main(["report", "mlp", "--format", "json"]) == 0  # every product counted: no warning
    assert "not recognised" not in capsys.readouterr().err


def test_uncounted_products_names_every_product_like_other_op():
    from analogc.ir import Graph, Op, OpKind
    g = Graph("g")
    product_like = ["aten.einsum.default", "aten._scaled_dot_product_fused_attention_overrideable.default",
                    "mylib.fused_gemm.default", "transformers.grouped_mm_fallback.default", "LSTM",
                    "aten._weight_int4pack_mm.default", "mylib.flash_attn.default", "aten.bmm_like.default"]
    for i, t in enumerate(product_like + ["aten.histc.default", "mylib.scale.default", "Resize"]):
        g.add(Op(name=f"op{i}", kind=OpKind.OTHER, target=t))
    g.add(Op(name="again", kind=OpKind.OTHER, target="aten.einsum.default"))
    g.add(Op(name="fine", kind=OpKind.MATMUL, target="aten.bmm.default", in_features=2, out_features=2, vectors=2))
    got = g.uncounted_products()
    assert got == {**{t: 1 for t in product_like}, "aten.einsum.default": 2}
