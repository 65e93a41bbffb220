"""Speed of deployed analog models on every shipped preset against plain torch (and aihwkit-lightning
when installed), measured side by side in one run.

Setting (issue 8's reference): 768 -> 3072 -> 768 MLP, batch 2048, 2 threads; every analog
preset exactly as shipped (``deploy(model, plan, seed=0, calibration=[x[:256]])``: statistical
converter model, calibrated ranges) for inference, learned input ranges for the training step;
plus the custom SRAM-like configuration of earlier runs and aihwkit-lightning at comparable
settings when installed (``pip install --no-deps aihwkit-lightning``). ``--exact`` also times
``converter_passes="per-pass"`` on the multi-pass presets, as a multiple of its inherent
``passes x matmul`` work. Medians of interleaved repetitions in one run.

    python benchmarks/bench_deploy.py [--reps 7] [--batch 2048] [--presets pcm-hermes,rram] [--exact]
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


def analog_presets() -> list[str]:
    import hw_models
    out = []
    for name in hw_models.presets():
        hw = hw_models.load(name)
        if hw.params.get("hardware", {}).get("kind") != "digital":
            out.append(name)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--presets", default=None, help="comma-separated (default: every analog preset)")
    ap.add_argument("--exact", action="store_true",
                    help="also time converter_passes='per-pass' against its inherent passes x matmul work")
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    x = torch.randn(args.batch, 768)
    model = mlp().eval()
    graph = analogc.trace(model, (x[:8],))
    presets = args.presets.split(",") if args.presets else analog_presets()

    inf: dict[str, nn.Module] = {"torch": model}
    tr: dict[str, nn.Module] = {"torch": mlp()}
    passes: dict[str, int] = {}
    for name in presets:  # each preset exactly as shipped: what a user deploys
        plan = analogc.compile(graph, hw=name)
        inf[name] = deploy(model, plan, seed=0, calibration=[x[:256]]).eval()
        tr[name] = deploy(mlp(), plan, seed=0, calibration=[x[:256]], input_range_mode="learned")
        lay = analogc.sim.analog_layers(inf[name])[0]
        passes[name] = lay._n_slices() * lay.input_planes
        if args.exact and lay.fam.multi_pass:
            inf[name + " per-pass"] = deploy(model, plan, seed=0, calibration=[x[:256]],
                                             converter_passes="per-pass").eval()
    plan = analogc.compile(graph, hw=bench_hw())
    inf["custom sram-like"] = deploy(model, plan, seed=0, calibration=[x[:256]]).eval()
    tr["custom sram-like"] = deploy(mlp(), plan, seed=0, calibration=[x[:256]], input_range_mode="learned")
    lm, lname = lightning_model(mlp(), x, learn=False)
    if lm is not None:
        inf["aihwkit-lightning"] = lm.eval()
        lt, _ = lightning_model(mlp(), x, learn=True)
        tr["aihwkit-lightning"] = lt
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-4) for k, m in tr.items()}

    def infer(m):
        with torch.no_grad():
            m(x)

    def step(k):
        m = tr[k]
        m.train()
        opts[k].zero_grad(set_to_none=True)
        m(x).square().mean().backward()
        opts[k].step()

    for k in inf:  # warm up (programs the tiles)
        infer(inf[k])
    for k in tr:
        step(k)
    ti = {k: [] for k in inf}
    tt = {k: [] for k in tr}
    for _ in range(args.reps):  # interleaved so all see the same machine load
        for k in inf:
            ti[k] += timeit(lambda: infer(inf[k]), 1)
        for k in tr:
            tt[k] += timeit(lambda: step(k), 1)
    med = statistics.median
    print(f"768->3072->768 MLP, batch {args.batch}, {torch.get_num_threads()} threads, every preset at its "
          f"defaults (one calibration batch of 256), median of {args.reps} interleaved runs")
    print(f"{'':24s} {'inference ms':>13s} {'x torch':>8s} {'train step ms':>14s} {'x torch':>8s}")
    for k in inf:
        row = f"{k:24s} {med(ti[k]) * 1e3:13.1f} {med(ti[k]) / med(ti['torch']):8.2f}"
        if k in tt:
            row += f" {med(tt[k]) * 1e3:14.1f} {med(tt[k]) / med(tt['torch']):8.2f}"
        elif k.endswith(" per-pass"):
            n = passes[k[:-len(" per-pass")]]
            row += f"   ({n} passes: {med(ti[k]) / (n * med(ti['torch'])):.2f}x the passes x matmul work)"
        print(row)
    if "aihwkit-lightning" not in inf:
        print(lname)
    print("targets (issue 8): inference <= 1.3x torch, training step <= 1.6x torch on every preset; "
          "per-pass <= 1.3x its inherent work")


if __name__ == "__main__":
    main()
