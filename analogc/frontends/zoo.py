"""Named model configurations, built on the meta device (no weights, no download).

Transformers are traced with ONE block and the block is replicated ``n_layers`` times in
the IR (:func:`analogc.ir.repeat_block`): the blocks are identical, so this gives the same
graph as tracing the whole model at a fraction of the time and memory.

Configurations are the published ones: GPT-2 (Radford et al. 2019, the Hugging Face
``gpt2*`` configs), BERT (Devlin et al. 2019), ViT-B/16 (Dosovitskiy et al. 2021),
Llama 2 7B (Touvron et al. 2023), Llama 3 8B/70B (Meta, "The Llama 3 Herd of Models", 2024).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from analogc.errors import AnalogcError
from analogc.ir import Graph, repeat_block


class MLP(nn.Module):
    """A small MNIST-sized multilayer perceptron: 784 → 256 → 256 → 10."""

    def __init__(self, sizes: tuple[int, ...] = (784, 256, 256, 10)):
        super().__init__()
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class CNN(nn.Module):
    """A small CIFAR-sized CNN: two conv blocks and a classifier (3×32×32 → 10)."""

    def __init__(self, channels: tuple[int, int] = (32, 64), classes: int = 10):
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(3, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(c2 * 8 * 8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


@dataclass(frozen=True)
class ZooEntry:
    name: str
    family: str  # "gpt2" | "bert" | "vit" | "llama" | "mlp" | "cnn"
    description: str
    config: dict[str, Any] = field(default_factory=dict)
    default_seq_len: int = 0  # tokens (0 for non-sequence models)


_GPT2 = dict(vocab_size=50257, n_positions=1024)
_LLAMA3 = dict(vocab_size=128256, rope_theta=500000.0, max_position_embeddings=8192, rms_norm_eps=1e-5)

ZOO: dict[str, ZooEntry] = {e.name: e for e in [
    ZooEntry("gpt2", "gpt2", "GPT-2 small, 124M", dict(_GPT2, n_layer=12, n_embd=768, n_head=12), 1024),
    ZooEntry("gpt2-medium", "gpt2", "GPT-2 medium, 355M", dict(_GPT2, n_layer=24, n_embd=1024, n_head=16), 1024),
    ZooEntry("gpt2-large", "gpt2", "GPT-2 large, 774M", dict(_GPT2, n_layer=36, n_embd=1280, n_head=20), 1024),
    ZooEntry("gpt2-xl", "gpt2", "GPT-2 XL, 1.5B", dict(_GPT2, n_layer=48, n_embd=1600, n_head=25), 1024),
    ZooEntry("bert-base", "bert", "BERT base, 110M", dict(hidden_size=768, num_hidden_layers=12,
             num_attention_heads=12, intermediate_size=3072, vocab_size=30522,
             max_position_embeddings=512), 512),
    ZooEntry("bert-large", "bert", "BERT large, 340M", dict(hidden_size=1024, num_hidden_layers=24,
             num_attention_heads=16, intermediate_size=4096, vocab_size=30522,
             max_position_embeddings=512), 512),
    ZooEntry("vit-base", "vit", "ViT-B/16 at 224×224, 86M", dict(hidden_size=768, num_hidden_layers=12,
             num_attention_heads=12, intermediate_size=3072, image_size=224, patch_size=16), 0),
    ZooEntry("llama-2-7b", "llama", "Llama 2 7B", dict(hidden_size=4096, intermediate_size=11008,
             num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
             vocab_size=32000, max_position_embeddings=4096, rms_norm_eps=1e-5), 2048),
    ZooEntry("llama-3-8b", "llama", "Llama 3 8B", dict(_LLAMA3, hidden_size=4096, intermediate_size=14336,
             num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8), 2048),
    ZooEntry("llama-3-70b", "llama", "Llama 3 70B", dict(_LLAMA3, hidden_size=8192, intermediate_size=28672,
             num_hidden_layers=80, num_attention_heads=64, num_key_value_heads=8), 2048),
    ZooEntry("mlp", "mlp", "MLP 784-256-256-10 (MNIST-sized)", dict(sizes=(784, 256, 256, 10))),
    ZooEntry("cnn", "cnn", "CNN 2×conv + linear, 3×32×32 input (CIFAR-sized)", dict(channels=(32, 64))),
]}

#: layer-count key and decoder flag per family
_BLOCKS = {
    "gpt2": ("n_layer", True),
    "bert": ("num_hidden_layers", False),
    "vit": ("num_hidden_layers", False),
    "llama": ("num_hidden_layers", True),
}


def block_path(model: nn.Module) -> str:
    """Module path of the first repeated block: item 0 of the ModuleList holding most
    parameters (``transformer.h.0``, ``model.layers.0``; robust to renames across
    transformers versions)."""
    best, size = None, -1
    for path, mod in model.named_modules():
        if isinstance(mod, nn.ModuleList) and len(mod):
            n = sum(p.numel() for p in mod.parameters())
            if n > size:
                best, size = path, n
    if best is None:
        raise AnalogcError(f"{type(model).__name__}: no repeated block (ModuleList) found")
    return f"{best}.0"


def names() -> list[str]:
    return list(ZOO)


def get(name: str) -> ZooEntry:
    if name not in ZOO:
        raise AnalogcError(f"unknown model {name!r}: expected one of {', '.join(ZOO)} "
                           f"(see `analogc models`), a .onnx file or module:factory")
    return ZOO[name]


def _hf(entry: ZooEntry, layers: int | None) -> tuple[nn.Module, Any]:
    import transformers as tf
    cfg_cls, model_cls = {
        "gpt2": (tf.GPT2Config, tf.GPT2LMHeadModel),
        "bert": (tf.BertConfig, tf.BertModel),
        "vit": (tf.ViTConfig, tf.ViTModel),
        "llama": (tf.LlamaConfig, tf.LlamaForCausalLM),
    }[entry.family]
    kw = dict(entry.config)
    if layers is not None:
        kw[_BLOCKS[entry.family][0]] = layers
    cfg = cfg_cls(**kw)
    cfg._attn_implementation = "eager"
    return model_cls, cfg


def build(name: str, device: str | torch.device = "meta", layers: int | None = None) -> nn.Module:
    """The zoo model ``name``; on the meta device (no weights) unless ``device`` says otherwise.

    Example::

        m = build("gpt2")                     # 124M parameters, none allocated
        m = build("mlp", device="cpu")        # a real, randomly initialised MLP
    """
    e = get(name)
    with torch.device(device):
        if e.family == "mlp":
            return MLP(**e.config)
        if e.family == "cnn":
            return CNN(**e.config)
        model_cls, cfg = _hf(e, layers)
        return model_cls(cfg).eval()


def example_inputs(name: str, seq_len: int | None = None, batch: int = 1,
                   device: str | torch.device = "meta") -> Any:
    """Inputs of the right shape for zoo model ``name`` (token ids, pixels or images)."""
    e = get(name)
    _check_positive("batch", batch)
    if e.family == "mlp":
        return (torch.zeros(batch, e.config["sizes"][0], device=device),)
    if e.family in ("cnn",):
        return (torch.zeros(batch, 3, 32, 32, device=device),)
    if e.family == "vit":
        s = e.config["image_size"]
        return {"pixel_values": torch.zeros(batch, 3, s, s, device=device)}
    t = e.default_seq_len if seq_len is None else seq_len
    _check_positive("seq_len", t)
    limit = e.config.get("n_positions") or e.config.get("max_position_embeddings")
    if limit and t > limit:
        raise AnalogcError(f"seq_len: {name} takes at most {limit} tokens, got {t}")
    return {"input_ids": torch.zeros(batch, t, dtype=torch.long, device=device)}


def _check_positive(field_name: str, v: Any) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise AnalogcError(f"{field_name}: expected a positive integer, got {v!r}")


def trace(name: str, seq_len: int | None = None, batch: int = 1) -> Graph:
    """Trace zoo model ``name`` on the meta device; transformers trace one block and repeat it."""
    from analogc.frontends.torch import trace_module

    if is_scaled_spec(name):
        return trace_scaled(name, seq_len, batch)
    e = get(name)
    inputs = example_inputs(name, seq_len, batch)
    if e.family in _BLOCKS:
        key, decoder = _BLOCKS[e.family]
        n_layers = e.config[key]
        one = build(name, layers=1)
        block = block_path(one)
        g1 = trace_module(one, inputs, name=name)
        g = repeat_block(g1, block, n_layers, block)
    else:
        g = trace_module(build(name), inputs, name=name)
        decoder, n_layers = False, 0
    g.source = f"zoo:{name}"
    g.meta.update(_shape_meta(e, inputs, decoder, n_layers))
    return g


def _shape_meta(e: ZooEntry, inputs: Any, decoder: bool, n_layers: int) -> dict[str, Any]:
    """Model dimensions the estimator needs (prefill/decode, K/V cache size)."""
    return {"zoo": e.name, "family": e.family, **shape_meta(e.config, inputs, decoder, n_layers)}


def shape_meta(c: dict[str, Any], inputs: Any, decoder: bool, n_layers: int) -> dict[str, Any]:
    """Batch, sequence and transformer dimensions from a (Hugging Face style) config dict."""
    x = inputs.get("input_ids") if isinstance(inputs, dict) else None
    meta: dict[str, Any] = {"decoder": decoder, "n_layers": n_layers}
    first = x if x is not None else (next(iter(inputs.values()), None) if isinstance(inputs, dict)
                                     else inputs[0] if isinstance(inputs, (tuple, list)) and inputs
                                     else inputs)
    if x is not None and x.dim() == 2:
        meta.update(batch=int(x.shape[0]), seq_len=int(x.shape[1]))
    elif isinstance(first, torch.Tensor) and first.dim():
        meta.update(batch=int(first.shape[0]))
    d = c.get("n_embd") or c.get("hidden_size")
    heads = c.get("n_head") or c.get("num_attention_heads")
    if d and heads:
        meta.update(d_model=d, n_heads=heads, head_dim=c.get("head_dim") or d // heads,
                    n_kv_heads=c.get("num_key_value_heads") or heads,
                    d_ff=c.get("intermediate_size") or c.get("n_inner") or 4 * d,
                    vocab=c.get("vocab_size"))
    return meta


def hf_meta(model: nn.Module, inputs: Any) -> dict[str, Any]:
    """:func:`shape_meta` for a user's Hugging Face model; decoder LLMs (``*ForCausalLM``,
    ``*LMHeadModel``) get prefill/decode estimates like the zoo's."""
    cfg = getattr(model, "config", None)
    if cfg is None or not hasattr(cfg, "to_dict"):
        return {}
    c = cfg.to_dict()
    name = type(model).__name__
    decoder = (not c.get("is_encoder_decoder")) and (
        name.endswith("ForCausalLM") or name.endswith("LMHeadModel") or bool(c.get("is_decoder")))
    n_layers = c.get("num_hidden_layers") or c.get("n_layer") or 0
    return shape_meta(c, inputs, decoder, int(n_layers))


