"""Model families for scaling sweeps: one size number (the target MACs per inference) ->
one model configuration along a published scaling rule, traced on the meta device.

A family maps a target number of MACs per inference to the configuration of its rule whose
analytic MAC count is nearest (in log) to it, then builds that model from a config on the
meta device (no weights) and traces it (one block, repeated, as the zoo does). The traced
graph's own MAC count is what the sweep reports (``macs``); the target is ``size``.

Rules (``FAMILIES[name].rule`` says the same):

* ``gpt``: GPT-2/GPT-3 decoders (``analogc.frontends.zoo.scaled_transformer``, d_ff = 4d,
  head dim 128, vocabulary 50257). Aspect ratio d_model / n_layer = 128 and context 2048,
  the GPT-3 configurations of 6.7B-175B (Brown et al. 2020, Table 2.1: 4096/32, 5140/40,
  12288/96); Kaplan et al. 2020 (Sec. 3.1, Fig. 5) find the loss within a few per cent over
  aspect ratios 20-200, so one ratio stands for the family. Depth stops growing at 128
  layers (modelling choice: the deepest published dense models have 105-118 layers,
  MT-NLG 530B and PaLM 540B, Chowdhery et al. 2022 Table 1) and width grows beyond, which
  reaches 10^19 MACs per inference at ~5e15 parameters. Below one layer of d = 128 at 2048
  tokens the context halves down to one token, then the width down to 16 (one head).
* ``llama``: Llama 2 decoders (Touvron et al. 2023, Table 1 / model card: 7B 4096/32,
  13B 5120/40 -> d/L = 128; SwiGLU d_ff = 8d/3 rounded up to a multiple of 256, 7B: 11008;
  head dim 128, vocabulary 32000, context 4096), the same depth cap and small end as ``gpt``.
* ``vit``: ViT encoders (Dosovitskiy et al. 2021, Table 1: ViT-B/L/H with d/L = 64, 42.7, 40,
  head dim 64 (B: 768/12), MLP 4d, patch 16 at 224x224 = 197 tokens). Rule: d = 64 L at
  224x224 up to ViT-H's depth of 32, then the image side grows with the depth
  (224 L / 32: tokens ~ L^2, modelling choice, in the spirit of the resolution increases
  of fine-tuning, Dosovitskiy et al. Sec. 3.2) up to the depth cap of 128 layers (896x896),
  then the width alone; below one layer at 224 the image shrinks down to 16x16 pixels.
* ``mlp``: the zoo's MNIST MLP (784 -> w -> w -> 10) scaled in width (modelling choice: no
  published scaling rule for MLPs), batch 1; past w = 2^30 (a float32 w x w weight larger
  than that overflows torch's storage size, even on the meta device) in depth.
* ``module:factory``: the user's ``factory(size)``, called with the target MACs (an int);
  it returns a ``torch.nn.Module`` (Hugging Face models get inputs from their config), a
  ``(module, example_inputs)`` pair, an :class:`~analogc.ir.Graph` or a model string.

Example::

    >>> c = config("gpt", 1e12)
    >>> c["d_model"] == 128 * c["n_layers"], c["seq_len"]
    (True, 2048)
    >>> [round(math.log10(s)) for s in default_sizes(3)]
    [6, 12, 19]
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any, Callable

from analogc.errors import AnalogcError

#: default span of a family sweep, MACs per inference
DEFAULT_MIN_MACS = 1e6
DEFAULT_MAX_MACS = 1e19
DEFAULT_SIZES = 12
MAX_DEPTH = 128  # see the module doc: depth cap of the transformer families


def default_sizes(n: int = DEFAULT_SIZES, lo: float = DEFAULT_MIN_MACS,
                  hi: float = DEFAULT_MAX_MACS) -> list[float]:
    """``n`` target MAC counts, evenly spaced in log from ``lo`` to ``hi``."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise AnalogcError(f"--sizes: expected a positive number of sizes, got {n!r}")
    if not (0 < lo <= hi):
        raise AnalogcError(f"sizes: expected 0 < min <= max MACs, got {lo:g}..{hi:g}")
    if n == 1:
        return [float(hi)]
    a, b = math.log10(lo), math.log10(hi)
    return [10 ** (a + (b - a) * i / (n - 1)) for i in range(n)]


