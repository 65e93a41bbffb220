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


#: the digital baseline of Anderson et al.'s advantage claims: "state-of-the-art
#: digital-electronic processors that achieve 300 fJ/MAC" (arXiv 2302.10360, abstract, p. 1)
DIGITAL_300FJ_J = 300e-15

#: the columns ``DIR/sweep.csv`` leads with (issue 12), then the legacy ones and the breakdown
ISSUE_COLUMNS = ("model", "family", "hardware", "setting", "params", "macs", "energy_j",
                 "energy_per_mac_j", "latency_s", "throughput_inf_per_s", "area_mm2", "chips",
                 "advantage_vs_gpu", "advantage_vs_300fJ")


def parse_vary(items: Iterable[str] | dict[str, Any] | None) -> dict[str, list[Any]]:
    """``["adc_bits=4..10", "rows=128,256"]`` (or a dict of lists) -> ``{key: [values]}``.

    ``A..B`` is every integer from A to B, ``A..B:S`` every S-th; ``v1,v2,...`` a list (each
    value read as by ``--set``). An empty range or list is one-line :class:`AnalogcError`.

    Example::

        >>> parse_vary(["adc_bits=4..6", "photons_per_mac=0.5,2"])
        {'adc_bits': [4, 5, 6], 'photons_per_mac': [0.5, 2]}
    """
    from analogc.cli.common import parse_value

    if not items:
        return {}
    if isinstance(items, dict):
        out = {str(k): list(v) if isinstance(v, (list, tuple, range)) else [v] for k, v in items.items()}
    else:
        out = {}
        for it in items:
            k, sep, v = str(it).partition("=")
            k, v = k.strip(), v.strip()
            if not sep or not k:
                raise AnalogcError(f"--vary {it!r}: expected KEY=A..B[:STEP] or KEY=V1,V2,... "
                                   f"(e.g. adc_bits=4..10)")
            if ".." in v:
                lo, _, rest = v.partition("..")
                hi, _, step = rest.partition(":")
                try:
                    a, b, st = int(lo), int(hi), int(step or 1)
                except ValueError:
                    raise AnalogcError(f"--vary {it!r}: a range takes integers, A..B[:STEP]") from None
                if st < 1:
                    raise AnalogcError(f"--vary {it!r}: STEP must be a positive integer, got {st}")
                vals: list[Any] = list(range(a, b + 1, st))
                if not vals:
                    raise AnalogcError(f"--vary {it!r}: empty range ({a} > {b})")
            else:
                vals = [parse_value(x.strip()) for x in v.split(",") if x.strip()]
            if k in out:
                raise AnalogcError(f"--vary {k}: given twice")
            out[k] = vals
    for k, vals in out.items():
        if not vals:
            raise AnalogcError(f"--vary {k}: no values (expected KEY=A..B or KEY=V1,V2,...)")
    return out


def _settings(vary: dict[str, list[Any]]) -> list[dict[str, Any]]:
    import itertools

    keys = list(vary)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(vary[k] for k in keys))] or [{}]


def _hw_label(hw: Any) -> str:
    from pathlib import Path

    return Path(hw).stem if isinstance(hw, str) else getattr(hw, "name", str(hw))


def check_hardware(hws: Sequence[Any], vary: dict[str, list[Any]], overrides: dict[str, Any]) -> None:
    """Every hardware loads with the overrides and every varied value, before any work: a
    hardware lacking a varied parameter is one line naming both."""
    from analogc.hardware import resolve_hw

    for hw in hws:
        resolve_hw(hw, **overrides)
        for k, vals in vary.items():
            for v in vals:
                try:
                    resolve_hw(hw, **{**overrides, k: v})
                except AnalogcError as e:
                    msg = str(e).split(" (override): ", 1)[-1]
                    raise AnalogcError(f"--vary {k}={v} ({_hw_label(hw)}): {msg}") from None


