"""Frontend → IR: classification per model family, MACs against analytic formulas."""
import math

import pytest
import torch
import transformers as tf
from torch import nn

import analogc
from analogc import OpKind
from analogc.errors import AnalogcError
from analogc.frontends import zoo


def _tiny_gpt2(**kw):
    cfg = tf.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=100, n_positions=64,
                        bos_token_id=0, eos_token_id=0, **kw)
    return tf.GPT2LMHeadModel(cfg).eval()


def test_mlp_macs_and_module_paths():
    m = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 5))
    g = analogc.trace(m, (torch.randn(7, 20),))
    mvm = g.ops(OpKind.MVM)
    assert [o.module_path for o in mvm] == ["0", "2"]
    assert [o.param for o in mvm] == ["0.weight", "2.weight"]
    assert [(o.in_features, o.out_features, o.vectors) for o in mvm] == [(20, 30, 7), (30, 5, 7)]
    s = g.summary()
    assert s["macs_mvm"] == 7 * (20 * 30 + 30 * 5)
    assert s["params"] == 20 * 30 + 30 * 5
    assert s["matmul_count"] == 0
    assert [o.kind for o in g.ops()] == [OpKind.MVM, OpKind.ACTIVATION, OpKind.MVM]


def test_cnn_im2col_and_grouped_conv():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 8, 3, padding=1)
            self.b = nn.Conv2d(8, 8, 3, stride=2, groups=4)
            self.c = nn.Conv1d(4, 6, 5)

        def forward(self, x, y):
            return self.b(torch.relu(self.a(x))).sum() + self.c(y).sum()

    g = analogc.trace(Net(), (torch.randn(2, 3, 16, 16), torch.randn(2, 4, 20)))
    a, b, c = g.ops(OpKind.MVM)
    # im2col: one vector per output pixel, K = C_in/groups * kh * kw, N = C_out/groups
    assert (a.in_features, a.out_features, a.vectors, a.groups) == (27, 8, 2 * 16 * 16, 1)
    hb = (16 - 3) // 2 + 1
    assert (b.in_features, b.out_features, b.vectors, b.groups) == (2 * 9, 2, 2 * hb * hb, 4)
    assert (c.in_features, c.out_features, c.vectors) == (4 * 5, 6, 2 * 16)
    # MACs equal the direct convolution count: outputs x (C_in/groups x kernel)
    assert b.macs == 2 * 8 * hb * hb * (8 // 4) * 9
    assert b.weight_params == 8 * 2 * 9  # the Conv2d weight tensor size
    assert a.conv["kernel"] == (3, 3)


def test_gpt2_per_layer_formula_and_attention():
    m = _tiny_gpt2()
    T, d, L = 16, 64, 2
    g = analogc.trace(m, {"input_ids": torch.zeros(1, T, dtype=torch.long)})
    s = g.summary()
    # 4 MVMs per layer (c_attn, c_proj, c_fc, c_proj) + lm_head; 2 attention matmuls per layer
    assert s["mvm_count"] == 4 * L + 1
    assert s["matmul_count"] == 2 * L
    d_ff = 4 * d
    per_token_layer = 4 * d * d + 2 * d * d_ff
    assert s["macs_mvm"] == T * (L * per_token_layer + d * 100)
    assert s["macs_matmul"] == L * T * 2 * T * d  # QK^T and A·V: 2·T·d per token
    assert {o.module_path for o in g.ops(OpKind.MVM)} >= {"transformer.h.0.attn.c_attn", "lm_head"}
    kinds = {o.kind for o in g.ops()}
    assert {OpKind.SOFTMAX, OpKind.NORM, OpKind.EMBEDDING, OpKind.ACTIVATION} <= kinds


def test_gpt2_conv1d_weight_is_in_by_out():
    g = analogc.trace(_tiny_gpt2(), {"input_ids": torch.zeros(1, 8, dtype=torch.long)})
    op = next(o for o in g.ops(OpKind.MVM) if o.module_path == "transformer.h.0.attn.c_attn")
    assert op.weight_shape == (64, 192)  # Conv1D stores [in, out]
    assert (op.in_features, op.out_features) == (64, 192)


def test_sdpa_is_expanded_into_two_matmuls():
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(32, 96)

        def forward(self, x):
            q, k, v = self.qkv(x).view(2, 10, 3, 4, 8).permute(2, 0, 3, 1, 4)
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)

    g = analogc.trace(Attn(), (torch.randn(2, 10, 32),))
    mm = g.ops(OpKind.MATMUL)
    assert len(mm) == 2
    qk, av = mm
    assert (qk.groups, qk.vectors, qk.in_features, qk.out_features) == (8, 10, 8, 10)
    assert (av.groups, av.vectors, av.in_features, av.out_features) == (8, 10, 10, 8)
    assert len(g.ops(OpKind.SOFTMAX)) == 1


