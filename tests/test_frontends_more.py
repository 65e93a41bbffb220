"""Frontends beyond the zoo (issue 9, items 4-7): encoder-decoder transformers traced with
their MAC counts against hand formulas; ONNX files of transformers deployed, evaluated and
converted where onnx2torch lacks a converter. Tiny configs, random weights."""
import importlib.util

import pytest
import torch
from torch import nn

import analogc
from analogc.errors import AnalogcError
from analogc.ir import OpKind

D, HEADS, DKV, FF, FF_DEC, VOCAB, LAYERS = 32, 4, 8, 64, 48, 64, 2
SRC, TGT = 6, 5  # encoder and decoder tokens


def _enc_dec_macs(src, tgt, inner, ff_enc, ff_dec, vocab, layers):
    """Hand count of an encoder-decoder transformer (batch 1): returns (mvm MACs, matmul MACs,
    mvm ops). Encoder layer: q, k, v, o over src tokens + a 2-layer FFN; decoder layer:
    self-attention q, k, v, o over tgt tokens, cross-attention q and o over tgt and k, v over
    the src encoder outputs, FFN; the LM head over tgt tokens. Attention: QK^T and A.V, each
    heads x queries x keys x d_kv = queries x keys x inner."""
    enc = 4 * src * D * inner + 2 * src * D * ff_enc
    dec = 4 * tgt * D * inner + 2 * tgt * D * inner + 2 * src * D * inner + 2 * tgt * D * ff_dec
    mvm = layers * (enc + dec) + tgt * D * vocab
    matmul = layers * (2 * src * src * inner + 2 * tgt * tgt * inner + 2 * tgt * src * inner)
    return mvm, matmul, layers * (6 + 10) + 1


def _check(g, mvm, matmul, n_mvm):
    s = g.summary()
    assert (s["macs_mvm"], s["macs_matmul"], s["mvm_count"]) == (mvm, matmul, n_mvm)


# -- item 4: encoder-decoder models -------------------------------------------------------
def test_t5_traces_with_the_decoders_own_cache_off():
    """T5's decoder stack has its own copy of the config (use_cache=True): every config is
    turned off for the export, and restored after."""
    import transformers as tf

    cfg = tf.T5Config(vocab_size=VOCAB, d_model=D, d_kv=DKV, d_ff=FF, num_layers=LAYERS,
                      num_decoder_layers=LAYERS, num_heads=HEADS, decoder_start_token_id=0, pad_token_id=0)
    m = tf.T5ForConditionalGeneration(cfg).eval()
    assert m.decoder.config is not m.config and m.decoder.config.use_cache
    g = analogc.trace(m, {"input_ids": torch.randint(0, VOCAB, (1, SRC)),
                          "decoder_input_ids": torch.randint(0, VOCAB, (1, TGT))})
    # T5: inner = heads x d_kv = 32, FFN d_ff both sides: 98304 + 126976 + 10240 = 235520 MACs
    mvm, matmul, n = _enc_dec_macs(SRC, TGT, HEADS * DKV, FF, FF, VOCAB, LAYERS)
    assert (mvm, matmul) == (235520, 11648)
    _check(g, mvm, matmul, n)
    assert m.decoder.config.use_cache and m.config.use_cache  # restored


def test_bart_traces_with_hand_counted_macs():
    import transformers as tf

    cfg = tf.BartConfig(vocab_size=VOCAB, d_model=D, encoder_layers=LAYERS, decoder_layers=LAYERS,
                        encoder_attention_heads=HEADS, decoder_attention_heads=HEADS,
                        encoder_ffn_dim=FF, decoder_ffn_dim=FF_DEC, max_position_embeddings=32)
    m = tf.BartForConditionalGeneration(cfg).eval()
    g = analogc.trace(m, {"input_ids": torch.randint(3, VOCAB, (1, SRC)),
                          "decoder_input_ids": torch.randint(3, VOCAB, (1, TGT))})
    mvm, matmul, n = _enc_dec_macs(SRC, TGT, D, FF, FF_DEC, VOCAB, LAYERS)
    assert (mvm, matmul) == (225280, 11648)
    _check(g, mvm, matmul, n)


