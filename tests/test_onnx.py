"""ONNX frontend: analytic MAC counts, parity with the torch frontend, external data, bad
inputs, and ONNX -> torch conversion for deploy (checked against onnxruntime)."""
from __future__ import annotations

import collections
import importlib.util
import math
import sys
import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from analogc.errors import AnalogcError
from analogc.frontends import onnx as onnx_frontend
from analogc.frontends.onnx import load_onnx
from analogc.sim import onnx_model
from analogc.sim.onnx_model import onnx_mvm_modules, onnx_to_torch
from analogc.ir import OpKind

# -- models -----------------------------------------------------------------------------
MLP_SIZES = [(8, 16), (16, 12), (12, 4)]
BATCH = 3


def _mlp() -> nn.Module:
    layers: list[nn.Module] = []
    for i, (k, n) in enumerate(MLP_SIZES):
        layers += [nn.Linear(k, n)] + ([nn.ReLU()] if i < len(MLP_SIZES) - 1 else [])
    return nn.Sequential(*layers).eval()


class SmallCNN(nn.Module):
    """conv 3->8 (3x3, pad 1) on 8x8, grouped conv 8->8 (3x3, stride 2, groups 2), linear."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, stride=2, groups=2)
        self.fc = nn.Linear(8 * 3 * 3, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.c2(torch.relu(self.c1(x)))).flatten(1))


GPT = dict(n_layer=2, n_embd=64, n_head=4, vocab_size=100, n_positions=32)
BERT = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
            vocab_size=100, max_position_embeddings=32)
SEQ = 16


def _gpt2() -> nn.Module:
    import transformers
    cfg = transformers.GPT2Config(**GPT, use_cache=False)  # no DynamicCache in the outputs
    cfg._attn_implementation = "eager"
    return transformers.GPT2LMHeadModel(cfg).eval()


def _bert() -> nn.Module:
    import transformers
    cfg = transformers.BertConfig(**BERT)
    cfg._attn_implementation = "eager"
    return transformers.BertModel(cfg).eval()


def _export(model: nn.Module, args: tuple, path) -> str:
    """torch.onnx.export with the torch.export-based exporter (the legacy TorchScript one
    fails on GPT-2: aten::diff)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(path), dynamo=True, verbose=False)
    return str(path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each model, its example inputs, and its ONNX export (exported once per module)."""
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("onnx")
    ids = torch.randint(0, 100, (1, SEQ))
    cases = {"mlp": (_mlp(), (torch.randn(BATCH, 8),)),
             "cnn": (SmallCNN().eval(), (torch.randn(2, 3, 8, 8),)),
             "convt": (nn.Sequential(nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1,
                                                        groups=2)).eval(),
                       (torch.randn(2, 4, 5, 5),)),
             "gpt2": (_gpt2(), (ids,)),
             "bert": (_bert(), (ids,))}
    return {k: (m, args, _export(m, args, d / f"{k}.onnx")) for k, (m, args) in cases.items()}


def _products(g) -> collections.Counter:
    return collections.Counter((o.in_features, o.out_features, o.vectors * o.groups)
                               for o in g.ops(OpKind.MVM))


# -- analytic counts --------------------------------------------------------------------
def test_mlp_macs_are_batch_times_sum_in_out(exported):
    g = load_onnx(exported["mlp"][2])
    assert g.summary()["macs_mvm"] == BATCH * sum(k * n for k, n in MLP_SIZES)
    assert [(o.in_features, o.out_features, o.vectors) for o in g.ops("mvm")] == \
        [(k, n, BATCH) for k, n in MLP_SIZES]
    assert [o.module_path for o in g.ops("mvm")] == ["0", "2", "4"]
    assert [o.param for o in g.ops("mvm")] == ["0.weight", "2.weight", "4.weight"]
    assert [o.weight_shape for o in g.ops("mvm")] == [(n, k) for k, n in MLP_SIZES]


def test_every_node_is_an_op_and_edges_follow_tensors(exported):
    for _, _, path in exported.values():
        model = onnx.load(path, load_external_data=False)
        g = load_onnx(path)
        assert len(g) == len(model.graph.node)
        producer = {t: i for i, n in enumerate(model.graph.node) for t in n.output}
        expect = {(producer[t], i) for i, n in enumerate(model.graph.node)
                  for t in n.input if t in producer}
        names = [o.name for o in g.ops()]
        got = {(names.index(a), names.index(b)) for a, b in g.nx.edges}
        assert got == expect


def test_cnn_conv_im2col_counts(exported):
    g = load_onnx(exported["cnn"][2])
    c1, c2, fc = g.ops("mvm")
    # conv1: 3->8, 3x3, pad 1 on 8x8 -> 8x8 outputs; conv2: groups 2, stride 2 -> 3x3
    n = 2
    assert (c1.in_features, c1.out_features, c1.vectors, c1.groups) == (3 * 9, 8, n * 64, 1)
    assert (c2.in_features, c2.out_features, c2.vectors, c2.groups) == (4 * 9, 4, n * 9, 2)
    assert c2.macs == n * 9 * 8 * (8 // 2) * 9  # N*Hout*Wout * C_out * C_in/g * kh*kw
    assert c2.conv["kernel"] == (3, 3) and c2.conv["stride"] == (2, 2)
    assert c1.conv["padding"] == (1, 1)
    assert c1.weight_shape == (8, 3, 3, 3) and c1.module_path == "c1"
    assert (fc.in_features, fc.out_features, fc.vectors) == (72, 10, n)


def test_conv_transpose_scatter_counts(exported):
    (op,) = load_onnx(exported["convt"][2]).ops("mvm")
    # each of the N*H_in*W_in input pixels: C_in/g values scatter to C_out/g * kh*kw outputs
    assert (op.vectors, op.in_features, op.out_features, op.groups) == \
        (2 * 5 * 5, 4 // 2, 6 // 2 * 9, 2)
    assert op.conv["transposed"] and op.conv["stride"] == (2, 2)
    assert op.weight_shape == (4, 3, 3, 3)


def test_conv_with_a_computed_kernel_is_other(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "k"], ["y"], name="dyn_conv")]
    g = load_onnx(_save(_model(nodes, [_vi("x", [1, 2, 5, 5]), _vi("k", [3, 2, 3, 3])],
                               [_vi("y", [1, 3, 3, 3])]), tmp_path))
    assert g["dyn_conv"].kind is OpKind.OTHER and g["dyn_conv"].macs == 0


def test_gpt2_macs_match_the_analytic_formula(exported):
    g = load_onnx(exported["gpt2"][2])
    d, L, V, T = GPT["n_embd"], GPT["n_layer"], GPT["vocab_size"], SEQ
    d_ff = 4 * d
    s = g.summary()
    assert s["mvm_count"] == 4 * L + 1  # c_attn, c_proj, c_fc, c_proj per layer + lm_head
    assert s["macs_mvm"] == T * (L * (4 * d * d + 2 * d * d_ff) + d * V)
    assert s["macs_matmul"] == T * L * 2 * T * d  # QK^T and A.V: 2*T*d per token per layer
    assert {o.groups for o in g.ops("matmul")} == {GPT["n_head"]}
    paths = {o.module_path for o in g.ops("mvm")}
    assert {"transformer.h.0.attn.c_attn", "transformer.h.1.mlp.c_proj", "lm_head"} <= paths
    c_attn = next(o for o in g.ops("mvm") if o.module_path == "transformer.h.0.attn.c_attn")
    assert c_attn.param == "transformer.h.0.attn.c_attn.weight"
    assert c_attn.weight_shape == (d, 3 * d)  # GPT-2 Conv1D stores (in, out)
    kinds = g.summary()["ops_by_kind"]
    assert kinds["softmax"] == L and kinds["norm"] == 2 * L + 1 and kinds["embedding"] >= 1


def test_bert_macs_match_the_analytic_formula(exported):
    g = load_onnx(exported["bert"][2])
    d, L, T, ff = BERT["hidden_size"], BERT["num_hidden_layers"], SEQ, BERT["intermediate_size"]
    s = g.summary()
    # q, k, v, o and the two FFN layers per token per layer; the pooler sees one vector
    assert s["macs_mvm"] == T * L * (4 * d * d + 2 * d * ff) + d * d
    assert s["macs_matmul"] == L * 2 * T * T * d
    # the exporter folds the Linear weight transposes into anonymous initializers; the
    # module path comes from the exporter's name-scope metadata instead
    assert "encoder.layer.1.attention.self.query" in {o.module_path for o in g.ops("mvm")}


# -- parity with the torch frontend -------------------------------------------------------
def _torch_trace(model, args):
    try:
        import analogc
        if hasattr(analogc, "trace"):
            return analogc.trace(model, args)
        from analogc.frontends.torch import trace_module
    except ImportError:
        pytest.skip("torch frontend not available")
    return trace_module(model, args)


@pytest.mark.parametrize("name", ["mlp", "cnn", "convt", "gpt2", "bert"])
def test_torch_and_onnx_give_the_same_mvms(exported, name):
    model, args, path = exported[name]
    t, o = _torch_trace(model, args), load_onnx(path)
    assert len(t.ops("mvm")) == len(o.ops("mvm"))
    assert _products(t) == _products(o)
    for key in ("macs_mvm", "macs_matmul", "params"):
        assert t.summary()[key] == o.summary()[key], key
    assert sorted(x.module_path for x in t.ops("mvm")) == \
        sorted(x.module_path for x in o.ops("mvm"))


# -- hand-built graphs: weight chains, batched weights, dims --------------------------------
def _model(nodes, inputs, outputs, inits=(), value_info=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits), value_info=value_info)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def _init(name, shape, dtype=np.float32):
    return numpy_helper.from_array(np.ones(shape, dtype=dtype), name)


def _save(model, tmp_path, name="m.onnx"):
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def test_weight_reached_through_transpose_and_dequantize_chains(tmp_path):
    nodes = [helper.make_node("Transpose", ["block.fc1.weight"], ["w1t"], name="t", perm=[1, 0]),
             helper.make_node("MatMul", ["x", "w1t"], ["h"], name="mm1"),
             helper.make_node("DequantizeLinear", ["w2q", "s"], ["w2"], name="dq"),
             helper.make_node("Cast", ["w2"], ["w2c"], name="cast", to=TensorProto.FLOAT),
             helper.make_node("MatMul", ["h", "w2c"], ["y0"], name="mm2"),
             helper.make_node("Constant", [], ["w3"], name="c",
                              value=numpy_helper.from_array(np.ones((4, 2), np.float32))),
             helper.make_node("Gemm", ["y0", "w3"], ["y"], name="gemm")]
    inits = [_init("block.fc1.weight", (6, 5)), _init("w2q", (6, 4), np.int8),
             numpy_helper.from_array(np.array(0.1, np.float32), "s")]
    g = load_onnx(_save(_model(nodes, [_vi("x", [3, 5])], [_vi("y", [3, 2])], inits), tmp_path))
    mm1, mm2, gemm = g.ops("mvm")
    assert (mm1.in_features, mm1.out_features, mm1.vectors) == (5, 6, 3)
    assert mm1.param == "block.fc1.weight" and mm1.weight_shape == (6, 5)
    assert mm1.module_path == "block.fc1"
    assert (mm2.param, mm2.weight_shape, mm2.in_features, mm2.out_features) == \
        ("w2q", (6, 4), 6, 4)
    assert (gemm.param, gemm.in_features, gemm.out_features) == ("w3", 4, 2)
    for helper_node in ("t", "dq", "cast", "c"):
        assert g[helper_node].kind is OpKind.DATA_MOVEMENT
    assert g.summary()["macs_mvm"] == 3 * (5 * 6 + 6 * 4 + 4 * 2)


def test_gemm_trans_b_and_activation_matmul_broadcast(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "fc.weight"], ["h"], name="gemm", transB=1),
             helper.make_node("Reshape", ["h", "shape"], ["h4"], name="r"),
             helper.make_node("MatMul", ["h4", "b"], ["y"], name="bmm")]
    inits = [_init("fc.weight", (12, 8)),
             numpy_helper.from_array(np.array([2, 3, 2, 2], np.int64), "shape")]
    g = load_onnx(_save(_model(nodes, [_vi("x", [4, 8]), _vi("b", [1, 3, 2, 7])],
                               [_vi("y", [2, 3, 2, 7])], inits), tmp_path))
    gemm, bmm = g["gemm"], g["bmm"]
    assert gemm.kind is OpKind.MVM and (gemm.in_features, gemm.out_features) == (8, 12)
    assert bmm.kind is OpKind.MATMUL
    # (2,3,2,2) @ (1,3,2,7): batch dims broadcast to 2*3 = 6 products of (2x2)@(2x7)
    assert (bmm.groups, bmm.vectors, bmm.in_features, bmm.out_features) == (6, 2, 2, 7)
    assert bmm.macs == 6 * 2 * 2 * 7
    assert g["r"].kind is OpKind.DATA_MOVEMENT


def test_batched_static_weight_counts_groups(tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="bw")]
    g = load_onnx(_save(_model(nodes, [_vi("x", [3, 5, 8])], [_vi("y", [3, 5, 7])],
                               [_init("w", (3, 8, 7))]), tmp_path))
    op = g["bw"]
    assert op.kind is OpKind.MVM
    assert (op.groups, op.vectors, op.in_features, op.out_features) == (3, 5, 8, 7)
    assert op.weight_params == math.prod((3, 8, 7))


def test_weight_on_the_left_counts_columns_as_vectors(tmp_path):
    # W (4, 8) @ X (2, 8, 5): each of the 2*5 columns of X is a K=8 vector giving 4 outputs
    nodes = [helper.make_node("MatMul", ["proj.weight", "x"], ["y"], name="left")]
    g = load_onnx(_save(_model(nodes, [_vi("x", [2, 8, 5])], [_vi("y", [2, 4, 5])],
                               [_init("proj.weight", (4, 8))]), tmp_path))
    op = g["left"]
    assert (op.kind, op.groups, op.vectors, op.in_features, op.out_features) == \
        (OpKind.MVM, 1, 10, 8, 4)
    assert op.macs == 2 * 4 * 5 * 8 and op.module_path == "proj"


def test_classification_of_digital_ops(tmp_path):
    nodes = [helper.make_node("Gather", ["embedding.weight", "ids"], ["e"], name="embed"),
             helper.make_node("Gather", ["e", "idx"], ["g"], name="pick", axis=1),
             helper.make_node("ReduceMean", ["g"], ["m"], name="mean", keepdims=1),
             helper.make_node("Sub", ["g", "m"], ["c"], name="sub"),
             helper.make_node("Softmax", ["c"], ["p"], name="sm"),
             helper.make_node("Gelu", ["p"], ["a"], name="act", domain="com.microsoft"),
             helper.make_node("TopK", ["a", "k"], ["y", "yi"], name="topk")]
    inits = [_init("embedding.weight", (10, 6)),
             numpy_helper.from_array(np.array([0], np.int64), "idx"),
             numpy_helper.from_array(np.array([1], np.int64), "k")]
    model = _model(nodes, [_vi("ids", [2, 3], TensorProto.INT64)], [_vi("y", [2, 1, 1])],
                   inits, value_info=[_vi("a", [2, 1, 6])])
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    g = load_onnx(_save(model, tmp_path))
    kinds = {o.name: o.kind for o in g.ops()}
    assert kinds == {"embed": OpKind.EMBEDDING, "pick": OpKind.DATA_MOVEMENT,
                     "mean": OpKind.REDUCTION, "sub": OpKind.ELEMENTWISE,
                     "sm": OpKind.SOFTMAX, "act": OpKind.ACTIVATION, "topk": OpKind.OTHER}
    assert g["embed"].param == "embedding.weight" and g["embed"].elements == 2 * 3 * 6
    assert g["act"].target == "com.microsoft::Gelu"


def _symbolic_model():
    nodes = [helper.make_node("MatMul", ["x", "fc.weight"], ["y"], name="fc")]
    return _model(nodes, [_vi("x", ["batch", "seq", 8])], [_vi("y", ["batch", "seq", 4])],
                  [_init("fc.weight", (8, 4))])


def test_symbolic_dims_need_binding(tmp_path):
    path = _save(_symbolic_model(), tmp_path)
    with pytest.raises(AnalogcError, match=r"node 'fc'.*symbolic dim 'batch'.*dims="):
        load_onnx(path)
    g = load_onnx(path, dims={"batch": 2, "seq": 5})
    assert g["fc"].vectors == 10 and g["fc"].macs == 10 * 8 * 4
    with pytest.raises(AnalogcError, match=r"\['tokens'\] are not symbolic dims"):
        load_onnx(path, dims={"tokens": 5})
    with pytest.raises(AnalogcError, match=r"dims\['seq'\] = 0; expected an integer >= 1"):
        load_onnx(path, dims={"batch": 2, "seq": 0})


def test_dynamic_export_binds_batch_and_seq(tmp_path):
    """A GPT-2 exported with symbolic batch/seq: binding them reproduces the analytic
    count at any size (value_info carries the exporter's symbolic expressions)."""
    torch.manual_seed(0)
    model = _gpt2()
    batch, seq = torch.export.Dim("batch", max=8), torch.export.Dim("seq", max=32)
    path = tmp_path / "dyn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randint(0, 100, (2, SEQ)),), str(path), dynamo=True,
                          dynamic_shapes=({0: batch, 1: seq},), verbose=False)
    with pytest.raises(AnalogcError, match=r"symbolic dim '(batch|seq)'"):
        load_onnx(path)
    d, L, V = GPT["n_embd"], GPT["n_layer"], GPT["vocab_size"]
    for b, t in [(1, 8), (3, 20)]:
        s = load_onnx(path, dims={"batch": b, "seq": t}).summary()
        assert s["macs_mvm"] == b * t * (L * 12 * d * d + d * V)
        assert s["macs_matmul"] == b * t * L * 2 * t * d


# -- external data ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_external_data_goes_through_infer_shapes_path(exported, tmp_path, monkeypatch, name):
    src = exported[name][2]
    path = tmp_path / "ext.onnx"
    # size_threshold=0: even the Reshape shape constants of the CNN go to the data file
    onnx.save_model(onnx.load(src), str(path), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="ext.onnx.data", size_threshold=0)
    assert (tmp_path / "ext.onnx.data").stat().st_size > 0
    assert all(t.data_location == TensorProto.EXTERNAL
               for t in onnx.load(str(path), load_external_data=False).graph.initializer)
    calls = []
    real = onnx.shape_inference.infer_shapes_path
    monkeypatch.setattr(onnx_frontend.shape_inference, "infer_shapes_path",
                        lambda *a, **k: (calls.append(a), real(*a, **k))[1])
    g, inline = load_onnx(path), load_onnx(src)
    assert calls, "external-data models must use the path-based shape inference"
    assert _products(g) == _products(inline)
    assert g.summary()["macs"] == inline.summary()["macs"] > 0
    assert [o.param for o in g.ops("mvm")] == [o.param for o in inline.ops("mvm")]


def test_missing_external_data_file(exported, tmp_path):
    path = tmp_path / "ext.onnx"
    onnx.save_model(onnx.load(exported["mlp"][2]), str(path), save_as_external_data=True,
                    location="weights.bin", size_threshold=0)
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(AnalogcError, match=r"ext.onnx: initializer '0.weight' stores its "
                                           r"data in '.*weights.bin', which does not exist"):
        load_onnx(path)


# -- bad input ----------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(AnalogcError, match=r"no such file"):
        load_onnx(tmp_path / "nope.onnx")


def test_not_an_onnx_file(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model\n")
    with pytest.raises(AnalogcError, match=r"notes.onnx: not a valid ONNX file"):
        load_onnx(path)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(AnalogcError, match=r"empty.onnx: not a valid ONNX file"):
        load_onnx(empty)


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.6, 0.97])
def test_truncated_file(exported, tmp_path, fraction):
    data = open(exported["gpt2"][2], "rb").read()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(AnalogcError, match=r"cut.onnx: "):
        load_onnx(path)


