"""PyTorch frontend: ``torch.export`` (non-strict, fake tensors) → :class:`analogc.ir.Graph`.

Export runs on fake tensors, so a model built on the meta device is traced without ever
allocating its weights. Every ATen node becomes one :class:`Op`; scaled-dot-product
attention is expanded into its two dynamic matmuls and a softmax so that QK^T and A·V are
explicit whatever attention implementation the model uses.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import re
import warnings
from typing import Any

import torch
from torch import fx

from analogc.errors import AnalogcError
from analogc.frontends.quiet import quiet_torch_logging
from analogc.ir import Graph, Op, OpKind

aten = torch.ops.aten

# -- classification tables ---------------------------------------------------------------
# Keyed by the overload packet name (``aten.add.Tensor`` -> ``add``), so every overload of a
# packet is classified alike.
_SOFTMAX = {"softmax", "_softmax", "log_softmax", "_log_softmax", "_safe_softmax"}
_NORM = {"layer_norm", "native_layer_norm", "group_norm", "native_group_norm", "batch_norm",
         "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
         "_native_batch_norm_legit_functional", "instance_norm", "rms_norm", "_fused_rms_norm"}
_ACTIVATION = {"relu", "relu_", "gelu", "silu", "tanh", "sigmoid", "hardtanh", "leaky_relu",
               "elu", "selu", "celu", "hardswish", "hardsigmoid", "mish", "softplus", "erf",
               "relu6", "prelu", "glu", "logsigmoid", "softsign", "threshold"}
_REDUCTION = {"mean", "sum", "amax", "amin", "max", "min", "var", "std", "var_mean", "cumsum",
              "argmax", "argmin", "prod", "norm", "linalg_vector_norm", "logsumexp", "any", "all",
              "max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices", "avg_pool1d",
              "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
              "_adaptive_avg_pool2d", "adaptive_max_pool2d", "topk", "sort", "histc", "bincount"}
_ELEMENTWISE = {"add", "sub", "rsub", "mul", "div", "pow", "rsqrt", "sqrt", "neg", "exp", "log",
                "cos", "sin", "where", "masked_fill", "clamp", "clamp_min", "clamp_max", "eq",
                "ne", "lt", "gt", "le", "ge", "__and__", "__or__", "bitwise_and", "bitwise_or",
                "bitwise_not", "logical_not", "logical_and", "logical_or", "abs", "maximum",
                "minimum", "reciprocal", "dropout", "native_dropout", "floor", "ceil", "round",
                "sign", "square", "tril", "triu", "addcmul", "addcdiv", "lerp", "exp2", "log1p",
                "expm1", "floor_divide", "remainder", "fmod", "isinf", "isnan", "nan_to_num",
                "trunc", "atan", "atan2", "frac", "_to_copy_dtype"}
_EMBEDDING = {"embedding", "embedding_bag", "_embedding_bag"}
_DATA_MOVEMENT = {"view", "reshape", "_unsafe_view", "permute", "transpose", "t", "expand",
                  "unsqueeze", "squeeze", "slice", "select", "clone", "contiguous", "cat",
                  "stack", "split", "split_with_sizes", "chunk", "unbind", "getitem", "_to_copy",
                  "to", "alias", "detach", "lift_fresh_copy", "index", "index_select", "gather",
                  "arange", "zeros", "ones", "full", "new_ones", "new_zeros", "new_full",
                  "new_empty", "empty", "zeros_like", "ones_like", "full_like", "empty_like",
                  "flatten", "repeat", "repeat_interleave", "diff", "pad", "constant_pad_nd",
                  "narrow", "roll", "flip", "scalar_tensor", "copy", "copy_", "fill", "scatter",
                  "index_put", "slice_scatter", "select_scatter", "masked_select", "movedim",
                  "unflatten", "as_strided", "type_as", "view_as", "expand_as", "reshape_as",
                  "tensor_split", "pixel_shuffle", "upsample_nearest2d", "unfold", "one_hot",
                  "lift", "_unsafe_index", "sym_size", "sym_numel", "item", "dim"}
#: ops that only reinterpret a tensor's metadata (no data moved): ``Op.meta["view"]``
_VIEWS = {"view", "_unsafe_view", "reshape", "permute", "transpose", "t", "expand", "unsqueeze",
          "squeeze", "alias", "detach", "slice", "select", "getitem", "split", "split_with_sizes",
          "chunk", "unbind", "flatten", "unflatten", "as_strided", "view_as", "expand_as",
          "narrow", "movedim", "sym_size", "sym_numel", "dim", "dropout"}
#: nodes that only check metadata; they have no output and do no work
_CHECKS = {"_assert_tensor_metadata", "_assert_scalar", "sym_constrain_range_for_size",
           "_assert_async", "sym_constrain_range", "_functional_assert_async"}
#: ops that keep a static weight static when applied to it (a transposed or cast parameter)
_STATIC_PASS = {"t", "permute", "transpose", "view", "reshape", "_unsafe_view", "_to_copy",
                "to", "expand", "clone", "contiguous", "alias", "detach", "unsqueeze", "squeeze",
                "select", "slice", "getitem", "lift_fresh_copy", "flatten", "dequantize",
                "type_as", "view_as"}
_CONV = {"conv1d", "conv2d", "conv3d", "convolution", "_convolution", "conv_transpose1d",
         "conv_transpose2d", "conv_transpose3d"}
_LINEAR = {"linear", "addmm", "mm", "matmul", "bmm", "baddbmm", "einsum"}
#: grouped matmuls of mixture-of-experts layers: (tokens x top-k, K) by (experts, K, N) with
#: the per-expert row offsets (transformers' grouped_mm fallback op, torch's _grouped_mm)
_GROUPED_MM = {"grouped_mm_fallback", "_grouped_mm", "grouped_mm"}
#: recurrent layers (nn.LSTM, nn.GRU, nn.RNN): gate rows per hidden unit
_RNN_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
_SDPA = {"scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
         "_scaled_dot_product_attention_math", "_scaled_dot_product_efficient_attention",
         "_scaled_dot_product_flash_attention", "_scaled_dot_product_cudnn_attention"}


def _packet(target: Any) -> str:
    """Overload packet name of a call_function target (``aten.add.Tensor`` -> ``add``)."""
    if isinstance(target, torch._ops.OpOverload):
        return target.overloadpacket.__name__
    return getattr(target, "__name__", str(target))


def _shape(node: Any) -> tuple[int, ...] | None:
    v = node.meta.get("val") if isinstance(node, fx.Node) else None
    if isinstance(v, (list, tuple)):
        v = next((x for x in v if isinstance(x, torch.Tensor)), None)
    if isinstance(v, torch.Tensor):
        try:
            return tuple(int(d) for d in v.shape)
        except (TypeError, ValueError) as e:  # unbacked symbolic sizes
            raise AnalogcError(f"node {node.name}: shape {tuple(v.shape)} is not static ({e})") from None
    return None


def _module_of(node: fx.Node) -> tuple[str, str]:
    """(module path, module class name) of the innermost module that issued ``node``."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", ""
    path, typ = list(stack.values())[-1]
    typ = typ if isinstance(typ, str) else getattr(typ, "__name__", str(typ))
    return _clean_path(path), typ.rsplit(".", 1)[-1]


