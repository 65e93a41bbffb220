"""Fold the plan's BatchNorms into the deployed model's conv/linear weights (see
:mod:`analogc.mapping.fold`): w' = w * g / sqrt(var + eps) per output channel,
b' = (b - mean) * g / sqrt(var + eps) + beta; the BatchNorm becomes ``nn.Identity``."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def fold_batchnorm_modules(model: nn.Module, plan: Any) -> list[str]:
    """Fold, in place, every BatchNorm the plan folded whose modules are found (a module
    BatchNorm after a Linear/Conv module); returns the BatchNorm paths folded. A fold the
    model does not allow (a functional BatchNorm, another layer type) is left to run digitally."""
    folds = getattr(plan, "folded", None) or {}
    if not folds:
        return []
    mods = dict(model.named_modules())
    done = []
    for bn_op, mvm_op in folds.items():
        bn_path, w_path = plan.graph[bn_op].module_path, plan.graph[mvm_op].module_path
        bn, layer = mods.get(bn_path or ""), mods.get(w_path or "")
        if (not bn_path or not isinstance(bn, nn.modules.batchnorm._BatchNorm) or bn.training
                or bn.running_mean is None or type(layer) not in _LAYERS):
            continue
        n_out = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
        if bn.num_features != n_out:
            continue
        with torch.no_grad():  # torch's own fusion formula (output channels on the weight's first axis)
            fw, fb = fuse_conv_bn_weights(layer.weight, layer.bias, bn.running_mean, bn.running_var,
                                          bn.eps, bn.weight, bn.bias)
            w = layer.weight
            w.copy_(fw)  # in place: the parameter (and anything sharing it) keeps its identity
            if layer.bias is None:
                layer.bias = nn.Parameter(fb.to(w.dtype), requires_grad=w.requires_grad)
            else:
                layer.bias.copy_(fb)
        parent, _, leaf = bn_path.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, leaf, nn.Identity())
        done.append(bn_path)
    return done
