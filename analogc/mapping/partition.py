"""Mapping passes: classify → partition MVMs onto tile grids → place tiles on chips.

Each pass is a small function with one job; :func:`compile` chains them.
"""
from __future__ import annotations

import dataclasses

import math
import re
from typing import Any, Iterable

from analogc.errors import AnalogcError
from analogc.hardware import resolve_hw
from analogc.ir import Graph, Op, OpKind
from analogc.mapping.plan import Plan, TileMapping


def partition_mvm(op: Op, hw: Any, placement: str = "analog") -> TileMapping:
    """Cut one mvm/matmul op into tile blocks: ceil(K/rows) × ceil(N/cols) per group, each
    block in ``slices`` bit slices (one tile each). A mixture-of-experts op holds all its
    ``experts`` weights on tiles (each vector passes through one of them).

    Example: K=768, N=2304 on 256×256 tiles with 8-bit weights in 8-bit cells →
    3 × 9 tiles, one slice, utilization 1.0.
    """
    t = hw.tile
    k, n, g = op.in_features, op.out_features, op.groups
    if min(k, n, g, op.vectors) < 1:
        raise AnalogcError(f"op {op.name}: expected positive sizes, got K={k} N={n} "
                           f"groups={g} vectors={op.vectors}")
    rt, ct = math.ceil(k / t.rows), math.ceil(n / t.cols)
    slices = t.slices
    analog = placement == "analog"
    e = op.experts
    tiles = g * e * rt * ct * slices if analog else 0
    cells = g * e * k * n * slices if analog else 0
    adds = g * op.vectors * n * (rt * t.converted_slices - 1) if analog else 0
    return TileMapping(
        op=op.name, kind=op.kind, placement=placement, in_features=k, out_features=n,
        vectors=op.vectors, groups=g, rows=t.rows, cols=t.cols, slices=slices,
        devices_per_cell=t.devices_per_cell, row_tiles=rt, col_tiles=ct, tiles=tiles,
        cells_used=cells, utilization=(cells / (tiles * t.rows * t.cols)) if tiles else 0.0,
        macs=op.macs, partial_sum_adds=adds,
        write_elements=(g * e * k * n if analog and op.kind is OpKind.MATMUL else 0),
        module_path=op.module_path, param=op.param, experts=e)