def test_whisper_traces_with_hand_counted_macs():
    """Whisper: two Conv1d stems (k=3; the second stride 2) before the encoder."""
    import transformers as tf

    mel, frames = 8, 16
    cfg = tf.WhisperConfig(vocab_size=VOCAB, num_mel_bins=mel, encoder_layers=LAYERS, decoder_layers=LAYERS,
                           encoder_attention_heads=HEADS, decoder_attention_heads=HEADS, d_model=D,
                           encoder_ffn_dim=FF, decoder_ffn_dim=FF_DEC, max_source_positions=frames // 2,
                           max_target_positions=16, decoder_start_token_id=1, pad_token_id=0,
                           bos_token_id=1, eos_token_id=2)
    m = tf.WhisperForConditionalGeneration(cfg).eval()
    g = analogc.trace(m, {"input_features": torch.randn(1, mel, frames),
                          "decoder_input_ids": torch.randint(3, VOCAB, (1, TGT))})
    src = frames // 2
    stems = frames * (mel * 3) * D + src * (D * 3) * D  # im2col: out pixels x C_in*k x C_out
    mvm, matmul, n = _enc_dec_macs(src, TGT, D, FF, FF_DEC, VOCAB, LAYERS)
    assert (stems + mvm, matmul) == (303104, 16512)
    _check(g, stems + mvm, matmul, n + 2)


def test_export_error_message_is_not_truncated():
    end = "the end of a long message"

    class Long(nn.Module):
        def forward(self, x):
            raise ValueError("x" * 400 + " " + end)

    with pytest.raises(AnalogcError, match="cannot export Long") as e:
        analogc.trace(Long(), (torch.randn(2),))
    assert str(e.value).endswith(end) and "\n" not in str(e.value)


# -- item 5: ONNX transformers deploy -------------------------------------------------------
needs_onnx2torch = pytest.mark.skipif(importlib.util.find_spec("onnx2torch") is None,
                                      reason="onnx2torch not installed (scripts/install.sh installs it)")


def _export(model, args, path, dynamo, kwargs=None, **kw):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:  # opset 18: the dynamo exporter's name_scopes metadata survives (down-converted on deploy)
            torch.onnx.export(model, args, str(path), kwargs=kwargs, dynamo=True, opset_version=18, **kw)
        else:
            torch.onnx.export(model, args, str(path), kwargs=kwargs, dynamo=False, opset_version=17, **kw)
    return str(path)


@pytest.fixture(scope="module")
def distilbert(tmp_path_factory):
    """A 2-layer DistilBERT (ReLU FFN: Gelu has no opset-17 form to convert down to) and its
    legacy and dynamo exports; attention matmuls carry the torch module path
    ``transformer.layer.N.attention`` (node names / name_scopes metadata)."""
    import transformers as tf

    torch.manual_seed(0)
    cfg = tf.DistilBertConfig(vocab_size=VOCAB, dim=D, n_layers=LAYERS, n_heads=HEADS, hidden_dim=FF,
                              max_position_embeddings=16, activation="relu")
    m = tf.DistilBertModel(cfg).eval()
    ids = torch.randint(0, VOCAB, (1, 8), generator=torch.Generator().manual_seed(1))
    d = tmp_path_factory.mktemp("distilbert")
    return m, ids, {dyn: _export(m, (ids,), d / f"db_{dyn}.onnx", dyn, input_names=None if dyn else ["input_ids"])
                    for dyn in (False, True)}


def _first(y):
    return y[0] if isinstance(y, (tuple, list)) else y


@needs_onnx2torch
@pytest.mark.parametrize("dynamo", [False, True], ids=["legacy", "dynamo"])
def test_onnx_transformer_deploys_and_ideal_matches_onnxruntime(distilbert, dynamo):
    import onnxruntime as ort

    m, ids, paths = distilbert
    path = paths[dynamo]
    g = analogc.load_onnx(path)
    matmuls = g.ops(OpKind.MATMUL)
    assert len(matmuls) == 2 * LAYERS  # QK^T and A.V per layer
    assert all(o.module_path == f"transformer.layer.{i // 2}.attention" for i, o in enumerate(matmuls))
    sess = ort.InferenceSession(path)
    ref = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: ids.numpy()})[0])
    ideal = analogc.deploy(path, "ideal", seed=0)  # ideal puts attention matmuls on tiles too
    wrapped = [n for n, mod in ideal.named_modules() if hasattr(mod, "_analogc_matmul")]
    assert len(wrapped) == len(matmuls)
    with torch.no_grad():
        torch.testing.assert_close(_first(ideal(ids)), ref, rtol=1e-5, atol=1e-5)
        sram = analogc.deploy(path, "sram-cim", seed=0)
        y = _first(sram(ids))
    assert len([1 for mod in sram.modules() if hasattr(mod, "_analogc_matmul")]) == len(matmuls)
    assert torch.isfinite(y).all() and 0 < (y - ref).abs().max() < 0.5


