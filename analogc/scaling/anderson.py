"""Anderson et al., "Optical Transformers" (arXiv 2302.10360, TMLR 2024): their headline
figures reproduced under the ``anderson-2023`` preset, and an ablation that replaces each of
the preset's assumptions by analogc's own component models.

Claims (arXiv abstract, p. 1; :data:`CLAIMS`): optical energy per MAC ~ 1/d; ~100x over a
300 fJ/MAC digital processor for "some of the largest current Transformer models"; >8000x
when models and hardware reach the quadrillion-parameter regime. The sizes the paper names
are taken as: today's largest = 10^15 MACs per inference (the seed review's Fig. 3g reading
of the paper, ``shared/reference/published_figures.csv``) and quadrillion = 10^15 parameters,
both on the ``gpt`` family (:mod:`analogc.scaling.families`).

Ablation (:data:`ABLATION`): attention on optics -> digital; converters at the ADC survey's
state-of-the-art envelope -> typical; weights resident -> re-streamed from HBM every inference
through one optical unit (plus the units the attention operands need); light at the
detectors -> a 20%-efficient laser behind 3 dB of optics. Each is swapped alone, then all
together (analogc's own models throughout).

Example::

    df = claims()                       # measured vs paper at the named sizes
    ab = ablation(sizes=[1e12, 1e15, 1e19])
    ablation_figure(ab).savefig("ablation.png")
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import pandas as pd

PRESET = "anderson-2023"

#: (claim, paper's figure, how it is measured); the figures are in the arXiv abstract, p. 1
CLAIMS = {
    "today's largest": {"paper": 100.0, "target": {"macs": 1e15},
                        "text": "~100x vs 300 fJ/MAC for some of the largest current Transformers"},
    "quadrillion parameters": {"paper": 8000.0, "target": {"params": 1e15},
                               "text": ">8000x vs 300 fJ/MAC at the quadrillion-parameter scale"},
}

#: (label, overrides of the anderson-2023 preset); "chips" is set per model (see module doc)
ABLATION: tuple[tuple[str, dict[str, Any]], ...] = (
    ("anderson-2023 (all assumptions)", {}),
    ("attention digital", {"dynamic_matmul": "digital"}),
    ("converters: survey typical ADC", {"adc.envelope": "typical"}),
    ("weights re-streamed from HBM", {"chips": "reload"}),
    ("laser 20% wall-plug, 3 dB loss", {"optics.wall_plug_efficiency": 0.2, "freespace.optical_loss": "3 dB"}),
    ("all replaced (analogc's models)", {"dynamic_matmul": "digital", "adc.envelope": "typical", "chips": "reload",
                                         "optics.wall_plug_efficiency": 0.2, "freespace.optical_loss": "3 dB"}),
)


def _gpt_params(c: dict[str, int]) -> float:
    d, L, V = c["d_model"], c["n_layers"], c["vocab"]
    return 12 * L * d * d + d * V


def named_config(target: dict[str, float]) -> dict[str, int]:
    """The ``gpt`` family's configuration nearest a target in MACs or parameters."""
    from analogc.scaling.families import FAMILIES

    fam = FAMILIES["gpt"]
    if "macs" in target:
        return fam.config(target["macs"])
    p = math.log(target["params"])
    return dict(min(fam.candidates(), key=lambda c: abs(math.log(_gpt_params(c)) - p)))


def _graph(c: dict[str, int]) -> Any:
    from analogc.scaling.families import build

    return build("gpt", 0, c)


def _reload_chips(g: Any, overrides: dict[str, Any]) -> int:
    """Units for 'weights re-streamed': one for the weights, plus those the attention
    operands need at once (a plan cannot hold fewer)."""
    from analogc.ir import OpKind
    from analogc.mapping import compile

    plan = compile(g, hw=PRESET, **{k: v for k, v in overrides.items() if k != "chips"})
    dyn = max((m.tiles for m in plan.analog if m.kind is OpKind.MATMUL), default=0)
    return dyn + 1


def price_variants(g: Any, variants: Sequence[tuple[str, dict[str, Any]]] = ABLATION) -> pd.DataFrame:
    """One row per variant of the preset for graph ``g`` (the sweep's columns + ``variant``)."""
    from analogc.sweep import _price

    rows = []
    for label, ov in variants:
        ov = dict(ov)
        if ov.get("chips") == "reload":
            ov["chips"] = _reload_chips(g, ov)
        for r in _price(g, [PRESET], [{}], ("h100",), False, ov, {"family": "gpt"}):
            rows.append({"variant": label, **r})
    return pd.DataFrame(rows)


