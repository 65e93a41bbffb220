"""The one IR every stage reads: a directed graph of :class:`Op` records.

Frontends (torch.export, ONNX, the zoo) produce a :class:`Graph`; mapping, estimation and
deployment only read it. An op is classified into one :class:`OpKind`:

* ``mvm``    — a matrix-vector product with a *static weight* (Linear, GPT-2 Conv1D/addmm,
  Conv via im2col, ONNX Gemm/MatMul with an initializer). Candidates for analog tiles.
* ``matmul`` — a product of two activations (attention QK^T and A·V). Placed by the
  hardware's dynamic-matmul policy.
* digital kinds — everything else; an op the frontend does not recognise is ``other``
  and still listed, never dropped.

Shapes use the canonical MVM view: ``vectors`` input vectors of length ``in_features``
produce ``out_features`` outputs each, ``groups`` times (grouped convs, or the batch×heads
of an attention matmul). ``macs = groups * vectors * in_features * out_features``.
``experts`` (E, a mixture-of-experts grouped matmul) is the number of K x N weights held per
group, of which each vector goes through one: the MACs stay ``G*M*K*N`` (M = tokens x top-k)
while ``G*E*K*N`` weights are resident.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any, Iterable, Iterator

import networkx as nx


class OpKind(str, Enum):
    MVM = "mvm"
    MATMUL = "matmul"
    SOFTMAX = "softmax"
    NORM = "norm"
    ACTIVATION = "activation"
    ELEMENTWISE = "elementwise"
    REDUCTION = "reduction"
    EMBEDDING = "embedding"
    DATA_MOVEMENT = "data_movement"
    OTHER = "other"

    def __str__(self) -> str:  # so f-strings and DataFrames show "mvm", not "OpKind.MVM"
        return self.value


#: ops whose products can go on an analog tile
ANALOG_CANDIDATES = frozenset({OpKind.MVM, OpKind.MATMUL})

#: an op name that suggests a matrix product (searched in ``other`` ops' targets and names)
PRODUCT_NAME = re.compile(
    r"(?i)(mm(?![a-z])|matmul|gemm|gemv|einsum|tensordot|bilinear|linear|conv|dot_product|attention|attn|"
    r"sdpa|flash|\bdot\b|\bmv\b|addmv|outer|kron|lstm|gru|rnn)")


#: module paths of low-rank adapters (peft's LoRA: ``...q_proj.lora_A.default``); their products
#: stay digital beside the analog base weight and are priced as their own ``adapters`` line
ADAPTER_PATH = re.compile(r"(^|\.)lora_(A|B)(\.|$)")


@dataclass
class Op:
    """One operation of the model.

    For ``mvm``/``matmul`` ops ``in_features`` (K), ``out_features`` (N), ``vectors`` (M) and
    ``groups`` (G) describe the product; ``weight_shape`` is the static weight as the
    framework stores it and ``param`` its name (state-dict key or ONNX initializer).
    ``elements`` counts output elements (the work of a digital op).
    """

    name: str
    kind: OpKind
    target: str  # aten op or ONNX op type it came from
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    output_shape: tuple[int, ...] = ()
    macs: int = 0
    elements: int = 0
    in_features: int = 0
    out_features: int = 0
    vectors: int = 0
    groups: int = 1
    weight_shape: tuple[int, ...] | None = None
    param: str | None = None
    module_path: str | None = None
    module_type: str | None = None
    conv: dict[str, Any] | None = None  # kernel/stride/padding for im2col convs
    meta: dict[str, Any] = field(default_factory=dict)
    #: weights per group of which each vector uses one (mixture-of-experts); 1 otherwise
    experts: int = 1

    def __post_init__(self) -> None:
        self.kind = OpKind(self.kind)
        if self.experts < 1:
            raise ValueError(f"op {self.name}: experts must be >= 1, got {self.experts}")
        if self.kind in ANALOG_CANDIDATES:
            expect = self.groups * self.vectors * self.in_features * self.out_features
            if self.macs == 0:
                self.macs = expect
            elif self.macs != expect:
                raise ValueError(f"op {self.name}: macs {self.macs} != G*M*K*N {expect}")
        if not self.elements and self.output_shape:
            self.elements = math.prod(self.output_shape)

    @property
    def adapter(self) -> bool:
        """A low-rank adapter's product (:data:`ADAPTER_PATH`): always digital."""
        return self.kind is OpKind.MVM and bool(self.module_path and ADAPTER_PATH.search(self.module_path))

    @property
    def weight_params(self) -> int:
        """Weight elements an ``mvm`` holds on tiles, every expert's (0 for other kinds)."""
        if self.kind is not OpKind.MVM:
            return 0
        return self.groups * self.experts * self.in_features * self.out_features

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = self.kind.value
        return d


