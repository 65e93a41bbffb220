"""analogc: compile neural networks onto analog hardware, estimate their cost, run them noisily.

Example::

    import analogc
    g = analogc.trace("gpt2", seq_len=256)          # zoo model on the meta device
    plan = analogc.compile(g, hw="pcm-hermes")      # tiles, chips, placement
    plan.to_dataframe().head()
"""
from __future__ import annotations

import os
from typing import Any

from analogc.errors import AnalogcError
from analogc.frontends.spec import load_factory
from analogc.ir import Graph, Op, OpKind
from analogc.mapping import Plan, TileMapping, compile

__version__ = "0.1.0"


def trace(model: Any, example_inputs: Any = None, *, seq_len: int | None = None,
          batch: int | None = None, name: str | None = None, dims: dict[str, int] | None = None) -> Graph:
    """Trace a model into the analogc IR.

    ``model`` is a ``torch.nn.Module`` (with ``example_inputs``: a tuple of positional
    tensors or a dict of keyword tensors), a zoo name (``"gpt2"``, ``"llama-3-70b"``… see
    ``analogc models``), a path to an ``.onnx`` file (``dims`` binds its symbolic
    dimensions, e.g. ``{"batch": 1, "seq": 128}``), a ``gpt-scaled:d=...,L=...,T=...`` spec, or
    ``"module:factory"`` (see :mod:`analogc.frontends.spec`). ``seq_len``/``batch`` (default
    1) size zoo models and Hugging Face modules traced without inputs; given to a model that
    does not use them (an ONNX file, inputs given, an MLP) they are ignored with a UserWarning.

    Example::

        g = analogc.trace("llama-3-8b", seq_len=2048)
        g = analogc.trace(my_mlp, (torch.randn(32, 784),))
    """
    from analogc.frontends.spec import load_graph, trace_model

    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if isinstance(model, str):  # what the string names is decided in analogc.frontends.spec
        return load_graph(model, example_inputs, seq_len=seq_len, batch=batch, dims=dims, name=name)
    return trace_model(model, example_inputs, seq_len=seq_len, batch=batch, name=name)


def load_onnx(path: str | os.PathLike, **kw: Any) -> Graph:
    """Load an ONNX file into the analogc IR (see :mod:`analogc.frontends.onnx`)."""
    from analogc.frontends.onnx import load_onnx as _load

    return _load(path, **kw)


def estimate(plan: Plan, **kw: Any) -> Any:
    """Price a plan: energy, latency, area (see :mod:`analogc.estimate`)."""
    from analogc.estimate import estimate as _estimate

    return _estimate(plan, **kw)


def sweep(models: Any = None, hws: Any = None, **kw: Any) -> Any:
    """Energy, latency, area of models (or ``family=``) × hardware, with baseline ratios (see
    :mod:`analogc.sweep`)."""
    from analogc.sweep import sweep as _sweep

    return _sweep(models, **({} if hws is None else {"hws": hws}), **kw)


def deploy(model: Any, hw_or_plan: Any = None, **kw: Any) -> Any:
    """Run a plan as a noisy analog torch model (see :mod:`analogc.sim`)."""
    from analogc.sim import deploy as _deploy

    return _deploy(model, hw_or_plan, **kw)


def calibrate(analog_model: Any, batches: Any, **kw: Any) -> Any:
    """Set input/ADC ranges of a deployed model from a few batches."""
    from analogc.sim import calibrate as _calibrate

    return _calibrate(analog_model, batches, **kw)


def finetune(model: Any, hw_or_plan: Any, data: Any, **kw: Any) -> Any:
    """Fine-tune a model for the hardware it is deployed on (see :mod:`analogc.finetune`)."""
    from analogc.finetune import finetune as _finetune

    return _finetune(model, hw_or_plan, data, **kw)


def methods(task: str = "digits", hw: Any = None, **kw: Any) -> Any:
    """Training methods for physical hardware side by side, measured (see :mod:`analogc.methods`)."""
    from analogc.methods.table import run_table

    return run_table(task, hw, **kw)


__all__ = ["AnalogcError", "Graph", "Op", "OpKind", "Plan", "TileMapping", "calibrate",
           "compile", "deploy", "estimate", "finetune", "load_factory", "load_onnx", "methods", "sweep",
           "trace"]