def claims() -> pd.DataFrame:
    """Measured advantage over 300 fJ/MAC at the sizes the paper names, next to the paper's."""
    rows = []
    for name, cl in CLAIMS.items():
        c = named_config(cl["target"])
        r = price_variants(_graph(c), ABLATION[:1]).iloc[0]
        rows.append({"claim": name, "paper": cl["paper"], "measured": r["advantage_vs_300fJ"],
                     "ratio": r["advantage_vs_300fJ"] / cl["paper"], "model": r["model"],
                     "params": r["params"], "macs": r["macs"],
                     "energy_per_mac_j": r["energy_per_mac_j"], "text": cl["text"]})
    return pd.DataFrame(rows)


def optical_energy_per_mac(ds: Sequence[int], n_layers: int = 1, seq_len: int = 8) -> pd.DataFrame:
    """Optical energy per MAC of the weight products (mvm ops) of ``gpt-d{d}`` under the
    preset, per op: the 1/d law is ``optical_per_mac * in_features`` constant."""
    from analogc.estimate import estimate
    from analogc.frontends.zoo import scaled_transformer
    from analogc.mapping import compile

    rows = []
    for d in ds:
        g = scaled_transformer(d, n_layers, seq_len)
        rep = estimate(compile(g, hw=PRESET))
        ops = {o.name: o for o in g.ops()}
        for r in rep.table.itertuples(index=False):
            if r.kind == "mvm" and r.macs:
                rows.append({"d_model": d, "op": r.op, "in_features": ops[r.op].in_features,
                             "optical_per_mac_j": r.optical_j / r.macs,
                             "optical_j_x_d": r.optical_j / r.macs * ops[r.op].in_features})
    return pd.DataFrame(rows)


def ablation(sizes: Sequence[float] | None = None) -> pd.DataFrame:
    """:data:`ABLATION` over ``gpt`` family sizes (target MACs; default 1e9..1e19 and the two
    named sizes)."""
    from analogc.scaling.families import FAMILIES

    if sizes is None:
        sizes = [1e9, 1e11, 1e13, 1e15, 1e17, 1e19]
    cfgs = {tuple(sorted(FAMILIES["gpt"].config(s).items())) for s in sizes}
    cfgs |= {tuple(sorted(named_config(c["target"]).items())) for c in CLAIMS.values()}
    frames = [price_variants(_graph(dict(c))) for c in sorted(cfgs, key=lambda c: dict(c)["d_model"] * dict(c)["seq_len"] * dict(c)["n_layers"])]
    return pd.concat(frames, ignore_index=True).sort_values(["variant", "macs"], kind="stable")


def carried(ab: pd.DataFrame) -> pd.DataFrame:
    """Per model: the factor each assumption carries (advantage with it / advantage with
    analogc's model in its place)."""
    base = ab[ab["variant"] == ABLATION[0][0]].set_index("model")["advantage_vs_300fJ"]
    out = []
    for label, _ in ABLATION[1:]:
        sub = ab[ab["variant"] == label].set_index("model")["advantage_vs_300fJ"]
        for m in sub.index:
            out.append({"model": m, "replaced": label, "advantage": sub[m],
                        "factor_carried": base[m] / sub[m]})
    return pd.DataFrame(out)


def ablation_figure(ab: pd.DataFrame) -> Any:
    """Advantage over 300 fJ/MAC vs MACs per inference, one line per variant, with the
    paper's two figures marked at the sizes it names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for label, _ in ABLATION:
        sub = ab[ab["variant"] == label].sort_values("macs")
        ax.loglog(sub["macs"], sub["advantage_vs_300fJ"], "o-", ms=3, label=label,
                  lw=2.5 if label == ABLATION[0][0] else 1.2)
    for name, cl in CLAIMS.items():
        c = named_config(cl["target"])
        m = ab[(ab["variant"] == ABLATION[0][0]) & (ab["d_model"] == c["d_model"]) &
               (ab["n_layers"] == c["n_layers"])]
        if len(m):
            x = float(m["macs"].iloc[0])
            ax.errorbar([x], [cl["paper"]], yerr=[[cl["paper"] / 2], [cl["paper"]]], fmt="k*", ms=10,
                        capsize=4, label=f"paper: {cl['text']} (x2 band)")
    ax.axhline(1, color="k", lw=0.8)
    ax.set_xlabel("MACs per inference (gpt family)")
    ax.set_ylabel("advantage vs 300 fJ/MAC")
    ax.set_title("Optical Transformers (Anderson et al. 2023): which assumption carries the claim")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