def _clean_path(path: str) -> str:
    # export spells nested module paths "L['self'].layers[0]" in some versions
    return (path.replace("L['self'].", "").replace("L['self']", "")
            .replace("['", ".").replace("']", "").replace("[", ".").replace("]", ""))


class _Classifier:
    """Walks an exported graph once and builds the IR."""

    def __init__(self, ep: torch.export.ExportedProgram, name: str):
        self.ep = ep
        sig = ep.graph_signature
        self.static: dict[str, str] = {}  # fx node name -> state-dict name of the static tensor
        self.static.update(sig.inputs_to_parameters)
        self.static.update(sig.inputs_to_buffers)
        self.static.update(getattr(sig, "inputs_to_lifted_tensor_constants", {}) or {})
        self.graph = Graph(name, "torch")
        self.last: dict[str, str] = {}  # fx node name -> IR op name producing it

    # -- helpers ------------------------------------------------------------------------
    def _inputs(self, node: fx.Node) -> list[str]:
        outs = []
        for a in node.all_input_nodes:
            if a.name in self.last:
                outs.append(self.last[a.name])
        return outs

    def _add(self, node: fx.Node, op: Op, extra_inputs: list[str] | None = None) -> None:
        ins = extra_inputs if extra_inputs is not None else self._inputs(node)
        self.graph.add(op, ins)
        self.last[node.name] = op.name

    def _base(self, node: fx.Node, kind: OpKind, **kw: Any) -> Op:
        path, typ = _module_of(node)
        shapes = [s for s in (_shape(a) for a in node.all_input_nodes) if s is not None]
        out = _shape(node) or ()
        return Op(name=kw.pop("name", node.name), kind=kind, target=str(node.target),
                  input_shapes=shapes, output_shape=out, module_path=path, module_type=typ, **kw)

    # -- the walk -----------------------------------------------------------------------
    def run(self) -> Graph:
        for node in self.ep.graph.nodes:
            if node.op != "call_function":
                continue
            p = _packet(node.target)
            if p in _CHECKS:
                continue
            ins = node.all_input_nodes
            # static: a view/cast of a static tensor, or any op on static tensors only
            # (weight norm, a merged low-rank product): the weight a tile would hold
            if ins and ins[0].name in self.static and (
                    p in _STATIC_PASS or all(a.name in self.static for a in ins)):
                self.static[node.name] = self.static[ins[0].name]
            if p in _LINEAR:
                self._linear(node, p)
            elif p in _CONV:
                self._conv(node, p)
            elif p in _SDPA:
                self._sdpa(node)
            elif p in _GROUPED_MM:
                self._grouped_mm(node)
            elif p in _RNN_GATES:
                self._rnn(node, p)
            else:
                meta = {}
                if p in _VIEWS:
                    meta["view"] = True
                if node.name in self.static:  # transforms a weight: done once at programming
                    meta["weight_prep"] = True
                self._add(node, self._base(node, _kind_of(p), meta=meta))
        return self.graph

    def _linear(self, node: fx.Node, p: str) -> None:
        args = node.args
        if p == "einsum":
            self._add(node, self._base(node, OpKind.OTHER, meta={"why": "einsum not decomposed"}))
            return
        if p == "linear":
            x, w, form = args[0], args[1], "x@w.T"
        elif p in ("addmm", "baddbmm"):
            x, w, form = args[1], args[2], "x@w"
        else:  # mm, matmul, bmm
            x, w, form = args[0], args[1], "x@w"
        xs, ws, out = _shape(x), _shape(w), _shape(node)
        if xs is None or ws is None or out is None:
            self._add(node, self._base(node, OpKind.OTHER, meta={"why": "operand shapes unknown"}))
            return
        w_static = isinstance(w, fx.Node) and w.name in self.static
        x_static = isinstance(x, fx.Node) and x.name in self.static
        if form == "x@w.T":
            k, n = ws[1], ws[0]
        else:
            k, n = xs[-1], ws[-1]
        if w_static and not x_static:
            vectors = math.prod(out) // n
            param = self.static[w.name]
            self._add(node, self._base(node, OpKind.MVM, in_features=k, out_features=n,
                                       vectors=vectors, weight_shape=ws, param=param))
        elif x_static and not w_static and len(xs) == 2:
            # W @ x: the weight is N x K, each column of x is one input vector
            n, k = xs
            vectors = math.prod(out) // n
            self._add(node, self._base(node, OpKind.MVM, in_features=k, out_features=n,
                                       vectors=vectors, weight_shape=xs, param=self.static[x.name]))
        elif x_static and w_static:
            self._add(node, self._base(node, OpKind.OTHER, meta={"why": "product of two constants"}))
        else:
            m = out[-2] if len(out) >= 2 else 1
            groups = math.prod(out[:-2]) if len(out) > 2 else 1
            self._add(node, self._base(node, OpKind.MATMUL, in_features=k, out_features=n,
                                       vectors=m, groups=groups))

    def _grouped_mm(self, node: fx.Node) -> None:
        """Mixture-of-experts: every row of x (one token routed to one of its top-k experts)
        goes through one of the E weights: M·K·N MACs with M = tokens x top-k, E·K·N weights."""
        x, w = node.args[0], node.args[1]
        xs, ws, out = _shape(x), _shape(w), _shape(node)
        if xs is None or ws is None or out is None or len(xs) != 2 or len(ws) != 3:
            self._add(node, self._base(node, OpKind.OTHER,
                                       meta={"why": f"grouped matmul of shapes {xs} x {ws} not understood"}))
            return
        e, k, n = ws
        static = isinstance(w, fx.Node) and w.name in self.static
        kw: dict[str, Any] = dict(in_features=k, out_features=n, vectors=xs[0], experts=e,
                                  meta={"experts": "grouped_mm"})
        if static:
            kw.update(weight_shape=ws, param=self.static[w.name])
        self._add(node, self._base(node, OpKind.MVM if static else OpKind.MATMUL, **kw))

    def _rnn(self, node: fx.Node, p: str) -> None:
        """nn.LSTM/GRU/RNN as, per layer and direction, the input product W_ih·x_t and the
        recurrent product W_hh·h_(t-1) (each over batch x time steps, gates·H outputs), the
        LSTM projection W_hr·h_t where proj_size > 0, and the gate nonlinearities."""
        packed = getattr(node.target, "_overloadname", "input") == "data"
        a = list(node.args)
        x, params = a[0], a[3] if packed else a[2]
        has_bias, layers = bool(a[4] if packed else a[3]), int(a[5] if packed else a[4])
        bidir = bool(a[8] if packed else a[7])
        xs = _shape(x)
        gates = _RNN_GATES[p]
        dirs = 2 if bidir else 1
        per = 2 + 2 * has_bias
        if xs is None or not isinstance(params, (list, tuple)) or len(params) not in (
                layers * dirs * per, layers * dirs * (per + 1)):
            self._add(node, self._base(node, OpKind.OTHER, meta={"why": f"{p} arguments not understood"}))
            return
        proj = len(params) == layers * dirs * (per + 1)
        vectors = math.prod(xs[:-1])  # batch x time steps (packed: the total steps)
        path, typ = _module_of(node)
        feed = self._inputs(node)
        for layer in range(layers):
            nxt = []
            for d in range(dirs):
                sfx = f"l{layer}" + ("_reverse" if d else "")
                group = params[(layer * dirs + d) * (per + proj):(layer * dirs + d + 1) * (per + proj)]
                mvms = [("ih", group[0], f"weight_ih_{sfx}"), ("hh", group[1], f"weight_hh_{sfx}")]
                if proj:
                    mvms.append(("hr", group[-1], f"weight_hr_{sfx}"))
                names: dict[str, str] = {}
                for part, w, attr in mvms:
                    ws = _shape(w)
                    if ws is None or not (isinstance(w, fx.Node) and w.name in self.static):
                        raise AnalogcError(f"{p} {path or node.name}: weight {attr} is not a static "
                                           f"parameter; recurrent layers need their weights as parameters")
                    n_out, k = ws
                    op = Op(name=f"{node.name}.{sfx}.{part}", kind=OpKind.MVM, target=str(node.target),
                            input_shapes=[(vectors, k)], output_shape=(vectors, n_out), in_features=k,
                            out_features=n_out, vectors=vectors, weight_shape=ws, param=self.static[w.name],
                            module_path=path, module_type=typ, meta={"rnn": p, "rnn_weight": attr})
                    if part == "hr":  # the projection reads the cell's h_t
                        self.graph.add(cell, [names["ih"], names["hh"]])
                    self.graph.add(op, feed if part == "ih" else [cell.name] if part == "hr" else [])
                    names[part] = op.name
                    if part == "hh":
                        h = n_out // gates
                        cell = Op(name=f"{node.name}.{sfx}.cell", kind=OpKind.ACTIVATION,
                                  target=str(node.target), input_shapes=[(vectors, n_out)] * 2,
                                  output_shape=(vectors, n_out), module_path=path, module_type=typ,
                                  meta={"rnn": p, "hidden": h})
                if not proj:
                    self.graph.add(cell, [names["ih"], names["hh"]])
                nxt.append(names["hr"] if proj else cell.name)
            feed = nxt
        self.last[node.name] = feed[-1]

    def _conv(self, node: fx.Node, p: str) -> None:
        x, w = node.args[0], node.args[1]
        xs, ws, out = _shape(x), _shape(w), _shape(node)
        if not (isinstance(w, fx.Node) and w.name in self.static) or None in (xs, ws, out):
            self._add(node, self._base(node, OpKind.OTHER, meta={"why": "convolution with a dynamic weight"}))
            return
        transposed = "transpose" in p or (p in ("convolution", "_convolution") and bool(node.args[6]))
        groups = _conv_groups(node, p)
        kernel = tuple(ws[2:])
        if transposed:  # weight (C_in, C_out/g, *k): each input pixel scatters to k outputs
            k, n = ws[0] // groups, ws[1] * math.prod(kernel)
            vectors = xs[0] * math.prod(xs[2:])
        else:  # weight (C_out, C_in/g, *k): im2col, one vector per output pixel
            k, n = ws[1] * math.prod(kernel), ws[0] // groups
            vectors = out[0] * math.prod(out[2:])
        conv = {"kernel": kernel, "transposed": transposed, "groups": groups,
                "in_channels": xs[1], "out_channels": out[1]}
        self._add(node, self._base(node, OpKind.MVM, in_features=k, out_features=n,
                                   vectors=vectors, groups=groups, weight_shape=ws,
                                   param=self.static[w.name], conv=conv))

    def _sdpa(self, node: fx.Node) -> None:
        """softmax(Q K^T) V as two dynamic matmuls and a softmax."""
        q, k, v = node.args[:3]
        qs, ks, vs = _shape(q), _shape(k), _shape(v)
        batch = math.prod(qs[:-2])
        lq, e = qs[-2], qs[-1]
        s, ev = ks[-2], vs[-1]
        ins = self._inputs(node)
        qk = self._base(node, OpKind.MATMUL, name=f"{node.name}.qk", in_features=e,
                        out_features=s, vectors=lq, groups=batch,
                        meta={"sdpa": "qk"})
        qk.output_shape = (*qs[:-1], s)
        qk.elements = math.prod(qk.output_shape)
        self.graph.add(qk, ins)
        sm = self._base(node, OpKind.SOFTMAX, name=f"{node.name}.softmax")
        sm.output_shape, sm.elements, sm.input_shapes = qk.output_shape, qk.elements, [qk.output_shape]
        self.graph.add(sm, [qk.name])
        av = self._base(node, OpKind.MATMUL, name=f"{node.name}.av", in_features=s,
                        out_features=ev, vectors=lq, groups=batch, meta={"sdpa": "av"})
        av.output_shape = (*qs[:-1], ev)
        av.elements = math.prod(av.output_shape)
        self.graph.add(av, [sm.name] + ins)
        self.last[node.name] = av.name
        for user in node.users:  # getitem(sdpa, 0) of the fused CPU kernels
            if _packet(user.target) == "getitem":
                self.last[user.name] = av.name


