"""Deployed inference and training-step time on every shipped preset at its defaults, as
ratios to plain torch measured side by side in one run (medians of interleaved repetitions).

Setting: 768 -> 3072 -> 768 MLP, one calibration batch, the preset exactly as shipped
(``analogc.deploy(model, plan, seed=0, calibration=[x])``): what a user runs.

    python benchmarks/bench_presets.py [--batch 256] [--reps 5] [--presets pcm-hermes,rram]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import analogc  # noqa: E402
import hw_models  # noqa: E402


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(768, 3072), nn.GELU(), nn.Linear(3072, 768))


def median_ms(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--presets", default=",".join(hw_models.presets()))
    args = ap.parse_args()
    torch.set_num_threads(2)
    warnings.filterwarnings("ignore")
    x = torch.randn(args.batch, 768)
    model = mlp().eval()
    graph = analogc.trace(model, (x[:2],))
    print(f"768->3072->768 MLP, batch {args.batch}, 2 threads, each preset at its defaults, "
          f"median of {args.reps}")
    print(f"{'preset':<16}{'infer ms':>10}{'x torch':>9}{'train ms':>10}{'x torch':>9}")
    for name in args.presets.split(","):
        plan = analogc.compile(graph, hw=name)
        am = analogc.deploy(model, plan, seed=0, calibration=[x])
        with torch.no_grad():
            am(x)  # programs the tiles once
        tr = analogc.deploy(mlp().train(), plan, seed=0, calibration=[x]).train()
        ref = mlp().train()

        def step(m):
            m.zero_grad(set_to_none=True)
            m(x).square().mean().backward()

        step(tr)
        inf_t, inf_a, tr_t, tr_a = [], [], [], []
        with torch.no_grad():
            for _ in range(args.reps):  # interleaved: torch and analog see the same load
                inf_t.append(median_ms(lambda: model(x), 1))
                inf_a.append(median_ms(lambda: am(x), 1))
        for _ in range(args.reps):
            tr_t.append(median_ms(lambda: step(ref), 1))
            tr_a.append(median_ms(lambda: step(tr), 1))
        mi, ma = statistics.median(inf_t), statistics.median(inf_a)
        ti, ta = statistics.median(tr_t), statistics.median(tr_a)
        print(f"{name:<16}{ma:>10.1f}{ma / mi:>9.2f}{ta:>10.1f}{ta / ti:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