@pytest.mark.parametrize("name,T", [("gpt2", 32), ("bert-base", 32), ("llama-3-8b", 16),
                                    ("llama-2-7b", 8)])
def test_zoo_transformers_match_analytic(name, T):
    g = analogc.trace(name, seq_len=T)
    m = g.meta
    d, L, dff, vocab = m["d_model"], m["n_layers"], m["d_ff"], m["vocab"]
    s = g.summary()
    if zoo.get(name).family == "llama":
        d_kv = m["n_kv_heads"] * m["head_dim"]
        layer = 2 * d * d + 2 * d * d_kv + 3 * d * dff
        head = d * vocab
        assert s["mvm_count"] == 7 * L + 1
    elif name.startswith("gpt2"):
        layer, head = 4 * d * d + 2 * d * dff, d * vocab
        assert s["mvm_count"] == 4 * L + 1
    else:  # BERT: 6 MVMs per layer, plus the pooler on the first token
        layer, head = 4 * d * d + 2 * d * dff, 0
        assert s["mvm_count"] == 6 * L + 1
        head_macs = d * d  # pooler: one vector
        assert s["macs_mvm"] == T * L * layer + head_macs
        assert s["macs_matmul"] == L * T * 2 * T * d
        return
    assert s["macs_mvm"] == T * (L * layer + head)
    assert s["macs_matmul"] == L * T * 2 * T * d
    assert s["matmul_count"] == 2 * L


def test_zoo_llama_70b_params_and_block_names():
    g = analogc.trace("llama-3-70b", seq_len=4)
    s = g.summary()
    # 70.6B parameters in all; the MVMs hold all but the 128256 x 8192 token embedding
    assert s["params"] + 128256 * 8192 == pytest.approx(70.55e9, rel=0.01)
    paths = {o.module_path for o in g.ops(OpKind.MVM)}
    assert "model.layers.79.mlp.down_proj" in paths and "model.layers.80.mlp.down_proj" not in paths
    assert len({o.name for o in g.ops()}) == len(g)


def test_repeated_block_equals_full_trace():
    """Trace-once-and-repeat gives the same ops as tracing every block."""
    full = analogc.trace(zoo.build("gpt2", layers=3), zoo.example_inputs("gpt2", 8))
    e = zoo.ZOO["gpt2"]
    one = zoo.build("gpt2", layers=1)
    from analogc.frontends.torch import trace_module
    from analogc.ir import repeat_block
    rep = repeat_block(trace_module(one, zoo.example_inputs("gpt2", 8)), "transformer.h.0", 3,
                       "transformer.h.0")
    sig = lambda g: [(o.kind, o.module_path, o.param, o.macs, o.elements) for o in g.ops()]  # noqa: E731
    assert sig(rep) == sig(full)
    assert e.config["n_layer"] == 12
    # the residual stream is chained from block to block
    first_in_block1 = next(o for o in rep.ops() if (o.module_path or "").startswith("transformer.h.1"))
    preds = rep.predecessors(first_in_block1.name)
    assert any("@1" not in p and rep[p].module_path.startswith("transformer.h.0") for p in preds)


def test_vit_patch_embedding_is_conv_mvm():
    g = analogc.trace("vit-base")
    patch = next(o for o in g.ops(OpKind.MVM) if o.conv)
    assert (patch.in_features, patch.out_features, patch.vectors) == (3 * 16 * 16, 768, 196)
    qk = g.ops(OpKind.MATMUL)[0]
    assert qk.vectors == 197 and qk.out_features == 197  # 196 patches + [CLS]


def test_real_weights_and_meta_give_same_graph():
    real = _tiny_gpt2()
    with torch.device("meta"):
        meta = _tiny_gpt2()
    ids = torch.zeros(1, 8, dtype=torch.long)
    a = analogc.trace(real, {"input_ids": ids}).summary()
    b = analogc.trace(meta, {"input_ids": ids.to("meta")}).summary()
    assert a == b