def _conv_groups(node: fx.Node, p: str) -> int:
    a = node.args
    if p in ("convolution", "_convolution"):
        return int(a[8]) if len(a) > 8 else 1
    return int(a[6]) if len(a) > 6 else int(node.kwargs.get("groups", 1))


#: digital kinds, looked up in this order
_KINDS = ((_SOFTMAX, OpKind.SOFTMAX), (_NORM, OpKind.NORM), (_ACTIVATION, OpKind.ACTIVATION),
          (_ELEMENTWISE, OpKind.ELEMENTWISE), (_REDUCTION, OpKind.REDUCTION),
          (_EMBEDDING, OpKind.EMBEDDING), (_DATA_MOVEMENT, OpKind.DATA_MOVEMENT))


def _kind_of(p: str) -> OpKind:
    return next((kind for names, kind in _KINDS if p in names), OpKind.OTHER)


def _hf_configs(model: torch.nn.Module) -> list[Any]:
    """Every distinct config object of ``model`` and its submodules (``module.config``), with
    their sub-configs (``encoder``, ``decoder``, ``text_config``... of composite configs)."""
    seen: dict[int, Any] = {}
    todo = [getattr(m, "config", None) for m in model.modules()]
    while todo:
        c = todo.pop()
        if c is None or id(c) in seen or not hasattr(c, "to_dict"):
            continue
        seen[id(c)] = c
        todo.extend(getattr(c, k, None) for k in (getattr(type(c), "sub_configs", None) or {}))
    return list(seen.values())


