"""Small transformers trained here on real text, for fidelity tests and benchmarks (no downloads).

A BERT-style encoder (masked LM) and a GPT-2 (causal LM), both Hugging Face ``transformers``
classes, trained for a fixed number of steps on the Python standard library's own source
(code, comments and docstrings), byte by byte. Their weights are cached under
``<repo>/.cache/analogc-tests/`` (or ``$ANALOGC_TEST_CACHE``), keyed by a hash of the model
configuration, the training settings, :data:`CODE_VERSION` and the corpus itself, so a second
run loads them in a second; another Python version (another stdlib) trains its own.

Held-out text comes from other stdlib files than the training text (files are assigned by a
hash of their name), so the fidelity figures are measured on text the models never saw.

Used by ``tests/test_pretrained_fidelity.py``, ``benchmarks/transformer_fidelity.py`` and
``benchmarks/export_pretrained.py``::

    import pretrained                      # tests/ on sys.path
    enc = pretrained.encoder()             # BertModel, eval mode (trained or from the cache)
    dec = pretrained.decoder()             # GPT2LMHeadModel, eval mode
    rows = pretrained.fidelity(["ideal", "pcm-hermes"])
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

# the fine-tuning text's files and split (one definition, in the package)
from analogc.finetune.textdata import split_of as _split, stdlib_files

#: bump when the training code changes in a way that changes the weights
CODE_VERSION = 1

REPO = Path(__file__).resolve().parent.parent
PAD, MASK = 256, 257          # byte-level vocabulary: 256 bytes, then the two special tokens
VOCAB = 258
SEQ = 128                     # tokens per sequence (bytes)
UNIFORM_BYTE_PPL = 256.0      # perplexity of a model that knows nothing (uniform over bytes)


# ---------------------------------------------------------------------------------------------
# tokenizer and corpus


def encode(text: str) -> torch.Tensor:
    """Byte-level tokens of ``text`` (UTF-8), int64."""
    return torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8).long()


def decode(ids: torch.Tensor) -> str:
    return bytes(int(i) for i in ids if int(i) < 256).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Corpus:
    train: torch.Tensor          # 1-D byte tokens
    heldout: torch.Tensor
    train_files: tuple[str, ...]
    heldout_files: tuple[str, ...]

    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(self.train.numpy().astype("uint8").tobytes())
        h.update(self.heldout.numpy().astype("uint8").tobytes())
        return h.hexdigest()[:16]


_CORPUS: Corpus | None = None


def corpus(max_train_bytes: int = 3_000_000, max_heldout_bytes: int = 400_000) -> Corpus:
    """Training and held-out text: the stdlib files of each split, concatenated in name order
    (each file preceded by a line with its name), cut at the byte budgets."""
    global _CORPUS
    if _CORPUS is not None:
        return _CORPUS
    parts: dict[str, list[str]] = {"train": [], "heldout": []}
    names: dict[str, list[str]] = {"train": [], "heldout": []}
    size = {"train": 0, "heldout": 0}
    cap = {"train": max_train_bytes, "heldout": max_heldout_bytes}
    for p in stdlib_files():
        s = _split(p)
        if size[s] >= cap[s]:
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        text = f"# file: {p.name}\n{text}\n"
        parts[s].append(text)
        names[s].append(p.name)
        size[s] += len(text.encode("utf-8"))
    tr = encode("".join(parts["train"]))[:max_train_bytes]
    ho = encode("".join(parts["heldout"]))[:max_heldout_bytes]
    _CORPUS = Corpus(tr, ho, tuple(names["train"]), tuple(names["heldout"]))
    return _CORPUS


def chunks(tokens: torch.Tensor, n: int, seq: int = SEQ, offset: int = 0) -> torch.Tensor:
    """``n`` sequences of ``seq`` tokens taken at evenly spaced positions of ``tokens``
    (deterministic), [n, seq]."""
    span = len(tokens) - seq - 1 - offset
    starts = [offset + (i * span) // max(n, 1) for i in range(n)]
    return torch.stack([tokens[s:s + seq] for s in starts])


def heldout_batch(n: int = 16, seq: int = SEQ) -> torch.Tensor:
    """The fidelity evaluation sequences: ``n`` windows of held-out text, [n, seq]."""
    return chunks(corpus().heldout, n, seq)


def calibration_batch(n: int = 8, seq: int = SEQ) -> torch.Tensor:
    """The one calibration batch: ``n`` windows of training text (not the held-out text)."""
    return chunks(corpus().train, n, seq, offset=SEQ // 2)


# ---------------------------------------------------------------------------------------------
# models


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 300
    batch: int = 32
    lr: float = 2e-3
    warmup: int = 30
    weight_decay: float = 0.01
    clip: float = 1.0
    mask_prob: float = 0.15      # masked-LM only
    seed: int = 0
    threads: int = 2


@dataclass(frozen=True)
class Spec:
    """One model to train: ``kind`` is 'encoder' (BERT, masked LM) or 'decoder' (GPT-2)."""
    kind: str
    layers: int = 4
    hidden: int = 128
    heads: int = 4
    ffn: int = 512
    train: TrainSettings = field(default_factory=TrainSettings)

    def hf_config(self):
        import transformers as tf
        if self.kind == "encoder":
            return tf.BertConfig(vocab_size=VOCAB, hidden_size=self.hidden, num_hidden_layers=self.layers,
                                 num_attention_heads=self.heads, intermediate_size=self.ffn,
                                 hidden_act="gelu", max_position_embeddings=SEQ, type_vocab_size=1,
                                 hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                 pad_token_id=PAD, layer_norm_eps=1e-12)
        if self.kind == "decoder":
            return tf.GPT2Config(vocab_size=VOCAB, n_positions=SEQ, n_embd=self.hidden, n_layer=self.layers,
                                 n_head=self.heads, n_inner=self.ffn, activation_function="gelu_new",
                                 resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, use_cache=False,
                                 bos_token_id=PAD, eos_token_id=PAD, pad_token_id=PAD)
        raise ValueError(f"Spec.kind: expected 'encoder' or 'decoder', got {self.kind!r}")


#: the masked LM learns from 25% of its positions only and must learn to attend to its
#: neighbours before it leaves the unigram plateau (3.16 nats): more, smaller steps
ENCODER = Spec("encoder", train=TrainSettings(steps=400, batch=16, lr=1e-3, warmup=50, mask_prob=0.25))
DECODER = Spec("decoder")


def _build(spec: Spec):
    """The training model: BertForMaskedLM or GPT2LMHeadModel, freshly initialised (seeded)."""
    import transformers as tf
    torch.manual_seed(spec.train.seed)
    cfg = spec.hf_config()
    model = tf.BertForMaskedLM(cfg) if spec.kind == "encoder" else tf.GPT2LMHeadModel(cfg)
    return model


def cache_dir() -> Path:
    return Path(os.environ.get("ANALOGC_TEST_CACHE") or REPO / ".cache" / "analogc-tests")


def cache_key(spec: Spec) -> str:
    import transformers as tf
    blob = json.dumps({"spec": asdict(spec), "code": CODE_VERSION, "corpus": corpus().digest(),
                       "seq": SEQ, "vocab": VOCAB, "torch": torch.__version__.split("+")[0],
                       "transformers": tf.__version__}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _mlm_inputs(x: torch.Tensor, g: torch.Generator, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: ``p`` of the positions predicted; of those 80% [MASK], 10% a random byte,
    10% kept. Labels -100 elsewhere."""
    sel = torch.rand(x.shape, generator=g) < p
    labels = torch.where(sel, x, torch.full_like(x, -100))
    r = torch.rand(x.shape, generator=g)
    inp = x.clone()
    inp[sel & (r < 0.8)] = MASK
    rnd = sel & (r >= 0.8) & (r < 0.9)
    inp[rnd] = torch.randint(0, 256, (int(rnd.sum()),), generator=g)
    return inp, labels


