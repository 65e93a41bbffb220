"""Real English and code text that ships with Python, for language-model fine-tuning examples
and tests: the standard library's own top-level modules (source, comments, docstrings), found
through ``sysconfig.get_paths()["stdlib"]``. Nothing is downloaded.

Deterministic: files in name order, about one file in eight held out (by a CRC-32 of its name,
stable when files come and go), character-level tokens over a fixed vocabulary (the printable
ASCII characters, tab and newline; any other character is ``[UNK]``), plus ``[PAD]`` and
``[MASK]``. Another Python version ships another standard library, hence other text.

Example::

    from analogc.finetune import textdata as td
    c = td.corpus()                                   # train / held-out token tensors
    for b in td.lm_batches(c.train, batch=16, seq=64, steps=100, seed=0):
        loss = gpt2(**b).loss                         # {"input_ids", "labels"}
    sents = td.sentences("heldout")                   # English docstring sentences
    b = td.sentence_batch(sents[:8], seq=64)          # {"input_ids", "attention_mask"}
"""
from __future__ import annotations

import ast
import glob
import hashlib
import re
import sysconfig
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import torch

#: the characters with their own token, in token order (ids 0..len-1)
CHARS = "\n\t" + "".join(chr(c) for c in range(32, 127))
UNK, PAD, MASK = len(CHARS), len(CHARS) + 1, len(CHARS) + 2
VOCAB_SIZE = len(CHARS) + 3
_INDEX = {c: i for i, c in enumerate(CHARS)}
_LUT = torch.full((128,), UNK, dtype=torch.long)
for _c, _i in _INDEX.items():
    _LUT[ord(_c)] = _i


def encode(text: str) -> torch.Tensor:
    """Character tokens of ``text`` (int64): printable ASCII, tab and newline have their own
    token, every other character is :data:`UNK`."""
    codes = torch.frombuffer(bytearray(text.encode("utf-32-le")), dtype=torch.int32).long()
    out = torch.full_like(codes, UNK)
    ascii_ = codes < 128
    out[ascii_] = _LUT[codes[ascii_]]
    return out


def decode(ids: torch.Tensor) -> str:
    return "".join(CHARS[i] if i < len(CHARS) else ("\ufffd" if i == UNK else "")
                   for i in ids.tolist())


