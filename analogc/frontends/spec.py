"""Model strings: what one names, decided in one place, and the Graph it traces to.

A model string is one of four kinds (:func:`model_kind`):

* ``"onnx"``: a path ending in ``.onnx`` (or any path with a directory separator and no ``:``);
* ``"scaled"``: a GPT-2-style decoder of any size, ``gpt-scaled:d=4096,L=48,T=2048``;
* ``"factory"``: ``package.module:factory``, a callable returning a ``torch.nn.Module`` or
  ``(module, example_inputs)`` (:func:`load_factory`);
* ``"zoo"``: anything else, a zoo name (``gpt2``, ``llama-3-8b``... see ``analogc models``).

:func:`load_graph` traces a model string, :func:`trace_model` a torch module;
``analogc.trace`` takes either, the command line and :func:`analogc.sweep` take strings.

Example::

    >>> model_kind("gpt2"), model_kind("gpt-scaled:d=256,L=2,T=16"), model_kind("mypkg.nets:make")
    ('zoo', 'scaled', 'factory')
    >>> load_graph("mlp").summary()["mvm_count"]
    3
"""
from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

from analogc.errors import AnalogcError
from analogc.ir import Graph

#: what :func:`model_kind` returns
MODEL_KINDS = ("onnx", "scaled", "factory", "zoo")


def model_kind(spec: str) -> str:
    """``"onnx"``, ``"scaled"``, ``"factory"`` or ``"zoo"`` (see the module docstring); an ONNX
    path that does not exist is an :class:`~analogc.errors.AnalogcError`."""
    from analogc.frontends.zoo import is_scaled_spec

    if spec.endswith(".onnx") or (os.path.sep in spec and ":" not in spec):
        if not Path(spec).exists():
            raise AnalogcError(f"{spec}: no such file (expected an ONNX model file)")
        return "onnx"
    if is_scaled_spec(spec):
        return "scaled"
    if ":" in spec:
        return "factory"
    return "zoo"


#: ``on_ignored(names, reason)``: told which of ``seq_len``/``batch`` a model does not use
OnIgnored = Callable[[list[str], str], None]


def warn_ignored(names: list[str], reason: str) -> None:
    """The default ``on_ignored``: a :class:`UserWarning` ``seq_len ignored: <reason>``."""
    warnings.warn(f"{' and '.join(names)} ignored: {reason}", UserWarning, stacklevel=4)


def _given(**sizes: Any) -> list[str]:
    return [n for n, v in sizes.items() if v is not None]


def load_graph(spec: str, example_inputs: Any = None, *, seq_len: int | None = None,
               batch: int | None = None, dims: Mapping[str, int] | None = None,
               name: str | None = None, on_ignored: OnIgnored | None = None) -> Graph:
    """Trace the model that ``spec`` names into the analogc IR.

    ``dims`` binds an ONNX file's symbolic dimensions (``{"batch": 1, "seq": 128}``; other
    kinds have none to bind). ``seq_len``/``batch`` (default 1) size zoo and scaled models (a
    scaled spec's ``T`` wins), and a factory's Hugging Face model when neither the factory nor
    the caller gives inputs. ``example_inputs`` override a factory's own (zoo and scaled models
    build theirs). ``name`` names a factory's graph (default: the module's class name).
    ``seq_len``/``batch`` given to a model that does not use them (an ONNX file, a factory
    that returns its inputs, a model without token sequences) are reported to
    ``on_ignored(names, reason)`` (default :func:`warn_ignored`).
    """
    report = on_ignored or warn_ignored
    kind = model_kind(spec)
    if kind == "onnx":
        from analogc.frontends.onnx import load_onnx

        if _given(seq_len=seq_len, batch=batch):
            report(_given(seq_len=seq_len, batch=batch),
                   f"{os.path.basename(spec)} is an ONNX file: its input shapes are the file's")
        return load_onnx(spec, dims=dims, on_ignored=report)
    if dims:
        raise AnalogcError(f"dims: only ONNX files have symbolic dimensions to bind "
                           f"({spec!r} is a {kind} model)")
    if kind == "factory":
        model = load_factory(spec)
        if isinstance(model, tuple):  # (module, example_inputs)
            model, factory_inputs = model
            if example_inputs is None:
                example_inputs = factory_inputs
                if _given(seq_len=seq_len, batch=batch):
                    report(_given(seq_len=seq_len, batch=batch),
                           f"the factory {spec} returns its own example inputs")
                    seq_len = batch = None
        return trace_model(model, example_inputs, seq_len=seq_len, batch=batch, name=name,
                           on_ignored=report)
    if example_inputs is not None:
        raise AnalogcError(f"model {spec!r}: zoo models build their own inputs; "
                           f"pass seq_len/batch instead of example_inputs")
    from analogc.frontends import zoo

    if seq_len is not None:
        if kind == "scaled" and "seq_len" in zoo.parse_scaled_spec(spec):
            report(["seq_len"], f"the spec's T={zoo.parse_scaled_spec(spec)['seq_len']} is the sequence length")
        elif kind == "zoo" and zoo.get(spec).family in ("mlp", "cnn", "vit"):
            report(["seq_len"], f"{spec} takes no token sequence")
    return zoo.trace(spec, seq_len=seq_len, batch=1 if batch is None else batch)