# -- scaled GPT-2-style decoders ---------------------------------------------------------
#: prefix of a zoo-style name for :func:`scaled_transformer`: ``gpt-scaled:d=4096,L=48,T=2048``
SCALED_PREFIX = "gpt-scaled:"
_SCALED_KEYS = {"d": "d_model", "L": "n_layers", "T": "seq_len", "ff": "d_ff", "H": "n_heads",
                "V": "vocab"}
_SCALED_DEFAULT_T = 1024  # GPT-2's context, when neither the spec nor seq_len gives one


def is_scaled_spec(name: Any) -> bool:
    """True for ``gpt-scaled:...`` names (parsed by :func:`parse_scaled_spec`)."""
    return isinstance(name, str) and name.startswith(SCALED_PREFIX)


def parse_scaled_spec(spec: str) -> dict[str, int]:
    """``"gpt-scaled:d=4096,L=48,T=2048"`` -> ``{"d_model": 4096, "n_layers": 48, "seq_len": 2048}``.

    Keys: ``d`` (d_model), ``L`` (layers), ``T`` (tokens, optional), ``ff`` (d_ff, default
    4·d), ``H`` (heads, default d/128), ``V`` (vocabulary, default 50257). A bad spec raises
    one-line :class:`AnalogcError` naming the field.
    """
    body = spec[len(SCALED_PREFIX):] if is_scaled_spec(spec) else spec
    out: dict[str, int] = {}
    for part in (p.strip() for p in body.split(",")):
        if not part:
            continue
        k, sep, v = part.partition("=")
        k, v = k.strip(), v.strip()
        if not sep or k not in _SCALED_KEYS:
            raise AnalogcError(f"model {spec!r}: unknown field {k!r}; expected "
                               f"{', '.join(f'{x}=INT' for x in _SCALED_KEYS)} (e.g. "
                               f"{SCALED_PREFIX}d=4096,L=48,T=2048)")
        try:
            n = int(float(v)) if ("e" in v.lower() and float(v).is_integer()) else int(v)
        except ValueError:
            raise AnalogcError(f"model {spec!r}: {k}: expected a positive integer, got {v!r}") from None
        if n < 1:
            raise AnalogcError(f"model {spec!r}: {k}: expected a positive integer, got {v!r}")
        out[_SCALED_KEYS[k]] = n
    for k in ("d", "L"):
        if _SCALED_KEYS[k] not in out:
            raise AnalogcError(f"model {spec!r}: {k}: missing (e.g. {SCALED_PREFIX}d=4096,L=48,T=2048)")
    return out