def stdlib_files() -> list[Path]:
    """The standard library's top-level ``.py`` modules, sorted by name."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(Path(p) for p in glob.glob(str(root / "*.py")))


def split_of(path: Path) -> str:
    """``"heldout"`` for about one file in eight (CRC-32 of the name), else ``"train"``."""
    return "heldout" if zlib.crc32(path.name.encode()) % 8 == 0 else "train"


@dataclass(frozen=True)
class Corpus:
    train: torch.Tensor       # 1-D character tokens
    heldout: torch.Tensor
    train_files: tuple[str, ...]
    heldout_files: tuple[str, ...]

    def digest(self) -> str:
        """A short hash of the text (another Python's standard library: another digest)."""
        h = hashlib.sha256()
        h.update(self.train.numpy().astype("uint8").tobytes())
        h.update(self.heldout.numpy().astype("uint8").tobytes())
        return h.hexdigest()[:16]


@lru_cache(maxsize=4)
def corpus(max_train_chars: int = 2_000_000, max_heldout_chars: int = 300_000) -> Corpus:
    """The training and held-out text: each split's files concatenated in name order (each
    preceded by a ``# file: NAME`` line), cut at the character budgets."""
    parts: dict[str, list[str]] = {"train": [], "heldout": []}
    names: dict[str, list[str]] = {"train": [], "heldout": []}
    size = {"train": 0, "heldout": 0}
    cap = {"train": max_train_chars, "heldout": max_heldout_chars}
    for p in stdlib_files():
        s = split_of(p)
        if size[s] >= cap[s]:
            continue
        text = f"# file: {p.name}\n{p.read_text(encoding='utf-8', errors='replace')}\n"
        parts[s].append(text)
        names[s].append(p.name)
        size[s] += len(text)
    if not names["train"] or not names["heldout"]:
        raise RuntimeError(f"textdata: no standard-library modules found under {sysconfig.get_paths()['stdlib']}")
    return Corpus(encode("".join(parts["train"])[:max_train_chars]),
                  encode("".join(parts["heldout"])[:max_heldout_chars]),
                  tuple(names["train"]), tuple(names["heldout"]))


def windows(tokens: torch.Tensor, n: int, seq: int, offset: int = 0) -> torch.Tensor:
    """``n`` windows of ``seq`` tokens at evenly spaced positions of ``tokens`` [n, seq]
    (deterministic: the held-out evaluation set)."""
    span = len(tokens) - seq - offset
    if span <= 0:
        raise ValueError(f"textdata: {len(tokens)} tokens are fewer than one window of {seq}")
    return torch.stack([tokens[offset + (i * span) // max(n, 1):][:seq] for i in range(n)])


def lm_batches(tokens: torch.Tensor, *, batch: int, seq: int, steps: int, seed: int) -> Iterator[dict]:
    """``steps`` causal-LM batches ``{"input_ids", "labels"}`` ([batch, seq], labels = inputs:
    Hugging Face causal LMs shift them) of windows at random positions (``seed``)."""
    g = torch.Generator().manual_seed(seed)
    hi = len(tokens) - seq
    for _ in range(steps):
        starts = torch.randint(0, hi, (batch,), generator=g)
        x = torch.stack([tokens[s:s + seq] for s in starts.tolist()])
        yield {"input_ids": x, "labels": x}


def mlm_batch(x: torch.Tensor, *, prob: float, gen: torch.Generator) -> dict:
    """A masked-LM batch of token windows ``x``: ``prob`` of positions are predicted (labels,
    -100 elsewhere); of those 80% become ``[MASK]``, 10% a random character, 10% stay (BERT's
    recipe, Devlin et al. 2019)."""
    sel = torch.rand(x.shape, generator=gen) < prob
    labels = torch.where(sel, x, torch.full_like(x, -100))
    r = torch.rand(x.shape, generator=gen)
    inp = x.clone()
    inp[sel & (r < 0.8)] = MASK
    rnd = sel & (r >= 0.8) & (r < 0.9)
    inp[rnd] = torch.randint(0, len(CHARS), (int(rnd.sum()),), generator=gen)
    return {"input_ids": inp, "labels": labels}


_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


@lru_cache(maxsize=4)
def sentences(split: str = "train", min_chars: int = 24, max_chars: int = 200) -> tuple[str, ...]:
    """English sentences of the split's docstrings (modules, classes, functions), whitespace
    collapsed, between ``min_chars`` and ``max_chars`` long, in file order."""
    if split not in ("train", "heldout"):
        raise ValueError(f"textdata: split: expected 'train' or 'heldout', got {split!r}")
    out: list[str] = []
    for p in stdlib_files():
        if split_of(p) != split:
            continue
        try:
            tree = ast.parse(p.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if not doc:
                    continue
                for s in _SENT.split(" ".join(doc.split())):
                    if min_chars <= len(s) <= max_chars and s[0].isupper() and s[-1] in ".!?":
                        out.append(s)
    return tuple(out)


def sentence_batch(sents: list[str] | tuple[str, ...], seq: int) -> dict:
    """Encoder inputs ``{"input_ids", "attention_mask"}`` [len(sents), seq]: each sentence's
    characters, cut at ``seq``, padded with :data:`PAD`."""
    x = torch.full((len(sents), seq), PAD, dtype=torch.long)
    mask = torch.zeros((len(sents), seq), dtype=torch.long)
    for i, s in enumerate(sents):
        t = encode(s)[:seq]
        x[i, :len(t)] = t
        mask[i, :len(t)] = 1
    return {"input_ids": x, "attention_mask": mask}


def sentence_batches(sents: list[str] | tuple[str, ...], *, batch: int, seq: int, steps: int,
                     seed: int) -> Iterator[dict]:
    """``steps`` unlabeled encoder batches of ``batch`` sentences drawn at random (``seed``)."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(sents), (batch,), generator=g).tolist()
        yield sentence_batch([sents[i] for i in idx], seq)