class Graph:
    """A networkx DiGraph of :class:`Op` records, in topological (execution) order.

    Example::

        g = analogc.trace("gpt2", seq_len=128)
        g.summary()["macs_mvm"]
        [op.name for op in g.ops(OpKind.MVM)]
    """

    def __init__(self, name: str = "model", source: str = "") -> None:
        self.name = name
        self.source = source  # "torch", "onnx", "zoo:<name>"
        self.nx = nx.DiGraph()
        self.meta: dict[str, Any] = {}

    # -- building ---------------------------------------------------------------------
    def add(self, op: Op, inputs: Iterable[str] = ()) -> Op:
        if op.name in self.nx:
            raise ValueError(f"duplicate op name {op.name!r}")
        self.nx.add_node(op.name, op=op)
        for src in inputs:
            if src in self.nx and src != op.name:
                self.nx.add_edge(src, op.name)
        return op

    # -- reading ----------------------------------------------------------------------
    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops())

    def __getitem__(self, name: str) -> Op:
        return self.nx.nodes[name]["op"]

    def __contains__(self, name: str) -> bool:
        return name in self.nx

    def ops(self, *kinds: OpKind | str) -> list[Op]:
        """Ops in insertion (execution) order, optionally only of the given kinds."""
        want = {OpKind(k) for k in kinds}
        out = [d["op"] for _, d in self.nx.nodes(data=True)]
        return [o for o in out if not want or o.kind in want]

    def predecessors(self, name: str) -> list[str]:
        return list(self.nx.predecessors(name))

    def summary(self) -> dict[str, Any]:
        """Counts and MAC totals; ``params`` counts the weights of the ``mvm`` ops."""
        mvm = self.ops(OpKind.MVM)
        mm = self.ops(OpKind.MATMUL)
        by_kind: dict[str, int] = {}
        for o in self.ops():
            by_kind[o.kind.value] = by_kind.get(o.kind.value, 0) + 1
        return {
            "name": self.name,
            "ops": len(self),
            "mvm_count": len(mvm),
            "matmul_count": len(mm),
            "macs_mvm": sum(o.macs for o in mvm),
            "macs_matmul": sum(o.macs for o in mm),
            "macs": sum(o.macs for o in mvm) + sum(o.macs for o in mm),
            "params": sum(o.weight_params for o in mvm),
            "ops_by_kind": by_kind,
        }

    def uncounted_products(self) -> dict[str, int]:
        """``other`` ops whose name suggests a product (a grouped or batched matmul, einsum, a
        scaled-dot-product variant, a GEMM/conv/attention kernel): target -> count. Their MACs
        are not counted (0), so a report must say so (:data:`PRODUCT_NAME`)."""
        out: dict[str, int] = {}
        for o in self.ops(OpKind.OTHER):
            if PRODUCT_NAME.search(o.target or "") or PRODUCT_NAME.search(o.name):
                out[o.target or o.name] = out.get(o.target or o.name, 0) + 1
        return out

    def copy(self) -> "Graph":
        g = Graph(self.name, self.source)
        g.meta = dict(self.meta)
        for op in self.ops():
            g.add(replace(op, meta=dict(op.meta)), self.predecessors(op.name))
        return g

    def __repr__(self) -> str:
        s = self.summary()
        return (f"Graph({self.name!r}, ops={s['ops']}, mvm={s['mvm_count']}, "
                f"matmul={s['matmul_count']}, macs={s['macs']:.3g})")


def repeat_block(g: Graph, block_prefix: str, count: int, index_token: str) -> Graph:
    """Replicate the ops of one traced block ``count`` times (trace once, reuse).

    ``block_prefix`` is the module path of the single traced block (``"model.layers.0"``);
    copies get ``index_token`` replaced by their index (``layers.0`` -> ``layers.7``), so module
    paths and state-dict names stay those of the full model. Ops before the block keep their
    place, the copies follow in order, then the ops after the block. The edge that carried
    the residual stream into the block comes, for copy i>0, from copy i-1's outputs; other
    edges from outside (masks, position tables) feed every copy.
    """
    if count < 1:
        raise ValueError(f"repeat count must be >= 1, got {count}")

    def in_block(op: Op) -> bool:
        mp = op.module_path or ""
        return mp == block_prefix or mp.startswith(block_prefix + ".")

    ops = g.ops()
    idx = [i for i, o in enumerate(ops) if in_block(o)]
    if not idx:
        raise ValueError(f"no op belongs to block {block_prefix!r}")
    first, last = idx[0], idx[-1]
    # ops interleaved inside the block span but outside the module (residual adds that
    # export attributes to the parent) belong to the block's dataflow too
    block = ops[first:last + 1]
    pre, post = ops[:first], ops[last + 1:]
    names = {o.name for o in block}
    outputs = [o.name for o in block if any(s not in names for s in g.nx.successors(o.name))]
    entries = {o.name: [p for p in g.predecessors(o.name) if p not in names] for o in block}
    order = {o.name: i for i, o in enumerate(pre)}
    # the residual stream enters from the last op before the block; masks and position
    # tables computed earlier feed every copy unchanged
    stream = max((p for ps in entries.values() for p in ps if p in order),
                 key=order.__getitem__, default=None)
    exit_of: dict[int, list[str]] = {}

    out = Graph(g.name, g.source)
    out.meta = dict(g.meta)
    for o in pre:
        out.add(o, g.predecessors(o.name))

    def rename(s: str, i: int) -> str:
        return s.replace(index_token, index_token[:-1] + str(i)) if s else s

    for i in range(count):
        local = {n: (n if i == 0 else f"{n}@{i}") for n in names}
        for o in block:
            new = replace(o, name=local[o.name], meta=dict(o.meta),
                          module_path=rename(o.module_path or "", i) or o.module_path,
                          param=rename(o.param or "", i) or o.param)
            ins = [local[p] for p in g.predecessors(o.name) if p in names]
            for p in entries[o.name]:
                ins += exit_of[i - 1] if (i > 0 and p == stream) else [p]
            out.add(new, ins)
        exit_of[i] = [local[n] for n in outputs]
    for o in post:
        out.add(o, [local[p] if p in names else p for p in g.predecessors(o.name)])
    return out