def scaled_name(d_model: int, n_layers: int, seq_len: int) -> str:
    return f"gpt-d{d_model}-L{n_layers}-T{seq_len}"


def scaled_transformer(d_model: int, n_layers: int, seq_len: int, *, d_ff: int | None = None,
                       n_heads: int | None = None, vocab: int = 50257, batch: int = 1) -> Graph:
    """A GPT-2-style decoder of any size, traced on the meta device (one block, repeated).

    ``d_ff`` defaults to 4·d and ``n_heads`` to d/128 (head dim 128; one head below d = 128),
    as in the scaling studies of Anderson et al. (arXiv 2302.10360), whose largest models
    reach 10^19 MACs per inference. MACs: 12·L·d²·T + 2·L·T²·d (attention) + T·d·vocab
    (LM head) for d_ff = 4·d and batch 1.

    Example::

        >>> g = scaled_transformer(256, 2, 16)
        >>> g.name, g.summary()["macs"] == 12*2*256**2*16 + 2*2*16**2*256 + 16*256*50257
        ('gpt-d256-L2-T16', True)
    """
    import transformers as tf

    from analogc.frontends.torch import trace_module

    for f, v in (("d_model", d_model), ("n_layers", n_layers), ("seq_len", seq_len),
                 ("vocab", vocab), ("batch", batch)):
        _check_positive(f, v)
    d_ff = 4 * d_model if d_ff is None else d_ff
    _check_positive("d_ff", d_ff)
    if n_heads is None:
        n_heads = d_model // 128 if d_model % 128 == 0 else 1
    _check_positive("n_heads", n_heads)
    if d_model % n_heads:
        raise AnalogcError(f"n_heads: must divide d_model={d_model}, got {n_heads}")
    config = dict(vocab_size=vocab, n_positions=seq_len, n_embd=d_model, n_layer=n_layers,
                  n_head=n_heads, n_inner=d_ff)
    cfg = tf.GPT2Config(**dict(config, n_layer=1))
    cfg._attn_implementation = "eager"
    name = scaled_name(d_model, n_layers, seq_len)
    with torch.device("meta"):
        one = tf.GPT2LMHeadModel(cfg).eval()
    inputs = {"input_ids": torch.zeros(batch, seq_len, dtype=torch.long, device="meta")}
    block = block_path(one)
    g = repeat_block(trace_module(one, inputs, name=name), block, n_layers, block)
    g.source = f"zoo:{SCALED_PREFIX}d={d_model},L={n_layers},T={seq_len}"
    g.meta.update({"zoo": name, "family": "gpt2", **shape_meta(config, inputs, True, n_layers)})
    return g


def trace_scaled(spec: str, seq_len: int | None = None, batch: int = 1) -> Graph:
    """Trace a ``gpt-scaled:...`` name; ``T`` in the spec wins over ``seq_len``."""
    kw = parse_scaled_spec(spec)
    T = kw.pop("seq_len", None) or seq_len or _SCALED_DEFAULT_T
    return scaled_transformer(kw.pop("d_model"), kw.pop("n_layers"), T, batch=batch, **kw)
