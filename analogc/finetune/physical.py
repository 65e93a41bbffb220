"""Physical systems for physics-aware training (:class:`~analogc.finetune.base.PhysicalSystem`).

* :class:`DeployedSystem`: a deployed analogc model (the plan's hardware, its own programming
  and read-noise seed) with **hidden systematic mismatches** its digital twin does not know,
  applied to the output of every analog layer (the layer's analog part, before its digital
  bias), in this order:

  1. ``crosstalk`` c: each column picks up c times its two neighbouring columns' outputs
     (``y_n + c (y_(n-1) + y_(n+1))``, the columns of the layer's output, an open chain);
  2. ``gain_sigma`` s: a fixed per-column gain error ``1 + s N(0, 1)`` (fabrication);
  3. ``adc_compression`` k: a compressive ADC transfer ``Y tanh(k y / Y) / k`` (k = 0: linear),
     Y the layer's full-scale output (the largest |analog output| on the calibration batch at
     the system's first calibration, then fixed); at full scale it reads ``tanh(k)/k`` of the
     true value (k = 1: 0.76);
  4. ``offset_sigma`` o: a fixed per-column offset ``o Y N(0, 1)`` (fabrication).

  Gains and offsets are drawn once from the system's ``seed`` (one physical chip: they do not
  change when the chip is programmed again); programming and read noise come from the deployed
  model, drawn again at every programming. The mismatch model and its default strengths
  (:data:`DEFAULT_MISMATCH`) are a modelling choice: a hypothetical chip with errors of the
  size calibration leaves in practice, not a measured device. The twin is the digital model
  (``twin="digital"``, default) or the nominal deployed model without the mismatches and with
  another noise seed (``twin="deployed"``).

* :class:`CallableSystem`: a user's own instrument or simulator, ``forward(model, batch)`` and
  optionally a differentiable ``twin(model, batch)`` and ``layer_outputs(model, batch)``.

Example::

    sysm = mismatched_system(plan, seed=0, adc_compression=1.5, crosstalk=0.1)
    out = sysm.forward(model, x)                   # the physical output (no gradient)
    chip = sysm.instance(model, seed=3)            # an nn.Module: the trained model on that chip
"""
from __future__ import annotations

import math
import weakref
import zlib
from typing import Any, Callable, Iterable

import torch
from torch import nn

from analogc.errors import AnalogcError
from analogc.finetune._batch import run_inputs, split_batch

#: the mismatches :class:`DeployedSystem` knows, what each strength means
MISMATCH = {
    "adc_compression": "k of the compressive ADC transfer Y tanh(k y/Y)/k (0: linear; full scale reads tanh(k)/k)",
    "crosstalk": "fraction of each neighbouring column's output a column picks up (0: none)",
    "gain_sigma": "std of the fixed per-column gain error 1 + gain_sigma N(0, 1) (0: none)",
    "offset_sigma": "std of the fixed per-column offset, in units of the layer's full-scale output Y (0: none)",
}

#: the strengths :func:`mismatched_system` uses for keys it is not given. A modelling choice,
#: not a measured chip: 10% column gain and offset spread, 10% crosstalk, an ADC reading
#: tanh(2)/2 = 48% of the true value at full scale. On the digits MLP of
#: tests/test_finetune_pat.py this costs the in-silico model about 5 accuracy points.
DEFAULT_MISMATCH = {"adc_compression": 2.0, "crosstalk": 0.1, "gain_sigma": 0.1, "offset_sigma": 0.1}


def check_mismatch(mismatch: dict[str, Any]) -> dict[str, float]:
    """The mismatch strengths as floats; an unknown key or a bad value is one error line."""
    bad = sorted(set(mismatch) - set(MISMATCH))
    if bad:
        raise AnalogcError(f"mismatched_system: unknown mismatch(es) {', '.join(bad)}: expected one of "
                           f"{', '.join(sorted(MISMATCH))}")
    out = {}
    for k, v in mismatch.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise AnalogcError(f"mismatched_system: {k}: expected a non-negative number, got {v!r}")
        out[k] = float(v)
    return out


def _seed(seed: int, name: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2 ** 62)


