"""ONNX frontend: an ``.onnx`` file -> :class:`analogc.ir.Graph`. (A runnable torch model of
the same file, for deploy, is :func:`analogc.sim.onnx_model.onnx_to_torch`.)

Shapes come from ONNX shape inference (with data propagation). Every node becomes one
:class:`~analogc.ir.Op`; edges follow tensor producers and consumers. Products with a static
weight (an initializer or Constant, possibly reached through Transpose/Cast/Reshape/
DequantizeLinear... helper nodes) are ``mvm``; products of two activations are ``matmul``.

Symbolic dims (``batch``, ``seq``) must be bound with ``dims={"batch": 1, "seq": 128}``;
an unbound one is an :class:`~analogc.errors.AnalogcError` naming the node and the dim. A
name in ``dims`` that the file does not declare (a dynamo export's batch is fixed) is
ignored with a warning once every symbolic dim is bound, an error otherwise (a misspelling).
"""
from __future__ import annotations

import ast
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import onnx
import onnx.external_data_helper
from onnx import shape_inference

from analogc.errors import AnalogcError, first_line
from analogc.ir import Graph, Op, OpKind

_PROTOBUF_LIMIT = 2**31 - 1  # protobuf cannot serialise a message of 2 GiB or more
_INLINE_BYTES = 1 << 16  # external initializers up to this size are read for shape inference

# -- classification tables (op_type -> kind); anything unlisted is ``other`` ----------------
_WEIGHT_HELPERS = frozenset({"Transpose", "Cast", "Reshape", "Identity", "Unsqueeze",
                             "Squeeze", "DequantizeLinear", "Flatten", "CastLike"})
_NORM = frozenset({"LayerNormalization", "BatchNormalization", "InstanceNormalization",
                   "GroupNormalization", "SimplifiedLayerNormalization", "RMSNormalization",
                   "SkipLayerNormalization", "SkipSimplifiedLayerNormalization",
                   "LpNormalization", "MeanVarianceNormalization", "LRN"})
_SOFTMAX = frozenset({"Softmax", "LogSoftmax"})
_ACTIVATION = frozenset({"Relu", "LeakyRelu", "PRelu", "Gelu", "FastGelu", "BiasGelu",
                         "QuickGelu", "Erf", "Tanh", "Sigmoid", "HardSigmoid", "HardSwish",
                         "Silu", "Swish", "Softplus", "Softsign", "Elu", "Selu", "Celu",
                         "Mish", "ThresholdedRelu", "Clip", "Shrink"})
_ELEMENTWISE = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Neg",
                          "Abs", "Exp", "Log", "Where", "Equal", "Less", "LessOrEqual",
                          "Greater", "GreaterOrEqual", "And", "Or", "Not", "Xor", "Max",
                          "Min", "Mean", "Sum", "Mod", "Floor", "Ceil", "Round", "Sign",
                          "Sin", "Cos", "Tan", "IsNaN", "IsInf", "BitShift", "Trilu",
                          "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})
_REDUCTION = frozenset({"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
                        "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
                        "ReduceSumSquare", "ArgMax", "ArgMin", "GlobalAveragePool",
                        "GlobalMaxPool", "AveragePool", "MaxPool", "LpPool", "CumSum"})
_DATA_MOVEMENT = frozenset({"Reshape", "Transpose", "Concat", "Slice", "Gather",
                            "GatherElements", "GatherND", "ScatterND", "ScatterElements",
                            "Split", "Squeeze", "Unsqueeze", "Expand", "Shape", "Size",
                            "Constant", "ConstantOfShape", "Cast", "CastLike", "Identity",
                            "Flatten", "Tile", "Pad", "Range", "Dropout", "DepthToSpace",
                            "SpaceToDepth", "Resize", "Upsample", "EyeLike", "OneHot"})
_PRODUCTS = frozenset({"MatMul", "Gemm", "Conv", "ConvTranspose"})
#: ops that only reinterpret a tensor (metadata, no data moved): ``Op.meta["view"]``
_VIEWS = frozenset({"Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Shape", "Size",
                    "Constant", "Dropout"})