@contextlib.contextmanager
def _hf_export_settings(model: torch.nn.Module):
    """Hugging Face models: eager attention (QK^T and A·V as explicit matmuls), no KV cache."""
    cfg = getattr(model, "config", None)
    old = getattr(cfg, "_attn_implementation", None) if cfg is not None else None
    # a KV-cache object in the outputs is no tensor export can return; encoder-decoder models
    # (T5, BART, Whisper) give their decoder its own copy of the config, so every config
    # reachable from a submodule has its use_cache turned off (and restored after)
    cached = [(c, c.use_cache) for c in _hf_configs(model) if getattr(c, "use_cache", None)]
    for c, _ in cached:
        c.use_cache = False
    if cfg is not None and old not in (None, "eager"):
        try:
            if hasattr(model, "set_attn_implementation"):
                model.set_attn_implementation("eager")
            else:
                cfg._attn_implementation = "eager"
        except Exception:  # noqa: BLE001 - SDPA nodes are expanded anyway
            pass
    try:
        yield
    finally:
        for c, was in cached:
            c.use_cache = was
        if cfg is not None and old not in (None, "eager"):
            with contextlib.suppress(Exception):
                if hasattr(model, "set_attn_implementation"):
                    model.set_attn_implementation(old)
                else:
                    cfg._attn_implementation = old