class _Mismatch:
    """The hidden mismatches of one analog layer (a forward hook on its AnalogMVM)."""

    def __init__(self, layer: Any, path: str, strengths: dict[str, float], seed: int) -> None:
        self.path = path
        self.s = strengths
        self.dim = 1 if layer.kind == "conv" else -1
        n = layer.out_features
        g = torch.Generator().manual_seed(_seed(seed, path))
        self.gain = 1.0 + strengths.get("gain_sigma", 0.0) * torch.randn(n, generator=g)
        self.offset = strengths.get("offset_sigma", 0.0) * torch.randn(n, generator=g)
        self.full_scale: float | None = None  # Y, set at the system's first calibration
        self.enabled = True
        self.observe = False

    def _shape(self, v: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.dim == -1:
            return v.to(y.dtype)
        return v.to(y.dtype).view(-1, *([1] * (y.dim() - 2)))

    def __call__(self, module: nn.Module, inputs: Any, y: torch.Tensor) -> torch.Tensor | None:
        bias = getattr(module, "bias", None)
        b = None if bias is None else self._shape(bias.detach(), y)
        a = y if b is None else y - b  # the analog part of the output
        if self.observe:
            m = float(a.detach().abs().max()) if a.numel() else 0.0
            self.full_scale = max(self.full_scale or 0.0, m)
            return None
        if not self.enabled:
            return None
        Y = max(self.full_scale or 1.0, 1e-12)
        c = self.s.get("crosstalk", 0.0)
        if c:
            a = a.movedim(self.dim, -1)
            nb = torch.zeros_like(a)
            nb[..., 1:] += a[..., :-1]
            nb[..., :-1] += a[..., 1:]
            a = (a + c * nb).movedim(-1, self.dim)
        a = a * self._shape(self.gain, a)
        k = self.s.get("adc_compression", 0.0)
        if k:
            a = (Y / k) * torch.tanh(a * (k / Y))
        if self.s.get("offset_sigma", 0.0):
            a = a + self._shape(self.offset, a) * Y
        return a if b is None else a + b


def _sync(dst: nn.Module, src: nn.Module) -> None:
    """Copy ``src``'s parameters and buffers into ``dst`` by name (the deployed copy of the same
    model has the same names)."""
    sp = dict(src.named_parameters())
    sb = dict(src.named_buffers())
    with torch.no_grad():
        for n, p in dst.named_parameters():
            q = sp.get(n)
            if q is not None and q.shape == p.shape:
                p.copy_(q)
        for n, b in dst.named_buffers():
            q = sb.get(n)
            if q is not None and q.shape == b.shape and not n.endswith(("input_range", "adc_range")):
                b.copy_(q)


class DeployedSystem:
    """A deployed analogc model with hidden mismatches, as a physical system.

    ``plan``: a Plan (or a preset name / Hardware: the plan is built as :func:`analogc.deploy`
    builds it); ``seed``: the physical chip (its mismatch draws and its programming/read noise);
    ``mismatch``: strengths by name (:data:`MISMATCH`; missing keys are 0 here — use
    :func:`mismatched_system` for the documented defaults); ``twin``: ``"digital"`` (the model
    itself) or ``"deployed"`` (the nominal deployed model, no mismatch, noise seed ``seed + 1``);
    ``calibration``: batches for the input/ADC ranges (default: the first batch seen);
    ``recalibrate_every``: recalibrate the ranges every this many forwards while training
    (0: never); ``deploy_options``: simulation options of :func:`analogc.deploy`.
    """

    def __init__(self, plan: Any, *, seed: int, mismatch: dict[str, Any] | None = None, twin: str = "digital",
                 calibration: Iterable[Any] | None = None, recalibrate_every: int = 50,
                 deploy_options: dict[str, Any] | None = None) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise AnalogcError(f"physical system: seed: expected an integer, got {seed!r}")
        if twin not in ("digital", "deployed"):
            raise AnalogcError(f"physical system: twin: expected 'digital' or 'deployed', got {twin!r}")
        self.plan = plan
        self.seed = seed
        self.mismatch = check_mismatch(mismatch or {})
        self.twin_kind = twin
        self.calibration = None if calibration is None else list(calibration)
        self.recalibrate_every = int(recalibrate_every)
        self.deploy_options = dict(deploy_options or {})
        self._phys: nn.Module | None = None
        self._hooks: dict[str, _Mismatch] = {}
        self._twin_model: nn.Module | None = None
        self._twin_source: Callable[[], Any] = lambda: None
        self._calls = 0
        self.twin: Callable[[nn.Module, Any], Any] = self._twin

    # -- building ------------------------------------------------------------------------
    def _deploy(self, model: nn.Module, seed: int, mismatch: bool) -> tuple[nn.Module, dict[str, _Mismatch]]:
        from analogc.sim.deploy import analog_layers, deploy
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ex = split_batch(self.calibration[0])[0] if self.calibration else None  # traced when no Plan
            am = deploy(model, self.plan, seed=seed, example_inputs=ex, **self.deploy_options)
        am.eval()
        hooks: dict[str, _Mismatch] = {}
        if mismatch:
            paths = {id(m): p for p, m in am.named_modules()}
            for layer in analog_layers(am):
                path = paths[id(layer)]
                h = _Mismatch(layer, path, self.mismatch, self.seed)
                if path in self._hooks:  # the same chip: the same full scale
                    h.full_scale = self._hooks[path].full_scale
                layer.register_forward_hook(h)
                hooks[path] = h
        return am, hooks

    def _calibrate(self, am: nn.Module, hooks: dict[str, _Mismatch], batches: list[Any]) -> None:
        from analogc.sim.calibrate import calibrate
        for h in hooks.values():
            h.enabled = False
        try:
            calibrate(am, [split_batch(b)[0] for b in batches])
            if any(h.full_scale is None for h in hooks.values()):  # first calibration: measure Y
                for h in hooks.values():
                    h.observe = True
                with torch.no_grad():
                    for b in batches:
                        run_inputs(am, split_batch(b)[0])
        finally:
            for h in hooks.values():
                h.enabled, h.observe = True, False

    def _ensure(self, model: nn.Module, batch: Any) -> nn.Module:
        if self._phys is None:
            if self.calibration is None:
                self.calibration = [batch]
            self._phys, self._hooks = self._deploy(model, self.seed, mismatch=True)
            _sync(self._phys, model)
            self._calibrate(self._phys, self._hooks, self.calibration)
        else:
            _sync(self._phys, model)
            self._calls += 1
            if self.recalibrate_every and self._calls % self.recalibrate_every == 0:
                self._calibrate(self._phys, self._hooks, [batch])
        return self._phys

    def prepare(self, model: nn.Module, batch: Any) -> None:
        """Build and calibrate the physical copy now (PAT's setup calls it, so that the trainer's
        checkpoints hold its random streams from the first step)."""
        if self._phys is None:
            self._ensure(model, batch)

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs beyond the physical copy's tensors: the forward count (it
        schedules the recalibrations)."""
        return {"calls": self._calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._calls = int(state.get("calls", 0))

    # -- the PhysicalSystem interface -------------------------------------------------------
    def forward(self, model: nn.Module, batch: Any) -> Any:
        """The physical output for ``model``'s current weights (no gradient)."""
        return self.layer_outputs(model, batch)[0]

    def layer_outputs(self, model: nn.Module, batch: Any) -> tuple[Any, dict[str, torch.Tensor]]:
        """``(output, {module path: output of that analog layer})``, both physical."""
        phys = self._ensure(model, batch)
        acts: dict[str, torch.Tensor] = {}
        handles = []
        for path in self._hooks:
            def keep(mod, inp, out, path=path):
                acts[path] = out.detach()
            handles.append(phys.get_submodule(path).register_forward_hook(keep))
        try:
            with torch.no_grad():
                out = run_inputs(phys, split_batch(batch)[0])
        finally:
            for h in handles:
                h.remove()
        return out, acts

    def _twin(self, model: nn.Module, batch: Any) -> Any:
        return run_inputs(self.twin_module(model), split_batch(batch)[0])

    def twin_module(self, model: nn.Module) -> nn.Module:
        """The module the twin runs: ``model`` itself (digital twin), or a nominal deployed copy
        whose parameters are ``model``'s own (deployed twin, straight-through gradients)."""
        if self.twin_kind == "digital":
            return model
        if self._twin_model is None or self._twin_source() is not model:
            tm, _ = self._deploy(model, self.seed + 1, mismatch=False)
            own = dict(model.named_parameters())
            for name, _p in list(tm.named_parameters()):
                if name in own:
                    owner, _, leaf = name.rpartition(".")
                    setattr(tm.get_submodule(owner) if owner else tm, leaf, own[name])
            from analogc.sim.calibrate import calibrate
            calibrate(tm, [split_batch(b)[0] for b in (self.calibration or [])] or None)
            self._twin_source = weakref.ref(model)  # (an attribute of tm would register it as a submodule)
            self._twin_model = tm
        return self._twin_model

    # -- evaluation -------------------------------------------------------------------------
    def instance(self, model: nn.Module, seed: int | None = None) -> nn.Module:
        """``model`` programmed on this physical chip (its fixed mismatches), with programming and
        read noise seed ``seed`` (default: the system's), calibrated on the system's calibration
        batches; an ``nn.Module`` in eval mode."""
        if self.calibration is None:
            raise AnalogcError("physical system: instance() needs calibration batches: pass calibration= "
                               "or run forward() once")
        am, hooks = self._deploy(model, self.seed if seed is None else seed, mismatch=True)
        self._calibrate(am, hooks, self.calibration)
        if not self._hooks:
            self._hooks = hooks
        return am


    def evaluate(self, model: nn.Module, batches: Iterable[Any], *, seeds: Iterable[int] = range(100, 105),
                 metric: Any = "accuracy") -> dict[str, Any]:
        """``model`` on this physical chip, reprogrammed once per seed (programming and read
        noise; the fixed mismatches stay): the metric's ``{"mean", "std", "values", "n"}``
        (metric as :func:`analogc.finetune.evaluate.metric_value` takes it)."""
        from analogc.finetune.evaluate import metric_value, summary
        batches = list(batches)
        if not batches:
            raise AnalogcError("physical system: evaluate: expected at least one batch, got none")
        if self.calibration is None:
            self.calibration = batches[:1]
        vals = []
        with torch.no_grad():
            for s in seeds:
                vals.append(metric_value(self.instance(model, seed=int(s)), batches, metric, reference=model))
        return summary(vals)


