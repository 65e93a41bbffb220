"""``analogc evaluate`` and ``analogc tradeoff`` (wired into analogc.cli)."""
from __future__ import annotations

import argparse
from typing import Any

import torch

from analogc.errors import AnalogcError


def _load_model_and_data(args: argparse.Namespace) -> tuple[Any, list[Any], list[torch.Tensor] | None]:
    """MODEL: ``module:factory`` (a callable returning an nn.Module) or an .onnx path; DATA: a
    ``torch.save``d tensor, tuple, dict, or dict with "inputs" (list of batches) and "labels"."""
    import importlib

    if args.model.endswith(".onnx"):
        from analogc.frontends.onnx import onnx_to_torch
        model = onnx_to_torch(args.model)
    elif ":" in args.model:
        mod, fn = args.model.split(":", 1)
        try:
            model = getattr(importlib.import_module(mod), fn)()
        except (ImportError, AttributeError) as e:
            raise AnalogcError(f"MODEL {args.model}: cannot load ({e})") from None
    else:
        raise AnalogcError(f"MODEL {args.model!r}: expected module:factory or a .onnx file")
    if not args.data:
        raise AnalogcError("--data: expected a file saved with torch.save (a batch, or {'inputs': [...], 'labels': [...]})")
    try:
        data = torch.load(args.data, weights_only=False)
    except (OSError, RuntimeError) as e:
        raise AnalogcError(f"--data {args.data}: cannot read ({str(e).splitlines()[0]})") from None
    labels = None
    if isinstance(data, dict) and "inputs" in data:
        batches, labels = list(data["inputs"]), data.get("labels")
    else:
        batches = [data]
    return model.eval(), batches, labels


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="module:factory or a .onnx file")
    p.add_argument("--hw", default="pcm-hermes", help="hardware preset name or .toml file")
    p.add_argument("--data", required=False, help="torch.save'd batch or {'inputs': [...], 'labels': [...]}")
    p.add_argument("--seeds", type=int, default=5, help="Monte Carlo chip instances")


def add_evaluate_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("evaluate", help="Monte Carlo accuracy / output fidelity of the deployed model")
    _common(p)
    p.add_argument("--drift", action="store_true", help="also evaluate PCM drift from 1 s to 1 year")
    p.set_defaults(func=run_evaluate)
    return p


def run_evaluate(args: argparse.Namespace) -> int:
    from analogc.sim.evaluate import DRIFT_TIMES_S, accuracy, monte_carlo

    model, batches, labels = _load_model_and_data(args)
    metric = (lambda m: accuracy(m, batches, labels)) if labels is not None else None
    rows = monte_carlo(model, args.hw, batches, metric=metric, seeds=range(args.seeds),
                       drift_times=DRIFT_TIMES_S if args.drift else None)
    name = "accuracy" if labels is not None else "output fidelity"
    print(f"{name} on {args.hw}, {args.seeds} chip instance(s)")
    for r in rows:
        print(f"  t = {r['t_inference_s']:>10.3g} s   {r['mean']:.4f} ± {r['std']:.4f}")
    return 0


def add_tradeoff_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("tradeoff", help="energy per inference vs accuracy over one hardware parameter")
    _common(p)
    p.add_argument("--vary", required=True, help="e.g. adc_bits=4..10, photons_per_mac=1,10,100, rows=64,256")
    p.add_argument("--plot", default=None, help="write the trade-off plot to this PNG file")
    p.set_defaults(func=run_tradeoff)
    return p


def run_tradeoff(args: argparse.Namespace) -> int:
    from analogc.sim.evaluate import tradeoff

    model, batches, labels = _load_model_and_data(args)
    rows = tradeoff(model, args.hw, args.vary, batches, seeds=range(args.seeds), labels=labels)
    name = next(iter(rows[0]))
    print(f"{'value':>10s} {'energy/inference':>18s} {rows[0]['metric']:>18s}")
    for r in rows:
        print(f"{r[name]!s:>10s} {r['energy_j'] * 1e6:15.4g} uJ {r['mean']:9.4f} ± {r['std']:.4f}")
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.errorbar([r["energy_j"] for r in rows], [r["mean"] for r in rows], yerr=[r["std"] for r in rows], marker="o")
        for r in rows:
            ax.annotate(f"{name}={r[name]}", (r["energy_j"], r["mean"]), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("energy per inference (J)")
        ax.set_ylabel(rows[0]["metric"])
        ax.set_title(f"{args.hw}: vary {name}")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"plot: {args.plot}")
    return 0