def export(model: torch.nn.Module, example_inputs: Any) -> torch.export.ExportedProgram:
    """``torch.export`` (non-strict) and functionalization, with a one-line error on failure."""
    args, kwargs = _split_inputs(example_inputs)
    was_training = model.training
    model.eval()
    chatter = io.StringIO()  # export prints the failing graph; the error names the line
    try:
        with _hf_export_settings(model), warnings.catch_warnings(), quiet_torch_logging(), \
                contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            warnings.simplefilter("ignore")
            ep = torch.export.export(model, args, kwargs, strict=False)
            return ep.run_decompositions({})
    except AnalogcError:
        raise
    except Exception as e:  # noqa: BLE001 - any export failure is the user's model
        msg = " ".join(str(e).strip().split())
        msg = msg.split(" Caused by:")[0].split(" For more information")[0]
        where = re.findall(r"# File: (\S+?):(\d+) in (\w+)", chatter.getvalue())
        at = f" (at {os.path.basename(where[-1][0])}:{where[-1][1]} in {where[-1][2]})" if where else ""
        raise AnalogcError(f"cannot export {type(model).__name__} with torch.export{at}: "
                           f"{type(e).__name__}: {msg}") from None
    finally:
        model.train(was_training)


def _split_inputs(example_inputs: Any) -> tuple[tuple, dict]:
    if isinstance(example_inputs, dict):
        return (), dict(example_inputs)
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,), {}
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs), {}
    raise AnalogcError(f"example_inputs: expected a tensor, a tuple of tensors or a dict of "
                       f"keyword tensors, got {type(example_inputs).__name__}")


def trace_module(model: torch.nn.Module, example_inputs: Any, name: str | None = None) -> Graph:
    """Trace ``model`` on ``example_inputs`` into the analogc IR.

    Example::

        g = trace_module(nn.Sequential(nn.Linear(8, 4)), (torch.randn(2, 8),))
        g.summary()["macs_mvm"]  # 2 * 8 * 4
    """
    if not isinstance(model, torch.nn.Module):
        raise AnalogcError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    ep = export(model, example_inputs)
    return _Classifier(ep, name or type(model).__name__).run()