def trace_model(model: Any, example_inputs: Any = None, *, seq_len: int | None = None,
                batch: int | None = None, name: str | None = None,
                on_ignored: OnIgnored | None = None) -> Graph:
    """Trace a ``torch.nn.Module`` on ``example_inputs`` (a tensor, a tuple of positional
    tensors or a dict of keyword tensors). Without inputs, a Hugging Face model gets inputs
    built from its config (``seq_len`` tokens or one image, ``batch`` of them, default 1); a
    Hugging Face model's graph carries the dimensions the estimator needs (decoders: prefill
    and decode). ``seq_len``/``batch`` that are not used (inputs given, an image model) are
    reported to ``on_ignored`` (default :func:`warn_ignored`)."""
    from analogc.frontends import zoo
    from analogc.frontends.torch import trace_module

    if not _is_module(model):
        raise AnalogcError(f"trace: expected a torch.nn.Module, a zoo name, an .onnx path or "
                           f"'module:factory', got {type(model).__name__}")
    report = on_ignored or warn_ignored
    if example_inputs is None:
        example_inputs, unused = _default_inputs(model, seq_len, 1 if batch is None else batch)
        if unused and seq_len is not None:
            report(["seq_len"], unused)
    elif _given(seq_len=seq_len, batch=batch):
        report(_given(seq_len=seq_len, batch=batch), "the example inputs fix the shapes")
    g = trace_module(model, example_inputs, name=name)
    g.meta.update(zoo.hf_meta(model, example_inputs))
    return g


def _default_inputs(model: Any, seq_len: int | None, batch: int) -> tuple[Any, str | None]:
    """Inputs for a Hugging Face model from its config, when the user gave none; and why
    ``seq_len`` is not used, if it is not."""
    import torch

    cfg = getattr(model, "config", None)
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    if cfg is not None and getattr(cfg, "image_size", None) and getattr(cfg, "num_channels", None):
        s = cfg.image_size
        return ({"pixel_values": torch.zeros(batch, cfg.num_channels, s, s, device=dev)},
                f"{type(model).__name__} takes images, not token sequences")
    if cfg is not None and getattr(cfg, "vocab_size", None):
        t = seq_len or min(128, getattr(cfg, "max_position_embeddings", None)
                           or getattr(cfg, "n_positions", 128))
        return {"input_ids": torch.zeros(batch, t, dtype=torch.long, device=dev)}, None
    raise AnalogcError(f"example_inputs: {type(model).__name__} needs example inputs (a tuple of "
                       f"tensors or a dict of keyword tensors)")


def load_factory(spec: str) -> Any:
    """``"package.module:factory"`` → the model the factory returns (called with no arguments),
    or the ``(model, example_inputs)`` pair it returns."""
    mod_name, _, attr = spec.partition(":")
    if not mod_name or not attr:
        raise AnalogcError(f"model {spec!r}: expected module:factory")
    try:
        mod = importlib.import_module(mod_name)
    except Exception as e:  # noqa: BLE001 - any import failure is the user's module
        raise AnalogcError(f"model {spec!r}: cannot import {mod_name} ({type(e).__name__}: {e})") from None
    fn = getattr(mod, attr, None)
    if fn is None:
        raise AnalogcError(f"model {spec!r}: module {mod_name} has no attribute {attr!r}")
    try:
        obj = fn() if callable(fn) and not _is_module(fn) else fn
    except Exception as e:  # noqa: BLE001
        raise AnalogcError(f"model {spec!r}: {attr}() failed ({type(e).__name__}: {e})") from None
    if isinstance(obj, tuple) and len(obj) == 2:  # (model, example_inputs)
        return obj
    if not _is_module(obj):
        raise AnalogcError(f"model {spec!r}: expected {attr}() to return a torch.nn.Module, "
                           f"got {type(obj).__name__}")
    return obj


def _is_module(obj: Any) -> bool:
    import torch

    return isinstance(obj, torch.nn.Module)
