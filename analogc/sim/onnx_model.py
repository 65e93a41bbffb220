"""A deployable torch model from an ONNX file: the file converted with onnx2torch, and the
plan of :func:`~analogc.frontends.onnx.load_onnx` pointed at the converted submodules.

onnx2torch is not a declared dependency (its metadata pulls torchvision): ``pip install
--no-deps onnx2torch``. Where torchvision cannot be imported, a placeholder stands in while
onnx2torch is imported (see :func:`onnx_to_torch`).

Example::

    module = onnx_to_torch("mlp.onnx")                 # a torch.nn.Module
    onnx_mvm_modules("mlp.onnx")                       # {mvm op name: submodule name}
    model, plan = onnx_model_and_plan("mlp.onnx", "pcm-hermes", dims=None)  # what deploy runs
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types
from pathlib import Path
from typing import Any, Iterator, Mapping

import onnx
import onnx.numpy_helper
import onnx.version_converter
import torch
from torch import nn

from analogc import mapping
from analogc.errors import AnalogcError, first_line
from analogc.frontends.onnx import load_onnx, node_label, read_model
from analogc.ir import OpKind
from analogc.mapping.plan import Plan

_ONNX2TORCH_OPSET = 17  # newest opset onnx2torch 1.5 converts for every op it supports

#: modules that hold their own weight (what deploy puts on tiles as they are)
_WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def onnx_model_and_plan(path: str | os.PathLike, hw_or_plan: Any, dims: Mapping[str, int] | None = None
                        ) -> tuple[nn.Module, Plan]:
    """What :func:`analogc.deploy` runs for an ONNX file: the file converted with onnx2torch,
    and the plan taken from the ONNX IR itself (converted modules often cannot be
    re-exported: onnx2torch's Reshape reads shape values), with each mvm op pointed at the
    submodule onnx2torch made of its node. ``hw_or_plan``: a Plan, or the hardware to compile
    :func:`~analogc.frontends.onnx.load_onnx` of the file (``dims`` bound) for."""
    path = str(path)
    model = onnx_to_torch(path)
    plan = hw_or_plan if isinstance(hw_or_plan, Plan) else mapping.compile(
        load_onnx(path, dims=dims), hw=hw_or_plan)
    if plan.graph.source != "onnx":
        return model, plan
    names = onnx_mvm_modules(path, dims)
    _weights_into_linears(model, set(names.values()))
    # attention matmuls: the module path the IR gives them (a torch-side scope such as
    # ``transformer.layer.0.attention``, from node names or name_scopes metadata) does not
    # exist in the converted model; the submodule onnx2torch made of the node does
    by_index = _node_module_names(path)
    nodes = read_model(Path(path)).graph.node
    modules = dict(model.named_modules())
    for op in plan.graph.ops(OpKind.MATMUL):
        index = op.meta.get("onnx_index")
        if index is None or index >= len(nodes) or list(nodes[index].output) != op.meta.get("onnx_outputs") \
                or by_index[index] not in modules:
            raise AnalogcError(f"{path}: plan matmul op {op.name!r} is no node of this file: expected "
                               f"node #{index} writing {op.meta.get('onnx_outputs')} (was the plan "
                               f"compiled for another file?)")
        names[op.name] = by_index[index]
    graph = plan.graph.copy()
    for op in graph.ops():
        if op.name in names:
            op.module_path = names[op.name]
    mappings = {k: dataclasses.replace(m, module_path=names.get(k, m.module_path))
                for k, m in plan.mappings.items()}
    return model, dataclasses.replace(plan, graph=graph, mappings=mappings, notes=list(plan.notes))


def _weights_into_linears(model: nn.Module, targets: set[str]) -> None:
    """onnx2torch turns ``MatMul(x, W)`` with a constant ``W`` [K, N] into a module that reads
    ``W`` from a graph constant; make each of those an ``nn.Linear`` holding ``W`` (moved, not
    copied), so that deploy can put it on tiles like any other linear layer. Submodules that
    already hold their weight (onnx2torch's ``nn.Linear`` for Gemm, ``nn.Conv*``) stay."""
    import torch.fx as fx

    if not isinstance(model, fx.GraphModule):
        return
    changed = False
    for node in list(model.graph.nodes):
        if node.op != "call_module" or node.target not in targets:
            continue
        if isinstance(model.get_submodule(node.target), _WEIGHT_LAYERS) or len(node.args) != 2:
            continue
        x, w_node = node.args
        if not (isinstance(w_node, fx.Node) and w_node.op == "get_attr"):
            continue
        owner, _, attr = w_node.target.rpartition(".")
        w = getattr(model.get_submodule(owner) if owner else model, attr)
        if not isinstance(w, torch.Tensor) or w.dim() != 2:
            continue
        lin = nn.Linear(w.shape[0], w.shape[1], bias=False, dtype=w.dtype)
        lin.weight = nn.Parameter(w.detach().t().contiguous(), requires_grad=False)
        model.add_submodule(node.target, lin)
        node.args = (x,)
        changed = True
    if changed:
        model.graph.eliminate_dead_code()
        model.delete_all_unused_submodules()
        model.recompile()


def onnx_to_torch(path: str | os.PathLike) -> Any:
    """Convert an ONNX file to a runnable ``torch.nn.Module`` with onnx2torch (for deploy).

    onnx2torch imports torchvision at package import, only for its NonMaxSuppression and
    RoiAlign converters. Where torchvision cannot be imported a placeholder module stands in
    during that import (and is removed from ``sys.modules`` afterwards); a model that uses
    those two ops raises :class:`~analogc.errors.AnalogcError` when run. onnx2torch itself is
    not a declared dependency (its metadata pulls torchvision): ``pip install --no-deps
    onnx2torch``. Submodules are named after the ONNX nodes; :func:`onnx_mvm_modules` maps
    each ``mvm`` op of :func:`~analogc.frontends.onnx.load_onnx` to its submodule.

    Example::

        module = onnx_to_torch("mlp.onnx")
        y = module(torch.randn(3, 8))
    """
    path = Path(path)
    read_model(path)  # clear errors for missing/corrupt files before onnx2torch sees it
    converter = _import_onnx2torch()
    model = _load_full(path)
    _drop_redundant_allowzero(model)
    _inline_constant_identities(model)
    model = _convertible_opset(model, converter, path)
    try:
        return converter.convert(model)
    except AnalogcError:
        raise
    except Exception as e:  # onnx2torch raises NotImplementedError etc. for unsupported ops
        raise AnalogcError(f"{path}: onnx2torch cannot convert this model: "
                           f"{first_line(e)}") from e


def onnx_mvm_modules(path: str | os.PathLike, dims: Mapping[str, int] | None = None
                     ) -> dict[str, str]:
    """Map each ``mvm`` op name of :func:`~analogc.frontends.onnx.load_onnx` to the submodule
    name that :func:`onnx_to_torch` gives the same ONNX node (onnx2torch's node naming).

    Example::

        names = onnx_mvm_modules("mlp.onnx")           # {"node_linear": "node_linear", ...}
        module = onnx_to_torch("mlp.onnx")
        linear = module.get_submodule(names["node_linear"])
    """
    graph = load_onnx(path, dims)
    by_index = _node_module_names(path)
    return {op.name: by_index[op.meta["onnx_index"]] for op in graph.ops(OpKind.MVM)}


def _node_module_names(path: str | os.PathLike) -> list[str]:
    """The submodule name onnx2torch gives each node of the file, in node order."""
    naming = _import_onnx2torch().onnx_graph.OnnxGraph.generate_node_name
    model = read_model(Path(path))
    counters: dict[str, int] = {}
    by_index: list[str] = []
    for node in model.graph.node:  # the same de-duplication onnx2torch's OnnxGraph applies
        name = naming(node)
        n = counters.setdefault(name, 0)
        counters[name] += 1
        by_index.append(name + (f"_{n}" if n else ""))
    return by_index


def _convertible_opset(model: onnx.ModelProto, converter: types.ModuleType, path: Path
                       ) -> onnx.ModelProto:
    """Down-convert to opset 17 when onnx2torch lacks a converter for a newer op version
    (the torch.onnx exporter writes opset 18+; onnx2torch 1.5 stops at 17 for many ops)."""
    missing = _unconvertible_node(model, converter)
    if missing is None:
        return model
    if _default_opset(model) > _ONNX2TORCH_OPSET:
        try:
            model = onnx.version_converter.convert_version(model, _ONNX2TORCH_OPSET)
        except Exception as e:
            raise AnalogcError(f"{path}: node {missing} has no onnx2torch converter and the "
                               f"model cannot be converted to opset {_ONNX2TORCH_OPSET}: "
                               f"{first_line(e)}") from e
        missing = _unconvertible_node(model, converter)
    if missing is not None:
        raise AnalogcError(f"{path}: onnx2torch has no converter for node {missing}")
    return model


def _drop_redundant_allowzero(model: onnx.ModelProto) -> None:
    """Reshape ``allowzero=1`` (which the torch.onnx exporter always writes, and onnx2torch
    rejects) only differs from 0 when the target shape holds a 0: drop it where the shape
    is a constant without zeros."""
    consts = {t.name: t for t in model.graph.initializer}
    consts.update({n.output[0]: a.t for n in model.graph.node if n.op_type == "Constant"
                   for a in n.attribute if a.name == "value"})
    for node in model.graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2 or node.input[1] not in consts:
            continue
        allowzero = [a for a in node.attribute if a.name == "allowzero"]
        if allowzero and 0 not in onnx.numpy_helper.to_array(consts[node.input[1]]).tolist():
            node.attribute.remove(allowzero[0])


def _inline_constant_identities(model: onnx.ModelProto) -> None:
    """``Identity`` of an initializer becomes an initializer of its own: the legacy exporter
    shares equal constants (BatchNorm biases folded into convs are often all equal) through
    Identity nodes, and onnx2torch reads a Conv/Gemm bias only from an initializer."""
    graph = model.graph
    consts = {t.name: t for t in graph.initializer}
    outputs = {o.name for o in graph.output}
    for node in list(graph.node):
        if node.op_type != "Identity" or not node.input or node.input[0] not in consts \
                or node.output[0] in outputs:
            continue
        t = onnx.TensorProto()
        t.CopyFrom(consts[node.input[0]])
        t.name = node.output[0]
        graph.initializer.append(t)
        consts[t.name] = t
        graph.node.remove(node)


def _unconvertible_node(model: onnx.ModelProto, converter: types.ModuleType) -> str | None:
    """Label of the first node onnx2torch cannot convert at the model's opset, or None."""
    registry = converter.node_converters.registry
    opsets = {o.domain or "": o.version for o in model.opset_import}
    for index, node in enumerate(model.graph.node):
        try:
            registry.get_converter(domain=node.domain or "", operation_type=node.op_type,
                                   version=opsets.get(node.domain or "", 1))
        except NotImplementedError:
            return f"{node_label(node, index)} at opset {opsets.get(node.domain or '', 1)}"
    return None


def _default_opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _load_full(path: Path) -> onnx.ModelProto:
    """The model with its external data, for running it."""
    try:
        return onnx.load(str(path), load_external_data=True)
    except Exception as e:
        raise AnalogcError(f"{path}: cannot read the model's external data: "
                           f"{first_line(e)}") from e


# -- onnx2torch without torchvision ------------------------------------------------------
def _import_onnx2torch() -> types.ModuleType:
    """``import onnx2torch``, with a torchvision placeholder where torchvision is absent."""
    if "onnx2torch" in sys.modules:
        return _register_missing_converters(sys.modules["onnx2torch"])
    if importlib.util.find_spec("onnx2torch") is None:
        raise AnalogcError("onnx_to_torch needs onnx2torch: pip install --no-deps onnx2torch")
    if _torchvision_importable():
        return _register_missing_converters(importlib.import_module("onnx2torch"))
    with _torchvision_placeholder():
        return _register_missing_converters(importlib.import_module("onnx2torch"))


#: op versions onnx2torch 1.5 lacks although it converts an earlier version of the op with the
#: same semantics: (op, version, the version whose converter serves). LessOrEqual and
#: GreaterOrEqual 16 only add bfloat16 (transformers' causal masks of exports with a dynamic
#: sequence length: ``kv_idx <= q_idx``)
_EXTRA_VERSIONS = (("LessOrEqual", 16, 12), ("GreaterOrEqual", 16, 12))


def _register_missing_converters(converter: types.ModuleType) -> types.ModuleType:
    """Add the converters of :data:`_EXTRA_VERSIONS` to onnx2torch's registry (once)."""
    registry = converter.node_converters.registry
    table = registry._CONVERTER_REGISTRY
    for op, version, served_by in _EXTRA_VERSIONS:
        new = registry.OperationDescription(domain=registry.defs.ONNX_DOMAIN, operation_type=op,
                                            version=version)
        old = registry.OperationDescription(domain=registry.defs.ONNX_DOMAIN, operation_type=op,
                                            version=served_by)
        if new not in table and old in table:
            table[new] = table[old]
    return converter


def _torchvision_importable() -> bool:
    """True when a working torchvision is installed (a broken one counts as absent)."""
    if "torchvision" in sys.modules:
        return True
    if importlib.util.find_spec("torchvision") is None:
        return False
    before = set(sys.modules)
    try:
        importlib.import_module("torchvision")
        return True
    except Exception:  # PyPI torchvision built for another torch fails at import
        for name in set(sys.modules) - before:
            if name == "torchvision" or name.startswith("torchvision."):
                del sys.modules[name]
        return False


class _TorchvisionPlaceholder(types.ModuleType):
    """Stands in for torchvision / torchvision.ops: any function it hands out raises."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        def missing(*args: Any, **kwargs: Any) -> Any:
            raise AnalogcError(f"ONNX op NonMaxSuppression/RoiAlign needs torchvision "
                               f"(torchvision.ops.{name}), which is not importable here")
        return missing


@contextlib.contextmanager
def _torchvision_placeholder() -> Iterator[None]:
    """Put placeholder ``torchvision``/``torchvision.ops`` modules in ``sys.modules`` for
    the duration of the block, then restore ``sys.modules`` as it was."""
    names = ("torchvision", "torchvision.ops")
    saved = {n: sys.modules[n] for n in names if n in sys.modules}
    root = _TorchvisionPlaceholder("torchvision", "analogc placeholder: torchvision absent")
    ops = _TorchvisionPlaceholder("torchvision.ops")
    for m in (root, ops):
        m.__spec__ = importlib.machinery.ModuleSpec(m.__name__, loader=None)
    root.__path__ = []  # a package, so ``torchvision.ops`` resolves
    root.ops = ops
    sys.modules.update({"torchvision": root, "torchvision.ops": ops})
    try:
        yield
    finally:
        for n in names:
            sys.modules.pop(n, None)
        sys.modules.update(saved)
