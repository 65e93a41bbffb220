"""A graph of a model's weight layers alone, from their shapes: no inputs, no tracing.

What deploy needs to put Linear/Conv layers on tiles (``analogc.deploy(model, "pcm-hermes")``,
as aihwkit's ``convert_to_analog`` needs no inputs): one ``mvm`` op per weight layer, in
module order, with the layer's (groups, K, N) and one input vector. It knows nothing of how
often a layer runs or of products computed between activations, so it cannot be priced:
:func:`analogc.estimate` refuses it (``graph.meta["shapes_only"]``).

Example::

    >>> import torch
    >>> g = weight_layers_graph(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Conv1d(2, 5, 3)))
    >>> [(o.module_path, o.in_features, o.out_features) for o in g.ops()]
    [('0', 4, 3), ('1', 6, 5)]
"""
from __future__ import annotations

from torch import nn

from analogc.errors import AnalogcError
from analogc.ir import Graph, Op, OpKind
from analogc.weights import weight_layers, weight_shape


def weight_layers_graph(model: nn.Module, name: str | None = None) -> Graph:
    """One ``mvm`` op per Linear / HF Conv1D / Conv1d / Conv2d module of ``model``."""
    layers = weight_layers(model)
    if not layers:
        raise AnalogcError(f"{type(model).__name__}: no Linear or Conv layer to put on analog tiles")
    g = Graph(name or type(model).__name__, "modules")
    g.meta["shapes_only"] = True
    for i, (path, (m, kind)) in enumerate(layers.items()):
        groups, k, n = weight_shape(m, kind)
        g.add(Op(name=path.replace(".", "_") or f"layer{i}", kind=OpKind.MVM, target=kind, in_features=k,
                 out_features=n, vectors=1, groups=groups, module_path=path, module_type=type(m).__name__))
    return g
