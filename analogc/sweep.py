"""Scaling sweeps: energy, latency and area of a ladder of models on several hardware,
with the ratios against digital baselines, from an MNIST MLP to 10^19 MACs per inference.

Anderson et al. (Optical Transformers, arXiv 2302.10360) predict that the optical energy per
MAC falls as 1/d, so the advantage of free-space optics over a digital baseline grows with
model size. :func:`sweep` measures that claim (and the same ladder on any other hardware)
with the compiler and estimator: each model is traced once, then compiled and priced on
every hardware.

Example::

    import analogc
    df = analogc.sweep(["mlp", "gpt2", "gpt-scaled:d=16384,L=128,T=8192"],
                       ["pcm-hermes", "freespace"])
    df[["model", "hw", "macs", "energy_per_mac_j", "h100_energy_ratio"]]
    open("sweep.png", "wb").write(sweep_png(df))

Command line: ``analogc sweep [MODEL ...] [--hw NAME|FILE]... [--out DIR]`` (:mod:`analogc.cli.sweep`).
"""
from __future__ import annotations

import io
from typing import Any, Iterable, Sequence

import pandas as pd

from analogc.errors import AnalogcError

#: ~1e6 to ~1e19 MACs per inference: zoo models at their default sizes, then GPT-2-style
#: decoders scaled in d, L and T (d_ff = 4d, head dim 128) up to Anderson et al.'s
#: 10^19-MAC end of the scale.
DEFAULT_LADDER: tuple[str, ...] = (
    "mlp",                                   # ~2.7e5 MACs (one MNIST image)
    "gpt2",                                  # 1024 tokens
    "gpt2-xl",
    "llama-3-8b",                            # 2048 tokens
    "llama-3-70b",
    "gpt-scaled:d=16384,L=128,T=8192",       # ~3.5e15
    "gpt-scaled:d=65536,L=256,T=16384",      # ~2.2e17
    "gpt-scaled:d=131072,L=384,T=16384",     # ~1.3e18
    "gpt-scaled:d=262144,L=768,T=16384",     # ~1.05e19
)

DEFAULT_HWS: tuple[str, ...] = ("pcm-hermes", "freespace")

COLUMNS = ("model", "hw", "macs", "params", "energy_j", "energy_per_mac_j", "tops_per_w",
           "latency_s", "area_mm2")


def _graph(model: Any, seq_len: int | None) -> Any:
    from analogc.frontends.spec import load_graph, trace_model
    from analogc.ir import Graph

    if isinstance(model, Graph):
        return model
    quiet = lambda names, reason: None  # noqa: E731 - seq_len sizes the ladder's transformers only
    if isinstance(model, str):
        return load_graph(model, seq_len=seq_len, name=model, on_ignored=quiet)
    return trace_model(model, seq_len=seq_len, on_ignored=quiet)


def _tile_overrides(graph: Any, hw: Any) -> dict[str, int]:
    """rows/cols that hold the model's largest weight matrix on one tile (one optical unit
    per layer, Anderson et al.'s assumption), for families whose tile can be sized per layer."""
    from analogc.hardware import resolve_hw

    if not resolve_hw(hw).tile_model.tile_per_layer:
        return {}
    from analogc.ir import OpKind

    mvm = graph.ops(OpKind.MVM)
    if not mvm:
        return {}
    return {"rows": max(int(o.in_features) for o in mvm), "cols": max(int(o.out_features) for o in mvm)}


