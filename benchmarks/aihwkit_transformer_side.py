"""IBM aihwkit on the very same trained transformers as docs/transformer-fidelity.md: the aihwkit
figures of that page. Runs in aihwkit's own venv (never in analogc's: aihwkit is not a
dependency of analogc); it needs only aihwkit, torch, numpy and ``transformers`` there
(``/work/venvs/aihwkit/bin/pip install transformers``, keeping aihwkit's torch):

    python benchmarks/export_pretrained.py                           # analogc's venv, once
    /work/venvs/aihwkit/bin/python benchmarks/aihwkit_transformer_side.py          # < 1 min, 1 thread
    /work/venvs/aihwkit/bin/python benchmarks/aihwkit_transformer_side.py --seeds 0 --times 1  # smoke run
    options: --export PATH (default .cache/analogc-tests/export/pretrained_transformers.npz)
             --out PATH (default tests/data/aihwkit_transformer_reference.json; "-": print only)

then ``python benchmarks/transformer_fidelity.py --render`` (measures nothing; ``--write``, which
re-measures analogc, does the same) puts the figures into docs/transformer-fidelity.md (the
"aihwkit" columns of the pcm-hermes and rram rows and the section "aihwkit on the same weights").

What it does:

- rebuilds the encoder (``BertModel``, no pooler) and the decoder (``GPT2LMHeadModel``) from the
  export's ``.npz`` (state dicts and configs; see benchmarks/export_pretrained.py) and checks that
  the digital rebuild reproduces the export's ``digital_pooled`` and ``digital_perplexity``
  (relative 1e-4; it stops otherwise);
- replaces every GPT-2 ``Conv1D`` by the equivalent ``nn.Linear`` (transposed weight; aihwkit's
  conversion map knows ``nn.Linear`` only), then converts every ``nn.Linear`` (the decoder's
  tied LM head included, which unties it: the embedding stays digital) with
  ``aihwkit.nn.conversion.convert_to_analog`` under one :func:`rpu_config`: the pure-torch
  inference tile (``TorchInferenceRPUConfig``), 256 x 256 tiles (``mapping.max_input_size =
  max_output_size = 256``), aihwkit's default I/O (``IOParameters()``), global drift
  compensation, column-wise weight remapping (``weight_scaling_omega = 1``,
  ``weight_scaling_columnwise = True``), digital bias (aihwkit's default), and one noise model:
  ``PCMLikeNoiseModel()`` (g_max 25 uS, its default) or ``ReRamWan2022NoiseModel(g_max=40)``;
- per programming seed ``s``: ``torch.manual_seed(s)``, ``program_analog_weights()``, then for
  every time t ``drift_analog_weights(t)`` (the same programmed devices read at each t) and the
  metrics of tests/pretrained.py on the export's held-out batch: the encoder's mean cosine
  between the analog and the digital mean-pooled last hidden states, the same after
  subtracting the digital batch mean from both (centered), the decoder's perplexity and its
  ratio to the digital one (``pooled`` / ``perplexity`` of tests/pretrained.py, imported, so
  the definitions are analogc's own);
- no input-range calibration: aihwkit 1.1 has one (``aihwkit.inference.calibration.
  calibrate_input_ranges``) but it turns noise management off and replaces it with a static
  input range; the default I/O used here scales every input vector by its own abs max
  (``noise_management = ABS_MAX``) and so uses no calibration batch;
- writes the figures (per seed, mean, min and max) with the aihwkit / torch / transformers
  versions, the settings and the date to ``tests/data/aihwkit_transformer_reference.json``.

ReRAM times: ``ReRamWan2022NoiseModel`` has fits at 1 s, 1 day and 2 days only and refuses any
other time. As in benchmarks/validate_noise_aihwkit.py, each time uses the fit of the latest
fitted time <= t (analogc's rule, ``hw_models.noise.rram_conductance_at``): 1 h -> the 1 s fit,
1 year -> the 2-day fit. g_max 40 uS: the fits' own reference conductance; at aihwkit's default
25 uS, aihwkit 1.1 scales the deviation by 40/25 (docs/validation-noise.md, aihwkit-side
diagnostics).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import pretrained as P  # noqa: E402  (torch only at import: the metric definitions)

EXPORT = ROOT / ".cache" / "analogc-tests" / "export" / "pretrained_transformers.npz"
OUT = ROOT / "tests" / "data" / "aihwkit_transformer_reference.json"

#: read times after programming (s); 1 year = 365 days (analogc.sim.DRIFT_TIMES_S)
TIMES = {"1 s": 1.0, "1 h": 3600.0, "1 day": 86400.0, "1 year": 365 * 86400.0}
SEEDS = (0, 1, 2)
TILE = 256
#: the ReRAM fit used at each read time: the latest fitted time <= t
RRAM_FIT_AT = {1.0: 1.0, 3600.0: 1.0, 86400.0: 86400.0, 365 * 86400.0: 172800.0}
RRAM_G_MAX_US = 40.0
#: noise models run, and the analogc preset each is compared with in the doc
NOISE_MODELS = {"pcm": "pcm-hermes", "rram": "rram"}
DIGITAL_RTOL = 1e-4


# ---------------------------------------------------------------------------------------------
# models


def load_export(path: Path) -> dict:
    """The export's models rebuilt from the .npz (eval mode) and its arrays."""
    import transformers as tf
    d = np.load(path)
    enc_cfg = json.loads(str(d["encoder_config_json"]))
    dec_cfg = json.loads(str(d["decoder_config_json"]))
    enc = tf.BertModel(tf.BertConfig.from_dict(enc_cfg), add_pooling_layer=False)
    dec = tf.GPT2LMHeadModel(tf.GPT2Config.from_dict(dec_cfg))
    for kind, model in (("encoder", enc), ("decoder", dec)):
        sd = {k.split("/", 1)[1]: torch.from_numpy(d[k].copy()) for k in d.files if k.startswith(kind + "/")}
        missing, unexpected = model.load_state_dict(sd, strict=False)
        # the GPT-2 LM head is tied to the token embedding: either may be absent from the dict
        missing = [m for m in missing if m not in ("lm_head.weight", "transformer.wte.weight")]
        if missing or unexpected:
            raise RuntimeError(f"{kind}: missing {missing}, unexpected {unexpected}")
        model.eval()
    if dec.lm_head.weight.data_ptr() != dec.transformer.wte.weight.data_ptr():
        raise RuntimeError("decoder: LM head not tied to the token embedding after loading")
    h = hashlib.sha256()
    for k in sorted(d.files):
        h.update(k.encode())
        h.update(np.ascontiguousarray(d[k]).tobytes())
    return {"encoder": enc, "decoder": dec, "heldout": torch.from_numpy(d["heldout_input_ids"]).long(),
            "calibration": torch.from_numpy(d["calibration_input_ids"]).long(),
            "digital_pooled": torch.from_numpy(d["digital_pooled"]),
            "digital_perplexity": float(d["digital_perplexity"]), "digest": h.hexdigest()[:16]}


