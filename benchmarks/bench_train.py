"""Speed of a hardware-aware training step (analogc.finetune's HWA) against a digital step, on
every analog preset at its defaults, side by side in one run (and aihwkit-lightning's HWA step
with comparable settings when it is installed).

Setting (issue 11's reference, as benchmarks/bench_deploy.py): 768 -> 3072 -> 768 MLP, batch
2048, 2 threads, AdamW step (forward, backward, update) on a mean-square loss. The HWA model
is what :class:`analogc.finetune.methods.hwa.HWA` trains: ``deploy(model, plan, seed=0,
calibration=[x[:256]], input_range_mode="learned", train_device_noise="fresh")`` in train mode
(fresh device draws every update, learned input ranges, the preset's converters and noise);
``fixed`` is the same with the device error of the last full programming carried over the
updates (the deployed model's default in train mode). Medians of interleaved repetitions.

    python benchmarks/bench_train.py [--reps 7] [--batch 2048] [--presets pcm-hermes,rram]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import analogc  # noqa: E402
from analogc.sim import deploy  # noqa: E402
from bench_deploy import analog_presets, lightning_model, mlp, timeit  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--presets", default=None, help="comma-separated (default: every analog preset)")
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    x = torch.randn(args.batch, 768)
    graph = analogc.trace(mlp(), (x[:8],))
    presets = args.presets.split(",") if args.presets else analog_presets()
    models: dict[str, nn.Module] = {"torch": mlp()}
    for name in presets:
        plan = analogc.compile(graph, hw=name)
        for mode in ("fresh", "fixed"):
            models[f"{name} {mode}"] = deploy(mlp(), plan, seed=0, calibration=[x[:256]], input_range_mode="learned",
                                              train_device_noise=mode)
    lt, lname = lightning_model(mlp(), x, learn=True)
    if lt is not None:
        models["aihwkit-lightning"] = lt
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-5) for k, m in models.items()}

    def step(k: str) -> None:
        m = models[k]
        m.train()
        opts[k].zero_grad(set_to_none=True)
        m(x).square().mean().backward()
        opts[k].step()

    for k in models:  # warm up: programs the tiles, and a first update
        step(k)
        step(k)
    times: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(args.reps):  # interleaved so all see the same machine load
        for k in models:
            times[k] += timeit(lambda: step(k), 1)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["torch"]
    print(f"768->3072->768 MLP, batch {args.batch}, {torch.get_num_threads()} threads, AdamW training step, "
          f"median of {args.reps}")
    print(f"{'':22s} {'HWA (fresh draws)':>22s} {'fixed device error':>22s}")
    print(f"{'torch (digital)':22s} {base * 1e3:10.1f} ms   1.00x")
    for name in presets:
        a, b = med[f"{name} fresh"], med[f"{name} fixed"]
        print(f"{name:22s} {a * 1e3:10.1f} ms {a / base:6.2f}x {b * 1e3:12.1f} ms {b / base:6.2f}x")
    if lt is not None:
        a = med["aihwkit-lightning"]
        print(f"{lname:22s} {a * 1e3:10.1f} ms {a / base:6.2f}x   (learned input ranges, 8-bit DAC/ADC, "
              f"out_noise 0.04, 512-row tiles)")
    else:
        print(lname)


if __name__ == "__main__":
    main()