def mismatched_system(plan: Any, *, seed: int, twin: str = "digital", calibration: Iterable[Any] | None = None,
                      **mismatch: Any) -> DeployedSystem:
    """A :class:`DeployedSystem` on ``plan`` with the named mismatch strengths
    (:data:`MISMATCH`), the others at :data:`DEFAULT_MISMATCH`. An unknown name is an error.

    Example::

        sysm = mismatched_system(plan, seed=0, adc_compression=2.0, gain_sigma=0.1)
    """
    strengths = dict(DEFAULT_MISMATCH)
    strengths.update(check_mismatch(mismatch))
    return DeployedSystem(plan, seed=seed, mismatch=strengths, twin=twin, calibration=calibration)


class CallableSystem:
    """A user's own physical system: ``forward(model, batch)`` (any callable, need not be
    differentiable), an optional differentiable ``twin(model, batch)`` (default: the model
    itself) and optional ``layer_outputs(model, batch) -> (output, {module path: tensor})``
    (per-layer physical activations, keyed by the paths of ``model``'s modules)."""

    def __init__(self, forward: Callable[[nn.Module, Any], Any],
                 twin: Callable[[nn.Module, Any], Any] | None = None,
                 layer_outputs: Callable[[nn.Module, Any], Any] | None = None) -> None:
        if not callable(forward):
            raise AnalogcError(f"physical system: forward: expected a callable forward(model, batch), "
                               f"got {type(forward).__name__}")
        for n, f in (("twin", twin), ("layer_outputs", layer_outputs)):
            if f is not None and not callable(f):
                raise AnalogcError(f"physical system: {n}: expected a callable (model, batch) or None, "
                                   f"got {type(f).__name__}")
        self._forward = forward
        self.twin = twin if twin is not None else (lambda model, batch: run_inputs(model, split_batch(batch)[0]))
        if layer_outputs is not None:
            self.layer_outputs = layer_outputs

    def forward(self, model: nn.Module, batch: Any) -> Any:
        return self._forward(model, batch)


def as_physical(obj: Any) -> Any:
    """A :class:`~analogc.finetune.base.PhysicalSystem` from a system or a plain callable
    ``forward(model, batch)`` (wrapped in :class:`CallableSystem`)."""
    if obj is None:
        return None
    if hasattr(obj, "forward") and hasattr(obj, "twin") and not isinstance(obj, nn.Module):
        return obj
    if callable(obj) and not isinstance(obj, nn.Module):
        return CallableSystem(obj)
    raise AnalogcError(f"physical: expected a PhysicalSystem (forward(model, batch) and twin) or a callable "
                       f"forward(model, batch), got {type(obj).__name__}")