def conv1d_to_linear(model: torch.nn.Module) -> int:
    """Replace every transformers ``Conv1D`` (y = x @ W + b, W [in, out]) by the equivalent
    ``nn.Linear`` (weight W^T), in place. Returns how many were replaced."""
    from transformers.pytorch_utils import Conv1D
    n = 0
    for name, mod in list(model.named_modules()):
        for cname, child in list(mod.named_children()):
            if isinstance(child, Conv1D):
                nx, nf = child.weight.shape
                lin = torch.nn.Linear(nx, nf, bias=child.bias is not None)
                with torch.no_grad():
                    lin.weight.copy_(child.weight.T)
                    if child.bias is not None:
                        lin.bias.copy_(child.bias)
                setattr(mod, cname, lin)
                n += 1
    return n


# ---------------------------------------------------------------------------------------------
# aihwkit configuration


def noise_model(kind: str):
    from aihwkit.inference import PCMLikeNoiseModel, ReRamWan2022NoiseModel
    if kind == "pcm":  # Nandakumar et al. ICECS 2019, single pair, g_max 25 uS (its default)
        return PCMLikeNoiseModel()
    if kind == "rram":  # Wan et al. Nature 2022 as fitted in aihwkit; fits at 1 s, 1 day, 2 days
        fits = ReRamWan2022NoiseModel().coeff_dic
        return ReRamWan2022NoiseModel(g_max=RRAM_G_MAX_US, coeff_dic={t: fits[f] for t, f in RRAM_FIT_AT.items()})
    raise ValueError(kind)


def rpu_config(kind: str):
    from aihwkit.inference import GlobalDriftCompensation
    from aihwkit.simulator.configs import TorchInferenceRPUConfig
    rpu = TorchInferenceRPUConfig()          # default I/O: IOParameters()
    rpu.mapping.max_input_size = TILE
    rpu.mapping.max_output_size = TILE
    rpu.mapping.weight_scaling_omega = 1.0
    rpu.mapping.weight_scaling_columnwise = True
    rpu.noise_model = noise_model(kind)
    rpu.drift_compensation = GlobalDriftCompensation()
    return rpu


