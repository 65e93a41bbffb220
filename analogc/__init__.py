"""analogc: compile neural networks onto analog hardware, estimate their cost, run them noisily.

Example::

    import analogc
    g = analogc.trace("gpt2", seq_len=256)          # zoo model on the meta device
    plan = analogc.compile(g, hw="pcm-hermes")      # tiles, chips, placement
    plan.to_dataframe().head()
"""
from __future__ import annotations

import importlib
import os
from typing import Any

from analogc.errors import AnalogcError
from analogc.ir import Graph, Op, OpKind
from analogc.mapping import Plan, TileMapping, compile

__version__ = "0.1.0"


def trace(model: Any, example_inputs: Any = None, *, seq_len: int | None = None,
          batch: int = 1, name: str | None = None, dims: dict[str, int] | None = None) -> Graph:
    """Trace a model into the analogc IR.

    ``model`` is a ``torch.nn.Module`` (with ``example_inputs``: a tuple of positional
    tensors or a dict of keyword tensors), a zoo name (``"gpt2"``, ``"llama-3-70b"``… see
    ``analogc models``), a path to an ``.onnx`` file (``dims`` binds its symbolic
    dimensions, e.g. ``{"batch": 1, "seq": 128}``), or ``"module:factory"``.

    Example::

        g = analogc.trace("llama-3-8b", seq_len=2048)
        g = analogc.trace(my_mlp, (torch.randn(32, 784),))
    """
    from analogc.frontends import torch as torch_frontend
    from analogc.frontends import zoo

    if isinstance(model, str):
        if model.endswith(".onnx") or (os.path.sep in model and ":" not in model):
            return load_onnx(model, dims=dims)
        if zoo.is_scaled_spec(model):  # "gpt-scaled:d=4096,L=48,T=2048"
            return zoo.trace(model, seq_len=seq_len, batch=batch)
        if ":" in model:
            model = load_factory(model)
        else:
            if example_inputs is not None:
                raise AnalogcError(f"model {model!r}: zoo models build their own inputs; "
                                   f"pass seq_len/batch instead of example_inputs")
            return zoo.trace(model, seq_len=seq_len, batch=batch)
    if example_inputs is None:
        example_inputs = _default_inputs(model, seq_len, batch)
    g = torch_frontend.trace_module(model, example_inputs, name=name)
    g.meta.update(zoo.hf_meta(model, example_inputs))
    return g


def _default_inputs(model: Any, seq_len: int | None, batch: int) -> Any:
    """Inputs for a Hugging Face model from its config, when the user gave none."""
    import torch

    cfg = getattr(model, "config", None)
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    if cfg is not None and getattr(cfg, "image_size", None) and getattr(cfg, "num_channels", None):
        s = cfg.image_size
        return {"pixel_values": torch.zeros(batch, cfg.num_channels, s, s, device=dev)}
    if cfg is not None and getattr(cfg, "vocab_size", None):
        t = seq_len or min(128, getattr(cfg, "max_position_embeddings", None)
                           or getattr(cfg, "n_positions", 128))
        return {"input_ids": torch.zeros(batch, t, dtype=torch.long, device=dev)}
    raise AnalogcError(f"example_inputs: {type(model).__name__} needs example inputs (a tuple of "
                       f"tensors or a dict of keyword tensors)")


def load_factory(spec: str) -> Any:
    """``"package.module:factory"`` → the model the factory returns (called with no arguments)."""
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


def load_onnx(path: str | os.PathLike, **kw: Any) -> Graph:
    """Load an ONNX file into the analogc IR (see :mod:`analogc.frontends.onnx`)."""
    from analogc.frontends.onnx import load_onnx as _load

    return _load(path, **kw)


def estimate(plan: Plan, **kw: Any) -> Any:
    """Price a plan: energy, latency, area (see :mod:`analogc.estimate`)."""
    from analogc.estimate import estimate as _estimate

    return _estimate(plan, **kw)


def sweep(models: Any, hws: Any, **kw: Any) -> Any:
    """Energy, latency, area of models × hardware, with baseline ratios (see :mod:`analogc.sweep`)."""
    from analogc.sweep import sweep as _sweep

    return _sweep(models, hws, **kw)


def deploy(model: Any, hw_or_plan: Any = None, **kw: Any) -> Any:
    """Run a plan as a noisy analog torch model (see :mod:`analogc.sim`)."""
    from analogc.sim import deploy as _deploy

    return _deploy(model, hw_or_plan, **kw)


def calibrate(analog_model: Any, batches: Any, **kw: Any) -> Any:
    """Set input/ADC ranges of a deployed model from a few batches."""
    from analogc.sim import calibrate as _calibrate

    return _calibrate(analog_model, batches, **kw)


__all__ = ["AnalogcError", "Graph", "Op", "OpKind", "Plan", "TileMapping", "calibrate",
           "compile", "deploy", "estimate", "load_factory", "load_onnx", "sweep", "trace"]