def pack_groups(m: TileMapping) -> TileMapping:
    """Share tiles between the groups of a grouped (depthwise) static weight: when one group's
    K x N block fits a tile, ``p = min(rows // K, cols // N)`` groups sit block-diagonally on
    one tile (:meth:`TileMapping.group_placement`), ``ceil(groups / p)`` tiles per slice instead
    of ``groups``. Every group is still read in full once per input vector, so the conversions
    and cell reads (and what deploy runs, group by group) are unchanged; a packed pass drives
    the rows and columns of all its groups at once (its time, with shared ADCs, is that of
    ``p*K`` rows and ``p*N`` columns)."""
    if (m.placement != "analog" or m.kind is not OpKind.MVM or m.groups < 2
            or m.row_tiles != 1 or m.col_tiles != 1 or getattr(m, "experts", 1) != 1):
        return m
    p = min(m.rows // m.in_features, m.cols // m.out_features, m.groups)
    if p < 2:
        return m
    m.groups_per_tile = p
    m.tiles = math.ceil(m.groups / p) * m.slices
    m.utilization = m.cells_used / (m.tiles * m.rows * m.cols)
    return m


def _matches(op: Op, patterns: list[re.Pattern]) -> bool:
    keys = [op.name, op.module_path or "", op.param or "", op.module_type or ""]
    return any(p.search(k) for p in patterns for k in keys if k)


def assign_placement(graph: Graph, hw: Any, digital: Iterable[str] = (),
                     dynamic_matmul: str | None = None) -> dict[str, str]:
    """Where each mvm/matmul goes. Priority (like torch.ao's QConfigMapping): the hardware's
    capability, then the global policy for dynamic matmuls, then the user's ``digital``
    regexes on op name, module path, parameter name or module type."""
    policy = dynamic_matmul or hw.dynamic_matmul
    if policy not in ("digital", "analog"):
        raise AnalogcError(f"dynamic_matmul: expected 'digital' or 'analog', got {policy!r}")
    if policy == "analog" and not hw.tile.dynamic_operands:
        raise AnalogcError(f"dynamic_matmul: {hw.name} ({hw.family}) tiles cannot take dynamic "
                           f"operands; use 'digital'")
    try:
        pats = [re.compile(p) for p in digital]
    except re.error as e:
        raise AnalogcError(f"digital: bad regular expression ({e})") from None
    out = {}
    for op in graph.ops(OpKind.MVM, OpKind.MATMUL):
        if op.kind is OpKind.MVM:
            place = "analog" if hw.tile.static_weights else "digital"
        else:
            place = policy
        if (pats and _matches(op, pats)) or op.adapter:  # adapters (LoRA) stay digital
            place = "digital"
        out[op.name] = place
    return out


def place_on_chips(plan: Plan) -> Plan:
    """Count chips; when the hardware has a fixed number of chips and the static weights do
    not fit, the plan reprograms the tiles ``weight_reloads`` times per inference."""
    hw = plan.hw
    static = sum(m.tiles for m in plan.analog if m.kind is OpKind.MVM)
    # dynamic operands are rewritten per use, so the largest one sets the tiles they need
    dynamic = max((m.tiles for m in plan.analog if m.kind is OpKind.MATMUL), default=0)
    plan.tiles = static + dynamic
    per_chip = hw.chip.tiles_per_chip
    plan.chips_needed = math.ceil(plan.tiles / per_chip) if plan.tiles else 0
    if hw.chip.chips is None or plan.chips_needed <= hw.chip.chips:
        plan.chips = plan.chips_needed if hw.chip.chips is None else hw.chip.chips
        plan.weight_reloads, plan.resident_fraction = 0, 1.0
        return plan
    plan.chips = hw.chip.chips
    capacity = plan.chips * per_chip - dynamic
    if capacity < 1:
        raise AnalogcError(f"{hw.name}: the dynamic matmuls alone need {dynamic} tiles, more "
                           f"than {plan.chips} chip(s) of {per_chip} tiles hold")
    fills = math.ceil(static / capacity)
    plan.weight_reloads = fills
    plan.resident_fraction = 0.0
    plan.notes.append(f"weights need {static} tiles but {plan.chips} chip(s) hold {capacity}: "
                      f"every inference reprograms the tiles {fills} times")
    return plan


def compile(graph: Graph, hw: Any = None, *, digital: Iterable[str] = (),
            dynamic_matmul: str | None = None, fold_batchnorm: bool = True, **overrides: Any) -> Plan:
    """Map ``graph`` onto hardware ``hw`` (preset name, hardware file, or ``hw_models``
    object; the default crossbar preset when None).

    ``digital``: regexes of ops/modules to keep digital (e.g. ``["lm_head"]``);
    ``dynamic_matmul``: override the hardware's policy for activation×activation products;
    ``fold_batchnorm``: fold each inference BatchNorm that follows a conv/linear into its
    weight and bias (:mod:`analogc.mapping.fold`), as deployment flows do; ``False`` keeps
    them as digital ``norm`` ops;
    other keywords override preset values (``rows=512``, ``adc_bits=6``).

    Example::

        g = analogc.trace("gpt2", seq_len=128)
        plan = analogc.compile(g, hw="pcm-hermes", digital=["lm_head"])
        plan.to_dataframe().query("placement == 'analog'")
    """
    if not isinstance(graph, Graph):
        raise AnalogcError(f"compile: expected an analogc Graph, got {type(graph).__name__}")
    hwo = resolve_hw(hw, **overrides)
    places = assign_placement(graph, hwo, digital, dynamic_matmul)
    if dynamic_matmul is not None and dynamic_matmul != hwo.dynamic_matmul:
        # the plan's hardware states the policy it was compiled with (reports print it)
        hwo = dataclasses.replace(hwo, dynamic_matmul=dynamic_matmul)
    plan = Plan(graph=graph, hw=hwo)
    if fold_batchnorm:
        from analogc.mapping.fold import batchnorm_folds
        plan.folded = batchnorm_folds(graph)
    for op in graph.ops(OpKind.MVM, OpKind.MATMUL):
        plan.mappings[op.name] = pack_groups(partition_mvm(op, hwo, places[op.name]))
    return place_on_chips(plan)