def describe_config() -> dict:
    """The settings as aihwkit holds them (recorded beside the figures)."""
    rpu = rpu_config("pcm")
    f = rpu.forward
    return {
        "rpu_config": type(rpu).__name__, "tile_class": rpu.tile_class.__name__,
        "tile_array_class": rpu.tile_array_class.__name__,
        "mapping": {"max_input_size": rpu.mapping.max_input_size, "max_output_size": rpu.mapping.max_output_size,
                    "weight_scaling_omega": rpu.mapping.weight_scaling_omega,
                    "weight_scaling_columnwise": rpu.mapping.weight_scaling_columnwise,
                    "digital_bias": rpu.mapping.digital_bias},
        "forward": {"is_perfect": f.is_perfect, "inp_res": f.inp_res, "inp_bound": f.inp_bound,
                    "out_res": f.out_res, "out_bound": f.out_bound, "out_noise": f.out_noise,
                    "w_noise": f.w_noise, "noise_management": str(f.noise_management),
                    "bound_management": str(f.bound_management), "ir_drop": f.ir_drop},
        "input_range_enabled": bool(rpu.pre_post.input_range.enable),
        "input_range_calibration": "none (aihwkit 1.1 offers aihwkit.inference.calibration."
                                   "calibrate_input_ranges; not used: default I/O, abs-max noise management)",
        "drift_compensation": type(rpu.drift_compensation).__name__,
        "noise_models": {"pcm": str(rpu_config("pcm").noise_model),
                         "rram": f"ReRamWan2022NoiseModel(g_max={RRAM_G_MAX_US:g}, fits at 1 s, 1 day, 2 days; "
                                 "fit used at t: the latest fitted time <= t)"},
        "rram_fit_at_s": {str(t): f for t, f in RRAM_FIT_AT.items()},
        "compared_with": NOISE_MODELS,
    }


def to_analog(model: torch.nn.Module, kind: str) -> tuple[torch.nn.Module, int]:
    from aihwkit.nn import AnalogLinear
    from aihwkit.nn.conversion import convert_to_analog
    a = convert_to_analog(model, rpu_config(kind))
    a.eval()
    n = sum(isinstance(m, AnalogLinear) for m in a.modules())
    left = [n for n, m in a.named_modules() if type(m) is torch.nn.Linear]
    if left:
        raise RuntimeError(f"not converted: {left}")
    return a, n


# ---------------------------------------------------------------------------------------------
# measurement