# -- item 6: evaluate / tradeoff on an ONNX transformer -------------------------------------
@needs_onnx2torch
@pytest.mark.parametrize("dynamo", [False, True], ids=["legacy", "dynamo"])
def test_cli_evaluate_and_tradeoff_take_the_plan_from_the_onnx_ir(distilbert, dynamo, tmp_path, capsys):
    """The converted module cannot be re-exported (onnx2torch's Reshape reads shape values):
    evaluate and tradeoff deploy the file and price the plan of its ONNX IR."""
    import hw_models

    from analogc.cli import main

    m, ids, paths = distilbert
    path = paths[dynamo]
    data = tmp_path / "ids.pt"
    torch.save(ids, data)
    assert main(["evaluate", path, "--hw", "ideal", "--data", str(data), "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "output fidelity on ideal" in out and "1.0000 ± 0.0000" in out
    assert main(["tradeoff", path, "--hw", "sram-cim", "--data", str(data), "--seeds", "1",
                 "--vary", "adc_bits=6,8"]) == 0
    out = capsys.readouterr().out
    for bits in (6, 8):
        plan = analogc.compile(analogc.load_onnx(path), hw=hw_models.load("sram-cim", adc_bits=bits))
        energy = analogc.estimate(plan).summary["energy_j"]
        assert f"{bits:>10d} {energy * 1e6:15.4g} uJ" in out


# -- item 7: conversions onnx2torch lacks ---------------------------------------------------
def _ort(path, feeds):
    import onnxruntime as ort
    sess = ort.InferenceSession(path)
    return torch.from_numpy(sess.run(None, {k: v.numpy() for k, v in feeds.items()})[0])


class _Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.c2, self.b2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.b2(self.c2(torch.relu(self.b1(self.c1(x))))))


@needs_onnx2torch
def test_legacy_resnet_with_folded_batchnorm_biases_shared_through_identity(tmp_path):
    """Fresh BatchNorms fold into equal (zero) conv biases, which the legacy exporter stores
    once and hands to every conv through an Identity node."""
    import onnx

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                        _Block(8), _Block(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()
    x = torch.randn(2, 3, 8, 8)
    path = _export(net, (x,), tmp_path / "resnet.onnx", dynamo=False, input_names=["x"])
    proto = onnx.load(path)
    inits = {t.name for t in proto.graph.initializer}
    shared = [n for n in proto.graph.node if n.op_type == "Identity" and n.input[0] in inits]
    assert len(shared) >= 3  # the case under test
    ideal = analogc.deploy(path, "ideal", seed=0)
    with torch.no_grad():
        torch.testing.assert_close(ideal(x), _ort(path, {"x": x}), rtol=1e-5, atol=1e-5)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every conv and the linear layer on tiles
        noisy = analogc.deploy(path, "pcm-hermes", seed=0)
    assert len(analogc.sim.analog_layers(noisy)) == 5 + 1


@needs_onnx2torch
def test_qwen2_export_with_a_dynamic_sequence_converts_less_or_equal(tmp_path):
    """The causal mask of a dynamic-length export stays a LessOrEqual (opset 16 version,
    which onnx2torch 1.5 lacks: it converts version 12, the same comparison)."""
    import onnx
    import transformers as tf

    cfg = tf.Qwen2Config(vocab_size=VOCAB, hidden_size=D, intermediate_size=FF_DEC, num_hidden_layers=LAYERS,
                         num_attention_heads=HEADS, num_key_value_heads=2, max_position_embeddings=32,
                         attn_implementation="eager", use_cache=False)
    torch.manual_seed(0)
    m = tf.Qwen2ForCausalLM(cfg).eval()
    ids = torch.randint(0, VOCAB, (1, 8), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(ids)
    path = _export(m, (), tmp_path / "qwen2.onnx", dynamo=True, kwargs={"input_ids": ids, "attention_mask": mask},
                   dynamic_shapes={"input_ids": {1: "seq"}, "attention_mask": {1: "seq"}})
    assert any(n.op_type == "LessOrEqual" for n in onnx.load(path).graph.node)
    ideal = analogc.deploy(path, "ideal", seed=0, dims={"seq": 8})
    with torch.no_grad():
        y = _first(ideal(ids, mask))
    torch.testing.assert_close(y, _ort(path, {"input_ids": ids, "attention_mask": mask}), rtol=1e-5, atol=1e-5)


@needs_onnx2torch
def test_plan_of_another_onnx_file_is_refused_naming_the_matmul(distilbert):
    """A plan compiled for the legacy export, deployed on the dynamo export: its matmul ops are
    no nodes of that file (before: a raw AttributeError or the wrong module wrapped)."""
    _, _, paths = distilbert
    plan = analogc.compile(analogc.load_onnx(paths[False]), hw="sram-cim")
    with pytest.raises(AnalogcError, match=r"plan matmul op '/transformer/layer\.0/attention/MatMul' "
                                           r"is no node of this file: expected node #\d+ writing") as e:
        analogc.deploy(paths[True], plan, seed=0)
    assert str(e.value).startswith(paths[True]) and "\n" not in str(e.value)