def sweep(models: Iterable[Any], hws: Iterable[Any] = DEFAULT_HWS, *, seq_len: int | None = None,
          baselines: Sequence[str] = ("h100",), unit_per_layer: bool = False,
          **overrides: Any) -> pd.DataFrame:
    """Trace each model once, compile and estimate it on each hardware; one row per pair.

    ``models``: zoo names, ``gpt-scaled:d=..,L=..,T=..`` specs, .onnx files, module:factory
    strings or traced :class:`~analogc.ir.Graph` objects. ``hws``: preset names, hardware
    files or ``hw_models`` Hardware objects. ``seq_len`` applies to models that take it
    (a spec's ``T`` wins). ``unit_per_layer``: size free-space tiles to the model's largest
    weight matrix (one optical unit per layer, as Anderson et al. assume) instead of the
    preset's SLM. ``overrides`` go to :func:`analogc.compile` (e.g. ``adc_bits=6``).

    Columns: model, hw, macs, params, energy_j, energy_per_mac_j, tops_per_w, latency_s,
    area_mm2, tiles, chips, d_model, n_layers, seq_len, and per baseline ``{b}_energy_j`` and
    ``{b}_energy_ratio`` (baseline energy / this energy: > 1 means the hardware wins).
    """
    from analogc.estimate import estimate
    from analogc.mapping import compile

    hws = list(hws)
    if not hws:
        raise AnalogcError("hws: expected at least one hardware")
    rows: list[dict[str, Any]] = []
    for model in models:
        g = _graph(model, seq_len)
        s = g.summary()
        meta = g.meta or {}
        base_cache: dict[str, float] = {}
        for hw in hws:
            extra = _tile_overrides(g, hw) if unit_per_layer else {}
            plan = compile(g, hw=hw, **{**extra, **overrides})
            rep = estimate(plan)
            r = rep.summary
            macs = s["macs"]
            row = {"model": g.name, "hw": plan.hw.name, "macs": macs, "params": s["params"],
                   "energy_j": r["energy_j"],
                   "energy_per_mac_j": r["energy_j"] / macs if macs else float("nan"),
                   "tops_per_w": r["tops_per_w"], "latency_s": r["latency_s"],
                   "area_mm2": r["area_mm2"], "tiles": r.get("tiles"), "chips": r.get("chips"),
                   "d_model": meta.get("d_model"), "n_layers": meta.get("n_layers"),
                   "seq_len": meta.get("seq_len")}
            for b in baselines:
                if b not in base_cache:
                    base_cache[b] = rep.compare(b)["baseline_energy_j"]
                e_b = base_cache[b]
                row[f"{b}_energy_j"] = e_b
                row[f"{b}_energy_ratio"] = e_b / r["energy_j"] if r["energy_j"] else float("inf")
            rows.append(row)
    return pd.DataFrame(rows)


def baseline_names(df: pd.DataFrame) -> list[str]:
    """The baselines a sweep compared against (from its ``{b}_energy_ratio`` columns)."""
    return [c[:-len("_energy_ratio")] for c in df.columns if c.endswith("_energy_ratio")]


def sweep_png(df: pd.DataFrame) -> bytes:
    """Log-log plot of a sweep: energy per inference (left) and per MAC (right) against MACs
    per inference, one line per hardware, the baselines dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    models = df.drop_duplicates("model").sort_values("macs")
    for hw, sub in df.groupby("hw", sort=False):
        sub = sub.sort_values("macs")
        axes[0].loglog(sub["macs"], sub["energy_j"], "o-", label=hw)
        axes[1].loglog(sub["macs"], sub["energy_per_mac_j"], "o-", label=hw)
    for b in baseline_names(df):
        e = models[f"{b}_energy_j"]
        axes[0].loglog(models["macs"], e, "k--", alpha=0.6, label=f"{b} (baseline)")
        axes[1].loglog(models["macs"], e / models["macs"], "k--", alpha=0.6, label=f"{b} (baseline)")
    axes[0].set_ylabel("energy per inference (J)")
    axes[1].set_ylabel("energy per MAC (J)")
    for ax in axes:
        ax.set_xlabel("MACs per inference")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("analogc scaling sweep")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


# ``analogc.sweep(models, hws)`` keeps working once this module is imported
from analogc._callable import make_callable  # noqa: E402

make_callable(__name__, sweep)