def test_unknown_ops_are_kept_as_other():
    class Odd(nn.Module):
        def forward(self, x):
            return torch.fft.rfft(x).real

    g = analogc.trace(Odd(), (torch.randn(4, 16),))
    assert [o.kind for o in g.ops()] != []
    assert any(o.kind is OpKind.OTHER for o in g.ops())


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(AnalogcError, match="unknown model 'gpt5'"):
        analogc.trace("gpt5")
    with pytest.raises(AnalogcError, match="seq_len: expected a positive integer"):
        analogc.trace("gpt2", seq_len=0)
    with pytest.raises(AnalogcError, match="batch: expected a positive integer"):
        analogc.trace("gpt2", batch=-1)
    with pytest.raises(AnalogcError, match="at most 1024 tokens"):
        analogc.trace("gpt2", seq_len=4096)

    class DataDependent(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x

    with pytest.raises(AnalogcError, match="cannot export DataDependent") as e:
        analogc.trace(DataDependent(), (torch.randn(3),))
    assert "\n" not in str(e.value)
    with pytest.raises(AnalogcError, match="needs example inputs"):
        analogc.trace(nn.Linear(2, 2))


def test_analytic_macs_helper_consistency():
    """The IR's MAC identity: macs = groups * vectors * K * N for every product op."""
    g = analogc.trace("cnn")
    for o in g.ops(OpKind.MVM, OpKind.MATMUL):
        assert o.macs == o.groups * o.vectors * o.in_features * o.out_features
    assert g.summary()["params"] == sum(math.prod(o.weight_shape) for o in g.ops(OpKind.MVM))


def test_user_llama_and_vit_with_default_inputs():
    """A user's own Hugging Face models (real weights, SDPA attention by default)."""
    cfg = tf.LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=120,
                         max_position_embeddings=64)
    g = analogc.trace(tf.LlamaForCausalLM(cfg), seq_len=12)
    s = g.summary()
    d, d_kv, dff, T = 64, 2 * 16, 96, 12
    assert s["mvm_count"] == 7 * 2 + 1
    assert s["macs_mvm"] == T * (2 * (2 * d * d + 2 * d * d_kv + 3 * d * dff) + d * 120)
    assert s["macs_matmul"] == 2 * T * 2 * T * d
    vcfg = tf.ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, image_size=32, patch_size=8)
    gv = analogc.trace(tf.ViTModel(vcfg))
    patch = next(o for o in gv.ops(OpKind.MVM) if o.conv)
    assert (patch.in_features, patch.out_features, patch.vectors) == (3 * 8 * 8, 32, 16)


def test_user_decoder_gets_shape_meta_for_decode_estimates():
    m = _tiny_gpt2()
    g = analogc.trace(m, {"input_ids": torch.zeros(2, 12, dtype=torch.long)})
    assert g.meta["decoder"] is True
    assert (g.meta["batch"], g.meta["seq_len"], g.meta["n_layers"], g.meta["d_model"]) == (2, 12, 2, 64)
    rep = analogc.estimate(analogc.compile(g))
    assert rep.summary["decode_energy_per_token_j"] > 0
    bert = tf.BertModel(tf.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=64, vocab_size=50))
    assert analogc.trace(bert, seq_len=8).meta["decoder"] is False
    # zoo and user paths agree on the same config
    z = analogc.trace("gpt2", seq_len=12, batch=2).meta
    u = analogc.trace(zoo.build("gpt2", layers=12), zoo.example_inputs("gpt2", 12, 2)).meta
    assert {k: z[k] for k in u} == u


def test_weight_computed_from_parameters_is_static():
    """x @ (g * v / ||v||) (weight norm) and x @ (B @ A) (a merged low-rank weight) are MVMs:
    the product's weight depends on parameters only."""
    class WN(nn.Module):
        def __init__(self):
            super().__init__()
            self.v = nn.Parameter(torch.randn(16, 8))
            self.g = nn.Parameter(torch.ones(16, 1))
            self.a = nn.Parameter(torch.randn(4, 8))
            self.b = nn.Parameter(torch.randn(12, 4))

        def forward(self, x):
            w = self.g * self.v / self.v.norm(dim=1, keepdim=True)
            return torch.nn.functional.linear(x, w).sum() + (x @ (self.b @ self.a).t()).sum()

    g = analogc.trace(WN(), (torch.randn(5, 8),))
    mvm = g.ops(OpKind.MVM)
    assert [(o.in_features, o.out_features, o.vectors) for o in mvm] == [(8, 16, 5), (8, 12, 5)]
    assert g.summary()["matmul_count"] == 0
    assert any(o.kind is OpKind.OTHER and o.meta.get("why") == "product of two constants" for o in g.ops())