def _loss(model, spec: Spec, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    if spec.kind == "encoder":
        inp, labels = _mlm_inputs(x, g, spec.train.mask_prob)
        logits = model(input_ids=inp).logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    logits = model(input_ids=x).logits
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))


@torch.no_grad()
def heldout_loss(model, spec: Spec, n: int = 64) -> float:
    """The digital model's own held-out loss (nats per predicted byte): masked-LM loss for the
    encoder (fixed masking draw), next-byte loss for the decoder."""
    model.eval()
    x = chunks(corpus().heldout, n)
    g = torch.Generator().manual_seed(1234)
    out = []
    for i in range(0, n, 16):
        out.append(float(_loss(model, spec, x[i:i + 16], g)))
    return sum(out) / len(out)


def train(spec: Spec, log: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train ``spec`` from its seed: AdamW, linear warmup then cosine decay, gradient clipping,
    random windows of the training text. Returns (state_dict, info)."""
    t = spec.train
    threads = torch.get_num_threads()
    torch.set_num_threads(t.threads)
    try:
        model = _build(spec).train()
        toks = corpus().train
        g = torch.Generator().manual_seed(t.seed + 1)
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embeddings" not in n and "wte" not in n
                 and "wpe" not in n]
        other = [p for n, p in model.named_parameters() if not any(p is q for q in decay)]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": t.weight_decay},
                                 {"params": other, "weight_decay": 0.0}], lr=t.lr, betas=(0.9, 0.98))

        def lr_at(step: int) -> float:
            if step < t.warmup:
                return (step + 1) / t.warmup
            prog = (step - t.warmup) / max(1, t.steps - t.warmup)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
        t0 = time.perf_counter()
        losses = []
        for step in range(t.steps):
            idx = torch.randint(0, len(toks) - SEQ - 1, (t.batch,), generator=g)
            x = torch.stack([toks[i:i + SEQ] for i in idx.tolist()])
            loss = _loss(model, spec, x, g)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.clip)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            if log and (step % 50 == 0 or step == t.steps - 1):
                print(f"  {spec.kind} step {step:4d} loss {loss:.3f} ({time.perf_counter() - t0:.0f} s)",
                      file=sys.stderr, flush=True)
        train_s = time.perf_counter() - t0
        model.eval()
        info = {"train_s": round(train_s, 1), "final_train_loss": sum(losses[-20:]) / len(losses[-20:]),
                "heldout_loss": heldout_loss(model, spec), "params": sum(p.numel() for p in model.parameters()),
                "tokens_seen": t.steps * t.batch * SEQ, "train_bytes": len(toks)}
        return {k: v.detach().clone() for k, v in model.state_dict().items()}, info
    finally:
        torch.set_num_threads(threads)


def trained(spec: Spec, log: bool = False) -> tuple[Any, dict[str, Any]]:
    """The trained training model (BertForMaskedLM / GPT2LMHeadModel, eval mode) and its info,
    from the cache when present, else trained and cached (atomically)."""
    path = cache_dir() / f"{spec.kind}-{cache_key(spec)}.pt"
    blob = None
    if path.exists():
        try:
            blob = torch.load(path, weights_only=True)
        except Exception:  # a damaged cache file: train again
            blob = None
    if blob is None:
        sd, info = train(spec, log=log)
        info["cache_key"] = cache_key(spec)
        blob = {"state_dict": sd, "info": info}
        _atomic_save(blob, path)
    model = _build(spec)
    model.load_state_dict(blob["state_dict"])
    model.eval()
    info = dict(blob["info"])
    info["cache_file"] = str(path)
    return model, info


def encoder(spec: Spec = ENCODER, log: bool = False):
    """The trained encoder body (BertModel without a pooler: the sentence-embedding model)."""
    import transformers as tf
    mlm, _ = trained(spec, log=log)
    body = tf.BertModel(spec.hf_config(), add_pooling_layer=False)
    body.load_state_dict(mlm.bert.state_dict())
    return body.eval()


def decoder(spec: Spec = DECODER, log: bool = False):
    """The trained GPT2LMHeadModel, eval mode."""
    return trained(spec, log=log)[0]


# ---------------------------------------------------------------------------------------------
# fidelity


def pooled(model, x: torch.Tensor, chunk: int = 8) -> torch.Tensor:
    """Mean-pooled last hidden states of an encoder, [n, hidden] (no padding: plain mean)."""
    with torch.no_grad():
        return torch.cat([model(input_ids=x[i:i + chunk]).last_hidden_state.mean(1)
                          for i in range(0, len(x), chunk)])


def perplexity(model, x: torch.Tensor, chunk: int = 8) -> float:
    """exp(mean next-byte cross-entropy) of a causal LM on ``x``."""
    tot, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), chunk):
            b = x[i:i + chunk]
            logits = model(input_ids=b).logits[:, :-1]
            tot += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b[:, 1:].reshape(-1),
                                         reduction="sum"))
            n += b[:, 1:].numel()
    return math.exp(tot / n)


def analog_presets() -> list[str]:
    """Every shipped preset that is not a digital baseline, as the package lists them."""
    import hw_models
    return [p for p in hw_models.presets() if p not in set(hw_models.baselines())]


@dataclass
class Settings:
    """How fidelity is measured (recorded beside the figures)."""
    seed: int = 0                 # deploy seed
    n_eval: int = 16              # held-out sequences
    n_calib: int = 8              # sequences in the one calibration batch
    seq: int = SEQ
    threads: int = 2


def encoder_fidelity(enc, preset: str, s: Settings, ref: torch.Tensor | None = None) -> dict[str, float]:
    """After one deploy call with one calibration batch: the mean cosine between the analog and
    the digital mean-pooled embeddings of the held-out sequences ("cosine"), and the same with
    the digital batch mean subtracted from both ("centered_cosine"; pooled embeddings of
    different texts share a large common direction, which the plain cosine rewards)."""
    import analogc
    x = heldout_batch(s.n_eval, s.seq)
    if ref is None:
        ref = pooled(enc, x)
    a = analogc.deploy(enc, preset, seed=s.seed, calibration=[{"input_ids": calibration_batch(s.n_calib, s.seq)}])
    y, c = pooled(a, x), ref.mean(0)
    return {"cosine": float(F.cosine_similarity(y, ref, dim=-1).mean()),
            "centered_cosine": float(F.cosine_similarity(y - c, ref - c, dim=-1).mean())}


def decoder_perplexity(dec, preset: str, s: Settings) -> float:
    """Held-out perplexity of the GPT-2 after one deploy call with one calibration batch."""
    import analogc
    a = analogc.deploy(dec, preset, seed=s.seed, calibration=[{"input_ids": calibration_batch(s.n_calib, s.seq)}])
    return perplexity(a, heldout_batch(s.n_eval, s.seq))


def with_train_seed(spec: Spec, seed: int) -> Spec:
    """``spec`` trained from another seed (initialisation and data order)."""
    return replace(spec, train=replace(spec.train, seed=seed))


def fidelity(presets: list[str] | None = None, s: Settings | None = None, log: bool = False,
             specs: tuple[Spec, Spec] = (ENCODER, DECODER)) -> dict[str, Any]:
    """Per preset: encoder cosines, decoder perplexity and its ratio to the digital one, plus the
    digital perplexity and the seconds spent (encoder, decoder: deploy, calibration and
    evaluation)."""
    import warnings
    s = s or Settings()
    presets = presets or analog_presets()
    threads = torch.get_num_threads()
    torch.set_num_threads(s.threads)
    try:
        enc, dec = encoder(specs[0], log=log), decoder(specs[1], log=log)
        x = heldout_batch(s.n_eval, s.seq)
        ref = pooled(enc, x)
        digital_ppl = perplexity(dec, x)
        rows = {}
        for p in presets:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                e = encoder_fidelity(enc, p, s, ref)
                t1 = time.perf_counter()
                ppl = decoder_perplexity(dec, p, s)
            t2 = time.perf_counter()
            rows[p] = {"encoder_cosine": e["cosine"], "encoder_centered_cosine": e["centered_cosine"],
                       "decoder_perplexity": ppl, "decoder_perplexity_ratio": ppl / digital_ppl,
                       "seconds": [round(t1 - t0, 1), round(t2 - t1, 1)]}
            if log:
                print(f"  {p:15s} cosine {e['cosine']:.4f} (centered {e['centered_cosine']:.4f})  perplexity "
                      f"{ppl:.3f}  ({t1 - t0:.0f} s + {t2 - t1:.0f} s)", file=sys.stderr, flush=True)
        return {"digital_perplexity": digital_ppl, "presets": rows}
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# outlier input channels


@torch.no_grad()
def layernorm_outliers(model, x: torch.Tensor) -> dict[str, dict[str, float]]:
    """Per LayerNorm output (the input of the next Linear layers): per-channel max |x| over all
    tokens of ``x``; reports the largest channel max over the median channel max ('ratio'),
    the channel it is on, and how many channels exceed 6x the median."""
    stats: dict[str, torch.Tensor] = {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.LayerNorm):
            def hook(mod, inp, out, name=name):
                a = out.detach().abs().reshape(-1, out.shape[-1]).amax(0)
                stats[name] = a if name not in stats else torch.maximum(stats[name], a)
            hooks.append(m.register_forward_hook(hook))
    try:
        for i in range(0, len(x), 8):
            model(input_ids=x[i:i + 8])
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for name, a in stats.items():
        med = float(a.median())
        out[name] = {"ratio": float(a.max()) / med, "channel": int(a.argmax()),
                     "n_over_6x": int((a > 6 * med).sum()), "median_max": med, "max": float(a.max())}
    return out


def outlier_summary(n: int = 16) -> dict[str, Any]:
    """LayerNorm-output outlier ratios of the trained encoder and decoder, and of the same
    architectures at initialisation (the reference a ratio is read against)."""
    import transformers as tf
    x = heldout_batch(n)
    res = {}
    for spec, model in ((ENCODER, encoder()), (DECODER, decoder())):
        torch.manual_seed(spec.train.seed)
        init = (tf.BertModel(spec.hf_config(), add_pooling_layer=False) if spec.kind == "encoder"
                else tf.GPT2LMHeadModel(spec.hf_config())).eval()
        res[spec.kind] = {"trained": layernorm_outliers(model, x), "init": layernorm_outliers(init, x)}
    return res


# ---------------------------------------------------------------------------------------------
# export for runs outside analogc (aihwkit on the same weights)


def export(path: Path | None = None, s: Settings | None = None) -> Path:
    """Write the trained encoder (BertModel) and decoder (GPT2LMHeadModel), their configs, the
    calibration and held-out batches and the digital references to ``path`` (.pt) and an .npz
    beside it. See benchmarks/export_pretrained.py."""
    import numpy as np
    s = s or Settings()
    path = Path(path) if path else cache_dir() / "export" / "pretrained_transformers.pt"
    enc, dec = encoder(), decoder()
    _, enc_info = trained(ENCODER)
    _, dec_info = trained(DECODER)
    x, cal = heldout_batch(s.n_eval, s.seq), calibration_batch(s.n_calib, s.seq)
    blob = {
        "encoder": {"class": "BertModel", "config": enc.config.to_dict(), "state_dict": enc.state_dict(),
                    "heldout_loss": enc_info["heldout_loss"]},
        "decoder": {"class": "GPT2LMHeadModel", "config": dec.config.to_dict(), "state_dict": dec.state_dict(),
                    "heldout_loss": dec_info["heldout_loss"]},
        "calibration_input_ids": cal, "heldout_input_ids": x,
        "digital_pooled": pooled(enc, x), "digital_perplexity": perplexity(dec, x),
        "settings": asdict(s),
    }
    _atomic_save(blob, path)
    arrays = {f"{k}/{n}": v.numpy() for k in ("encoder", "decoder") for n, v in blob[k]["state_dict"].items()}
    arrays.update(calibration_input_ids=cal.numpy(), heldout_input_ids=x.numpy(),
                  digital_pooled=blob["digital_pooled"].numpy(),
                  digital_perplexity=np.array(blob["digital_perplexity"]),
                  encoder_config_json=np.array(json.dumps(blob["encoder"]["config"])),
                  decoder_config_json=np.array(json.dumps(blob["decoder"]["config"])))
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path.with_suffix(".npz"))
    return path


def load_exported(path: Path | str) -> dict[str, Any]:
    """An exported file with the models rebuilt: {"encoder": BertModel, "decoder":
    GPT2LMHeadModel, ...the rest of the file}, models in eval mode."""
    import transformers as tf
    blob = torch.load(path, weights_only=False)
    out = dict(blob)
    enc = tf.BertModel(tf.BertConfig.from_dict(blob["encoder"]["config"]), add_pooling_layer=False)
    enc.load_state_dict(blob["encoder"]["state_dict"])
    dec = tf.GPT2LMHeadModel(tf.GPT2Config.from_dict(blob["decoder"]["config"]))
    dec.load_state_dict(blob["decoder"]["state_dict"])
    out["encoder"], out["decoder"] = enc.eval(), dec.eval()
    return out
