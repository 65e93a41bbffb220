"""deploy(): run a Plan as a torch model with the hardware's non-idealities.

The same :class:`~analogc.mapping.plan.Plan` and the same ``Hardware`` that the estimator
prices drive the simulation: every physical number (converter bits, passes, tile size, device
noise, photons per MAC, MZI loss, capacitance) is read from the hardware's tile family object
(``hw.tile_model``), so cost and accuracy describe one machine. Deploy itself takes only
simulation options (:data:`SIM_OPTIONS`); a hardware change goes through
``hw_models.load(name, **overrides)`` (or ``analogc.compile(..., **overrides)``).
"""
from __future__ import annotations

import copy
import inspect
import math
import os
import re
import types
import warnings
import zlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from analogc.errors import AnalogcError
from analogc.sim.onnx_model import onnx_model_and_plan
from analogc.sim.products import AnalogExperts, AnalogRNN, ExpertMVM, expert_weights, WeightView, wrap_experts
from analogc.sim.tile import AnalogMVM, NoisePool, in_analog_mvm
from analogc.weights import weight_kind, weight_shape

#: what deploy accepts besides the model, the hardware or plan, seed, example_inputs and
#: calibration: how to simulate, never what the hardware is
SIM_OPTIONS = {
    "t_inference": "seconds after programming at which the devices are read (PCM drift)",
    "exact_noise": "draw fresh Gaussian noise on every MVM instead of from the noise pool",
    "input_range": "a static DAC input range for every layer",
    "input_range_mode": "'dynamic' (per batch until calibrated), 'static' or 'learned'",
    "converter_passes": "'statistical' (default: one GEMM plus the error distribution of the passes), "
                        "'per-pass' (every ADC conversion per slice, input bit and row tile run, as "
                        "priced) or 'recombined' (one conversion per row tile, optimistic)",
    "matmul": "'plan' (attention matmuls as the plan places them) or 'digital'",
    "calibration_method": "input ranges from the calibration batches: 'mse' (default), 'percentile' or 'max'",
    "outlier_threshold": "input channels above this multiple of the median channel maximum run digitally "
                         "(default 8; None: all on tiles)",
    "weight_clip_sigma": "clip each weight column at this many standard deviations before programming "
                         "(default None: no clipping)",
    "dims": "symbolic dimensions of an ONNX file (dict)",
    "train_device_noise": "in train mode, 'fixed' (default: the device error of the last full programming "
                          "carried over the updates) or 'fresh' (a new device draw per update, from the "
                          "per-level error statistics of the last full programming; hardware-aware training)",
}


def _check_options(options: dict[str, Any]) -> None:
    bad = sorted(set(options) - set(SIM_OPTIONS))
    if bad:
        hint = ("; a hardware parameter goes through hw_models.load(name, **overrides) or "
                "analogc.compile(graph, hw, **overrides)")
        raise AnalogcError(f"deploy: unknown option(s) {', '.join(bad)}: expected one of "
                           f"{', '.join(sorted(SIM_OPTIONS))}{hint}")
    cp = options.get("converter_passes", "statistical")
    if cp not in ("statistical", "per-pass", "recombined"):
        raise AnalogcError(f"deploy: converter_passes: expected 'statistical', 'per-pass' or 'recombined', "
                           f"got {cp!r}")
    mode = options.get("input_range_mode", "dynamic")
    if mode not in ("dynamic", "static", "learned"):
        raise AnalogcError(f"deploy: input_range_mode: expected 'dynamic', 'static' or 'learned', got {mode!r}")
    tdn = options.get("train_device_noise", "fixed")
    if tdn not in ("fixed", "fresh"):
        raise AnalogcError(f"deploy: train_device_noise: expected 'fixed' or 'fresh', got {tdn!r}")
    mm = options.get("matmul", "plan")
    if mm not in ("plan", "digital"):
        raise AnalogcError(f"deploy: matmul: expected 'plan' or 'digital', got {mm!r}")
    cm = options.get("calibration_method", "mse")
    if cm not in ("mse", "percentile", "max"):
        raise AnalogcError(f"deploy: calibration_method: expected 'mse', 'percentile' or 'max', got {cm!r}")
    for key in ("outlier_threshold", "weight_clip_sigma"):
        v = options.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                              or v <= (1 if key == "outlier_threshold" else 0)):
            raise AnalogcError(f"deploy: {key}: expected a number > {1 if key == 'outlier_threshold' else 0} "
                               f"or None, got {v!r}")
    for key in ("t_inference", "input_range"):
        v = options.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                              or v < 0 or (key == "input_range" and v == 0)):
            raise AnalogcError(f"deploy: {key}: expected a {'positive' if key == 'input_range' else 'non-negative'} "
                               f"number, got {v!r}")


