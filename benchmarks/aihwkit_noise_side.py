"""The aihwkit half of benchmarks/validate_noise_aihwkit.py. Runs in aihwkit's own venv (never
in analogc's: aihwkit is not a dependency of analogc), started as a subprocess:

    /work/venvs/aihwkit/bin/python benchmarks/aihwkit_noise_side.py IN.npz CASES.json OUT.json

IN.npz holds the layers (``<layer>_w`` [K, N] in analogc's x @ W convention, ``<layer>_x``
[B, K]), CASES.json the aihwkit settings of each case (see :func:`rpu_config`), OUT.json gets
the relative output error ||y - y_digital|| / ||y_digital|| per case, layer, seed and time,
plus the aihwkit and torch versions. Everything runs on aihwkit's pure-torch inference tile
(``TorchInferenceRPUConfig`` -> ``TorchInferenceTile``), one ``AnalogLinear`` without bias
per layer; chip instance ``seed`` is ``torch.manual_seed(seed)`` before programming, and the
same programmed devices are drifted to every time (``drift_analog_weights``).
"""
from __future__ import annotations

import json
import sys

import numpy as np
import torch


def noise_model(case: dict):
    from aihwkit.inference import PCMLikeNoiseModel, ReRamWan2022NoiseModel
    kind = case["noise_model"]
    if kind == "pcm":  # Nandakumar et al. ICECS 2019, single pair, g_max 25 uS (its default)
        return PCMLikeNoiseModel(g_max=case["g_max_us"])
    if kind == "hermes":  # measured HERMES statistics, Le Gallo et al. Nat. Electron. 2023
        from aihwkit.inference.noise.hermes import HermesNoiseModel
        return HermesNoiseModel(num_devices=case["hermes_devices"])
    if kind == "rram":  # Wan et al. Nature 2022 as fitted in aihwkit
        coeffs = ReRamWan2022NoiseModel().coeff_dic  # its published fits at 1 s, 1 day, 2 days
        # the model refuses any other time; the 'times' table of the case names the fit used
        # at each time asked for (the latest fitted time <= t, analogc's rule)
        table = {float(t): coeffs[float(fit)] for t, fit in case["rram_fit_at"].items()}
        return ReRamWan2022NoiseModel(g_max=case["g_max_us"], coeff_dic=table)
    raise ValueError(kind)


def rpu_config(case: dict):
    """``io``: "perfect" (forward.is_perfect: exact MVM on the noisy weights) or "default"
    (aihwkit's default IOParameters: 7-bit inputs, 9-bit outputs, out_noise 0.06, out_bound 12,
    abs-max noise management, iterative bound management). ``columnwise``: weights remapped per
    output column to the full conductance range (mapping.weight_scaling_omega = 1,
    weight_scaling_columnwise = True), as analogc maps them; else aihwkit's default (abs-max of
    the whole tile -> g_max). ``gdc``: GlobalDriftCompensation (aihwkit's default) or none."""
    from aihwkit.inference import GlobalDriftCompensation
    from aihwkit.simulator.configs import TorchInferenceRPUConfig
    rpu = TorchInferenceRPUConfig()
    if case["io"] == "perfect":
        rpu.forward.is_perfect = True
    elif case["io"] != "default":
        raise ValueError(case["io"])
    if case["columnwise"]:
        rpu.mapping.weight_scaling_omega = 1.0
        rpu.mapping.weight_scaling_columnwise = True
    rpu.mapping.max_input_size = case["tile_rows"]
    rpu.mapping.max_output_size = case["tile_cols"]
    rpu.noise_model = noise_model(case)
    rpu.drift_compensation = GlobalDriftCompensation() if case["gdc"] else None
    return rpu


def run_case(case: dict, layers: dict, seeds: list[int], times: list[float]) -> dict:
    from aihwkit.nn import AnalogLinear
    out: dict = {}
    for name, (w, x) in layers.items():
        k, n = w.shape
        xt = torch.from_numpy(x)
        y_dig = x.astype(np.float64) @ w.astype(np.float64)
        per_seed = []
        for seed in seeds:
            layer = AnalogLinear(k, n, bias=False, rpu_config=rpu_config(case))
            layer.set_weights(torch.from_numpy(np.ascontiguousarray(w.T)))
            layer.eval()
            torch.manual_seed(seed)
            layer.program_analog_weights()
            errs = []
            for t in times:
                layer.drift_analog_weights(t)
                with torch.no_grad():
                    y = layer(xt).double().numpy()
                errs.append(float(np.linalg.norm(y - y_dig) / np.linalg.norm(y_dig)))
            per_seed.append(errs)
        out[name] = per_seed
    return out


def main(argv: list[str]) -> None:
    import aihwkit
    torch.set_num_threads(1)
    npz, cases_json, out_json = argv
    data = np.load(npz)
    spec = json.loads(open(cases_json).read())
    layers = {ln: (data[f"{ln}_w"], data[f"{ln}_x"]) for ln in spec["layers"]}
    res = {"aihwkit_version": aihwkit.__version__, "torch_version": torch.__version__, "cases": {}}
    for cname, case in spec["cases"].items():
        res["cases"][cname] = run_case(case, layers, spec["seeds"], spec["times_s"])
        print(f"aihwkit {cname}: done", file=sys.stderr, flush=True)
    with open(out_json, "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    import warnings
    warnings.filterwarnings("ignore")
    main(sys.argv[1:])