# -- public API -------------------------------------------------------------------------
def load_onnx(path: str | os.PathLike, dims: Mapping[str, int] | None = None, *,
              on_ignored: Callable[[list[str], str], None] | None = None) -> Graph:
    """Read an ONNX file into an analogc :class:`~analogc.ir.Graph`.

    ``dims`` binds the model's symbolic dimensions (graph-input ``dim_param`` names) to
    sizes; a symbolic dim left unbound is an error. Names the file does not declare (the
    fixed batch of a dynamo export, ``dims={"batch": 1, "seq": 128}`` on a file with only
    ``seq`` symbolic) are passed to ``on_ignored(names, reason)`` (default: a UserWarning)
    when every symbolic dim is bound, and are an error otherwise. External data is never read: only the
    initializers' shapes are needed, so a 100 GB model loads in seconds. Models that store
    weights as external data go through ``onnx.shape_inference.infer_shapes_path`` (the
    path-based inference that has no 2 GB limit).

    Example::

        g = load_onnx("gpt2.onnx", dims={"batch": 1, "seq": 128})
        g.summary()["macs_mvm"]
        [(op.name, op.in_features, op.out_features) for op in g.ops("mvm")]
    """
    path = Path(path)
    model = read_model(path)
    external = _uses_external_data(model)
    _inline_small_external_tensors(model, path)
    if dims:
        _bind_dims(model, dims, path, on_ignored)
    _check_inputs(model, path)
    model = _infer_shapes(model, path, by_path=external)
    return _to_graph(model, path)


# -- reading and checking ---------------------------------------------------------------
def read_model(path: Path) -> onnx.ModelProto:
    """Parse the model proto without external data; AnalogcError for missing/corrupt files."""
    if not path.exists():
        raise AnalogcError(f"{path}: no such file (expected an .onnx model)")
    if not path.is_file():
        raise AnalogcError(f"{path}: not a file (expected an .onnx model)")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # DecodeError, RuntimeWarning-as-error, ...
        raise AnalogcError(f"{path}: not a valid ONNX file (corrupt or truncated?): "
                           f"{first_line(e)}") from e
    # an empty or truncated file can still parse as a (nearly) empty ModelProto;
    # opset_import is serialised after the graph, so truncation loses it
    if not model.opset_import or not model.HasField("graph"):
        raise AnalogcError(f"{path}: not a valid ONNX file (no graph or opset_import: "
                           "corrupt or truncated?)")
    if not model.graph.output:
        raise AnalogcError(f"{path}: ONNX graph has no outputs (truncated file?)")
    return model


def _inline_small_external_tensors(model: onnx.ModelProto, path: Path) -> None:
    """Read external initializers of at most ``_INLINE_BYTES`` (shape tensors that shape
    inference needs for Reshape/Expand); check that every external data file exists."""
    for t in model.graph.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        location = path.parent / info.get("location", "")
        if not info.get("location") or not location.is_file():
            raise AnalogcError(f"{path}: initializer {t.name!r} stores its data in "
                               f"{str(location)!r}, which does not exist")
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
        if math.prod(t.dims) * itemsize > _INLINE_BYTES:
            continue
        try:
            onnx.external_data_helper.load_external_data_for_tensor(t, str(path.parent))
        except Exception as e:
            raise AnalogcError(f"{path}: cannot read initializer {t.name!r} from "
                               f"{str(location)!r}: {first_line(e)}") from e
        t.data_location = onnx.TensorProto.DEFAULT
        del t.external_data[:]


def _bind_dims(model: onnx.ModelProto, dims: Mapping[str, int], path: Path,
               on_ignored: Callable[[list[str], str], None] | None = None) -> None:
    """Replace symbolic dims by sizes in inputs, outputs and value_info; drop stale ones."""
    for name, size in dims.items():
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise AnalogcError(f"{path}: dims[{name!r}] = {size!r}; expected an integer >= 1")
    declared = {d.dim_param for vi in model.graph.input for d in _dims_of(vi) if d.dim_param}
    unknown = sorted(set(dims) - declared)
    if unknown and declared - set(dims):  # a misspelt name: the dim it meant stays unbound
        raise AnalogcError(f"{path}: dims {unknown} are not symbolic dims of the graph "
                           f"inputs (those are {sorted(declared) or 'none'})")
    if unknown:  # e.g. batch=1 on a dynamo export whose batch is fixed: the file's shape holds
        inits = {t.name for t in model.graph.initializer}
        shapes = ", ".join(f"{vi.name} [{', '.join(d.dim_param or str(d.dim_value) for d in _dims_of(vi))}]"
                           for vi in model.graph.input if vi.name not in inits)
        report = on_ignored or _warn_ignored
        report([f"dims[{k!r}]" for k in unknown],
               f"{path.name} declares no such symbolic dimension; its inputs are {shapes}")
        dims = {k: v for k, v in dims.items() if k in declared}
    g = model.graph
    for vi in [*g.input, *g.output, *g.value_info]:
        for d in _dims_of(vi):
            if d.dim_param in dims:
                d.dim_value = dims[d.dim_param]  # oneof: clears dim_param
            elif d.dim_param and vi not in g.input:
                d.Clear()  # an expression of bound dims ("s0 + 1"): let inference redo it


