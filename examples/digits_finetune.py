"""Fine-tune a small MLP for a HERMES-like PCM chip with 4-bit column ADCs, on scikit-learn's
handwritten digits (offline), with one of the four methods of ``analogc.finetune``.

    python examples/digits_finetune.py --method hwa|pat|distill|lora [--quick] --out DIR

The setting (``hardware()``): the ``pcm-hermes`` preset with ``adc_bits=4`` instead of its 8
(``hw_models.load("pcm-hermes", adc_bits=4)``: 7 levels per sign at every column ADC, so the
estimate prices the cheaper ADCs and the simulation rounds to them), read right after
programming, ADC conversions simulated exactly (``converter_passes="per-pass"``: for
pcm-hermes one conversion per row tile and column). The MLP (64 -> 32 -> 10, ReLU) is trained
digitally first (30 epochs, AdamW: 97.2% on the 360 validation images); deployed directly on
this chip it loses 3.2 accuracy points (94.1% over 10 chip instances: ``deployed_before`` in
DIR/metrics.json). With the preset's 8-bit ADCs it loses none, and a year of drift costs it a
few tenths of a point: the 4-bit ADC is what this small network is sensitive to.

Methods (each writes DIR/metrics.json through ``analogc.finetune``):

* ``hwa``: hardware-aware training through the deployed model;
* ``lora``: rank-1 adapters (digital) on the frozen analog weights of the first layer, trained
  beside the chip they run on; ``deployed_after`` is that chip over read-noise seeds;
* ``distill``: the deployed model trained to match the digital model's logits on the training
  images without their labels;
* ``pat``: physics-aware training against a mismatched physical system
  (``analogc.finetune.physical.mismatched_system``: hidden ADC compression, crosstalk, column
  gain and offset errors the digital twin does not know); ``deployed_after`` and
  ``insilico_after`` are on that same physical chip: the PAT-trained model and the model trained
  in silico (digitally, on the twin).

``--quick`` trains fewer steps (the tests run it); the full mode trains longer.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import analogc  # noqa: E402
from analogc.finetune.data import digits, digits_mlp, train_digital  # noqa: E402

HIDDEN = 32
#: deploy options of the chip, for training and evaluation alike
SIM = {"converter_passes": "per-pass"}
#: steps (quick, full) and learning rate per method
RECIPES = {
    "hwa": {"steps": (600, 1200), "lr": 3e-3, "options": {}},
    "lora": {"steps": (600, 1500), "lr": 1e-2, "options": {"r": 1, "target_modules": ["0"], "reseed_every": 20}},
    "distill": {"steps": (600, 1500), "lr": 2e-3, "options": {}},
    "pat": {"steps": (300, 900), "lr": 2e-3, "options": {}},
}


def hardware():
    import hw_models
    return hw_models.load("pcm-hermes", adc_bits=4)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", choices=sorted(RECIPES), default="hwa")
    ap.add_argument("--quick", action="store_true", help="fewer steps (what the tests run)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, default=10, help="chip instances evaluated (default 10)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # a 64-32-10 MLP: one thread is fastest (and steady on a loaded machine)
    t0 = time.perf_counter()
    train, val = digits(64)
    model = train_digital(digits_mlp(HIDDEN), train, epochs=30)
    plan = analogc.compile(analogc.trace(model, (train[0][0],)), hw=hardware())
    recipe = RECIPES[args.method]
    steps = recipe["steps"][0 if args.quick else 1]
    opts = dict(recipe["options"])
    data = train
    physical = None
    if args.method == "distill":  # no labels: the inputs alone
        data = [x for x, _ in train]
    if args.method == "pat":
        from analogc.finetune.physical import mismatched_system
        physical = mismatched_system(plan, seed=0, calibration=[val[0]])
    elif args.method == "hwa":
        opts.update(SIM)
    elif args.method == "distill":
        opts["deploy_options"] = SIM
    _, res = analogc.finetune(model, plan, data, method=args.method, steps=steps, lr=recipe["lr"],
                              eval_data=val, seeds=args.seeds, out=args.out, physical=physical,
                              eval_options=SIM, progress=not args.quick, **opts)
    m = dict(res.metrics)
    if args.method == "pat":  # both on the same physical chip, over its programming/read-noise seeds
        m["deployed_after"] = m["physical_after"]
        m["insilico_after"] = m["physical_before"]
        m["deployed_before"] = m["physical_before"]
        m["note"] = ("pat: deployed_before, deployed_after and insilico_after are on the mismatched physical "
                     "system (seed 0) over programming/read-noise seeds; insilico_after is the digitally trained "
                     "model (trained in silico on the digital twin)")
    m["setting"] = {"hardware": "pcm-hermes, adc_bits=4", "model": f"MLP 64-{HIDDEN}-10", "simulation": SIM,
                    "steps": steps, "lr": recipe["lr"], "options": {k: str(v) for k, v in opts.items()}}
    m["example_s"] = time.perf_counter() - t0
    from analogc.fileio import json_dumps, write_atomic
    write_atomic(Path(args.out) / "metrics.json", json_dumps(m, indent=2))
    name = m["metric"]
    for k in ("digital", "deployed_before", "deployed_after", "insilico_after"):
        if k in m:
            print(f"{name} {k:<16s} {m[k]['mean']:.4f} ± {m[k]['std']:.4f}")
    print(f"trainable {m['trainable_params']} of {m['total_params']} parameters, {m['steps']} steps, "
          f"{m['wall_s']:.1f} s training; wrote {args.out}/metrics.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
