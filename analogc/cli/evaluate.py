"""``analogc evaluate`` (Monte Carlo accuracy or output fidelity of the deployed model over
chip instances and drift times) and ``analogc tradeoff`` (energy per inference against that
metric while one hardware parameter varies).

Example::

    $ analogc evaluate mypkg.models:make --hw pcm-hermes --data batch.pt --seeds 10 --drift
    $ analogc tradeoff mypkg.models:make --hw rram --data batch.pt --vary adc_bits=4..10 --plot t.png
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from analogc.errors import AnalogcError


def _load_model_and_data(args: argparse.Namespace) -> tuple[Any, list[Any], list[Any] | None]:
    """MODEL: ``module:factory`` (returning an nn.Module, or ``(module, example_inputs)``), an
    .onnx path, or the zoo's ``mlp``/``cnn`` (random weights); DATA: a ``torch.save``d
    tensor, tuple or dict of keyword tensors, or ``{"inputs": [batches], "labels": [tensors]}``.
    Without --data the factory's example inputs (or the zoo model's) are the data."""
    import torch

    from analogc.frontends import zoo
    from analogc.frontends.spec import load_factory, model_kind

    example = None
    kind = model_kind(args.model)
    if kind == "onnx":  # deployed from the file: the plan comes from the ONNX IR, not a re-trace
        from analogc.frontends.onnx import read_model
        read_model(Path(args.model))  # a missing or corrupt file is an error before the data
        model = args.model
    elif kind == "factory":
        model = load_factory(args.model)
        if isinstance(model, tuple):
            model, example = model
    elif kind == "zoo" and args.model in ("mlp", "cnn"):
        torch.manual_seed(0)
        model = zoo.build(args.model, device="cpu")
        shape = zoo.example_inputs(args.model, batch=64, device="cpu")[0].shape
        example = (torch.randn(shape, generator=torch.Generator().manual_seed(1)),)
    else:
        raise AnalogcError(f"MODEL {args.model!r}: expected module:factory, a .onnx file, or mlp/cnn "
                           f"(zoo transformers have no weights to run)")
    labels = None
    if args.data:
        try:
            data = torch.load(args.data, weights_only=False)
        except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input
            msg = (str(e).splitlines() or [type(e).__name__])[0]
            raise AnalogcError(f"--data {args.data}: cannot read ({type(e).__name__}: {msg})") from None
        if isinstance(data, dict) and "inputs" in data:
            batches, labels = list(data["inputs"]), data.get("labels")
            if labels is not None and len(labels) != len(batches):
                raise AnalogcError(f"--data {args.data}: {len(batches)} input batches but {len(labels)} label tensors")
        else:
            batches = [data]
    elif example is not None:
        batches = [example]
    else:
        raise AnalogcError("--data: expected a file saved with torch.save (a batch, or "
                           "{'inputs': [...], 'labels': [...]}); the model brings no example inputs")
    if not batches:
        raise AnalogcError(f"--data {args.data}: no input batches")
    return (model if isinstance(model, str) else model.eval()), batches, labels


def _add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="module:factory, a .onnx file, or mlp/cnn (random weights)")
    p.add_argument("--hw", default="pcm-hermes", help="hardware preset name or .toml file")
    p.add_argument("--data", required=False, help="torch.save'd batch or {'inputs': [...], 'labels': [...]}")
    p.add_argument("--seeds", type=int, default=5, help="Monte Carlo chip instances")


def add_evaluate_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("evaluate", help="Monte Carlo accuracy / output fidelity of the deployed model")
    _add_common_arguments(p)
    p.add_argument("--drift", action="store_true", help="also evaluate PCM drift from 1 s to 1 year")
    p.set_defaults(func=cmd_evaluate)
    return p


def cmd_evaluate(args: argparse.Namespace) -> int:
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
    _add_common_arguments(p)
    p.add_argument("--vary", required=True, help="e.g. adc_bits=4..10, photons_per_mac=1,10,100, rows=64,256")
    p.add_argument("--plot", default=None, help="write the trade-off plot to this PNG file")
    p.set_defaults(func=cmd_tradeoff)
    return p


def cmd_tradeoff(args: argparse.Namespace) -> int:
    from analogc.cli.common import check_out_file
    from analogc.sim.evaluate import tradeoff

    if args.plot:
        check_out_file(args.plot, "--plot")
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
        import io

        from analogc.fileio import write_atomic
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120)
        plt.close(fig)
        try:
            write_atomic(args.plot, buf.getvalue())
        except OSError as e:
            raise AnalogcError(f"--plot {args.plot}: cannot write ({e.strerror or e})") from None
        print(f"plot: {args.plot}")
    return 0
