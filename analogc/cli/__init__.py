"""The ``analogc`` command.

    analogc                         # report on the built-in default (gpt2 on the default preset)
    analogc report llama-3-8b --hw pcm-hermes --hw mzi --seq-len 2048 --out out/
    analogc models                  # the zoo
    analogc hw                      # hardware presets
    analogc evaluate / tradeoff     # Monte Carlo accuracy of the deployed model, energy vs accuracy
    analogc sweep                   # energy per inference and per MAC across model sizes
    analogc validate                # estimated vs published TOPS/W of measured chips
    analogc --version

One module per command (``report`` with ``models``, ``hw``, ``evaluate`` with ``tradeoff``,
``sweep``); ``common`` holds what they share. A user mistake prints one line
``error: ...`` and exits with status 2.
"""
from __future__ import annotations

import argparse
import logging
import sys
import warnings
from typing import Sequence

from analogc.cli.evaluate import add_evaluate_parser, add_tradeoff_parser
from analogc.cli.finetune import add_finetune_parser
from analogc.cli.hw import add_hw_parser
from analogc.cli.methods import add_methods_parser
from analogc.cli.report import add_models_parser, add_report_parser
from analogc.cli.sweep import add_sweep_parser
from analogc.cli.validate import add_validate_parser

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from analogc import __version__

    p = argparse.ArgumentParser(prog="analogc", description="Compile neural networks onto "
                                "analog hardware and estimate what they cost.")
    p.add_argument("--version", action="version", version=f"analogc {__version__}")
    sub = p.add_subparsers(dest="command")
    for add in (add_report_parser, add_models_parser, add_hw_parser, add_evaluate_parser,
                add_tradeoff_parser, add_sweep_parser, add_validate_parser, add_finetune_parser,
                add_methods_parser):
        add(sub)
    return p


def _quiet_libraries() -> None:
    """torch.export and the exporters log warnings about the user's model on stderr; the
    CLI reports the failure itself, in one line."""
    import torch

    torch._logging.set_logs(all=logging.ERROR)
    for noisy in ("torch", "transformers", "onnxscript"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    from analogc.errors import AnalogcError
    from hw_models import HardwareConfigError

    warnings.filterwarnings("ignore")
    _quiet_libraries()
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv = ["report", *argv]
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AnalogcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except HardwareConfigError as e:  # a bad preset file or value: one line, like the rest
        print(f"error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"error: {e.filename or e}: no such file", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
