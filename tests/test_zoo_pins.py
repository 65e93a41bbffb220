"""Pins the model zoo to PUBLISHED figures and to analytic formulas written out here.

Every number below is a literal taken from the published model (paper, Hugging Face
``config.json``, the checkpoint's parameter count), never read back from
``analogc.frontends.zoo``, so a wrong zoo config (say GPT-2 at width 1024 instead of 768)
fails here. Each published parameter count is also recomputed from its architecture formula,
so the test carries an independent oracle for the numbers it quotes.

tests/test_trace.py already checks the trace against formulas fed with the zoo's OWN shape
metadata (``g.meta``): that catches tracer bugs but not config errors. This file adds the
config-independent pins: total parameters, hyperparameters, and per-inference MACs.
"""
import pytest

import analogc
from analogc import OpKind
from analogc.frontends import zoo

# -- published architectures (Hugging Face config.json of the named checkpoint) ---------
# GPT-2 (Radford et al. 2019; HF openai-community/gpt2, gpt2-medium, gpt2-large, gpt2-xl):
# vocab 50257, context 1024, d_ff = 4 d, LayerNorm eps 1e-5.
GPT2 = {  # name: (n_layer, n_embd, n_head)
    "gpt2": (12, 768, 12),
    "gpt2-medium": (24, 1024, 16),
    "gpt2-large": (36, 1280, 20),
    "gpt2-xl": (48, 1600, 25),
}
GPT2_V, GPT2_T = 50257, 1024

# BERT (Devlin et al. 2019; HF google-bert/bert-base-uncased, bert-large-uncased):
# vocab 30522, 512 positions, 2 token types, LayerNorm eps 1e-12.
BERT = {  # name: (layers, hidden, heads, intermediate)
    "bert-base": (12, 768, 12, 3072),
    "bert-large": (24, 1024, 16, 4096),
}
BERT_V, BERT_P, BERT_TYPES = 30522, 512, 2

# ViT-B/16 (Dosovitskiy et al. 2021; HF google/vit-base-patch16-224): 224x224 RGB,
# 16x16 patches, 12 layers, 768 hidden, 12 heads, 3072 MLP, 1000 ImageNet classes.
VIT_L, VIT_D, VIT_H, VIT_F, VIT_IMG, VIT_PATCH, VIT_CLASSES = 12, 768, 12, 3072, 224, 16, 1000

# Llama (Touvron et al. 2023; Meta 2024; HF meta-llama/Llama-2-7b-hf, Meta-Llama-3-8B,
# Meta-Llama-3-70B): untied LM head, RMSNorm eps 1e-5, head_dim 128.
LLAMA = {  # name: (layers, hidden, heads, kv_heads, intermediate, vocab, context, rope_theta)
    "llama-2-7b": (32, 4096, 32, 32, 11008, 32000, 4096, 10000.0),
    "llama-3-8b": (32, 4096, 32, 8, 14336, 128256, 8192, 500000.0),
    "llama-3-70b": (80, 8192, 64, 8, 28672, 128256, 8192, 500000.0),
}


# -- parameter-count formulas (count every weight, bias and norm scale) -----------------
def gpt2_params(L, d, V=GPT2_V, T=GPT2_T):
    # wte + wpe + per layer [ln_1 2d, c_attn 3d²+3d, c_proj d²+d, ln_2 2d, c_fc 4d²+4d,
    # mlp.c_proj 4d²+d] + ln_f 2d; lm_head is tied to wte, counted once
    return V * d + T * d + L * (12 * d * d + 13 * d) + 2 * d


def bert_params(L, d, f, V=BERT_V, P=BERT_P, types=BERT_TYPES, pooler=True):
    # word/position/type embeddings + LayerNorm; per layer Q,K,V,O (d²+d each), two
    # LayerNorms (2d each), intermediate d·f+f, output f·d+d; pooler d²+d
    emb = (V + P + types) * d + 2 * d
    layer = 4 * (d * d + d) + 2 * (2 * d) + (d * f + f) + (f * d + d)
    return emb + L * layer + (d * d + d if pooler else 0)