def _price(g: Any, hws: Sequence[Any], settings: list[dict[str, Any]], baselines: Sequence[str],
           unit_per_layer: bool, overrides: dict[str, Any], extra: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of one traced graph on every hardware and setting."""
    from hw_models.pricing import COMPONENTS

    from analogc.estimate import estimate
    from analogc.mapping import compile

    s = g.summary()
    meta = g.meta or {}
    macs = s["macs"]
    base_cache: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    for hw in hws:
        per_layer = _tile_overrides(g, hw) if unit_per_layer else {}
        for setting in settings:
            plan = compile(g, hw=hw, **{**per_layer, **overrides, **setting})
            rep = estimate(plan)
            r = rep.summary
            e = r["energy_j"]
            row = {"model": g.name, "hw": plan.hw.name, "macs": macs, "params": s["params"],
                   "energy_j": e, "energy_per_mac_j": e / macs if macs else float("nan"),
                   "tops_per_w": r["tops_per_w"], "latency_s": r["latency_s"],
                   "area_mm2": r["area_mm2"], "tiles": r.get("tiles"), "chips": r.get("chips"),
                   "d_model": meta.get("d_model"), "n_layers": meta.get("n_layers"),
                   "seq_len": meta.get("seq_len")}
            for b in dict.fromkeys([*baselines, "h100"]):
                if b not in base_cache:
                    base_cache[b] = rep.compare(b)["baseline_energy_j"]
                if b in baselines:
                    row[f"{b}_energy_j"] = base_cache[b]
                    row[f"{b}_energy_ratio"] = base_cache[b] / e if e else float("inf")
            row.update(extra)
            row.update({"hardware": plan.hw.name,
                        "setting": ",".join(f"{k}={v}" for k, v in setting.items()),
                        "throughput_inf_per_s": r["throughput_inf_per_s"],
                        "advantage_vs_gpu": base_cache["h100"] / e if e else float("inf"),
                        "advantage_vs_300fJ": DIGITAL_300FJ_J * macs / e if e else float("inf"),
                        "weight_reloads": r.get("weight_reloads"),
                        **{f"energy_{c}_j": rep.breakdown.get(c, 0.0) for c in COMPONENTS},
                        **setting})
            rows.append(row)
    return rows


def _family_job(job: tuple[Any, ...]) -> list[dict[str, Any]]:
    from analogc.scaling import families

    family, size, cfg, hws, settings, baselines, unit_per_layer, overrides = job
    g = families.build(family, size, cfg)
    return _price(g, hws, settings, baselines, unit_per_layer, overrides,
                  {"family": family, "size": float(size)})


def _model_job(job: tuple[Any, ...]) -> list[dict[str, Any]]:
    model, seq_len, hws, settings, baselines, unit_per_layer, overrides = job
    g = _graph(model, seq_len)
    fam = (g.meta or {}).get("family") or ""
    return _price(g, hws, settings, baselines, unit_per_layer, overrides, {"family": fam, "size": float("nan")})


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _run(fn: Any, jobs: list[tuple[Any, ...]], workers: int, progress: bool) -> list[dict[str, Any]]:
    """Run ``fn`` over ``jobs`` (in order), over ``workers`` processes, with a progress bar."""
    import contextlib

    results: list[list[dict[str, Any]] | None] = [None] * len(jobs)
    bar: Any = contextlib.nullcontext()
    task = None
    if progress:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       console=Console(stderr=True), transient=True)
    with bar:
        if progress:
            task = bar.add_task("sweep", total=len(jobs))
        if workers <= 1 or len(jobs) <= 1:
            for i, j in enumerate(jobs):
                results[i] = fn(j)
                if task is not None:
                    bar.advance(task)
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            ctx = mp.get_context("fork")
            # largest first (jobs come smallest first): the long traces do not end up alone at the end
            order = sorted(range(len(jobs)), key=lambda i: -i)
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as ex:
                futs = {ex.submit(fn, jobs[i]): i for i in order}
                for f in as_completed(futs):
                    results[futs[f]] = f.result()
                    if task is not None:
                        bar.advance(task)
    return [r for rs in results for r in (rs or [])]


def sweep(models: Iterable[Any] | None = None, hws: Iterable[Any] = DEFAULT_HWS, *,
          family: str | None = None, sizes: int | Sequence[float] | None = None,
          vary: Iterable[str] | dict[str, Any] | None = None, seq_len: int | None = None,
          baselines: Sequence[str] = ("h100",), unit_per_layer: bool = False,
          workers: int | None = None, progress: bool = False, **overrides: Any) -> pd.DataFrame:
    """Trace each model once, compile and estimate it on each hardware (and each setting of
    ``vary``); one row per model x hardware x setting.

    ``models``: zoo names, ``gpt-scaled:d=..,L=..,T=..`` specs, .onnx files, module:factory
    strings or traced :class:`~analogc.ir.Graph` objects. Or ``family``: ``"gpt"``,
    ``"llama"``, ``"vit"``, ``"mlp"`` or ``"module:factory"`` (:mod:`analogc.scaling.families`),
    at ``sizes`` (a number of sizes, default 12, log-spaced from 1e6 to 1e19 MACs per
    inference, or a list of target MAC counts). ``hws``: preset names, hardware files or
    ``hw_models`` Hardware objects. ``vary``: ``{"adc_bits": [4, 6, 8]}`` or
    ``["adc_bits=4..10"]`` (every combination). ``seq_len`` applies to models that take it
    (a spec's ``T`` wins). ``unit_per_layer``: size free-space tiles to the model's largest
    weight matrix (one optical unit per layer, as Anderson et al. assume). ``workers``:
    processes (default: the machine's cores; 1 runs here). ``overrides`` go to
    :func:`analogc.compile` (e.g. ``adc_bits=6``).

    Every input is checked before any work (an empty range, a hardware lacking a varied
    parameter, a size that forms no valid model: one-line :class:`AnalogcError`).

    Columns: model, hw, macs, params, energy_j, energy_per_mac_j, tops_per_w, latency_s,
    area_mm2, tiles, chips, d_model, n_layers, seq_len, per baseline ``{b}_energy_j`` and
    ``{b}_energy_ratio`` (baseline energy / this energy: > 1 means the hardware wins), then
    family, hardware, setting, size (target MACs of a family), throughput_inf_per_s,
    advantage_vs_gpu (H100 energy / this), advantage_vs_300fJ (300 fJ x MACs / this energy),
    weight_reloads, ``energy_<component>_j`` per component, and one column per varied key.
    """
    import os
    import sys

    progress = progress and sys.stderr.isatty()  # a bar only on a terminal: logs stay one line per error
    hws = list(hws)
    if not hws:
        raise AnalogcError("hws: expected at least one hardware")
    vary_d = parse_vary(vary)
    check_hardware(hws, vary_d, overrides)
    settings = _settings(vary_d)
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    common = (hws, settings, tuple(baselines), unit_per_layer, overrides)
    if family is not None:
        from analogc.scaling import families as fam

        if models:
            raise AnalogcError("sweep: give models or family, not both")
        fam.check_family(family)
        if sizes is None or isinstance(sizes, int):
            targets = fam.default_sizes(fam.DEFAULT_SIZES if sizes is None else sizes)
        else:
            targets = [float(x) for x in sizes]
            if not targets or any(not (t > 0) for t in targets):
                raise AnalogcError(f"sizes: expected positive MAC counts, got {list(sizes)!r}")
        jobs: list[tuple[Any, ...]] = []
        seen: set[tuple[Any, ...]] = set()
        for t in targets:
            cfg = None if fam.is_factory(family) else fam.config(family, t)
            if cfg is not None:
                fam.check_config(family, cfg)
                key = tuple(sorted(cfg.items()))
                if key in seen:  # two targets nearest to one configuration: priced once
                    continue
                seen.add(key)
            jobs.append((family, t, cfg, *common))
        if n_workers > 1 and len(jobs) > 1 and not fam.is_factory(family):
            fam.build(family, min(targets))  # warm torch.export up once, before the workers fork
        rows = _run(_family_job, jobs, n_workers, progress)
    else:
        models = list(models if models is not None else DEFAULT_LADDER)
        if not models:
            raise AnalogcError("models: expected at least one model (or family=...)")
        for m in models:  # names, specs and files checked before any work
            if isinstance(m, str):
                from analogc.frontends import zoo
                from analogc.frontends.spec import model_kind

                kind = model_kind(m)
                if kind == "scaled":
                    zoo.parse_scaled_spec(m)
                elif kind == "zoo":
                    zoo.get(m)
        jobs = [(m, seq_len, *common) for m in models]
        if any(not isinstance(m, str) for m in models):
            n_workers = 1  # traced graphs and modules stay in this process
        rows = _run(_model_job, jobs, n_workers, progress)
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
