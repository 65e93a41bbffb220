"""Monte Carlo evaluation over chip instances (seeds) and PCM drift times, and the
energy/accuracy trade-off of one hardware parameter."""
from __future__ import annotations

import math
import os
import statistics
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn

from analogc.errors import AnalogcError
from analogc.hardware import resolve_hw
from analogc.sim.calibrate import calibrate, run_batch
from analogc.sim.deploy import deploy, reseed, set_drift_time

#: drift times from one second to one year after programming
DRIFT_TIMES_S = (1.0, 3600.0, 86400.0, 30 * 86400.0, 365 * 86400.0)


def output_fidelity(model: nn.Module, reference: nn.Module, batches: Sequence[Any]) -> float:
    """1 - ||y_analog - y_digital|| / ||y_digital|| over the batches (1 = exact)."""
    num = den = 0.0
    with torch.no_grad():
        for b in batches:
            ya, yd = _logits(run_batch(model, b)), _logits(run_batch(reference, b))
            num += float((ya - yd).pow(2).sum())
            den += float(yd.pow(2).sum())
    return 1.0 - math.sqrt(num / max(den, 1e-30))


def accuracy(model: nn.Module, batches: Sequence[Any], labels: Sequence[torch.Tensor]) -> float:
    """Top-1 accuracy of the model's logits against ``labels`` (one tensor per batch)."""
    right = total = 0
    with torch.no_grad():
        for b, y in zip(batches, labels):
            pred = _logits(run_batch(model, b)).argmax(-1)
            right += int((pred == y).sum())
            total += y.numel()
    return right / max(total, 1)


def _logits(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    for k in ("logits", "last_hidden_state"):
        if hasattr(out, k):
            return getattr(out, k)
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise AnalogcError(f"evaluate: cannot find a tensor output in {type(out).__name__}")


def monte_carlo(model: nn.Module | str | os.PathLike, hw_or_plan: Any, batches: Sequence[Any], *,
                metric: Callable[[nn.Module], float] | None = None, seeds: Iterable[int] = range(5),
                drift_times: Iterable[float] | None = None, **options: Any) -> list[dict[str, Any]]:
    """Deploy once, then for every seed (a new chip instance: programming and read noise) and
    every drift time, recalibrate on the first batch and evaluate ``metric`` (default: output
    fidelity against the digital model). ``model`` may be an ``.onnx`` path: deployed as
    :func:`~analogc.sim.deploy.deploy` deploys one (plan from the ONNX IR). Returns rows
    {t_inference_s, mean, std, n, values}.

    Example::

        rows = analogc.sim.monte_carlo(model, plan, [x], seeds=range(10), drift_times=DRIFT_TIMES_S)
    """
    batches = list(batches)
    if not batches:
        raise AnalogcError("evaluate: expected at least one batch of data, got none")
    # statistics over chip instances want fresh noise on every MVM, not the pooled draws
    options.setdefault("exact_noise", True)
    seeds = list(seeds)
    if not seeds:
        raise AnalogcError("seeds: expected at least one chip instance (seed), got none")
    times = list(drift_times) if drift_times is not None else [float(options.pop("t_inference", 0.0))]
    reference = _digital(model)
    metric = metric or (lambda m: output_fidelity(m, reference, batches))
    am = deploy(model, hw_or_plan, seed=seeds[0], example_inputs=batches[0], **options).eval()
    vals: dict[float, list[float]] = {t: [] for t in times}
    for s in seeds:
        reseed(am, s)
        for t in times:
            set_drift_time(am, t)
            calibrate(am, batches[:1])
            vals[t].append(float(metric(am)))
    return [{"t_inference_s": t, "mean": statistics.fmean(v), "std": statistics.pstdev(v) if len(v) > 1 else 0.0,
             "n": len(v), "values": v} for t, v in vals.items()]


def _digital(model: nn.Module | str | os.PathLike) -> nn.Module:
    """The digital reference: the module, or an ONNX file converted with onnx2torch."""
    if isinstance(model, (str, os.PathLike)):
        from analogc.sim.onnx_model import onnx_to_torch
        return onnx_to_torch(model).eval()
    return model


def parse_vary(spec: str) -> tuple[str, list[Any]]:
    """``"adc_bits=4..10"`` -> ("adc_bits", [4..10]); ``"photons_per_mac=1,10,100"`` -> numbers;
    ``"drive_voltage=0.85 V,1.2 V"`` -> quantities with their unit (as ``hw_models.load`` takes them)."""
    if "=" not in spec:
        raise AnalogcError(f"--vary: expected NAME=LO..HI or NAME=v1,v2,..., got {spec!r}")
    name, rng = spec.split("=", 1)
    try:
        if ".." in rng:
            lo, hi = rng.split("..")
            vals: list[Any] = list(range(int(lo), int(hi) + 1))
        else:
            vals = [_vary_value(v.strip()) for v in rng.split(",")]
    except ValueError:
        raise AnalogcError(f"--vary {name}: expected integers LO..HI or a comma list of numbers "
                           f"(with a unit for a physical quantity, e.g. '0.85 V,1.2 V'), got {rng!r}") from None
    if not vals:
        raise AnalogcError(f"--vary {name}: empty range {rng!r}")
    return name.strip(), vals


def _vary_value(v: str) -> Any:
    """A number, or 'number unit' kept as a string for the hardware loader to convert."""
    head = v.split(None, 1)
    if len(head) == 2:
        float(head[0])  # a value with a unit: '1.2 fF'
        return v
    return float(v) if any(c in v for c in ".e") else int(v)


def tradeoff(model: nn.Module | str | os.PathLike, hw: str, vary: str, batches: Sequence[Any], *, seeds: Iterable[int] = range(3),
             labels: Sequence[torch.Tensor] | None = None, **options: Any) -> list[dict[str, Any]]:
    """Energy per inference (the estimator) against accuracy (``labels`` given) or output
    fidelity of the deployed model, for each value of one hardware parameter. The parameter is
    a preset override (``adc_bits``, ``dac_bits``, ``rows``, ``photons_per_mac``…), so the cost
    model and the noise model see the same number."""
    from analogc.estimate import estimate
    from analogc.frontends.spec import trace_model
    from analogc.mapping import compile

    name, values = parse_vary(vary)
    batches = list(batches)
    if isinstance(model, (str, os.PathLike)):  # the ONNX IR, as deploy takes its plan from it:
        from analogc.frontends.onnx import load_onnx  # a converted module often cannot be re-exported
        graph = load_onnx(str(model), dims=options.get("dims"))
    else:
        graph = trace_model(model, batches[0])  # a tensor, a tuple or a dict, as trace takes them
    rows = []
    for v in values:
        plan = compile(graph, hw=resolve_hw(hw, **{name: v}))
        energy = float(estimate(plan).summary["energy_j"])
        metric = (lambda m: accuracy(m, batches, labels)) if labels is not None else None
        mc = monte_carlo(model, plan, batches, metric=metric, seeds=seeds, **options)[0]
        rows.append({name: v, "energy_j": energy, "metric": "accuracy" if labels is not None else "fidelity",
                     "mean": mc["mean"], "std": mc["std"], "n": mc["n"]})
    return rows