def _layer_seed(seed: int, name: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2 ** 62)


_PRODUCT = re.compile(r"@|\bmatmul\b|\bbmm\b|\bbaddbmm\b|\beinsum\b|scaled_dot_product_attention")


def _attention_modules(model: nn.Module) -> list[str]:
    """Modules whose forward may multiply two activations (attention): nn.MultiheadAttention,
    or a forward whose source has a matmul, @, bmm, einsum or scaled_dot_product_attention."""
    out, seen = [], {}
    for path, m in model.named_modules():
        cls = type(m)
        if cls not in seen:
            try:
                src = inspect.getsource(cls.forward)
            except (OSError, TypeError):
                src = ""
            seen[cls] = isinstance(m, nn.MultiheadAttention) or bool(_PRODUCT.search(src))
        if seen[cls]:
            out.append(path or cls.__name__)
    return out


def _resolve_plan(model: nn.Module, hw_or_plan: Any, example_inputs: Any, calibration: Any) -> Any:
    """The plan to deploy: a given Plan; a trace of the model on its example inputs (or first
    calibration batch); or, with no inputs, the plan of its weight layers' shapes alone (as
    aihwkit's convert_to_analog needs none) — enough for Linear/Conv products, not to place
    attention matmuls on tiles."""
    from analogc.mapping.plan import Plan
    if isinstance(hw_or_plan, Plan):
        return hw_or_plan
    from analogc.frontends.modules import weight_layers_graph
    from analogc.frontends.spec import trace_model
    from analogc.hardware import resolve_hw
    from analogc.mapping import compile as compile_plan

    hw = resolve_hw(hw_or_plan)
    ex = example_inputs
    if ex is None and calibration is not None:
        ex = _first_batch(calibration)
    if ex is not None:
        return compile_plan(trace_model(model, ex), hw=hw)  # a tensor, a tuple or a dict
    attention = _attention_modules(model)
    if hw.dynamic_matmul == "analog" and attention:
        raise AnalogcError(f"deploy: {hw.name} puts attention matmuls on tiles, and placing them needs the "
                           f"model traced: pass example_inputs= (or calibration=) for {attention[0]}")
    return compile_plan(weight_layers_graph(model), hw=hw)


def _first_batch(batches: Any) -> Any:
    if isinstance(batches, (torch.Tensor, dict, tuple)):
        return batches
    for b in batches:
        return b
    return None


