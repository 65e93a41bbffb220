"""Output fidelity of a small pretrained-like BERT encoder and GPT-2 on every analog preset
after one deploy call and one calibration batch (issue 8).

The two models are trained here on the Python standard library's source (tests/pretrained.py;
cached under .cache/analogc-tests/, trained in a few minutes on 2 cores when absent). Per
preset: the mean cosine between the analog and the digital mean-pooled encoder embeddings of
held-out text, and the GPT-2's held-out perplexity (digital: its own perplexity); also the
outlier input channels at the LayerNorm outputs of both models.

    python benchmarks/transformer_fidelity.py                  # print the table
    python benchmarks/transformer_fidelity.py --write          # re-record the documented figures
    python benchmarks/transformer_fidelity.py --presets ideal,rram --seeds 0,1,2
    python benchmarks/transformer_fidelity.py --render         # re-render the page, measure nothing

``--write`` records the figures into tests/data/transformer_fidelity.json (which
tests/test_pretrained_fidelity.py holds them to) and the table into docs/transformer-fidelity.md.
The tolerances are derived from the spread over the deploy seeds measured in the same run.

The aihwkit figures of the page (the "aihwkit" columns of the pcm-hermes and rram rows, the
section "aihwkit on the same weights") come from tests/data/aihwkit_transformer_reference.json,
which benchmarks/aihwkit_transformer_side.py writes from aihwkit's own venv; ``--write`` and
``--render`` read it (when present and measured on the same weights: its digital perplexity
equals the recorded one) and copy a summary under the ``aihwkit`` key of the JSON. ``--render``
rebuilds the page and that key from the recorded JSON alone, so new aihwkit figures reach the
page without re-measuring analogc.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import pretrained as P  # noqa: E402

JSON_PATH = ROOT / "tests" / "data" / "transformer_fidelity.json"
DOC_PATH = ROOT / "docs" / "transformer-fidelity.md"
AIHWKIT_PATH = ROOT / "tests" / "data" / "aihwkit_transformer_reference.json"
#: the aihwkit figures put into the main table: its read time (analogc's rows are read at its
#: default t_inference = 0: programming noise, PCM 1/f noise until t0, the 1 s RRAM fit)
AIHWKIT_ROW_TIME = "1 s"
AIHWKIT_METRICS = ("encoder_cosine", "encoder_centered_cosine", "decoder_perplexity", "decoder_perplexity_ratio")
AIHWKIT_NAMES = {"pcm": "`PCMLikeNoiseModel`", "rram": "`ReRamWan2022NoiseModel`"}

#: smallest tolerances the tests apply (absolute), widened to 1.5x the largest deviation of a
#: variant (deploy seed, training seed) where that is larger. Measured 2026-11-30 over deploy
#: seeds 0-2 and training seeds 0-2: the plain cosine moves by <= 0.0007, the centered one by
#: <= 0.016, the perplexity by <= 3% (the models' own perplexity moves 2.5%), its ratio to the
#: digital one by <= 0.01.
FLOORS = {"encoder_cosine": 0.002, "encoder_centered_cosine": 0.01, "decoder_perplexity_ratio": 0.01}


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "analogc", "hw_models"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _fmt_ppl(v) -> str:
    return "—" if v is None else (f"{v:.3g}" if v >= 1000 else f"{v:.2f}")


def _fmt_cos(v) -> str:
    return "—" if v is None else f"{v:.4f}"


def tolerances(base: dict, variants: dict[str, dict]) -> dict[str, dict]:
    """Per preset and figure in FLOORS: the absolute tolerance the test applies (the larger of
    the floor and 1.5x the largest deviation of a variant from the recorded figure) and the
    range over the recorded figure and the variants."""
    out = {}
    for p, rec in base["presets"].items():
        t = {}
        for key, floor in FLOORS.items():
            vals = [v["presets"][p][key] for v in variants.values()] + [rec[key]]
            t[key] = round(max(floor, 1.5 * max(abs(v - rec[key]) for v in vals)), 4)
            t[f"{key}_range"] = [min(vals), max(vals)]
        t["decoder_perplexity_range"] = [min(v["presets"][p]["decoder_perplexity"] for v in [base, *variants.values()]),
                                         max(v["presets"][p]["decoder_perplexity"] for v in [base, *variants.values()])]
        out[p] = t
    return out


def aihwkit_figures(digital_perplexity: float, path: Path = AIHWKIT_PATH) -> dict | None:
    """The summary of benchmarks/aihwkit_transformer_side.py's JSON that the page shows: per
    analogc preset its aihwkit counterpart at :data:`AIHWKIT_ROW_TIME` (mean over seeds), per
    noise model every read time (mean, min, max), and the settings. None when the file is
    absent; ``{"stale": ...}`` when it was measured on other weights (its digital perplexity
    differs from ``digital_perplexity`` by more than 1e-4 relative)."""
    if not path.exists():
        return None
    ref = json.loads(path.read_text())
    ppl = ref["export"]["digital_perplexity"]
    if abs(ppl - digital_perplexity) > 1e-4 * digital_perplexity:
        print(f"warning: {path.relative_to(ROOT)} was measured on other weights (digital perplexity {ppl:.4f}, "
              f"recorded {digital_perplexity:.4f}); its figures are left out: re-run "
              f"benchmarks/aihwkit_transformer_side.py", file=sys.stderr)
        return {"stale": {"source": str(path.relative_to(ROOT)), "digital_perplexity": ppl}}
    summary = lambda m: {k: {s: m[k][s] for s in ("mean", "min", "max")} for k in AIHWKIT_METRICS}  # noqa: E731
    return {
        "source": str(path.relative_to(ROOT)), "date": ref["date"], "aihwkit": ref["aihwkit"],
        "torch": ref["torch"], "transformers": ref["transformers"], "seeds": ref["seeds"],
        "export_digest": ref["export"]["digest"], "digital_perplexity": ppl,
        "digital_check": ref["digital_check"], "settings": ref["settings"],
        "presets": {r["compared_with"]: {"noise_model": kind, "t_s": r["times"][AIHWKIT_ROW_TIME]["t_s"],
                                         **{k: r["times"][AIHWKIT_ROW_TIME][k]["mean"] for k in AIHWKIT_METRICS}}
                    for kind, r in ref["results"].items() if AIHWKIT_ROW_TIME in r["times"]},
        "noise_models": {kind: {"compared_with": r["compared_with"], "analog_layers": r["analog_layers"],
                                "times": {lab: {"t_s": m["t_s"], **summary(m)} for lab, m in r["times"].items()}}
                         for kind, r in ref["results"].items()},
    }


def _bits(res: float) -> int:
    """aihwkit's resolution 1/(2^bits - 2) as bits."""
    import math
    return round(math.log2(1 / res + 2))