# -- analytic MAC counts (choose the configuration; the trace's count is what is reported)
def _gpt_macs(c: dict[str, int]) -> float:
    d, L, T, V = c["d_model"], c["n_layers"], c["seq_len"], c["vocab"]
    return 12 * L * d * d * T + 2 * L * T * T * d + T * d * V


def _llama_macs(c: dict[str, int]) -> float:
    d, L, T, V, ff = c["d_model"], c["n_layers"], c["seq_len"], c["vocab"], c["d_ff"]
    return L * T * (4 * d * d + 3 * d * ff) + 2 * L * T * T * d + T * d * V


def _vit_macs(c: dict[str, int]) -> float:
    d, L, s = c["d_model"], c["n_layers"], c["image_size"]
    T = (s // 16) ** 2 + 1
    return 12 * L * d * d * T + 2 * L * T * T * d + 3 * 16 * 16 * d * (T - 1)


def _mlp_macs(c: dict[str, int]) -> float:
    w, h = c["width"], c["hidden_layers"]
    return 784 * w + (h - 1) * w * w + 10 * w


def _llama_ff(d: int) -> int:
    return 256 * math.ceil(8 * d / 3 / 256)


def _decoder_candidates(T_max: int, vocab: int, llama: bool) -> list[dict[str, int]]:
    out = []
    for d in (16, 32, 64):  # one token, one head, narrow
        out.append(dict(d_model=d, n_layers=1, seq_len=1, vocab=vocab, n_heads=1))
    T = 1
    while T <= T_max:  # one layer of d = 128, the context grows to the family's
        out.append(dict(d_model=128, n_layers=1, seq_len=T, vocab=vocab, n_heads=1))
        T *= 2
    for L in range(2, MAX_DEPTH + 1):  # aspect ratio 128
        out.append(dict(d_model=128 * L, n_layers=L, seq_len=T_max, vocab=vocab, n_heads=L))
    d = 128 * MAX_DEPTH
    while d < 2 ** 23:  # depth capped, width grows in steps of 2^(1/8)
        d = int(round(d * 2 ** 0.125 / 128)) * 128
        out.append(dict(d_model=d, n_layers=MAX_DEPTH, seq_len=T_max, vocab=vocab, n_heads=d // 128))
    if llama:
        for c in out:
            c["d_ff"] = _llama_ff(c["d_model"])
    else:
        for c in out:
            c["d_ff"] = 4 * c["d_model"]
    return out


def _vit_candidates() -> list[dict[str, int]]:
    out = [dict(d_model=64, n_layers=1, image_size=16 * k, n_heads=1) for k in range(1, 14)]
    for L in range(1, MAX_DEPTH + 1):
        s = 224 if L <= 32 else 16 * round(224 * L / 32 / 16)
        out.append(dict(d_model=64 * L, n_layers=L, image_size=s, n_heads=L))
    d = 64 * MAX_DEPTH
    while d < 2 ** 22:  # depth and image capped (128 layers, 896x896), width grows
        d = int(round(d * 2 ** 0.125 / 64)) * 64
        out.append(dict(d_model=d, n_layers=MAX_DEPTH, image_size=896, n_heads=d // 64))
    for c in out:
        c["d_ff"] = 4 * c["d_model"]
    return out


MLP_MAX_WIDTH = 2 ** 30  # a float32 w x w weight past ~3e9 overflows torch's storage size, even on meta


def _mlp_candidates() -> list[dict[str, int]]:
    out, w = [], 1.0
    while w < MLP_MAX_WIDTH:
        out.append(dict(width=int(round(w)), hidden_layers=2))
        w *= 2 ** 0.125
    out += [dict(width=MLP_MAX_WIDTH, hidden_layers=h) for h in range(3, 65)]
    return [dict(t) for t in {tuple(c.items()) for c in out}]


@dataclass(frozen=True)
class Family:
    name: str
    rule: str
    macs: Callable[[dict[str, int]], float]
    candidates: Callable[[], list[dict[str, int]]]
    build: Callable[[dict[str, int]], Any]

    def config(self, size: float) -> dict[str, int]:
        """The configuration of the rule whose analytic MACs are nearest to ``size`` (log)."""
        target = math.log(float(size))
        return dict(min(self.candidates(), key=lambda c: abs(math.log(self.macs(c)) - target)))


# -- builders: config -> traced Graph on the meta device
def _build_gpt(c: dict[str, int]) -> Any:
    from analogc.frontends.zoo import scaled_transformer

    g = scaled_transformer(c["d_model"], c["n_layers"], c["seq_len"], d_ff=c["d_ff"],
                           n_heads=c["n_heads"], vocab=c["vocab"])
    return g


def _trace_hf(model_cls: Any, cfg: Any, inputs: dict[str, Any], config: dict[str, Any],
              name: str, n_layers: int, decoder: bool, family: str) -> Any:
    import torch

    from analogc.frontends.torch import trace_module
    from analogc.frontends.zoo import block_path, shape_meta
    from analogc.ir import repeat_block

    cfg._attn_implementation = "eager"
    with torch.device("meta"):
        one = model_cls(cfg).eval()
    block = block_path(one)
    g = repeat_block(trace_module(one, inputs, name=name), block, n_layers, block)
    g.source = f"family:{family}"
    g.meta.update({"family": family, **shape_meta(config, inputs, decoder, n_layers)})
    return g


def _build_llama(c: dict[str, int]) -> Any:
    import torch
    import transformers as tf

    d, L, T = c["d_model"], c["n_layers"], c["seq_len"]
    config = dict(hidden_size=d, intermediate_size=c["d_ff"], num_hidden_layers=L,
                  num_attention_heads=c["n_heads"], num_key_value_heads=c["n_heads"],
                  vocab_size=c["vocab"], max_position_embeddings=max(T, 1), rms_norm_eps=1e-5)
    cfg = tf.LlamaConfig(**dict(config, num_hidden_layers=1))
    inputs = {"input_ids": torch.zeros(1, T, dtype=torch.long, device="meta")}
    return _trace_hf(tf.LlamaForCausalLM, cfg, inputs, config, f"llama-d{d}-L{L}-T{T}", L, True, "llama")


def _build_vit(c: dict[str, int]) -> Any:
    import torch
    import transformers as tf

    d, L, s = c["d_model"], c["n_layers"], c["image_size"]
    config = dict(hidden_size=d, num_hidden_layers=L, num_attention_heads=c["n_heads"],
                  intermediate_size=c["d_ff"], image_size=s, patch_size=16)
    cfg = tf.ViTConfig(**dict(config, num_hidden_layers=1))
    inputs = {"pixel_values": torch.zeros(1, 3, s, s, device="meta")}
    return _trace_hf(tf.ViTModel, cfg, inputs, config, f"vit-d{d}-L{L}-img{s}", L, False, "vit")


def _build_mlp(c: dict[str, int]) -> Any:
    import torch

    from analogc.frontends.torch import trace_module
    from analogc.frontends.zoo import MLP

    w, h = c["width"], c["hidden_layers"]
    with torch.device("meta"):
        m = MLP((784, *([w] * h), 10))
    g = trace_module(m, (torch.zeros(1, 784, device="meta"),), name=f"mlp-w{w}" + (f"-h{h}" if h != 2 else ""))
    g.source = "family:mlp"
    g.meta.update({"family": "mlp", "decoder": False, "n_layers": h + 1, "batch": 1})
    return g


_RULES = {
    "gpt": "GPT-3 decoders: d/L = 128, head dim 128, d_ff = 4d, T = 2048 (Brown et al. 2020 Table 2.1; "
           "Kaplan et al. 2020 Fig. 5); depth capped at 128 layers, width grows beyond (modelling choice)",
    "llama": "Llama 2 decoders: d/L = 128, SwiGLU d_ff = 8d/3 (multiple of 256), head dim 128, T = 4096, "
             "vocabulary 32000 (Touvron et al. 2023); depth capped at 128 layers (modelling choice)",
    "vit": "ViT encoders: d = 64 L, head dim 64, MLP 4d, patch 16 at 224x224 up to ViT-H's 32 layers "
           "(Dosovitskiy et al. 2021 Table 1); beyond, image side 224 L/32 to 128 layers, then width "
           "(modelling choice)",
    "mlp": "MNIST MLP 784-w-w-10 scaled in width to 2^30, then depth (modelling choice: no published rule)",
}

FAMILIES: dict[str, Family] = {
    "gpt": Family("gpt", _RULES["gpt"], _gpt_macs, lambda: _decoder_candidates(2048, 50257, False), _build_gpt),
    "llama": Family("llama", _RULES["llama"], _llama_macs, lambda: _decoder_candidates(4096, 32000, True),
                    _build_llama),
    "vit": Family("vit", _RULES["vit"], _vit_macs, _vit_candidates, _build_vit),
    "mlp": Family("mlp", _RULES["mlp"], _mlp_macs, _mlp_candidates, _build_mlp),
}


def is_factory(family: str) -> bool:
    return ":" in family


def check_family(family: Any) -> str:
    """The family's name, or one-line error naming the choices."""
    if isinstance(family, str) and (family in FAMILIES or is_factory(family)):
        if is_factory(family):
            _factory(family)  # importable, callable: checked before any work
        return family
    raise AnalogcError(f"--family {family!r}: expected one of {', '.join(FAMILIES)} or module:factory "
                       f"(a callable taking the target MACs per inference)")


def _factory(spec: str) -> Callable[[int], Any]:
    mod_name, _, attr = spec.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except Exception as e:  # noqa: BLE001 - any import failure is the user's module
        raise AnalogcError(f"--family {spec!r}: cannot import {mod_name} ({type(e).__name__}: {e})") from None
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise AnalogcError(f"--family {spec!r}: module {mod_name} has no callable {attr!r}")
    return fn


def config(family: str, size: float) -> dict[str, int]:
    """The configuration ``family`` uses for a target of ``size`` MACs per inference."""
    return FAMILIES[family].config(size)


def check_config(family: str, c: dict[str, int]) -> None:
    """Sizes that cannot form a valid model (heads not dividing the width...): one line."""
    d, h = c.get("d_model"), c.get("n_heads")
    if d is not None and h is not None and (h < 1 or d % h):
        raise AnalogcError(f"family {family}: n_heads={h} does not divide d_model={d}")
    for k, v in c.items():
        if not isinstance(v, int) or v < 1:
            raise AnalogcError(f"family {family}: {k}: expected a positive integer, got {v!r}")


def build(family: str, size: float, c: dict[str, int] | None = None) -> Any:
    """The traced graph of ``family`` at ``size`` MACs per inference (meta device)."""
    from analogc.frontends.spec import load_graph, trace_model
    from analogc.ir import Graph

    if is_factory(family):
        try:
            obj = _factory(family)(int(size))
        except AnalogcError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure is the user's factory at this size
            raise AnalogcError(f"--family {family}: factory({int(size)}) failed "
                               f"({type(e).__name__}: {e})") from None
        quiet = lambda names, reason: None  # noqa: E731
        if isinstance(obj, Graph):
            g = obj
        elif isinstance(obj, str):
            g = load_graph(obj, name=obj, on_ignored=quiet)
        elif isinstance(obj, tuple) and len(obj) == 2:
            g = trace_model(obj[0], obj[1], on_ignored=quiet)
        else:
            try:
                g = trace_model(obj, on_ignored=quiet)
            except AnalogcError as e:
                raise AnalogcError(f"--family {family}: factory({int(size)}): {e}") from None
        g.meta.setdefault("family", family)
        return g
    c = c or config(family, size)
    check_config(family, c)
    return FAMILIES[family].build(c)