def deploy(model: nn.Module | str, hw_or_plan: Any, *, seed: int | None = None,
           example_inputs: Any = None, calibration: Any = None, **options: Any) -> nn.Module:
    """A copy of ``model`` whose ``mvm`` ops run on the plan's analog tiles.

    ``hw_or_plan``: a Plan from :func:`analogc.compile`, or a preset name / Hardware (then the
    model is traced with ``example_inputs`` or the first ``calibration`` batch and compiled).
    With a hardware and no inputs, the plan is built from the weight layers' shapes (enough for
    models whose products are Linear/Conv modules; such a plan cannot be priced). ``model``
    may be an ``.onnx`` path (converted with onnx2torch).

    Options (:data:`SIM_OPTIONS`, anything else is refused): ``t_inference`` (s after
    programming; PCM drift), ``exact_noise`` (fresh ``randn`` per MVM instead of the noise
    pool), ``input_range`` (a static input range for every layer), ``input_range_mode``
    (``"dynamic"`` per batch until calibrated, ``"static"``, ``"learned"``), ``matmul``
    (``"plan"`` follows the plan; ``"digital"`` forces attention matmuls digital),
    ``converter_passes`` (``"per-pass"``: one ADC conversion per bit slice, input bit plane and
    row tile, shift-added digitally, as the cost model counts them; ``"recombined"``: slices and
    input bits added before one conversion per row tile, faster and optimistic; see
    :mod:`analogc.sim.tile`). To study converters or noise, change the hardware:
    ``hw_models.load("pcm-hermes", adc_model="ideal", **{"noise.out_noise": 0})``.
    ``calibration`` batches are passed to :func:`analogc.calibrate` before returning.

    Example::

        plan = analogc.compile(analogc.trace(mlp, (x,)), hw="pcm-hermes")
        amodel = analogc.deploy(mlp, plan, seed=0, calibration=[x])
        y = amodel(x)
        amodel = analogc.deploy(mlp, "pcm-hermes", seed=0)     # Linear/Conv models: no inputs needed
    """
    _check_options(options)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise AnalogcError(f"deploy: seed: expected an integer, got {seed!r}")
    if isinstance(model, (str, os.PathLike)):
        model, plan = onnx_model_and_plan(str(model), hw_or_plan, options.pop("dims", None))
    elif not isinstance(model, nn.Module):
        raise AnalogcError(f"deploy: expected a torch.nn.Module or an .onnx path, got {type(model).__name__}")
    else:
        plan = _resolve_plan(model, hw_or_plan, example_inputs, calibration)
    hw = plan.hw
    opts = dict(options)
    if seed is None:
        seed = int(torch.randint(0, 2 ** 31 - 1, (1,)))
    amodel = copy.deepcopy(model)
    from analogc.sim.fold import fold_batchnorm_modules  # the plan's BatchNorms, into their weights
    fold_batchnorm_modules(amodel, plan)
    modules = dict(amodel.named_modules())
    pool = NoisePool(seed, exact=bool(opts.get("exact_noise", False)))
    covered: set[str] = set()
    replaced: dict[str, AnalogMVM] = {}
    matmul_paths: list[tuple[str, Any]] = []
    # draws are keyed by the op's position among the plan's mvm ops, not by module name, so a
    # model and its ONNX export (other module names, same ops) get the same chip for one seed
    n_mvm = 0
    functional: list[str] = []
    rnn_layers: dict[str, dict[str, AnalogMVM]] = {}  # recurrent module -> its analog weights
    expert_banks: dict[str, list[AnalogExperts]] = {}  # experts module -> its analog grouped matmuls
    for op in plan.graph.ops():
        m = plan.mappings.get(op.name)
        if m is None:
            continue
        kind = getattr(op.kind, "value", op.kind)
        if kind == "matmul":
            if m.placement == "analog" and opts.get("matmul", "plan") != "digital":
                matmul_paths.append((op.module_path or "", m))
            continue
        path = op.module_path
        if path is None or path not in modules:
            raise AnalogcError(f"plan op {op.name}: module {path!r} not found in the model "
                               f"(was the plan compiled for a different model?)")
        mod = modules[path]
        mk = weight_kind(mod)
        if isinstance(mod, AnalogMVM):
            raise AnalogcError(f"plan op {op.name}: module {path!r} is already deployed on analog tiles; "
                               f"deploy the original (digital) model")
        if op.meta.get("rnn_weight") and isinstance(mod, nn.RNNBase):  # LSTM/GRU/RNN: one op per weight
            attr = op.meta["rnn_weight"]
            w = getattr(mod, attr, None)
            if w is None or tuple(w.shape) != (op.out_features, op.in_features):
                raise AnalogcError(f"plan op {op.name}: module {path!r} has no weight {attr} of "
                                   f"N x K = {op.out_features} x {op.in_features}")
            covered.add(path)
            key, n_mvm = f"mvm{n_mvm}", n_mvm + 1
            layers = rnn_layers.setdefault(path, {})
            if m.placement == "analog":
                layers[attr] = AnalogMVM(WeightView(w), "linear", m, hw, _layer_seed(seed, key), pool,
                                         f"{path}.{attr}" if path else attr, opts)
                layers[attr].seed_key = key
            continue
        if op.meta.get("experts") and op.param:  # mixture of experts: one analog layer per expert
            stack, wk = expert_weights(mod, op.param, op.experts, op.in_features, op.out_features)
            key, n_mvm = f"mvm{n_mvm}", n_mvm + 1
            if m.placement != "analog":
                continue
            bank = []
            for e in range(op.experts):
                am = ExpertMVM(stack, e, wk, m, hw, _layer_seed(seed, f"{key}.e{e}"), pool,
                               f"{path}.{op.param.rsplit('.', 1)[-1]}.{e}", opts)
                am.seed_key = f"{key}.e{e}"
                bank.append(am)
            expert_banks.setdefault(path, []).append(AnalogExperts(stack, wk, bank))
            continue
        if mk is None:  # a product written in forward() (F.linear(x, self.w)): no layer to swap
            functional.append(f"{op.name} in {path or type(mod).__name__}")
            n_mvm += 1
            continue
        g, k, n = weight_shape(mod, mk)
        if (k, n) != (op.in_features, op.out_features) or g != op.groups:
            raise AnalogcError(f"plan op {op.name}: module {path!r} has weight K x N = {k} x {n} (groups {g}), "
                               f"the plan expects {op.in_features} x {op.out_features} (groups {op.groups})")
        covered.add(path)
        key, n_mvm = f"mvm{n_mvm}", n_mvm + 1
        if m.placement != "analog" or path in replaced:
            continue
        replaced[path] = AnalogMVM(mod, mk, m, hw, _layer_seed(seed, key), pool, path, opts)
        replaced[path].seed_key = key
    if functional:
        warnings.warn(f"deploy: {len(functional)} mvm op(s) computed inside forward() have no Linear/Conv "
                      f"module to put on tiles and run digitally: {', '.join(functional[:20])}"
                      f"{' ...' if len(functional) > 20 else ''}", stacklevel=2)
    uncovered = [p for p, mod in modules.items()
                 if (weight_kind(mod) or isinstance(mod, nn.RNNBase)) and p not in covered]
    if uncovered:
        warnings.warn(f"deploy: {len(uncovered)} weight layer(s) not in the plan run digitally: "
                      f"{', '.join(uncovered[:20])}{' ...' if len(uncovered) > 20 else ''}", stacklevel=2)
    for path, layers in rnn_layers.items():
        if layers:  # the recurrent layer runs its cells with these products on tiles
            replaced[path] = AnalogRNN(modules[path], layers)  # type: ignore[assignment]
    for path, am in replaced.items():
        if path:
            _set_module(amodel, path, am)
        else:  # the model is the weight layer itself
            amodel = am
    for path, banks in expert_banks.items():
        wrap_experts(_get_module(amodel, path), banks)
    seen: set[str] = set()
    for path, m in matmul_paths:
        if path in seen:  # one wrapper per attention module covers all its matmuls
            continue
        key = f"matmul{len(seen)}"
        seen.add(path)
        target = _get_module(amodel, path) if path else amodel
        wrapper = AnalogMatmul(hw, _layer_seed(seed, key), pool, path)
        wrapper.seed_key = key
        _wrap_matmul(target, wrapper)
    amodel.analogc_plan = plan  # type: ignore[attr-defined]
    amodel.analogc_seed = seed  # type: ignore[attr-defined]
    amodel.analogc_uncovered = uncovered  # type: ignore[attr-defined]
    if calibration is not None:
        from analogc.sim.calibrate import calibrate
        calibrate(amodel, calibration, method=opts.get("calibration_method", "mse"),
                  outlier_threshold=opts.get("outlier_threshold", 8.0))
    return amodel