def aihwkit_section(rec: dict) -> list[str]:
    """The page's section "aihwkit on the same weights" (lines)."""
    aih = rec.get("aihwkit") or {}
    lines = ["## aihwkit on the same weights", ""]
    if "stale" in aih:
        return lines + [
            f"`{aih['stale']['source']}` was measured on other weights (digital perplexity "
            f"{aih['stale']['digital_perplexity']:.2f}, these models {rec['digital_perplexity']:.2f}): no aihwkit",
            "figures until it is re-recorded (`python benchmarks/export_pretrained.py`, then",
            "`benchmarks/aihwkit_transformer_side.py` from aihwkit's venv).", ""]
    if not aih:
        return lines + [
            "No aihwkit figures yet: `python benchmarks/export_pretrained.py` writes the weights, the batches",
            "and the digital references to one file; `benchmarks/aihwkit_transformer_side.py`, run from",
            "aihwkit's own venv, measures them into `tests/data/aihwkit_transformer_reference.json`, which",
            "`--write` and `--render` read.", ""]
    st, f = aih["settings"], aih["settings"]["forward"]
    dc = aih["digital_check"]
    nm = aih["noise_models"]
    rows = {p: kind for kind, r in nm.items() for p in [r["compared_with"]]}
    lines += [
        f"IBM aihwkit {aih['aihwkit']} (torch {aih['torch']}, transformers {aih['transformers']}) on the very same",
        f"weights and the same {rec['settings']['n_eval']} held-out sequences, with the metrics above",
        "(`tests/pretrained.py`'s `pooled` and `perplexity`, imported). `python benchmarks/export_pretrained.py`",
        "writes the weights, the batches and the digital references to one file;",
        "`benchmarks/aihwkit_transformer_side.py`, run from aihwkit's own venv (aihwkit is no dependency of",
        "analogc), rebuilds both models from it, checks that its digital rebuild reproduces the digital",
        f"references (relative tolerance {dc['rtol']:g}; measured: pooled states "
        f"{dc['pooled_rel_diff']:.1e}, perplexity {dc['perplexity_rel_diff']:.1e}),",
        f"and records the figures in `{aih['source']}` ({aih['date']}),",
        "which `--write` and `--render` read. Mean over programming seeds "
        f"{', '.join(map(str, aih['seeds']))}; *range*: min–max over them",
        "(the figures reproduce exactly from run to run). The aihwkit columns of the table above are the",
        f"{AIHWKIT_ROW_TIME} means: "
        + "; ".join(f"{AIHWKIT_NAMES.get(k, k)} on the {p} row" for p, k in rows.items())
        + " (a dash: no aihwkit counterpart run).",
        "",
        "| aihwkit noise model (vs analogc preset) | t | encoder cosine | range | centered | range "
        "| decoder perplexity | range | ÷ digital | range |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, r in nm.items():
        for i, (lab, m) in enumerate(r["times"].items()):
            name = f"{AIHWKIT_NAMES.get(kind, kind)} (vs {r['compared_with']})" if i == 0 else ""
            c, z, q, d = (m[k] for k in ("encoder_cosine", "encoder_centered_cosine", "decoder_perplexity",
                                         "decoder_perplexity_ratio"))
            lines.append(f"| {name} | {lab} | {_fmt_cos(c['mean'])} | {_fmt_cos(c['min'])}–{_fmt_cos(c['max'])} | "
                         f"{_fmt_cos(z['mean'])} | {_fmt_cos(z['min'])}–{_fmt_cos(z['max'])} | "
                         f"{_fmt_ppl(q['mean'])} | {_fmt_ppl(q['min'])}–{_fmt_ppl(q['max'])} | "
                         f"{d['mean']:.3f} | {d['min']:.3f}–{d['max']:.3f} |")
    cmp = []
    for p, a in aih["presets"].items():
        r = rec["presets"].get(p)
        if r:
            cmp.append(f"`{p}` keeps a centered cosine of {r['encoder_centered_cosine']:.4f} (aihwkit "
                       f"{a['encoder_centered_cosine']:.4f}) and a perplexity ratio of "
                       f"{r['decoder_perplexity_ratio']:.3f} (aihwkit {a['decoder_perplexity_ratio']:.3f})")
    if cmp:
        lines += ["", f"At {AIHWKIT_ROW_TIME}, analogc's " + "; its ".join(cmp) + "."]
    n_layers = next(iter(nm.values()))["analog_layers"]
    in_bits, out_bits = _bits(f["inp_res"]), _bits(f["out_res"])
    mp = st["mapping"]
    import hw_models
    pcm, rram = hw_models.load("pcm-hermes"), hw_models.load("rram")
    pn, rn = pcm.params["noise"], rram.params["noise"]
    pt, rt = pcm.tile, rram.tile
    t_inf = {pn.get("t_inference_s", 0.0), rn.get("t_inference_s", 0.0)}
    lines += [
        "",
        "**aihwkit configuration.** GPT-2's `Conv1D` layers are first replaced by the equivalent",
        "`nn.Linear` (transposed weight; aihwkit's conversion map has no `Conv1D`), then",
        "`aihwkit.nn.conversion.convert_to_analog` converts every `nn.Linear` "
        f"({n_layers['encoder']} in the encoder, {n_layers['decoder']} in the",
        "decoder, the tied LM head included); embeddings, LayerNorms, the attention matmuls (digital on",
        f"`pcm-hermes` and `rram` too) and the biases stay digital. One `{st['rpu_config']}` (pure-torch",
        f"`{st['tile_class']}`, a `{st['tile_array_class']}` for a layer over one tile): "
        f"{mp['max_input_size']} × {mp['max_output_size']} tiles",
        f"(`mapping.max_input_size = {mp['max_input_size']}`, `max_output_size = {mp['max_output_size']}`), "
        "column-wise weight remapping",
        f"(`mapping.weight_scaling_omega = {mp['weight_scaling_omega']:g}`, "
        f"`weight_scaling_columnwise = {mp['weight_scaling_columnwise']}`: each output column's",
        f"abs max → g_max, as analogc maps), {'digital' if mp['digital_bias'] else 'analog'} bias, "
        f"`{st['drift_compensation']}`, and aihwkit's default I/O",
        f"(`IOParameters()`: {in_bits}-bit inputs, {out_bits}-bit outputs, `out_noise` {f['out_noise']:g}, "
        f"`out_bound` {f['out_bound']:g}, abs-max noise",
        "management, iterative bound management, "
        + ("no weight read noise" if not f["w_noise"] else f"`w_noise` {f['w_noise']:g}") + "). "
        + ("**No input-range calibration:** aihwkit 1.1 offers" if not st.get("input_range_enabled") else
           "**Input ranges enabled** (see the reference file); aihwkit 1.1 offers"),
        "one (`aihwkit.inference.calibration.calibrate_input_ranges`), but it was not used: the default I/O",
        "scales every input vector by its own abs max and needs no calibration batch (analogc calibrates",
        "static input ranges on its one calibration batch). Noise: `PCMLikeNoiseModel()` (Nandakumar et",
        "al. ICECS 2019; one pair of devices, g_max 25 µS, its default); `ReRamWan2022NoiseModel(g_max=40)`",
        "(Wan et al. Nature 2022 as fitted in aihwkit, at the fits' own reference conductance: at its",
        "default 25 µS aihwkit 1.1 scales the deviation by 40/25) with the fit of the latest fitted time",
        "≤ t, as analogc does (the model has fits at 1 s, 1 day and 2 days only and refuses other times:",
        "1 h reads the 1 s fit, 1 year the 2-day fit). Seed s: `torch.manual_seed(s)`,",
        "`program_analog_weights()`, then `drift_analog_weights(t)` at each t (the same programmed",
        "weights). analogc's rows are read at its default `t_inference` = "
        f"{' / '.join(f'{t:g}' for t in sorted(t_inf))} s: programming noise and",
        f"the PCM 1/f noise accumulated until t0 = {pn['drift_t0_s']:g} s, no drift yet, the 1 s RRAM fit; "
        "aihwkit's 1 s is t0 + 1 s",
        "for PCM (drift compensated) and the same 1 s RRAM fit.",
        "",
        "**Why the settings differ from the presets.** The aihwkit side is aihwkit's published device",
        "models on its standard inference tile, not a port of the presets, and the presets differ from it",
        "on purpose ([validation-noise.md](validation-noise.md#where-the-presets-differ-on-purpose)",
        f"measures each difference layer by layer). `pcm-hermes` has {pt.rows} × {pt.cols} tiles and HERMES's",
        f"{pt.devices_per_cell // 2} + {pt.devices_per_cell // 2}-device unit cell (the devices of each "
        "polarity programmed alike, their errors averaging;",
        f"`PCMLikeNoiseModel` has one pair), {pcm.input_bits}-bit PWM inputs on input ranges calibrated "
        f"from one batch, an {pcm.output_bits}-bit",
        f"ADC, output noise {pn['out_noise']:g} and a per-MVM read noise {pn['read_noise']:g}·‖x‖ "
        "(aihwkit's torch tile has no read noise).",
        f"`rram` is ISAAC-like: {rt.rows} × {rt.cols} tiles, {rt.weight_bits}-bit weights in "
        f"{rt.weight_bits // rt.cell_bits} {rt.cell_bits}-bit slices, {rt.devices_per_cell} device per cell",
        f"in ISAAC's offset encoding, bit-serial inputs, a shared {rram.output_bits}-bit ADC, output noise "
        f"{rn['out_noise']:g}, read noise {rn['read_noise']:g}·‖x‖",
        "and " + ("no drift compensation" if not rn.get("drift_compensation") else "drift compensation")
        + ", where aihwkit stores each weight as one analog differential pair at 40 µS. With",
        "the same mapping, analogc's `pcm` and `rram` device models agree with these aihwkit models layer",
        "by layer (the held rows of validation-noise.md); the gaps above are the presets' own choices.",
        "",
    ]
    return lines


def outlier_rows(stats: dict) -> list[tuple[str, str, float, float, int]]:
    rows = []
    for kind, d in stats.items():
        for name, s in d["trained"].items():
            init = d["init"].get(name, {}).get("ratio", float("nan"))
            rows.append((kind, name, s["ratio"], init, s["n_over_6x"]))
    return rows


def markdown(rec: dict) -> str:
    enc, dec = rec["models"]["encoder"], rec["models"]["decoder"]
    aih = (rec.get("aihwkit") or {}).get("presets", {})
    lines = [
        "# Transformer fidelity on every preset",
        "",
        "How much of a small pretrained-like transformer's output survives **one**",
        "`analogc.deploy(model, preset, seed=0, calibration=[batch])` call with one calibration",
        "batch, each preset at its shipped defaults (issue 8). Measured by",
        "`benchmarks/transformer_fidelity.py`; `tests/test_pretrained_fidelity.py` holds analogc to",
        "these figures.",
        "",
        f"Recorded {rec['date']} at commit `{rec['commit']}` (Python {rec['python']}, torch {rec['torch']}, "
        f"transformers {rec['transformers']}, {rec['settings']['threads']} threads).",
        "",
        "## The models",
        "",
        "Both are Hugging Face `transformers` classes trained here from scratch, byte by byte (vocabulary:",
        "256 bytes + [PAD] + [MASK]), on the Python standard library's own top-level modules (source,",
        "comments and docstrings; `sysconfig.get_paths()['stdlib']`, files in name order). About one",
        "file in eight (by a CRC of its name) is held out: the fidelity figures are measured on text",
        "the models never saw. Nothing is downloaded; `tests/pretrained.py` trains them with fixed",
        "seeds and caches the weights under `.cache/analogc-tests/` (`$ANALOGC_TEST_CACHE`).",
        "",
        "| model | class | layers × width (heads, FFN) | parameters | training | held-out loss (digital) |",
        "|---|---|---|---|---|---|",
        f"| encoder | `BertForMaskedLM` (deployed: `BertModel`, no pooler) | {enc['layers']} × {enc['hidden']} "
        f"({enc['heads']}, {enc['ffn']}) | {enc['params']:,} | masked LM ({enc['train']['mask_prob']:.0%} of "
        f"bytes), {enc['train']['steps']} steps × {enc['train']['batch']} × {rec['settings']['seq']} bytes, "
        f"AdamW {enc['train']['lr']:g}, {enc['train_s']:.0f} s | {enc['heldout_loss']:.2f} nats/byte "
        f"(perplexity {enc['heldout_ppl']:.1f}) |",
        f"| decoder | `GPT2LMHeadModel` | {dec['layers']} × {dec['hidden']} ({dec['heads']}, {dec['ffn']}) | "
        f"{dec['params']:,} | causal LM, {dec['train']['steps']} steps × {dec['train']['batch']} × "
        f"{rec['settings']['seq']} bytes, AdamW {dec['train']['lr']:g}, {dec['train_s']:.0f} s | "
        f"{dec['heldout_loss']:.2f} nats/byte (perplexity {dec['heldout_ppl']:.1f}) |",
        "",
        f"A model that learned nothing scores perplexity 256 (uniform over bytes); the unigram byte",
        f"distribution of the training text scores {rec['corpus']['unigram_ppl']:.1f} and the bigram",
        f"{rec['corpus']['bigram_ppl']:.1f}. The decoder is past the bigram; the masked LM, which learns",
        "from a quarter of its positions and must first learn to attend to its neighbours, is past the",
        "unigram and still learning when training stops (a few minutes on 2 cores is the budget).",
        "",
        "## Fidelity per preset",
        "",
        "Encoder: mean cosine between the analog and the digital mean-pooled last hidden states of",
        f"{rec['settings']['n_eval']} held-out sequences of {rec['settings']['seq']} bytes; *centered*: the same",
        "after subtracting the digital batch mean from both (mean-pooled embeddings of different texts",
        f"share a large common direction: two different held-out sequences already score "
        f"{rec['digital_pairwise_cosine']:.2f}",
        "on average, so the plain cosine hides much of the error). Decoder: perplexity on the same",
        f"sequences (digital: **{rec['digital_perplexity']:.2f}**) and its ratio to the digital one. "
        f"Calibration: one batch of "
        f"{rec['settings']['n_calib']} training",
        f"sequences. Deploy seed {rec['settings']['seed']}; *range*: over the recorded figure, deploy seeds "
        f"{', '.join(map(str, rec['seeds'][1:]))} on the same",
        f"models, and models trained from seeds {', '.join(str(t) for t in rec['train_seeds'] if t)} "
        "(deploy seed 0).",
        "",
        "| preset | encoder cosine | range | centered | range | decoder perplexity | range | ÷ digital | range "
        "| aihwkit cosine | aihwkit perplexity |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        f"| digital | 1 | | 1 | | {_fmt_ppl(rec['digital_perplexity'])} | "
        f"{_fmt_ppl(rec['digital_perplexity_train_seed_range'][0])}–"
        f"{_fmt_ppl(rec['digital_perplexity_train_seed_range'][1])} | 1 | | | |",
    ]
    for p, r in rec["presets"].items():
        t = rec["tolerance"][p]
        cr, zr, pr, qr = (t["encoder_cosine_range"], t["encoder_centered_cosine_range"],
                          t["decoder_perplexity_range"], t["decoder_perplexity_ratio_range"])
        a = aih.get(p, {})
        lines.append(f"| {p} | {_fmt_cos(r['encoder_cosine'])} | {_fmt_cos(cr[0])}–{_fmt_cos(cr[1])} | "
                     f"{_fmt_cos(r['encoder_centered_cosine'])} | {_fmt_cos(zr[0])}–{_fmt_cos(zr[1])} | "
                     f"{_fmt_ppl(r['decoder_perplexity'])} | {_fmt_ppl(pr[0])}–{_fmt_ppl(pr[1])} | "
                     f"{r['decoder_perplexity_ratio']:.3f} | {qr[0]:.3f}–{qr[1]:.3f} | "
                     f"{_fmt_cos(a.get('encoder_cosine'))} | {_fmt_ppl(a.get('decoder_perplexity'))} |")
    import hw_models
    on_tiles = [p for p in rec["presets"] if hw_models.load(p).dynamic_matmul == "analog"]
    groups: dict[str, list[str]] = {}
    for p, r in rec["presets"].items():
        groups.setdefault(json.dumps(r, sort_keys=True), []).append(p)
    same = [g for g in groups.values() if len(g) > 1]
    lines += [
        "",
        f"Attention matmuls run on the tiles on {', '.join(on_tiles) or 'no preset'} (the presets whose",
        "`dynamic_matmul` is analog; deploy traces the model from the calibration batch to place them),",
        "digitally elsewhere; every Linear / `Conv1D` layer, the decoder's tied LM head included, runs",
        "on the tiles everywhere. Calibration's outlier-channel split ([deploy.md](deploy.md)) finds",
        "nothing to split in these models (next section).",
    ]
    if same:
        lines += [
            "",
            f"Identical rows ({'; '.join(', '.join(g) for g in same)}): these presets differ in what the",
            "estimator prices (phase-shifter technology: hold power, settling time), not in the",
            "simulated mesh, and all keep the attention matmuls digital at their defaults.",
        ]
    lines += [
        "",
        "Training times are wall-clock times on a 2-core machine shared with other work (the same",
        "training took about 1 minute for the encoder and 1.5 minutes for the decoder when it was idle).",
        "",
        *aihwkit_section(rec),
        "## Outlier input channels",
        "",
        "Per LayerNorm output (the input of the next Linear layers), over the held-out batch: the",
        "largest per-channel max |x| over the median per-channel max, for the trained model and for",
        "the same architecture at initialisation; and how many channels exceed 6× the median.",
        "",
        "| model | LayerNorm | max / median channel max (trained) | (at init) | channels > 6× |",
        "|---|---|---|---|---|",
    ]
    for kind, name, ratio, init, n6 in outlier_rows(rec["outliers"]):
        lines.append(f"| {kind} | `{name}` | {ratio:.1f} | {init:.1f} | {n6} |")
    lines += [
        "",
        rec.get("outlier_note", ""),
        "",
        "## Re-recording",
        "",
        "The figures move whenever the deploy defaults do (input ranges, weight mapping, converter",
        "models are being changed under issue 8). After such a change, re-record in one command:",
        "",
        "    python benchmarks/transformer_fidelity.py --write",
        "",
        "It reuses the cached models (or trains them, and the two other training seeds' models the",
        "tolerances need, once), measures every analog preset for every variant, writes",
        "`tests/data/transformer_fidelity.json` (figures, settings, date, commit, tolerances,",
        "variants) and this page (about 10 minutes on an idle 2-core machine once the models are",
        "cached; the first run trains six models, about 8 minutes more).",
        "",
        "The aihwkit figures are recorded separately, as they change only with the weights or aihwkit:",
        "",
        "    python benchmarks/export_pretrained.py",
        "    /work/venvs/aihwkit/bin/python benchmarks/aihwkit_transformer_side.py   # aihwkit's own venv",
        "    python benchmarks/transformer_fidelity.py --render   # this page from the recorded JSONs",
        "",
        "`--write` and `--render` read `tests/data/aihwkit_transformer_reference.json`; `--render`",
        "measures nothing.",
        "",
        "`tests/test_pretrained_fidelity.py` holds each preset's cosine, centered cosine and perplexity",
        "ratio to the recorded ones within an absolute tolerance per figure: the larger of a floor",
        f"({', '.join(f'{k} {v:g}' for k, v in FLOORS.items())}) and 1.5× the largest",
        "deviation of a variant (another deploy seed, another training seed) from the recorded figure",
        "(the `tolerance` entry of the JSON). A machine whose float arithmetic differs trains slightly",
        "different weights; another training seed bounds how far that moves a figure. The perplexity is",
        "held through its ratio to the digital model's, which another training seed moves by 1% where",
        "the perplexity itself moves by 3%; the digital perplexity and held-out losses are held",
        "separately. The ideal preset must give cosine > 0.999 and the digital perplexity within 1%.",
        "",
    ]
    return "\n".join(lines)


def _corpus_baselines() -> dict[str, float]:
    import math
    c = P.corpus().train
    p = torch.bincount(c, minlength=256).double()
    p /= p.sum()
    h1 = float(-(p[p > 0] * p[p > 0].log()).sum())
    big = torch.zeros(256, 256, dtype=torch.float64)
    big.index_put_((c[:-1], c[1:]), torch.ones(len(c) - 1, dtype=torch.float64), accumulate=True)
    pc = big / big.sum()
    cond = pc / pc.sum(1, keepdim=True).clamp_min(1e-300)
    h2 = float(-(pc[pc > 0] * cond[pc > 0].log()).sum())
    return {"unigram_ppl": math.exp(h1), "bigram_ppl": math.exp(h2)}


def _model_info(spec: P.Spec, info: dict) -> dict:
    import math
    from dataclasses import asdict
    return {"layers": spec.layers, "hidden": spec.hidden, "heads": spec.heads, "ffn": spec.ffn,
            "train": asdict(spec.train), "params": info["params"], "train_s": info["train_s"],
            "heldout_loss": info["heldout_loss"], "heldout_ppl": math.exp(info["heldout_loss"]),
            "final_train_loss": info["final_train_loss"], "cache_key": info["cache_key"]}


def measure(presets: list[str], seeds: list[int], train_seeds: list[int], log: bool = True) -> dict:
    """The recorded figures (deploy seed ``seeds[0]``, models of training seed 0) and the
    variants the tolerances come from: the other deploy seeds on the same models, and the
    other training seeds' models at the first deploy seed."""
    t0 = time.perf_counter()
    _, enc_info = P.trained(P.ENCODER, log=log)
    _, dec_info = P.trained(P.DECODER, log=log)
    if log:
        print(f"deploy seed {seeds[0]}, training seed {P.ENCODER.train.seed} (recorded)", file=sys.stderr, flush=True)
    base_s = P.Settings(seed=seeds[0])
    base = P.fidelity(presets, base_s, log=log)
    variants, losses = {}, {"encoder": [enc_info["heldout_loss"]], "decoder": [dec_info["heldout_loss"]]}
    for s in seeds[1:]:
        if log:
            print(f"deploy seed {s}", file=sys.stderr, flush=True)
        variants[f"deploy seed {s}"] = P.fidelity(presets, P.Settings(seed=s), log=log)
    for ts in train_seeds:
        if ts == P.ENCODER.train.seed:
            continue
        specs = (P.with_train_seed(P.ENCODER, ts), P.with_train_seed(P.DECODER, ts))
        for spec in specs:
            losses[spec.kind].append(P.trained(spec, log=log)[1]["heldout_loss"])
        if log:
            print(f"training seed {ts}", file=sys.stderr, flush=True)
        variants[f"training seed {ts}"] = P.fidelity(presets, P.Settings(seed=seeds[0]), log=log, specs=specs)
    import transformers
    models = {"encoder": _model_info(P.ENCODER, enc_info), "decoder": _model_info(P.DECODER, dec_info)}
    for kind, ls in losses.items():
        models[kind]["heldout_loss_train_seed_range"] = [min(ls), max(ls)]
    with torch.no_grad():
        emb = torch.nn.functional.normalize(P.pooled(P.encoder(), P.heldout_batch(base_s.n_eval, base_s.seq)), dim=-1)
        n = len(emb)
        pairwise = float(((emb @ emb.T).sum() - n) / (n * (n - 1)))
    ppls = [base["digital_perplexity"]] + [v["digital_perplexity"] for v in variants.values()]
    rec = {
        "date": datetime.date.today().isoformat(), "commit": _commit(), "python": platform.python_version(),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "settings": {k: v for k, v in vars(P.Settings(seed=seeds[0])).items()},
        "seeds": seeds, "train_seeds": train_seeds,
        "models": models,
        "corpus": {"train_files": len(P.corpus().train_files), "heldout_files": len(P.corpus().heldout_files),
                   "train_bytes": len(P.corpus().train), "heldout_bytes": len(P.corpus().heldout),
                   "digest": P.corpus().digest(), **_corpus_baselines()},
        "digital_perplexity": base["digital_perplexity"],
        "digital_pairwise_cosine": pairwise,
        "digital_perplexity_train_seed_range": [min(ppls), max(ppls)],
        "presets": {p: {k: v for k, v in r.items() if k != "seconds"} for p, r in base["presets"].items()},
        "seconds": {p: r["seconds"] for p, r in base["presets"].items()},
        "tolerance": tolerances(base, variants),
        "variants": {name: {"digital_perplexity": v["digital_perplexity"],
                            "presets": {p: {k: x for k, x in r.items() if k != "seconds"}
                                        for p, r in v["presets"].items()}}
                     for name, v in variants.items()},
        "outliers": P.outlier_summary(),
        "measure_s": round(time.perf_counter() - t0, 1),
    }
    return rec


def print_table(rec: dict) -> None:
    print(f"encoder: held-out MLM loss {rec['models']['encoder']['heldout_loss']:.3f} nats/byte; "
          f"decoder: held-out loss {rec['models']['decoder']['heldout_loss']:.3f} nats/byte "
          f"(digital perplexity {rec['digital_perplexity']:.3f})")
    print(f"{'preset':<16}{'cosine':>8}{'range':>15}{'centered':>10}{'range':>15}{'dec ppl':>9}"
          f"{'÷ digital':>10}{'range':>15}{'s (enc+dec)':>13}")
    for p, r in rec["presets"].items():
        t = rec["tolerance"][p]
        cr, zr, qr = (t["encoder_cosine_range"], t["encoder_centered_cosine_range"],
                      t["decoder_perplexity_ratio_range"])
        sec = rec["seconds"][p]
        print(f"{p:<16}{r['encoder_cosine']:>8.4f}{cr[0]:>8.3f}–{cr[1]:<6.3f}{r['encoder_centered_cosine']:>10.4f}"
              f"{zr[0]:>8.3f}–{zr[1]:<6.3f}{r['decoder_perplexity']:>9.3f}{r['decoder_perplexity_ratio']:>10.4f}"
              f"{qr[0]:>8.3f}–{qr[1]:<6.3f}{sec[0]:>7.0f}+{sec[1]:<5.0f}")
    print("\nLayerNorm outputs, max / median per-channel max |x| (trained; at init):")
    for kind, name, ratio, init, n6 in outlier_rows(rec["outliers"]):
        print(f"  {kind:8s} {name:45s} {ratio:6.1f}  ({init:4.1f})  channels > 6x: {n6}")


def outlier_note(rec: dict) -> str:
    rows = outlier_rows(rec["outliers"])
    worst = max(rows, key=lambda r: r[2])
    return (f"Largest ratio: {worst[2]:.1f} ({worst[0]} `{worst[1]}`); at initialisation every ratio is "
            f"≤ {max(r[3] for r in rows):.1f}. Short training on 2 cores does not grow the 30×–100× outlier "
            f"channels that long-trained BERT / GPT-2 checkpoints show (issue 8 measured 30× on a pretrained "
            f"sentence encoder); the mapping work's outlier tests construct those channels explicitly.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default=",".join(P.analog_presets()))
    ap.add_argument("--seeds", default="0,1,2", help="deploy seeds; the first is the recorded one")
    ap.add_argument("--train-seeds", default="0,1,2",
                    help="training seeds of the models (0 is the recorded one; others train and cache more models)")
    ap.add_argument("--write", action="store_true", help="record into tests/data and docs/")
    ap.add_argument("--render", action="store_true",
                    help="measure nothing: rebuild the page (and the JSON's aihwkit summary) from the recorded JSON "
                         "and the aihwkit reference")
    args = ap.parse_args()
    if args.render:
        rec = json.loads(JSON_PATH.read_text())
        rec.pop("aihwkit", None)
        aih = aihwkit_figures(rec["digital_perplexity"])
        if aih:
            rec["aihwkit"] = aih
        JSON_PATH.write_text(json.dumps(rec, indent=1, sort_keys=False) + "\n")
        DOC_PATH.write_text(markdown(rec))
        print(f"wrote {JSON_PATH.relative_to(ROOT)} and {DOC_PATH.relative_to(ROOT)} (nothing measured)")
        return
    presets = args.presets.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    rec = measure(presets, seeds, [int(s) for s in args.train_seeds.split(",") if s])
    rec["outlier_note"] = outlier_note(rec)
    print_table(rec)
    print(f"\n{rec['measure_s']:.0f} s in all")
    if args.write:
        if set(presets) != set(P.analog_presets()):
            sys.exit("--write records every analog preset: leave --presets at its default")
        aih = aihwkit_figures(rec["digital_perplexity"])
        if aih:
            rec["aihwkit"] = aih
        JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
        JSON_PATH.write_text(json.dumps(rec, indent=1, sort_keys=False) + "\n")
        DOC_PATH.write_text(markdown(rec))
        print(f"wrote {JSON_PATH.relative_to(ROOT)} and {DOC_PATH.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
