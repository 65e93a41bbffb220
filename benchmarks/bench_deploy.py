"""Speed of deployed analog models against plain torch (and aihwkit-lightning when installed).

Setting (the issue's reference): 768 -> 3072 -> 768 MLP, batch 2048, 8-bit DAC and ADC,
output noise 0.04, 512-row tiles, static (calibrated) input ranges for inference, learned input
ranges for the training step. Timings are medians of interleaved repetitions in one run, so
the ratios compare like with like on a shared machine.

    python benchmarks/bench_deploy.py [--reps 15] [--batch 2048]
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
from analogc.sim import deploy  # noqa: E402
from hw_models.base import ChipSpec, Hardware, TileSpec  # noqa: E402


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(768, 3072), nn.GELU(), nn.Linear(3072, 768))


def bench_hw() -> Hardware:
    # exact weights (SRAM-like storage) so that only DAC, output noise and ADC differ from torch,
    # the same non-idealities as the aihwkit-lightning configuration below
    return Hardware(name="bench", tile=TileSpec("crossbar", 512, 512, weight_bits=8, cell_bits=8,
                                                devices_per_cell=2),
                    chip=ChipSpec(1024), input_bits=8, output_bits=8,
                    params={"noise": {"model": "sram", "out_noise": 0.04, "adc_range": 10.0}})


def lightning_model(model: nn.Module, x: torch.Tensor, learn: bool):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import contextlib, io
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                from aihwkit_lightning.nn.conversion import convert_to_analog
                from aihwkit_lightning.simulator.configs import TorchInferenceRPUConfig
    except Exception as e:  # not installed
        return None, f"aihwkit-lightning not available ({type(e).__name__})"
    cfg = TorchInferenceRPUConfig()
    cfg.forward.inp_res = 2 ** 8 - 2
    cfg.forward.out_res = 2 ** 8 - 2
    cfg.forward.out_noise = 0.04
    cfg.forward.out_bound = 10.0
    cfg.mapping.max_input_size = 512
    cfg.pre_post.input_range.enable = True
    cfg.pre_post.input_range.learn_input_range = learn
    cfg.pre_post.input_range.init_from_data = 0
    am = convert_to_analog(model, cfg)
    return am, "aihwkit-lightning " + __import__("aihwkit_lightning").__version__


def timeit(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--batch", type=int, default=2048)
    args = ap.parse_args()
    torch.manual_seed(0)
    x = torch.randn(args.batch, 768)
    model = mlp()
    plan = analogc.compile(analogc.trace(model, (x[:8],)), hw=bench_hw())

    inf = {"torch": model.eval()}
    am = deploy(model, plan, seed=0, calibration=[x[:256]]).eval()
    inf["analogc"] = am
    # fresh randn per MVM (what monte_carlo/evaluate use) instead of the pooled draws
    inf["analogc-exact"] = deploy(model, plan, seed=0, calibration=[x[:256]], exact_noise=True).eval()
    lm, lname = lightning_model(mlp(), x, learn=False)
    if lm is not None:
        inf["lightning"] = lm.eval()

    tr_models = {"torch": mlp(), "analogc-exact": deploy(mlp(), plan, seed=0, calibration=[x[:256]],
                                                         input_range_mode="learned", exact_noise=True)}
    tr_models["analogc"] = deploy(mlp(), plan, seed=0, calibration=[x[:256]], input_range_mode="learned")
    lt, _ = lightning_model(mlp(), x, learn=True)
    if lt is not None:
        tr_models["lightning"] = lt
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-4) for k, m in tr_models.items()}

    def infer(m):
        with torch.no_grad():
            m(x)

    def step(k):
        m = tr_models[k]
        m.train()
        opts[k].zero_grad(set_to_none=True)
        loss = m(x).square().mean()
        loss.backward()
        opts[k].step()

    for k in inf:  # warm up
        infer(inf[k])
        step(k)
    ti = {k: [] for k in inf}
    tt = {k: [] for k in tr_models}
    for _ in range(args.reps):  # interleaved so all see the same machine load
        for k in inf:
            ti[k] += timeit(lambda: infer(inf[k]), 1)
        for k in tr_models:
            tt[k] += timeit(lambda: step(k), 1)
    med = lambda v: statistics.median(v)  # noqa: E731
    print(f"768->3072->768 MLP, batch {args.batch}, 8-bit DAC/ADC, out_noise 0.04, 512-row tiles, "
          f"{torch.get_num_threads()} threads, median of {args.reps}")
    print(f"{'':14s} {'inference ms':>13s} {'x torch':>8s} {'(min)':>6s} {'train step ms':>14s} "
          f"{'x torch':>8s} {'(min)':>6s}")
    for k in inf:
        print(f"{k:14s} {med(ti[k]) * 1e3:13.1f} {med(ti[k]) / med(ti['torch']):8.2f} "
              f"{min(ti[k]) / min(ti['torch']):6.2f} {med(tt[k]) * 1e3:14.1f} "
              f"{med(tt[k]) / med(tt['torch']):8.2f} {min(tt[k]) / min(tt['torch']):6.2f}")
    print("(x torch: ratio of medians; (min): ratio of fastest runs, less sensitive to other load)")
    if "lightning" in inf:
        print(f"analogc / aihwkit-lightning: inference {med(ti['analogc']) / med(ti['lightning']):.2f}x, "
              f"training step {med(tt['analogc']) / med(tt['lightning']):.2f}x  ({lname})")
    else:
        print(lname)
    print("targets: inference <= 1.3x torch, training step <= 1.6x torch")
    w = sum(p.numel() for p in model.parameters() if p.dim() == 2)
    prog = sum(m._w_eff.numel() for m in analogc.sim.analog_layers(am))
    print(f"memory: weights {w} elements, programmed copies {prog} elements ({prog / w:.2f}x, one copy)")


if __name__ == "__main__":
    main()
