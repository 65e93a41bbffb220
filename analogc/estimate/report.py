"""Report: a priced plan (summary, breakdown by component, per-op table, baseline ratios),
and :func:`estimate`, which prices a plan into one.

Example::

    plan = analogc.compile(analogc.trace("gpt2", seq_len=128), hw="pcm-hermes")
    rep = analogc.estimate(plan)
    rep.summary["tops_per_w"], rep.breakdown["adc"]
    rep.compare("h100")["energy_ratio"]      # > 1: the analog system uses less energy
    print(rep.to_text())                     # renderings: analogc.estimate.render

The digital baselines are in :mod:`analogc.estimate.baseline`, the rich/csv/png renderings
in :mod:`analogc.estimate.render`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import pandas as pd
from hw_models.pricing import COMPONENTS

from analogc.estimate.baseline import DEFAULT_BASELINES, baseline_estimate
from analogc.estimate.decoder import graph_meta, is_decoder, kv_cache_bytes
from analogc.estimate.render import fmt_si
from analogc.estimate.rollup import CostRollup, Phase
from analogc.fileio import json_dumps


@dataclass
class Report:
    """Energy, latency, throughput and area of one model on one hardware.

    ``summary`` (SI units unless the key says otherwise): ``energy_j`` per inference,
    ``latency_s``, ``throughput_inf_per_s``, ``area_mm2``, ``macs``, ``tops``, ``tops_per_w``,
    ``energy_per_mac_j``, tiles/chips/reloads, one-time ``program_energy_j``; for decoders
    also ``prefill_*`` and ``decode_*`` (per generated token). ``breakdown``: component -> J
    per inference, summing to ``energy_j``. ``table``: one row per op. ``counts``: the action
    counts per inference that were priced (conversions, cell reads, photons, bytes...).
    """

    model: str
    hw: str
    family: str
    summary: dict[str, Any]
    breakdown: dict[str, float]
    table: pd.DataFrame
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    plan: Any = field(default=None, repr=False)
    counts: dict[str, float] = field(default_factory=dict)
    _compare_cache: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    # -- comparison ------------------------------------------------------------------
    def compare(self, baseline: str = "h100") -> dict[str, Any]:
        """Ratios against a digital baseline (``a100``, ``h100``, ``digital-int8`` or a file).

        ``energy_ratio`` = baseline energy / this energy (> 1: this hardware wins), likewise
        ``decode_energy_ratio`` for decoders; ``speedup`` = baseline latency / this latency;
        ``throughput_ratio`` = this throughput / baseline throughput.
        """
        if baseline not in self._compare_cache:
            base = baseline_estimate(self.plan.graph, baseline)
            s = self.summary
            out = {"baseline": baseline, **{f"baseline_{k}": v for k, v in base.items()},
                   "energy_ratio": _ratio(base["energy_j"], s["energy_j"]),
                   "speedup": _ratio(base["latency_s"], s["latency_s"]),
                   "throughput_ratio": _ratio(s["throughput_inf_per_s"], base["throughput_inf_per_s"]),
                   "tops_per_w_ratio": _ratio(s["tops_per_w"], base["tops_per_w"])}
            if "decode_energy_per_token_j" in s and "decode_energy_per_token_j" in base:
                out["decode_energy_ratio"] = _ratio(base["decode_energy_per_token_j"],
                                                    s["decode_energy_per_token_j"])
                out["decode_speedup"] = _ratio(base["decode_latency_per_token_s"],
                                               s["decode_latency_per_token_s"])
            self._compare_cache[baseline] = out
        return dict(self._compare_cache[baseline])

    # -- renderings ------------------------------------------------------------------
    def to_dict(self, baselines: Iterable[str] = DEFAULT_BASELINES) -> dict[str, Any]:
        return {"model": self.model, "hw": self.hw, "family": self.family,
                "summary": self.summary, "breakdown_j": self.breakdown, "phases": self.phases,
                "compare": {b: self.compare(b) for b in baselines}, "notes": self.notes}

    def to_json(self, baselines: Iterable[str] = DEFAULT_BASELINES) -> str:
        return json_dumps(self.to_dict(baselines), indent=2)

    def to_csv(self) -> str:
        """The per-op table as csv."""
        return self.table.to_csv(index=False)

    def to_text(self, baselines: Iterable[str] = DEFAULT_BASELINES) -> str:
        """Plain-text summary (what :func:`render` prints, without colours)."""
        s = self.summary
        lines = [f"{self.model} on {self.hw} ({self.family})",
                 f"  energy / inference   {fmt_si(s['energy_j'], 'J')}",
                 f"  latency              {fmt_si(s['latency_s'], 's')}",
                 f"  throughput           {s['throughput_inf_per_s']:.4g} inf/s",
                 f"  TOPS / TOPS/W        {s['tops']:.4g} / {s['tops_per_w']:.4g}",
                 f"  energy / MAC         {fmt_si(s['energy_per_mac_j'], 'J')}",
                 f"  area                 {s['area_mm2']:.4g} mm2 ({s['chips']} chip(s), {s['tiles']} tiles)"]
        if "decode_energy_per_token_j" in s:
            lines += [f"  prefill ({s['seq_len']} tok)    {fmt_si(s['prefill_energy_j'], 'J')}, "
                      f"{fmt_si(s['prefill_latency_s'], 's')}",
                      f"  decode / token       {fmt_si(s['decode_energy_per_token_j'], 'J')}, "
                      f"{fmt_si(s['decode_latency_per_token_s'], 's')}"]
        lines.append("  breakdown: " + ", ".join(
            f"{k} {fmt_si(v, 'J')} ({v / s['energy_j']:.0%})" for k, v in self.breakdown.items()
            if v > 0 and s["energy_j"] > 0))
        for b in baselines:
            c = self.compare(b)
            lines.append(f"  vs {b:<13} energy x{c['energy_ratio']:.3g}, speed x{c['speedup']:.3g}"
                         + (f", decode energy x{c['decode_energy_ratio']:.3g}"
                            if "decode_energy_ratio" in c else ""))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        s = self.summary
        return (f"Report({self.model!r} on {self.hw!r}: {fmt_si(s['energy_j'], 'J')}/inf, "
                f"{s['tops_per_w']:.3g} TOPS/W, {fmt_si(s['latency_s'], 's')})")


def _ratio(a: float, b: float) -> float:
    if b == 0:
        return math.inf if a > 0 else 1.0
    return a / b




# ---------------------------------------------------------------------------------------
def estimate(plan: Any, *, costs: Any = None) -> Report:
    """Price a :class:`~analogc.mapping.plan.Plan`: energy by component, latency, throughput,
    area; for decoder LLMs also prefill and per-token decode.

    Example::

        >>> import analogc
        >>> rep = analogc.estimate(analogc.compile(analogc.trace("mlp"), hw="pcm-hermes"))
        >>> abs(sum(rep.breakdown.values()) - rep.summary["energy_j"]) < 1e-12 * rep.summary["energy_j"]
        True
    """
    from hw_models.pricing import HardwareCosts

    from analogc.errors import AnalogcError
    from analogc.mapping.plan import Plan

    if not isinstance(plan, Plan):
        raise AnalogcError(f"estimate: expected a Plan from analogc.compile, got {type(plan).__name__}")
    if plan.graph.meta.get("shapes_only"):
        raise AnalogcError(f"estimate: the plan of {plan.graph.name!r} was built from its weight shapes "
                           f"without inputs; trace the model with example inputs to price it")
    roll = CostRollup(plan, costs or HardwareCosts(plan.hw))
    rows = roll.per_op()
    meta = graph_meta(plan.graph)
    # a decoder's prefill writes the K/V cache that every decode step reads
    main = roll.phase(rows, kv_write_bytes=kv_cache_bytes(meta) if is_decoder(meta) else 0.0)
    s = _summary(plan, roll, main)
    phases: dict[str, dict[str, Any]] = {}
    if is_decoder(meta):
        T = int(meta["seq_len"])
        dec = roll.phase(rows, scale=1.0 / T, kv_bytes=kv_cache_bytes(meta), decode=True)
        B = int(meta.get("batch", 1))
        s.update(seq_len=T, batch=B,
                 prefill_energy_j=main.energy_j, prefill_latency_s=main.latency_s,
                 decode_energy_per_token_j=dec.energy_j / B,
                 decode_latency_per_token_s=dec.latency_s,
                 decode_tokens_per_s=B * dec.throughput_per_s if not plan.weight_reloads
                 else B / dec.latency_s,
                 kv_cache_bytes=kv_cache_bytes(meta))
        phases = {"prefill": _phase_dict(main), "decode_step": _phase_dict(dec)}
    table = _table(main)
    notes = list(getattr(plan, "notes", [])) + _dominance_notes(plan, main) + _reference_notes(plan, main)
    return Report(model=plan.graph.name, hw=plan.hw.name, family=plan.hw.family, summary=s,
                  breakdown=dict(main.energy), table=table, phases=phases,
                  notes=notes, plan=plan, counts=dict(main.counts))


def _dominance_notes(plan: Any, ph: Phase) -> list[str]:
    """Say which component dominates when one takes most of the energy, so that a reader
    knows which assumption the total hangs on."""
    total = ph.energy_j
    if total <= 0:
        return []
    comp, e = max(ph.energy.items(), key=lambda kv: kv[1])
    share = e / total
    if share < 0.6:
        return []
    why = {
        "static": f"static power of {plan.physical_tiles} tiles held for "
                  f"{fmt_si(1 / ph.throughput_per_s, 's')} per inference" if ph.throughput_per_s
                  else "static power",
        "adc": "output conversions (fewer ADC bits, ADC sharing or larger tiles cut it)",
        "laser": "laser power sized to the detectors' SNR through the optical loss",
        "programming": "rewriting tile weights or dynamic operands",
        "memory": "moving weights and activations",
        "digital": "the ops that stay digital",
        "adapters": "the digital LoRA adapters (their products, and their weights streamed from off-chip "
                    "as for every digital mvm)",
    }.get(comp, comp)
    return [f"{comp} is {share:.0%} of the energy: {why}"]


def _reference_notes(plan: Any, ph: Phase) -> list[str]:
    """The ``ideal`` preset (``kind = "ideal"``) is a noise-free reference, not a cost bound:
    say so next to its energy (issue 9, item 11)."""
    if plan.hw.params.get("hardware", {}).get("kind") != "ideal":
        return []
    rest = sum(ph.energy.get(k, 0.0) for k in ("memory", "digital"))
    share = f" ({rest / ph.energy_j:.0%} of the energy here)" if ph.energy_j > 0 else ""
    node = plan.hw.params["hardware"].get("technology_node")
    at = f"{node.si * 1e9:.0f} nm, " if node is not None else ""
    return [f"{plan.hw.name} is the noise-free reference, not a lower bound on cost: its digital "
            f"ops and memory are priced ({at}{plan.hw.input_bits}-bit activations){share}; "
            f"compare costs against a real preset"]


def _phase_dict(ph: Phase) -> dict[str, Any]:
    return {"energy_j": ph.energy_j, "latency_s": ph.latency_s,
            "throughput_per_s": ph.throughput_per_s, "breakdown_j": dict(ph.energy)}


def _summary(plan: Any, roll: CostRollup, ph: Phase) -> dict[str, Any]:
    e, macs = ph.energy_j, ph.macs
    prog_e, prog_t = roll.program_once()
    area_mm2 = roll.area_m2() * 1e6
    tops = 2 * macs * ph.throughput_per_s / 1e12
    return {
        "model": plan.graph.name, "hw": plan.hw.name, "family": plan.hw.family,
        "energy_j": e, "latency_s": ph.latency_s, "throughput_inf_per_s": ph.throughput_per_s,
        "area_mm2": area_mm2, "macs": int(macs), "tops": tops,
        "tops_per_w": (2 * macs / e / 1e12) if e > 0 else math.inf,
        "tops_per_mm2": tops / area_mm2 if area_mm2 > 0 else math.inf,
        "energy_per_mac_j": e / macs if macs else 0.0,
        "tiles": plan.tiles, "chips": plan.chips, "weight_reloads": plan.weight_reloads,
        "static_power_w": roll.static_power_w(),
        "program_energy_j": prog_e, "program_time_s": prog_t,
        "input_bits": plan.hw.input_bits, "output_bits": plan.hw.output_bits,
    }


def _table(ph: Phase) -> pd.DataFrame:
    recs = []
    for r in ph.rows:
        e = r["energy"]
        rec = {k: r[k] for k in ("op", "kind", "placement", "module", "macs", "elements", "tiles",
                                 "time_s")}
        rec.update({f"{c}_j": e.get(c, 0.0) for c in COMPONENTS})  # already this phase's
        rec["energy_j"] = sum(e.values())
        recs.append(rec)
    return pd.DataFrame(recs)