def _warn_ignored(names: list[str], reason: str) -> None:
    import warnings

    warnings.warn(f"{' and '.join(names)} ignored: {reason}", UserWarning, stacklevel=4)


def _check_inputs(model: onnx.ModelProto, path: Path) -> None:
    """Graph inputs need known, positive dims; node inputs must be defined before use."""
    inits = {t.name for t in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        for i, d in enumerate(_dims_of(vi)):
            if d.HasField("dim_value") and d.dim_value < 1:
                raise AnalogcError(f"{path}: graph input {vi.name!r} dim {i} is "
                                   f"{d.dim_value}; expected a size >= 1")
    defined = inits | {vi.name for vi in model.graph.input} | {""}
    for index, node in enumerate(model.graph.node):
        for name in node.input:
            if name not in defined:
                raise AnalogcError(f"{path}: node {node_label(node, index)} reads "
                                   f"{name!r}, which no earlier node, graph input or "
                                   "initializer defines (graph not topologically sorted or "
                                   "truncated)")
        defined.update(node.output)


def _infer_shapes(model: onnx.ModelProto, path: Path, by_path: bool) -> onnx.ModelProto:
    """Run ONNX shape inference (strict, with data propagation); path-based (no 2 GB
    limit) for models stored with external data or a proto near the limit."""
    try:
        if by_path or model.ByteSize() >= _PROTOBUF_LIMIT:
            return _infer_shapes_via_path(model)
        return shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as e:  # onnx.shape_inference.InferenceError and checker errors
        raise AnalogcError(_inference_message(path, e)) from e


def _infer_shapes_via_path(model: onnx.ModelProto) -> onnx.ModelProto:
    """``infer_shapes_path`` on a copy of the proto (external data is referenced, not read)."""
    with tempfile.TemporaryDirectory(prefix="analogc-onnx-") as tmp:
        src, dst = os.path.join(tmp, "in.onnx"), os.path.join(tmp, "out.onnx")
        onnx.save_model(model, src)
        shape_inference.infer_shapes_path(src, dst, strict_mode=True, data_prop=True)
        return onnx.load(dst, load_external_data=False)


def _inference_message(path: Path, e: Exception) -> str:
    text = " ".join(str(e).split())
    node = re.search(r"node name: ([^)]*)\)", text)
    op = re.search(r"op_type:\s*(\w+)", text)
    where = f"node {node.group(1)!r}" + (f" ({op.group(1)})" if op else "") if node else "a node"
    detail = re.sub(r"^.*?\]\s*", "", text.split("[ShapeInferenceError]")[-1])
    return f"{path}: shape inference failed at {where}: {detail[:300]}"


# -- building the Graph -------------------------------------------------------------------
@dataclass
class _Tensors:
    """What the graph knows about its tensors: shapes, static values and who made them."""

    shapes: dict[str, tuple[Any, ...]]
    static_root: dict[str, str]  # static tensor -> initializer / Constant output it comes from
    root_shape: dict[str, tuple[int, ...]]  # initializer / Constant -> shape as stored
    producer: dict[str, str]  # tensor -> op name


def _to_graph(model: onnx.ModelProto, path: Path) -> Graph:
    g = model.graph
    tensors = _Tensors(_shapes(model), {}, {}, {})
    for t in g.initializer:
        tensors.static_root[t.name] = t.name
        tensors.root_shape[t.name] = tuple(t.dims)
    graph = Graph(g.name or path.stem, source="onnx")
    graph.meta.update(path=str(path), opset={o.domain or "ai.onnx": o.version
                                             for o in model.opset_import},
                      inputs=[vi.name for vi in g.input if vi.name not in tensors.root_shape],
                      outputs=[vi.name for vi in g.output])
    used: set[str] = set()
    for index, node in enumerate(g.node):
        name = _unique_name(node, index, used)
        _track_static(node, tensors)
        op = _make_op(node, index, name, tensors, path)
        graph.add(op, [tensors.producer[t] for t in node.input if t in tensors.producer])
        for t in node.output:
            if t:
                tensors.producer[t] = name
    return graph


def _make_op(node: onnx.NodeProto, index: int, name: str, tensors: _Tensors,
             path: Path) -> Op:
    label = node_label(node, index)
    out_shape = _known_shape(node, tensors, path, label)
    ins = [tensors.shapes.get(t) for t in node.input if t]
    input_shapes = [tuple(s) for s in ins if s is not None and _all_int(s)]
    kind, product = _classify(node, tensors, path, label)
    fields = {"module_path": _node_module_path(node), **product}
    meta = {"onnx_index": index, "onnx_inputs": list(node.input),
            "onnx_outputs": list(node.output)}
    meta.update(fields.pop("meta", {}))
    if node.op_type in _VIEWS:
        meta["view"] = True
    if node.output and node.output[0] in tensors.static_root and kind is not OpKind.MVM:
        meta["weight_prep"] = True  # transforms a weight: done once when the tiles are programmed
    return Op(name=name, kind=kind, target=_target(node), input_shapes=input_shapes,
              output_shape=out_shape, elements=math.prod(out_shape),
              module_type=node.op_type, meta=meta, **fields)


def _classify(node: onnx.NodeProto, tensors: _Tensors, path: Path, label: str
              ) -> tuple[OpKind, dict[str, Any]]:
    """The op's kind, plus the product fields (K, N, M, G, weight) of mvm/matmul ops."""
    t = node.op_type
    if node.domain not in ("", "ai.onnx", "com.microsoft"):
        return OpKind.OTHER, {}
    if t in _PRODUCTS:
        return _product(node, tensors, path, label)
    if t == "Gather" and node.input[0] in tensors.static_root:
        return OpKind.EMBEDDING, {"param": tensors.static_root[node.input[0]],
                                  "weight_shape": tensors.root_shape[
                                      tensors.static_root[node.input[0]]]}
    if t in _WEIGHT_HELPERS and node.output[0] in tensors.static_root:
        return OpKind.DATA_MOVEMENT, {}  # a step of a weight chain (transpose, dequant...)
    for kind, table in ((OpKind.SOFTMAX, _SOFTMAX), (OpKind.NORM, _NORM),
                        (OpKind.ACTIVATION, _ACTIVATION), (OpKind.ELEMENTWISE, _ELEMENTWISE),
                        (OpKind.REDUCTION, _REDUCTION), (OpKind.DATA_MOVEMENT, _DATA_MOVEMENT)):
        if t in table:
            return kind, {}
    return OpKind.OTHER, {}


def _product(node: onnx.NodeProto, tensors: _Tensors, path: Path, label: str
             ) -> tuple[OpKind, dict[str, Any]]:
    shapes = [_need_shape(node, i, tensors, path, label) for i in range(2)]
    out = _need_out_shape(node, tensors, path, label)
    t = node.op_type
    if t in ("Conv", "ConvTranspose"):
        if node.input[1] not in tensors.static_root:  # as the torch frontend does
            return OpKind.OTHER, {"meta": {"why": "convolution with a dynamic weight"}}
        build = _conv if t == "Conv" else _conv_transpose
        return OpKind.MVM, build(node, shapes, out, tensors)
    static = [node.input[i] in tensors.static_root for i in range(2)]
    if t == "Gemm":
        return _gemm(node, shapes, static, tensors)
    return _matmul(node, shapes, out, static, tensors)


def _gemm(node: onnx.NodeProto, shapes: list[tuple[int, ...]], static: list[bool],
          tensors: _Tensors) -> tuple[OpKind, dict[str, Any]]:
    attrs = _attrs(node)
    a, b = shapes
    m, k = (a[1], a[0]) if attrs.get("transA", 0) else (a[0], a[1])
    n = b[0] if attrs.get("transB", 0) else b[1]
    if static[1] or not static[0]:
        dims = {"vectors": m, "in_features": k, "out_features": n, "groups": 1}
        weight = 1
    else:  # weight on the left: out^T = B^T A^T
        dims = {"vectors": n, "in_features": k, "out_features": m, "groups": 1}
        weight = 0
    if not any(static):
        return OpKind.MATMUL, dims
    return OpKind.MVM, {**dims, **_weight_fields(node, weight, tensors)}


def _matmul(node: onnx.NodeProto, shapes: list[tuple[int, ...]], out: tuple[int, ...],
            static: list[bool], tensors: _Tensors) -> tuple[OpKind, dict[str, Any]]:
    """numpy-style MatMul (..., M, K) @ (..., K, N) -> (..., M, N)."""
    a = [1, *shapes[0]] if len(shapes[0]) == 1 else list(shapes[0])  # vector promotion
    b = [*shapes[1], 1] if len(shapes[1]) == 1 else list(shapes[1])
    m, k, n = a[-2], a[-1], b[-1]
    positions = math.prod(out)  # = G * M * N (promoted vector dims are absent from out)
    if not any(static):  # two activations: one (M x K) @ (K x N) per broadcast batch index
        groups = positions // (m * n) if m * n else 0
        return OpKind.MATMUL, {"groups": groups, "vectors": m, "in_features": k,
                               "out_features": n}
    w = 1 if static[1] else 0
    groups = math.prod((b if w else a)[:-2])  # batched weights: one matrix per batch index
    out_features = n if w else m  # W on the left: N columns of X are the input vectors
    dims = {"in_features": k, "out_features": out_features, "groups": groups,
            "vectors": positions // (out_features * groups) if out_features else 0}
    return OpKind.MVM, {**dims, **_weight_fields(node, w, tensors)}


def _conv(node: onnx.NodeProto, shapes: list[tuple[int, ...]], out: tuple[int, ...],
          tensors: _Tensors) -> dict[str, Any]:
    """im2col view: each output pixel is one vector of C_in/g*kh*kw inputs -> C_out/g."""
    x, w = shapes
    attrs = _attrs(node)
    g = attrs.get("group", 1)
    kernel = tuple(w[2:])
    return {"groups": g, "in_features": math.prod(w[1:]), "out_features": w[0] // g,
            "vectors": out[0] * math.prod(out[2:]),
            "conv": _conv_meta(attrs, kernel, g, x[1], out[1], transposed=False),
            **_weight_fields(node, 1, tensors)}


def _conv_transpose(node: onnx.NodeProto, shapes: list[tuple[int, ...]],
                    out: tuple[int, ...], tensors: _Tensors) -> dict[str, Any]:
    """Scatter view: each input pixel (C_in/g values) feeds C_out/g*kh*kw outputs."""
    x, w = shapes  # w: (C_in, C_out/g, kh, kw)
    attrs = _attrs(node)
    g = attrs.get("group", 1)
    kernel = tuple(w[2:])
    return {"groups": g, "in_features": w[0] // g, "out_features": math.prod(w[1:]),
            "vectors": x[0] * math.prod(x[2:]),
            "conv": _conv_meta(attrs, kernel, g, x[1], out[1], transposed=True),
            **_weight_fields(node, 1, tensors)}


def _conv_meta(attrs: dict[str, Any], kernel: tuple[int, ...], groups: int,
               in_channels: int, out_channels: int, transposed: bool) -> dict[str, Any]:
    """``Op.conv``: the torch frontend's keys plus stride/padding/dilation/auto_pad
    (padding is (begin..., end...) when asymmetric)."""
    nd = len(kernel)
    pads = tuple(attrs.get("pads", [0] * 2 * nd))
    return {"kernel": kernel, "transposed": transposed, "groups": groups,
            "in_channels": in_channels, "out_channels": out_channels,
            "stride": tuple(attrs.get("strides", [1] * nd)),
            "padding": pads[:nd] if pads[:nd] == pads[nd:] else pads,
            "dilation": tuple(attrs.get("dilations", [1] * nd)),
            "auto_pad": attrs.get("auto_pad", "NOTSET")}


def _weight_fields(node: onnx.NodeProto, index: int, tensors: _Tensors) -> dict[str, Any]:
    """param / weight_shape / module_path of the static operand ``index``."""
    root = tensors.static_root.get(node.input[index])
    if root is None:  # Conv with a computed weight: still an mvm, but no stored weight
        return {"module_path": _node_module_path(node) or node.name or None}
    return {"param": root, "weight_shape": tensors.root_shape.get(root),
            "module_path": _module_path(root, node)}


def _track_static(node: onnx.NodeProto, tensors: _Tensors) -> None:
    """Mark outputs of Constant nodes, and of weight helpers fed only by static tensors."""
    if node.op_type == "Constant" and node.output:
        value = next((a for a in node.attribute if a.name == "value"), None)
        tensors.static_root[node.output[0]] = node.output[0]
        tensors.root_shape[node.output[0]] = tuple(value.t.dims) if value else ()
    elif node.op_type in _WEIGHT_HELPERS and node.input and node.output:
        if all(t in tensors.static_root for t in node.input if t):
            tensors.static_root[node.output[0]] = tensors.static_root[node.input[0]]


# -- shapes -----------------------------------------------------------------------------
def _shapes(model: onnx.ModelProto) -> dict[str, tuple[Any, ...]]:
    """Tensor name -> shape (ints, or dim_param strings, or None for unknown dims)."""
    g = model.graph
    out: dict[str, tuple[Any, ...]] = {}
    for vi in [*g.input, *g.value_info, *g.output]:
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            out[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else
                                 (d.dim_param or None) for d in _dims_of(vi))
    for t in g.initializer:
        out[t.name] = tuple(t.dims)
    return out


def _known_shape(node: onnx.NodeProto, tensors: _Tensors, path: Path, label: str
                 ) -> tuple[int, ...]:
    """Shape of the node's first output; ``()`` for nodes without outputs."""
    if not node.output or not node.output[0]:
        return ()
    return _need_out_shape(node, tensors, path, label)


def _need_out_shape(node: onnx.NodeProto, tensors: _Tensors, path: Path, label: str
                    ) -> tuple[int, ...]:
    return _int_shape(tensors.shapes.get(node.output[0]), path, label,
                      f"output {node.output[0]!r}")


def _need_shape(node: onnx.NodeProto, i: int, tensors: _Tensors, path: Path, label: str
                ) -> tuple[int, ...]:
    return _int_shape(tensors.shapes.get(node.input[i]), path, label,
                      f"input {node.input[i]!r}")


def _int_shape(shape: tuple[Any, ...] | None, path: Path, label: str, what: str
               ) -> tuple[int, ...]:
    if shape is None:
        raise AnalogcError(f"{path}: node {label} {what}: shape could not be inferred "
                           "(unsupported or custom op upstream?)")
    for i, d in enumerate(shape):
        if isinstance(d, str):
            raise AnalogcError(f"{path}: node {label} {what} has symbolic dim {d!r}; bind "
                               f"it with load_onnx(path, dims={{{d!r}: N}})")
        if d is None:
            raise AnalogcError(f"{path}: node {label} {what} dim {i} could not be inferred; "
                               "bind the graph's symbolic dims with load_onnx(path, dims=...)")
        if d < 0:
            raise AnalogcError(f"{path}: node {label} {what} dim {i} is {d}; expected >= 0")
    return tuple(int(d) for d in shape)


def _all_int(shape: tuple[Any, ...]) -> bool:
    return all(isinstance(d, int) for d in shape)


def _dims_of(vi: onnx.ValueInfoProto) -> list[Any]:
    t = vi.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return []
    return list(t.tensor_type.shape.dim)


def _uses_external_data(model: onnx.ModelProto) -> bool:
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)


# -- names --------------------------------------------------------------------------------
def _unique_name(node: onnx.NodeProto, index: int, used: set[str]) -> str:
    name = node.name or f"{node.op_type}_{index}"
    if name in used:
        name = f"{name}_{index}"
    used.add(name)
    return name


def node_label(node: onnx.NodeProto, index: int) -> str:
    """``'name' (OpType)`` for messages; ``'#index'`` for a node without a name."""
    return f"{node.name or '#' + str(index)!r} ({node.op_type})"


def _target(node: onnx.NodeProto) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"


def _module_path(param: str, node: onnx.NodeProto) -> str:
    """``transformer.h.0.attn.c_attn.weight`` -> ``transformer.h.0.attn.c_attn``; weights
    without a torch-like name (folded by the exporter: ``val_40``) fall back to the node's
    module scope, then to its name."""
    m = re.match(r"^(.+)\.weight\w*$", param)
    if m and not param.startswith("onnx::"):
        return m.group(1)
    return _node_module_path(node) or node.name or param


def _node_module_path(node: onnx.NodeProto) -> str | None:
    """The torch module a node came from: the torch.onnx (dynamo) exporter's
    ``pkg.torch.onnx.name_scopes`` metadata, or a legacy ``/transformer/h.0/attn/Gemm``
    scope name."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                break
            if isinstance(scopes, list) and len(scopes) >= 2 and scopes[-2]:
                return str(scopes[-2])
            break
    return _path_from_node_name(node.name)


def _path_from_node_name(name: str) -> str | None:
    """Legacy exporter scopes: ``/transformer/h.0/attn/c_attn/Gemm`` -> dotted path."""
    if not name.startswith("/") or name.count("/") < 2:
        return None
    return ".".join(p for p in name.strip("/").split("/")[:-1] if p) or None


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    values = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in values.items()}