def vit_params(L=VIT_L, d=VIT_D, f=VIT_F, img=VIT_IMG, patch=VIT_PATCH, pooler=False, classes=0):
    # [CLS] d + positions (N+1)·d + patch conv 3·p²·d + d; per layer as BERT; final LayerNorm
    n = (img // patch) ** 2
    emb = d + (n + 1) * d + 3 * patch * patch * d + d
    layer = 4 * (d * d + d) + 2 * (2 * d) + (d * f + f) + (f * d + d)
    head = (d * d + d if pooler else 0) + (d * classes + classes if classes else 0)
    return emb + L * layer + 2 * d + head


def llama_params(L, d, h, kv, f, V):
    # embed_tokens V·d + untied lm_head V·d; per layer q,o d² each, k,v d·(kv·d/h) each
    # (no biases), gate/up/down d·f each, two RMSNorms d each; final RMSNorm d
    d_kv = kv * (d // h)
    return 2 * V * d + L * (2 * d * d + 2 * d * d_kv + 3 * d * f + 2 * d) + d


# -- published totals, each with its source --------------------------------------------
# The GPT-2 paper's Table 2 rounds these wrongly (117M/345M/762M/1542M); the exact counts
# are the Hugging Face checkpoints' (model.num_parameters(), tied wte/lm_head counted once).
PUBLISHED = {
    "gpt2": 124_439_808,         # HF openai-community/gpt2
    "gpt2-medium": 354_823_168,  # HF openai-community/gpt2-medium
    "gpt2-large": 774_030_080,   # HF openai-community/gpt2-large
    "gpt2-xl": 1_557_611_200,    # HF openai-community/gpt2-xl
    "bert-base": 109_482_240,    # HF google-bert/bert-base-uncased, BertModel with pooler ("110M")
    "bert-large": 335_141_888,   # HF google-bert/bert-large-uncased, BertModel with pooler ("340M")
    # HF google/vit-base-patch16-224 (ViTForImageClassification: no pooler, 1000-class head)
    # = timm vit_base_patch16_224, "86M"
    "vit-base": 86_567_656,
    "llama-2-7b": 6_738_415_616,    # HF meta-llama/Llama-2-7b-hf safetensors total ("7B")
    "llama-3-8b": 8_030_261_248,    # HF meta-llama/Meta-Llama-3-8B safetensors total ("8B")
    "llama-3-70b": 70_553_706_496,  # HF meta-llama/Meta-Llama-3-70B safetensors total ("70B")
    # local models: no external source, the formula is the spec
    "mlp": (784 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10),  # 269,322
    # conv 3->32 3x3, conv 32->64 3x3 (two 2x2 pools: 32 -> 8), linear 64·8·8 -> 10
    "cnn": (3 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (64 * 8 * 8 * 10 + 10),  # 60,362
}


def formula_params(name):
    """The published checkpoint's count from its architecture formula."""
    if name in GPT2:
        L, d, _ = GPT2[name]
        return gpt2_params(L, d)
    if name in BERT:
        L, d, _, f = BERT[name]
        return bert_params(L, d, f)
    if name == "vit-base":
        return vit_params(pooler=False, classes=VIT_CLASSES)
    if name in LLAMA:
        L, d, h, kv, f, V, _, _ = LLAMA[name]
        return llama_params(L, d, h, kv, f, V)
    return PUBLISHED[name]


# What the zoo builds, where it differs from the published checkpoint:
# vit-base is transformers' ViTModel: it keeps ViT's pooler (dense d->d + tanh on [CLS],
# 590,592) and has no 1000-class head (769,000), so 178,408 fewer than the checkpoint.
ZOO_EXPECTED = dict(PUBLISHED, **{"vit-base": vit_params(pooler=True, classes=0)})


def test_published_counts_agree_with_formulas():
    """The oracle: each quoted published count is reproduced by its architecture formula."""
    for name, n in PUBLISHED.items():
        assert formula_params(name) == n, name
    assert ZOO_EXPECTED["vit-base"] == 86_389_248
    assert PUBLISHED["vit-base"] - ZOO_EXPECTED["vit-base"] == (768 * 1000 + 1000) - (768 * 768 + 768)
    assert (PUBLISHED["mlp"], PUBLISHED["cnn"]) == (269_322, 60_362)


def test_every_zoo_model_is_pinned():
    assert set(zoo.names()) == set(PUBLISHED)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_zoo_parameter_count(name):
    model = zoo.build(name)  # meta device: shapes only
    assert sum(p.numel() for p in model.parameters()) == ZOO_EXPECTED[name]


def _published_hparams(name):
    """(layers, hidden, heads, kv_heads, d_ff, vocab, context, norm_eps) as published."""
    if name in GPT2:
        L, d, h = GPT2[name]
        return L, d, h, h, 4 * d, GPT2_V, GPT2_T, 1e-5
    if name in BERT:
        L, d, h, f = BERT[name]
        return L, d, h, h, f, BERT_V, BERT_P, 1e-12
    if name == "vit-base":
        return VIT_L, VIT_D, VIT_H, VIT_H, VIT_F, None, None, 1e-12
    L, d, h, kv, f, V, T, _ = LLAMA[name]
    return L, d, h, kv, f, V, T, 1e-5


@pytest.mark.parametrize("name", [*GPT2, *BERT, "vit-base", *LLAMA])
def test_zoo_hyperparameters(name):
    """What parameter counts cannot see: head counts, context length, norm epsilon, RoPE base."""
    c = zoo.build(name, layers=1).config
    d_ff = getattr(c, "intermediate_size", None) or getattr(c, "n_inner", None) or 4 * c.hidden_size
    context = getattr(c, "max_position_embeddings", None)
    eps = next(getattr(c, k) for k in ("layer_norm_epsilon", "layer_norm_eps", "rms_norm_eps")
               if getattr(c, k, None) is not None)
    got = (zoo.get(name).config.get("n_layer") or zoo.get(name).config.get("num_hidden_layers"),
           c.hidden_size, c.num_attention_heads,
           getattr(c, "num_key_value_heads", None) or c.num_attention_heads,
           d_ff, getattr(c, "vocab_size", None), context, eps)
    assert got == _published_hparams(name)
    if name in LLAMA:
        rope = getattr(c, "rope_parameters", None) or {"rope_theta": c.rope_theta}
        assert rope["rope_theta"] == LLAMA[name][7]
        assert c.tie_word_embeddings is False and c.hidden_act == "silu"
    if name == "vit-base":
        assert (c.image_size, c.patch_size, c.num_channels, c.qkv_bias) == (224, 16, 3, True)


# -- per-inference MACs of the traced graph, batch 1 ------------------------------------
T = 128  # tokens for the sequence models; MACs are exact for any T


@pytest.fixture(scope="module")
def traced():
    cache = {}

    def get(name):
        if name not in cache:
            seq = T if zoo.get(name).default_seq_len else None
            cache[name] = analogc.trace(name, seq_len=seq)
        return cache[name]
    return get


def _attention_geometry(g, heads, head_dim, tokens):
    qk, av = g.ops(OpKind.MATMUL)[:2]
    assert (qk.groups, qk.vectors, qk.in_features, qk.out_features) == (heads, tokens, head_dim, tokens)
    assert (av.groups, av.vectors, av.in_features, av.out_features) == (heads, tokens, tokens, head_dim)


def test_gpt2_macs(traced):
    s = traced("gpt2").summary()
    L, d, V = 12, 768, 50257
    # per token per layer: c_attn 3d², attn c_proj d², c_fc 4d², mlp c_proj 4d²; LM head d·V
    assert s["macs_mvm"] == T * (L * 12 * d * d + d * V) == 15_812_100_096
    assert s["macs_matmul"] == L * 2 * T * T * d == 301_989_888  # QKᵀ and A·V, full T×T
    assert s["mvm_count"] == 4 * L + 1 and s["matmul_count"] == 2 * L
    assert s["params"] == L * 12 * d * d + d * V  # weights of the MVMs (no biases, no wpe)
    _attention_geometry(traced("gpt2"), 12, 64, T)


def test_bert_base_macs(traced):
    s = traced("bert-base").summary()
    L, d, f = 12, 768, 3072
    # per token per layer: Q,K,V,O 4d², intermediate + output 2·d·f; pooler d² on [CLS] only
    assert s["macs_mvm"] == T * L * (4 * d * d + 2 * d * f) + d * d == 10_872_225_792
    assert s["macs_matmul"] == L * 2 * T * T * d == 301_989_888
    assert s["mvm_count"] == 6 * L + 1 and s["matmul_count"] == 2 * L
    _attention_geometry(traced("bert-base"), 12, 64, T)


def test_vit_base_macs(traced):
    s = traced("vit-base").summary()
    L, d, f, p = 12, 768, 3072, 16
    n = (224 // p) ** 2  # 196 patches; 197 tokens with [CLS]
    patch_embed = n * (3 * p * p) * d  # the 16x16/16 conv as an MVM per patch
    layers = (n + 1) * L * (4 * d * d + 2 * d * f)
    pooler = d * d  # ViTModel's pooler on [CLS]
    assert s["macs_mvm"] == patch_embed + layers + pooler == 16_848_322_560
    assert s["macs_matmul"] == L * 2 * (n + 1) ** 2 * d == 715_327_488
    assert s["mvm_count"] == 1 + 6 * L + 1 and s["matmul_count"] == 2 * L
    _attention_geometry(traced("vit-base"), 12, 64, n + 1)


def test_llama_3_8b_macs(traced):
    s = traced("llama-3-8b").summary()
    L, d, h, kv, f, V = 32, 4096, 32, 8, 14336, 128256
    hd = d // h  # 128
    # per token per layer: q,o d² each; GQA k,v d·(kv·hd) each; SwiGLU gate, up, down d·f each
    layer = 2 * d * d + 2 * d * (kv * hd) + 3 * d * f
    assert s["macs_mvm"] == T * (L * layer + d * V) == 960_596_279_296
    # attention products run over all h query heads (K/V shared across groups of h/kv)
    assert s["macs_matmul"] == L * 2 * T * T * h * hd == 4_294_967_296
    assert s["mvm_count"] == 7 * L + 1 and s["matmul_count"] == 2 * L
    assert s["params"] == L * layer + d * V  # every weight but the token embedding
    _attention_geometry(traced("llama-3-8b"), h, hd, T)


def test_mlp_macs(traced):
    s = traced("mlp").summary()
    assert s["macs_mvm"] == 784 * 256 + 256 * 256 + 256 * 10 == 268_800
    assert s["params"] == 268_800 and s["macs_matmul"] == 0 and s["mvm_count"] == 3


def test_cnn_macs(traced):
    s = traced("cnn").summary()
    conv1 = 32 * 32 * (3 * 9) * 32   # 32x32 output pixels (padding 1), K = 3·3·3, 32 filters
    conv2 = 16 * 16 * (32 * 9) * 64  # after a 2x2 pool: 16x16, K = 32·3·3, 64 filters
    fc = (64 * 8 * 8) * 10           # after the second pool: 64·8·8 -> 10
    assert s["macs_mvm"] == conv1 + conv2 + fc == 5_644_288
    assert s["params"] == 3 * 32 * 9 + 32 * 64 * 9 + 64 * 8 * 8 * 10  # MVM weights, no biases
    assert s["macs_matmul"] == 0 and s["mvm_count"] == 3