def test_uninferable_shapes_name_the_node(tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="bad_mm")]
    model = _model(nodes, [_vi("x", [3, 8])], [_vi("y", [3, 4])], [_init("w", (5, 4))])
    with pytest.raises(AnalogcError, match=r"m.onnx: shape inference failed at node 'bad_mm'"):
        load_onnx(_save(model, tmp_path))


def test_custom_op_without_shapes_names_the_node(tmp_path):
    nodes = [helper.make_node("Mystery", ["x"], ["h"], name="mystery", domain="acme"),
             helper.make_node("Relu", ["h"], ["y"], name="relu")]
    model = _model(nodes, [_vi("x", [3, 8])], [_vi("y", None)])
    model.opset_import.append(helper.make_opsetid("acme", 1))
    with pytest.raises(AnalogcError, match=r"node 'mystery' \(Mystery\) output 'h'"):
        load_onnx(_save(model, tmp_path))
    # the same op with its shape recorded is kept as ``other``
    model.graph.value_info.append(_vi("h", [3, 8]))
    g = load_onnx(_save(model, tmp_path, "known.onnx"))
    assert g["mystery"].kind is OpKind.OTHER and g["mystery"].output_shape == (3, 8)


@pytest.mark.parametrize("dim", [0, -2])
def test_zero_or_negative_input_dims(tmp_path, dim):
    model = _symbolic_model()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = dim
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 5
    with pytest.raises(AnalogcError, match=rf"graph input 'x' dim 0 is {dim}; expected"):
        load_onnx(_save(model, tmp_path))


