"""What a graph's ``meta`` says about a decoder LLM: whether it is one, and the size of its
K/V cache. The estimator and the digital baselines both split a decoder's work into prefill
and per-token decode with these.

Example::

    >>> kv_cache_bytes({"n_layers": 2, "seq_len": 128, "n_heads": 2, "d_model": 128})
    131072.0
    >>> is_decoder({"decoder": True, "seq_len": 128})
    True
"""
from __future__ import annotations

from typing import Any


def graph_meta(graph: Any) -> dict[str, Any]:
    """A copy of ``graph.meta`` (empty when the graph has none)."""
    return dict(getattr(graph, "meta", {}) or {})


def kv_cache_bytes(meta: dict[str, Any], bytes_per_value: int = 2) -> float:
    """Bytes of the K/V cache of a decoder at ``seq_len`` (0 when the meta is incomplete)."""
    try:
        L, T, B = int(meta["n_layers"]), int(meta["seq_len"]), int(meta.get("batch", 1))
        kv = int(meta.get("n_kv_heads") or meta["n_heads"])
        hd = int(meta.get("head_dim") or int(meta["d_model"]) // int(meta["n_heads"]))
    except (KeyError, TypeError, ValueError):
        return 0.0
    return 2.0 * L * kv * hd * T * B * bytes_per_value


def is_decoder(meta: dict[str, Any]) -> bool:
    """True for a decoder traced on more than one token (it has a prefill and a decode)."""
    return bool(meta.get("decoder")) and int(meta.get("seq_len") or 0) > 1
