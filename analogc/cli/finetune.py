"""``analogc finetune``: fine-tune a model for the hardware it is deployed on.

Example::

    $ analogc finetune digits-mlp --hw pcm-hermes --data digits --method hwa --out ft/ --steps 300
    $ analogc finetune mypkg.models:make --hw rram --data mypkg.data:loaders --out ft/ --resume
    $ analogc finetune digits-mlp --hw pcm-hermes --set adc_bits=4 --option converter_passes=recombined --out ft/

MODEL: ``module:factory`` (returning a torch module, or ``(module, example_inputs)``) or the
built-in ``digits-mlp`` (64 -> 32 -> 10, trained digitally on the built-in digits training
split first, deterministic). ``--data``: ``module:factory`` returning ``(train, validation)``
iterables of batches, or the built-in ``digits``. Writes ``DIR/run.json``,
``DIR/checkpoint.pt``, ``DIR/metrics.json`` and ``DIR/training_curves.png``.
"""
from __future__ import annotations

import argparse
from typing import Any

from analogc.errors import AnalogcError

BUILTIN_MODELS = ("digits-mlp",)


def add_finetune_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("finetune", help="fine-tune a model for its hardware (HWA, PAT, distillation, LoRA)")
    p.add_argument("model", help="module:factory, or the built-in digits-mlp")
    p.add_argument("--hw", required=True, help="hardware preset name or .toml file")
    p.add_argument("--set", action="append", default=None, metavar="KEY=VALUE",
                   help="hardware override (as for report), e.g. adc_bits=4")
    p.add_argument("--data", required=True, help="module:factory returning (train, validation), or digits")
    p.add_argument("--method", default="hwa", help="hwa (default), pat, distill or lora")
    p.add_argument("--out", required=True, help="directory for checkpoints, metrics.json and the curves")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (default: --epochs passes)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=5, help="chip instances to evaluate on (default 5)")
    p.add_argument("--metric", default=None, help="accuracy, perplexity, loss or fidelity (default: from the labels)")
    p.add_argument("--option", action="append", default=None, metavar="KEY=VALUE",
                   help="a method option, e.g. t_inference=3.15e7 or converter_passes=recombined")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.set_defaults(func=cmd_finetune)
    return p


def _model(spec: str) -> Any:
    if spec == "digits-mlp":
        from analogc.finetune.data import digits, digits_mlp, train_digital
        train, _ = digits()
        return train_digital(digits_mlp(32), train, epochs=30)
    if ":" not in spec:
        raise AnalogcError(f"MODEL {spec!r}: expected module:factory or one of the built-ins: "
                           f"{', '.join(BUILTIN_MODELS)}")
    from analogc.frontends.spec import load_factory
    m = load_factory(spec)
    return m[0] if isinstance(m, tuple) else m


def cmd_finetune(args: argparse.Namespace) -> int:
    import analogc
    from analogc.cli.common import check_out_dir, check_sets, parse_sets
    from analogc.finetune.data import load_data
    from analogc.hardware import resolve_hw

    check_out_dir(args.out)
    overrides = check_sets(args.set, [args.hw])
    options = parse_sets(args.option) if args.option else {}
    hw = resolve_hw(args.hw, **overrides)
    train, val = load_data(args.data)
    model = _model(args.model)
    _, res = analogc.finetune(model, hw, train, method=args.method, steps=args.steps, epochs=args.epochs,
                              lr=args.lr, seed=args.seed, seeds=args.seeds, out=args.out, resume=args.resume,
                              eval_data=val, metric=args.metric, **options)
    m = res.metrics
    name = m["metric"]
    print(f"{args.method} on {m['hardware']}: {m['steps']} steps, {m['wall_s']:.1f} s, "
          f"{m['trainable_params']} of {m['total_params']} parameters trained")
    for key in ("digital", "deployed_before", "deployed_after", "deployed_after_calibrated"):
        if key in m:
            print(f"  {name:>10s} {key:<26s} {m[key]['mean']:.4f} ± {m[key]['std']:.4f}")
    print(f"wrote {args.out}/metrics.json, {args.out}/training_curves.png, {args.out}/checkpoint.pt")
    return 0