def test_undefined_tensor_names_the_node(tmp_path):
    nodes = [helper.make_node("Relu", ["ghost"], ["y"], name="r")]
    model = _model(nodes, [_vi("x", [3])], [_vi("y", [3])])
    with pytest.raises(AnalogcError, match=r"node 'r' \(Relu\) reads 'ghost'"):
        load_onnx(_save(model, tmp_path))


# -- ONNX -> torch for deploy ----------------------------------------------------------------
needs_onnx2torch = pytest.mark.skipif(importlib.util.find_spec("onnx2torch") is None,
                                      reason="pip install --no-deps onnx2torch")


def _run_ort(path, args):
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args)}
    return sess.run(None, feeds)[0]


@needs_onnx2torch
@pytest.mark.parametrize("name", ["mlp", "cnn", "convt"])
def test_onnx_to_torch_matches_onnxruntime_and_torch(exported, name):
    model, args, path = exported[name]
    converted = onnx_to_torch(path)
    with torch.no_grad():
        got = converted(*args).numpy()
        want = model(*args).numpy()
    np.testing.assert_allclose(got, _run_ort(path, args), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


@needs_onnx2torch
@pytest.mark.parametrize("name", ["mlp", "cnn", "convt"])
def test_mvm_ops_map_to_converted_linear_and_conv(exported, name):
    path = exported[name][2]
    g, converted = load_onnx(path), onnx_to_torch(path)
    mapping = onnx_mvm_modules(path)
    assert set(mapping) == {o.name for o in g.ops("mvm")}
    for op_name, module_name in mapping.items():
        op, module = g[op_name], converted.get_submodule(module_name)
        assert isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))
        w = module.weight
        if isinstance(module, nn.Linear):
            assert tuple(w.shape) == (op.out_features, op.in_features)
        elif isinstance(module, nn.ConvTranspose2d):  # (C_in, C_out/g, kh, kw)
            assert module.groups == op.groups
            assert w.shape[0] == op.in_features * op.groups
            assert math.prod(w.shape[1:]) == op.out_features
        else:  # (C_out, C_in/g, kh, kw)
            assert module.groups == op.groups
            assert w.shape[0] == op.out_features * op.groups
            assert math.prod(w.shape[1:]) == op.in_features