def encoder_metrics(y: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    """tests/pretrained.py's encoder_fidelity on given outputs."""
    c = ref.mean(0)
    return {"encoder_cosine": float(F.cosine_similarity(y, ref, dim=-1).mean()),
            "encoder_centered_cosine": float(F.cosine_similarity(y - c, ref - c, dim=-1).mean())}


def check_digital(ex: dict) -> dict[str, float]:
    y = P.pooled(ex["encoder"], ex["heldout"])
    ppl = P.perplexity(ex["decoder"], ex["heldout"])
    ref = ex["digital_pooled"]
    d_pooled = float((y - ref).norm() / ref.norm())
    d_ppl = abs(ppl - ex["digital_perplexity"]) / ex["digital_perplexity"]
    if not (d_pooled <= DIGITAL_RTOL and d_ppl <= DIGITAL_RTOL):
        raise SystemExit(f"the digital rebuild does not reproduce the export: pooled rel. diff {d_pooled:.2e}, "
                         f"perplexity {ppl:.6f} vs {ex['digital_perplexity']:.6f} (rel. {d_ppl:.2e}); "
                         f"tolerance {DIGITAL_RTOL:g}")
    return {"pooled_rel_diff": d_pooled, "perplexity": ppl, "perplexity_rel_diff": d_ppl}


def run(ex: dict, kinds: list[str], seeds: list[int], times: dict[str, float], log: bool = True) -> dict:
    x, ref, ppl0 = ex["heldout"], ex["digital_pooled"], ex["digital_perplexity"]
    dec_lin = ex["decoder_linear"]
    out: dict = {}
    for kind in kinds:
        t0 = time.perf_counter()
        per_seed: dict[str, dict[str, list[float]]] = {lab: {} for lab in times}
        n_layers = {}
        for seed in seeds:
            enc_a, n_layers["encoder"] = to_analog(ex["encoder"], kind)
            dec_a, n_layers["decoder"] = to_analog(dec_lin, kind)
            torch.manual_seed(seed)
            enc_a.program_analog_weights()
            dec_a.program_analog_weights()
            for lab, t in times.items():
                enc_a.drift_analog_weights(t)
                dec_a.drift_analog_weights(t)
                m = encoder_metrics(P.pooled(enc_a, x), ref)
                ppl = P.perplexity(dec_a, x)
                m.update(decoder_perplexity=ppl, decoder_perplexity_ratio=ppl / ppl0)
                for k, v in m.items():
                    per_seed[lab].setdefault(k, []).append(v)
                if log:
                    print(f"  {kind} seed {seed} t={lab:7s} cosine {m['encoder_cosine']:.4f} (centered "
                          f"{m['encoder_centered_cosine']:.4f})  perplexity {ppl:.3f} (x{ppl / ppl0:.3f})  "
                          f"[{time.perf_counter() - t0:.0f} s]", file=sys.stderr, flush=True)
        out[kind] = {"compared_with": NOISE_MODELS[kind], "analog_layers": n_layers,
                     "seconds": round(time.perf_counter() - t0, 1),
                     "times": {lab: {"t_s": times[lab], **{k: {"mean": statistics.fmean(v), "min": min(v),
                                                               "max": max(v), "per_seed": v}
                                                           for k, v in per_seed[lab].items()}}
                               for lab in times}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--export", type=Path, default=EXPORT)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    ap.add_argument("--times", default=None, help="comma-separated read times in s (default: 1 s, 1 h, 1 day, 1 year)")
    ap.add_argument("--noise-models", default=",".join(NOISE_MODELS))
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    import aihwkit
    import transformers
    if not args.export.exists():
        raise SystemExit(f"{args.export} missing: run python benchmarks/export_pretrained.py (analogc's venv)")
    seeds = [int(s) for s in args.seeds.split(",")]
    names = {v: k for k, v in TIMES.items()}
    times = TIMES if not args.times else {names.get(float(t), f"{float(t):g} s"): float(t)
                                          for t in args.times.split(",")}
    t0 = time.perf_counter()
    ex = load_export(args.export)
    digital = check_digital(ex)
    print(f"digital rebuild: pooled rel. diff {digital['pooled_rel_diff']:.1e}, perplexity {digital['perplexity']:.4f} "
          f"(export {ex['digital_perplexity']:.4f})", file=sys.stderr, flush=True)
    import copy
    ex["decoder_linear"] = copy.deepcopy(ex["decoder"])
    n_conv = conv1d_to_linear(ex["decoder_linear"])
    d_ppl = abs(P.perplexity(ex["decoder_linear"], ex["heldout"]) - digital["perplexity"]) / digital["perplexity"]
    if d_ppl > 1e-6:
        raise SystemExit(f"Conv1D -> Linear changed the digital perplexity (rel. {d_ppl:.1e})")
    res = {
        "what": "aihwkit on the trained transformers of docs/transformer-fidelity.md "
                "(benchmarks/aihwkit_transformer_side.py)",
        "date": datetime.date.today().isoformat(), "aihwkit": aihwkit.__version__, "torch": torch.__version__,
        "transformers": transformers.__version__, "threads": torch.get_num_threads(),
        "export": {"path": str(args.export.relative_to(ROOT) if args.export.is_relative_to(ROOT) else args.export),
                   "digest": ex["digest"], "digital_perplexity": ex["digital_perplexity"],
                   "n_eval": int(ex["heldout"].shape[0]), "seq": int(ex["heldout"].shape[1])},
        "digital_check": {**digital, "rtol": DIGITAL_RTOL},
        "conv1d_replaced_by_linear": n_conv,
        "settings": describe_config(), "seeds": seeds, "times_s": times,
        "results": run(ex, args.noise_models.split(","), seeds, times),
    }
    res["seconds"] = round(time.perf_counter() - t0, 1)
    for kind, r in res["results"].items():
        print(f"{kind} (vs {r['compared_with']}), mean over seeds {seeds} [min-max]:")
        for lab, m in r["times"].items():
            z = m["encoder_centered_cosine"]
            print(f"  {lab:7s} cosine {m['encoder_cosine']['mean']:.4f}  centered {z['mean']:.4f} "
                  f"[{z['min']:.4f}-{z['max']:.4f}]  "
                  f"perplexity {m['decoder_perplexity']['mean']:.3f} [{m['decoder_perplexity']['min']:.3f}-"
                  f"{m['decoder_perplexity']['max']:.3f}]  ratio {m['decoder_perplexity_ratio']['mean']:.3f}")
    if args.out != "-":
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
        print(f"wrote {args.out} ({res['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
