"""Fine-tune a small GPT-2 character-level language model for analog hardware, on real text.

The text is the Python standard library's own source and docstrings
(:mod:`analogc.finetune.textdata`, nothing downloaded). A small GPT-2 (``transformers``
classes) is trained digitally as a character-level LM, deployed on the hardware (default
``pcm-hermes``), then fine-tuned with ``--method``:

* ``hwa``: hardware-aware training (weights trained through the deployed model);
* ``distill``: the deployed model matches the digital model's next-character distribution on
  unlabeled text (no labels); this run also trains a small BERT-style encoder (masked LM) and
  distils its mean-pooled sentence embeddings on unlabeled docstring sentences, deployed on
  ``pcm-hermes`` and ``rram`` (``encoder`` in metrics.json);
* ``lora``: LoRA adapters (peft) beside frozen analog weights, kept digital.

Held-out perplexity (text from other stdlib files than the training text) digitally, deployed
before and after fine-tuning, each over ``--seeds`` chip instances (seeds 100...). Writes
``OUT/metrics.json`` (``digital``, ``deployed_before``, ``deployed_after`` as {"mean", "std"},
``trainable_params``, ``total_params``, ``steps``, ``wall_s``) and the trainer's run directory
``OUT/train/`` (checkpoints, training curve).

    python examples/textlm_finetune.py --method lora --out runs/lora
    python examples/textlm_finetune.py --method distill --quick --out /tmp/d   # seconds, for tests
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

import analogc
from analogc.errors import AnalogcError
from analogc.fileio import json_dumps, write_atomic
from analogc.finetune import textdata as td
from analogc.finetune.evaluate import evaluate_deployed

#: model and run sizes: quick (tests) and full (the figures in docs/finetune-methods.md)
SIZES = {
    "quick": dict(layers=1, hidden=32, heads=2, seq=32, pre_steps=80, pre_batch=16, ft_steps=10, ft_batch=16,
                  n_eval=8, enc_layers=1, enc_hidden=32, enc_pre_steps=60, enc_steps=10, n_sent=16),
    "full": dict(layers=2, hidden=64, heads=4, seq=64, pre_steps=400, pre_batch=32, ft_steps=100, ft_batch=32,
                 n_eval=32, enc_layers=2, enc_hidden=64, enc_pre_steps=300, enc_steps=60, n_sent=64),
}
#: learning rates of the fine-tuning methods (AdamW)
#: (the whole model moves at 1e-4: Adam's first steps move every weight by about lr, and these
#: small models' weights are ~0.02; the adapters start at zero and take 3e-3)
LR = {"hwa": 1e-4, "distill": 1e-4, "lora": 3e-3}


def gpt2(s: dict):
    import transformers as tf
    cfg = tf.GPT2Config(vocab_size=td.VOCAB_SIZE, n_positions=s["seq"], n_embd=s["hidden"], n_layer=s["layers"],
                        n_head=s["heads"], n_inner=4 * s["hidden"], resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0, use_cache=False, bos_token_id=td.PAD, eos_token_id=td.PAD,
                        pad_token_id=td.PAD)
    return tf.GPT2LMHeadModel(cfg)


def bert(s: dict):
    import transformers as tf
    cfg = tf.BertConfig(vocab_size=td.VOCAB_SIZE, hidden_size=s["enc_hidden"], num_hidden_layers=s["enc_layers"],
                        num_attention_heads=s["heads"], intermediate_size=4 * s["enc_hidden"],
                        max_position_embeddings=s["seq"], type_vocab_size=1, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, pad_token_id=td.PAD)
    return tf.BertForMaskedLM(cfg)


def pretrain(model, batches, steps: int, lr: float = 3e-3) -> float:
    """Digital training (AdamW, linear warm-up, gradient clipping); returns the last loss."""
    opt = torch.optim.AdamW(model.parameters(), lr, weight_decay=0.01)
    model.train()
    loss = torch.tensor(float("nan"))
    for i, b in enumerate(batches):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (i + 1) / max(1, steps // 10))
        loss = model(**b).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return float(loss.detach())


def perplexity(model, batches) -> float:
    tot = n = 0
    with torch.no_grad():
        for b in batches:
            k = int(b["labels"][:, 1:].numel())
            tot += float(model(**b).loss) * k
            n += k
    return math.exp(tot / n)


def mean_std(v: dict) -> dict:
    return {"mean": v["mean"], "std": v["std"], "values": v["values"], "n": v["n"]}


def language_model(args, s: dict, out: Path) -> dict:
    c = td.corpus()
    torch.manual_seed(0)
    model = gpt2(s)
    t0 = time.perf_counter()
    pre_loss = pretrain(model, td.lm_batches(c.train, batch=s["pre_batch"], seq=s["seq"], steps=s["pre_steps"],
                                             seed=0), s["pre_steps"])
    model.eval()
    pre_s = time.perf_counter() - t0
    x = td.windows(c.heldout, s["n_eval"], s["seq"])
    evals = [{"input_ids": x[i:i + 8], "labels": x[i:i + 8]} for i in range(0, len(x), 8)]
    digital = perplexity(model, evals)
    chips = range(100, 100 + args.seeds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = analogc.compile(analogc.trace(model, {"input_ids": x[:2]}), hw=args.hw)
        before = evaluate_deployed(model, plan, evals, chips, "perplexity")
    data = list(td.lm_batches(c.train, batch=s["ft_batch"], seq=s["seq"], steps=s["ft_steps"], seed=1))
    if args.method == "distill":  # unlabeled text: the inputs only
        data = [{"input_ids": b["input_ids"]} for b in data]
    opts = {"target": "logits"} if args.method == "distill" else {"r": 4} if args.method == "lora" else {}
    t0 = time.perf_counter()
    trained, res = analogc.finetune(model, plan, data, method=args.method, steps=s["ft_steps"], lr=LR[args.method],
                                    seed=0, out=out / "train", evaluate=False, progress=not args.quick, **opts)
    ft_s = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # an adapted (peft) model has its own plan: base weights on tiles, adapters digital
        plan_after = plan if args.method != "lora" else \
            analogc.compile(analogc.trace(trained, {"input_ids": x[:2]}), hw=args.hw)
        after = evaluate_deployed(trained, plan_after, evals, chips, "perplexity")
    rm = res.metrics
    return {"digital": {"mean": digital, "std": 0.0}, "digital_after": perplexity(trained.eval(), evals),
            "deployed_before": mean_std(before), "deployed_after": mean_std(after),
            "trainable_params": rm["trainable_params"], "total_params": rm["total_params"], "steps": rm["steps"],
            "pretrain": {"steps": s["pre_steps"], "final_loss": pre_loss, "wall_s": pre_s},
            "finetune_wall_s": ft_s, "metric": "perplexity", "hardware": args.hw, "eval_seeds": list(chips),
            "eval_tokens": int(x[:, 1:].numel()), "corpus_digest": c.digest()}


def encoder(args, s: dict, out: Path) -> dict:
    """Distillation of a small BERT-style encoder's pooled sentence embeddings on pcm-hermes and
    rram: mean cosine (and centered cosine) to the digital embeddings of held-out sentences."""
    from analogc.finetune.methods.distill import pooled_output
    c = td.corpus()
    torch.manual_seed(0)
    mlm = bert(s)
    g = torch.Generator().manual_seed(0)
    pre = (td.mlm_batch(b["input_ids"], prob=0.15, gen=g)
           for b in td.lm_batches(c.train, batch=s["pre_batch"], seq=s["seq"], steps=s["enc_pre_steps"], seed=2))
    pre_loss = pretrain(mlm, pre, s["enc_pre_steps"], lr=1e-3)
    import transformers as tf
    enc = tf.BertModel(mlm.config, add_pooling_layer=False)
    enc.load_state_dict(mlm.bert.state_dict(), strict=False)
    enc.eval()
    held = td.sentences("heldout")
    step = max(1, len(held) // s["n_sent"])
    pick = [held[i * step] for i in range(s["n_sent"])]
    evals = [td.sentence_batch(pick[i:i + 8], s["seq"]) for i in range(0, len(pick), 8)]
    with torch.no_grad():
        ref = torch.cat([pooled_output(enc(**b), b) for b in evals])
    center = ref.mean(0)

    centered: list[float] = []

    def cosine(model, batches) -> float:
        """Mean cosine to the digital embeddings; the centered cosine (both minus the digital
        batch mean: pooled embeddings share one large direction) is kept beside it."""
        with torch.no_grad():
            y = torch.cat([pooled_output(model(**b), b) for b in batches])
        centered.append(float(F.cosine_similarity(y - center, ref - center, dim=-1).mean()))
        return float(F.cosine_similarity(y, ref, dim=-1).mean())

    def both(model, plan) -> dict:
        centered.clear()
        r = evaluate_deployed(model, plan, evals, chips, cosine)
        c = {"mean": statistics.fmean(centered), "std": statistics.pstdev(centered), "values": list(centered),
             "n": len(centered)}
        return {"cosine": mean_std(r), "centered_cosine": c}

    train_sents = td.sentences("train")
    data = list(td.sentence_batches(train_sents, batch=s["ft_batch"], seq=s["seq"], steps=s["enc_steps"], seed=3))
    chips = range(100, 100 + args.seeds)
    rows = {}
    for hw in ("pcm-hermes", "rram"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plan = analogc.compile(analogc.trace(enc, data[0]), hw=hw, **getattr(args, "enc_set", {}))
            before = both(enc, plan)
            trained, res = analogc.finetune(enc, plan, data, method="distill", target="pooled", steps=s["enc_steps"],
                                            lr=LR["distill"], seed=0, out=out / f"encoder-{hw}", evaluate=False,
                                            progress=not args.quick)
            after = both(trained, plan)
        rows[hw] = {"before": before, "after": after,
                    "steps": res.metrics["steps"], "trainable_params": res.metrics["trainable_params"]}
    return {"model": f"BertModel {s['enc_layers']} x {s['enc_hidden']}, masked LM {s['enc_pre_steps']} steps",
            "hardware_overrides": getattr(args, "enc_set", {}),
            "pretrain_final_loss": pre_loss, "eval_sentences": len(pick), "presets": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", choices=("hwa", "distill", "lora"), required=True)
    ap.add_argument("--quick", action="store_true", help="tiny models and runs (seconds; for tests)")
    ap.add_argument("--out", required=True, help="output directory (metrics.json, train/)")
    ap.add_argument("--hw", default="pcm-hermes", help="hardware preset of the language model (default pcm-hermes)")
    ap.add_argument("--seeds", type=int, default=5, help="chip instances for each deployed figure (>= 5)")
    ap.add_argument("--no-encoder", action="store_true", help="distill: skip the encoder part")
    ap.add_argument("--enc-set", action="append", default=[], metavar="KEY=INT",
                    help="distill: a hardware override for the encoder's presets, e.g. weight_bits=4 (repeatable)")
    args = ap.parse_args(argv)
    try:
        try:
            args.enc_set = {k: int(v) for k, v in (kv.split("=", 1) for kv in args.enc_set)}
        except ValueError:
            raise AnalogcError(f"--enc-set: expected KEY=INT, got {args.enc_set}") from None
        if args.seeds < 1:
            raise AnalogcError(f"--seeds: expected a positive integer, got {args.seeds}")
        out = Path(args.out)
        if (out / "metrics.json").exists():
            raise AnalogcError(f"--out {out}: holds another run's metrics.json; choose a new directory")
        out.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(1)  # small models: one thread (two spin against each other on a busy machine)
        s = SIZES["quick" if args.quick else "full"]
        t0 = time.perf_counter()
        m = {"method": args.method, "quick": args.quick, "sizes": s}
        m.update(language_model(args, s, out))
        if args.method == "distill" and not args.no_encoder:
            m["encoder"] = encoder(args, s, out)
        m["wall_s"] = time.perf_counter() - t0
        write_atomic(out / "metrics.json", json_dumps(m, indent=2))
    except AnalogcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    d = m
    print(f"{args.method} on {args.hw}: held-out perplexity digital {d['digital']['mean']:.3f}, deployed "
          f"{d['deployed_before']['mean']:.3f} +- {d['deployed_before']['std']:.3f} -> "
          f"{d['deployed_after']['mean']:.3f} +- {d['deployed_after']['std']:.3f} "
          f"({d['trainable_params']} of {d['total_params']} parameters trained, {d['steps']} steps)")
    for hw, r in d.get("encoder", {}).get("presets", {}).items():
        print(f"encoder on {hw}: pooled cosine {r['before']['cosine']['mean']:.4f} -> {r['after']['cosine']['mean']:.4f}, "
              f"centered {r['before']['centered_cosine']['mean']:.4f} -> {r['after']['centered_cosine']['mean']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
