"""BatchNorm folding (issue 9, item 8): a BatchNorm in inference mode whose only input is a
conv or linear ``mvm`` op that feeds nothing else is folded into that weight and bias, as
deployment flows do (``torch.nn.utils.fusion.fuse_conv_bn_eval``, ONNX exporters' constant
folding, TensorRT):

    w' = w * g / sqrt(var + eps)        (per output channel)
    b' = (b - mean) * g / sqrt(var + eps) + beta

The folded BatchNorm then costs nothing per inference (the estimate) and is not run (deploy
programs w' and adds b' digitally, as any bias). ``analogc.compile(..., fold_batchnorm=False)``
keeps every BatchNorm as a digital ``norm`` op.
"""
from __future__ import annotations

from analogc.ir import Graph, OpKind

#: BatchNorm in training mode normalises with batch statistics: it cannot be folded
_TRAINING = ("_native_batch_norm_legit.default", "_native_batch_norm_legit_functional")


def is_batchnorm(target: str) -> bool:
    """Whether an op target is an inference-mode BatchNorm (torch or ONNX)."""
    return (("batch_norm" in target or target == "BatchNormalization")
            and not any(t in target for t in _TRAINING))


def batchnorm_folds(graph: Graph) -> dict[str, str]:
    """{BatchNorm op: the mvm op it folds into} for every foldable BatchNorm of ``graph``."""
    out: dict[str, str] = {}
    for op in graph.ops(OpKind.NORM):
        if not is_batchnorm(op.target):
            continue
        preds = graph.predecessors(op.name)
        if len(preds) != 1:
            continue
        src = graph[preds[0]]
        if src.kind is not OpKind.MVM or list(graph.nx.successors(src.name)) != [op.name]:
            continue  # the raw product is used elsewhere too (or it is not a product)
        if (src.meta.get("conv") or {}).get("transposed"):
            continue  # a transposed conv's output channels are not its weight's first axis
        out[op.name] = src.name
    return out