@needs_onnx2torch
def test_onnx_to_torch_with_external_data(exported, tmp_path):
    model, args, src = exported["mlp"]
    path = tmp_path / "ext.onnx"
    onnx.save_model(onnx.load(src), str(path), save_as_external_data=True, size_threshold=0)
    with torch.no_grad():
        np.testing.assert_allclose(onnx_to_torch(path)(*args).numpy(), model(*args).numpy(),
                                   atol=1e-5, rtol=1e-5)


@needs_onnx2torch
def test_torchvision_placeholder_is_removed_and_raises_clearly():
    had_torchvision = "torchvision" in sys.modules
    onnx_model._import_onnx2torch()
    assert ("torchvision" in sys.modules) == had_torchvision
    if had_torchvision:
        pytest.skip("a real torchvision is installed")
    roialign = sys.modules["onnx2torch.node_converters.roialign"]
    with pytest.raises(AnalogcError, match=r"NonMaxSuppression/RoiAlign needs torchvision"):
        roialign.roi_align(torch.zeros(1), torch.zeros(1), 1)
    with pytest.raises(ImportError):
        import torchvision  # noqa: F401  (the placeholder does not leak)


def test_missing_onnx2torch_is_a_clear_error(exported, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnx2torch" else real(name, *a))
    monkeypatch.delitem(sys.modules, "onnx2torch", raising=False)
    with pytest.raises(AnalogcError, match=r"pip install --no-deps onnx2torch"):
        onnx_to_torch(exported["mlp"][2])