def _get_module(root: nn.Module, path: str) -> nn.Module:
    return root.get_submodule(path) if path else root


def _set_module(root: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    setattr(_get_module(root, parent), leaf, new)


def analog_layers(model: nn.Module) -> list[AnalogMVM]:
    """The analog layers of a deployed model, in module order."""
    return [m for m in model.modules() if isinstance(m, AnalogMVM)]


def set_drift_time(model: nn.Module, t_inference: float) -> None:
    """Read every analog layer at ``t_inference`` seconds after programming (same devices)."""
    for m in analog_layers(model):
        m.reprogram(t_inference)


def reseed(model: nn.Module, seed: int) -> None:
    """New programming/noise draws for every analog layer (a new chip instance), deterministic."""
    for m in analog_layers(model):
        m.seed = _layer_seed(seed, m.seed_key)
        m.gen.manual_seed(m.seed + 1)
        m.dev_gen.manual_seed(m.seed + 2)
        m.reprogram()
    for mm in model.modules():
        am = getattr(mm, "_analogc_matmul", None)
        if am is not None:
            am.gen.manual_seed(_layer_seed(seed, am.seed_key))
    pool = next((m.pool for m in analog_layers(model)), None)
    if pool is not None:
        pool.gen.manual_seed(seed)
        pool.pool = torch.empty(0)
    model.analogc_seed = seed  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------
# dynamic matmuls (attention) on analog tiles
# ---------------------------------------------------------------------------------------
class AnalogMatmul:
    """a @ b with ``b`` written/modulated onto a tile each call (per-column scale, quantized to
    the tile's weight bits, or the SLM's bits), ``a`` through the DAC (dynamic range per call),
    the contraction cut into row tiles with the family's per-MVM noise (output, read, shot
    noise: :meth:`hw_models.family.TileFamily.noise_std`) and ADC per tile, as for static
    weights. Programming noise, MZI phase errors and drift are not applied to a dynamic operand
    (it is rewritten every call)."""

    def __init__(self, hw: Any, seed: int, pool: NoisePool, name: str) -> None:
        self.name = name
        self.rows = hw.tile.rows
        fam = hw.tile_model
        self.w_levels = fam.operand_levels
        self.dac = None if fam.exact else fam.input_levels
        self.adc = None if fam.exact else fam.output_levels
        self.fam = fam
        self.out_noise = fam.out_noise
        self.noisy = not fam.exact and (fam.out_noise > 0 or fam.signal_dependent_noise)
        self.adc_range = fam.adc_range
        self.gen = torch.Generator().manual_seed(seed)
        self.pool = pool

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and (a.requires_grad or b.requires_grad):
            return _MatmulFn.apply(a, b, self)
        return self._run(a, b)

    @torch.no_grad()
    def _run(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
            raise AnalogcError(f"matmul in {self.name or 'model'}: operand contains NaN or inf")
        K = b.shape[-2]
        bs = b.abs().amax(dim=-2, keepdim=True).clamp(min=1e-12)
        bn = b / bs
        if self.w_levels:
            bn = torch.round(bn * self.w_levels) / self.w_levels
        ar = a.abs().amax().clamp(min=1e-12)
        if self.dac:
            aq = torch.round(a / ar * self.dac)
            Lx = self.dac
        else:
            aq, Lx = a / ar, 1.0
        rt = math.ceil(K / self.rows)
        y = None
        for t in range(rt):  # few row tiles for attention (K = head dim or sequence length)
            sl = slice(t * self.rows, min(K, (t + 1) * self.rows))
            yt = torch.matmul(aq[..., sl], bn[..., sl, :])
            if self.noisy:  # std in full-scale rows, for the tile's normalised inputs and operand
                std = self.fam.noise_std(aq[..., sl] / Lx, bn[..., sl, :]) if self.fam.signal_dependent_noise \
                    else self.out_noise
                z = self.pool.take(yt.numel(), self.gen, yt.dtype).view(yt.shape)
                yt = yt + (std * Lx) * z
            if self.adc:
                step = self.adc_range * Lx / self.adc
                yt = torch.clamp(yt / step, -self.adc, self.adc).round_() * step
            y = yt if y is None else y + yt
        return y * (ar / Lx) * bs


class _MatmulFn(torch.autograd.Function):
    """a @ b through the tiles; backward straight-through: the gradients of the digital a @ b
    (as for static weights), reduced over broadcast batch dimensions."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, mm: AnalogMatmul) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(a, b)
        return mm._run(a, b)

    @staticmethod
    def backward(ctx, gy: torch.Tensor):  # type: ignore[override]
        a, b = ctx.saved_tensors
        ga = torch.matmul(gy, b.transpose(-2, -1)).sum_to_size(a.shape) if ctx.needs_input_grad[0] else None
        gb = torch.matmul(a.transpose(-2, -1), gy).sum_to_size(b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb, None


class _MatmulMode(TorchFunctionMode):
    """Routes torch.matmul / @ / bmm and scaled_dot_product_attention through an AnalogMatmul
    while an attention module runs (analog layers inside it are left alone)."""

    def __init__(self, mm: AnalogMatmul) -> None:
        super().__init__()
        self.mm = mm

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if in_analog_mvm():
            return func(*args, **kwargs)
        if func in (torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.bmm):
            a, b = args[0], args[1]
            if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dim() >= 2 and b.dim() >= 2:
                return self.mm(a, b)
        if func is F.scaled_dot_product_attention:
            return self._sdpa(*args, **kwargs)
        return func(*args, **kwargs)

    def _sdpa(self, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        L, S = q.shape[-2], k.shape[-2]
        if enable_gqa and q.shape[-3] != k.shape[-3]:
            rep = q.shape[-3] // k.shape[-3]
            k = k.repeat_interleave(rep, dim=-3)
            v = v.repeat_interleave(rep, dim=-3)
        sc = scale if scale is not None else 1.0 / math.sqrt(q.shape[-1])
        att = self.mm(q, k.transpose(-2, -1)) * sc
        if is_causal:
            causal = torch.ones(L, S, dtype=torch.bool, device=q.device).tril()  # top-left, as torch
            att = att.masked_fill(~causal, float("-inf"))
        if attn_mask is not None:
            att = att.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else att + attn_mask
        att = torch.softmax(att, dim=-1)
        if dropout_p:
            att = F.dropout(att, dropout_p)
        return self.mm(att, v)


def _wrap_matmul(module: nn.Module, mm: AnalogMatmul) -> None:
    """Run ``module`` with its matmuls on ``mm``. The original forward and the new one are bound
    methods of the module (no closure over it), so that a deepcopy of the deployed model runs
    its own submodules and its own AnalogMatmul."""
    module._analogc_matmul = mm  # type: ignore[attr-defined]
    module._analogc_forward = module.forward  # type: ignore[attr-defined]
    module.forward = types.MethodType(_forward_with_analog_matmul, module)  # type: ignore[method-assign]


def _forward_with_analog_matmul(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
    with _MatmulMode(self._analogc_matmul):
        return self._analogc_forward(*args, **kwargs)
