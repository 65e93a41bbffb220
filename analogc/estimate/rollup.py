"""Count the actions of a Plan and price them with ``hw_models`` (counts x unit costs).

Everything is first an *action count* — DAC and ADC conversions, cell reads, photons,
capacitor switches, shift-adds, partial-sum adds, bytes through the buffer and off chip,
digital ops, cell writes, seconds a tile or a chip holds its weights — and only then energy,
``HardwareCosts.price(counts)``; a report can always say how many of each it priced.

Per analog op (a :class:`~analogc.mapping.plan.TileMapping`), every input vector makes one
*pass* through each of its ``groups * row_tiles * col_tiles * slices`` tiles; the tile family
says what a pass with ``r`` rows and ``c`` columns in use does and how long it takes. Row-tile
and slice outputs are added digitally (``partial_sum_adds``), activations go through the
on-chip buffer, a dynamic matmul on tiles writes its operand (``write_elements``) first.
Digital ops cost ``elements x ops/element``.

Time: the tiles of one op work in parallel, its vectors one after the other, so an op takes
``vectors x pass_time`` (+ operand writes); one inference is the critical path through the
graph. With all weights resident each op has its own tiles and the layers pipeline, so the
throughput is set by the slowest stage (the slowest op, the shared digital units or the
off-chip link; analog dynamic matmuls share one pool of tiles, so their tile-times add); with
weight reloads nothing pipelines. Static power is charged over the steady-state time per
inference, ``1 / throughput`` (``tile_second`` and ``chip_second`` actions).

Decoder LLMs (``graph.meta["decoder"]``): the traced graph is the prefill of ``seq_len``
tokens and writes the K/V cache; a decode step is the same graph for one new token per
sequence (every count / T, but dynamic operands rewritten and the weights of digital mvms
streamed in full) plus the read of the K/V cache.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hw_models.digital import ops_per_element
from hw_models.family import COMPONENTS
from hw_models.pricing import HardwareCosts

from analogc.ir import Graph, Op, OpKind

_ACT_BYTES_DIGITAL = 2  # fp16 activations in the digital units and buffers

Counts = dict[str, float]


@dataclass
class Phase:
    """Totals of one phase (an inference, a prefill, or one decode step)."""

    energy: dict[str, float] = field(default_factory=lambda: {c: 0.0 for c in COMPONENTS})
    counts: Counts = field(default_factory=dict)
    latency_s: float = 0.0
    throughput_per_s: float = 0.0
    macs: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def energy_j(self) -> float:
        return sum(self.energy.values())


def _add(dst: dict[str, float], src: dict[str, float], scale: float = 1.0) -> None:
    for k, v in src.items():
        dst[k] = dst.get(k, 0.0) + v * scale


def _block_sizes(total: int, size: int, count: int) -> list[tuple[int, int]]:
    """(used size, multiplicity) of the ``count`` blocks that cut ``total`` into ``size``."""
    last = total - (count - 1) * size
    if last == size or count == 1:
        return [(min(total, size), count)] if last == size else [(last, 1)]
    return [(size, count - 1), (last, 1)]


class CostRollup:
    """Counts every op of a plan once; phases (prefill, decode) reuse the per-op counts."""

    def __init__(self, plan: Any, costs: HardwareCosts | None = None) -> None:
        self.plan = plan
        self.hw = plan.hw
        self.costs = costs or HardwareCosts(plan.hw)
        self.tile = self.costs.tile
        self.in_bytes = math.ceil(self.hw.input_bits / 8)
        self.out_bytes = math.ceil(self.hw.output_bits / 8)
        self._pass_cache: dict[tuple[int, int], tuple[Counts, float]] = {}
        self._dynamic_pool = max((m.tiles for m in plan.analog if m.kind is OpKind.MATMUL), default=0)

    # -- per op ----------------------------------------------------------------------
    def _pass(self, r: int, c: int) -> tuple[Counts, float]:
        hit = self._pass_cache.get((r, c))
        if hit is None:
            hit = (self.tile.actions_per_pass(r, c), self.tile.pass_time_s(r, c))
            self._pass_cache[(r, c)] = hit
        return hit

    def analog_op(self, op: Op, m: Any) -> tuple[Counts, float, float, Counts]:
        """(action counts, time, operand writes, counts spent in full per decode step) of an
        analog op for one inference."""
        counts: Counts = {}
        per_vector_blocks = m.groups * m.slices
        t_pass = 0.0
        for r, nr in _block_sizes(m.in_features, m.rows, m.row_tiles):
            for c, nc in _block_sizes(m.out_features, m.cols, m.col_tiles):
                n, t = self._pass(r, c)
                _add(counts, n, m.vectors * per_vector_blocks * nr * nc)
                t_pass = max(t_pass, t)
        p = min(getattr(m, "groups_per_tile", 1), m.groups)
        if p > 1:  # packed groups run in one pass: p*K rows, p*N columns (ADC sharing)
            t_pass = max(t_pass, self._pass(p * m.in_features, p * m.out_features)[1])
        _add(counts, {"partial_sum_add": m.partial_sum_adds,
                      "sram_byte": m.groups * m.vectors * (m.in_features * self.in_bytes
                                                           + m.out_features * self.out_bytes)})
        time = m.vectors * t_pass
        per_step: Counts = {}
        if m.write_elements:  # dynamic operand written onto the tiles before use
            per_step = self.tile.actions_to_program(m.write_elements * m.slices)
            _add(counts, per_step)
            _add(counts, {"sram_byte": m.write_elements * self.in_bytes})
            time += self.tile.program_time_s()
        return counts, time, float(m.write_elements), per_step

    def digital_matmul(self, op: Op) -> tuple[Counts, float]:
        k, n, v, g = op.in_features, op.out_features, op.vectors, op.groups
        traffic = g * (v * k + k * n + v * n) * _ACT_BYTES_DIGITAL
        return {"digital_mac": op.macs, "sram_byte": traffic}, 2 * op.macs / self.costs.digital_ops_per_s

    def digital_op(self, op: Op) -> tuple[Counts, float, float]:
        """Every output element is read once and written once. An embedding reads its rows
        from the off-chip table and writes them to the buffer; other ops stay in the buffer.
        Views (reshape, transpose of a strided tensor…) and transforms of a weight cost nothing
        per inference."""
        if op.meta.get("view") or op.meta.get("weight_prep") or op.name in getattr(self.plan, "folded", {}):
            return {}, 0.0, 0.0  # a view moves no data; weight transforms happen at programming
        ops = op.elements * ops_per_element(op.kind.value, op.target)
        once = op.elements * _ACT_BYTES_DIGITAL
        offchip = once if op.kind is OpKind.EMBEDDING else 0.0
        counts = {"digital_op": ops, "offchip_byte": offchip, "sram_byte": 2 * once - offchip}
        return counts, ops / self.costs.digital_ops_per_s, offchip

    # -- phases ----------------------------------------------------------------------
    def per_op(self) -> list[dict[str, Any]]:
        """Action counts, energy, time and facts of every op for one inference (the traced
        shapes). ``per_step_counts``: what a decode step spends in full, not per token."""
        rows = []
        for op in self.plan.graph.ops():
            m = self.plan.mappings.get(op.name)
            writes, offchip = 0.0, 0.0
            per_step: Counts = {}
            per_step_offchip = 0.0
            if m is not None and m.placement == "analog":
                counts, t, writes, per_step = self.analog_op(op, m)  # operands rewritten per step
                place = "analog"
            elif op.kind in (OpKind.MVM, OpKind.MATMUL):
                counts, t = self.digital_matmul(op)
                place = "digital"
                if op.kind is OpKind.MVM:  # a digital mvm streams its weight from off-chip
                    wb = op.weight_params * _ACT_BYTES_DIGITAL  # through the buffer, every step
                    per_step = {"offchip_byte": wb, "sram_byte": wb}
                    _add(counts, {"offchip_byte": wb})
                    offchip += wb
                    per_step_offchip = wb
            else:
                counts, t, offchip = self.digital_op(op)
                place = "digital"
            rows.append({"op": op.name, "kind": op.kind.value, "placement": place,
                         "module": op.module_path, "macs": op.macs, "elements": op.elements,
                         "tiles": m.tiles if m is not None else 0, "time_s": t,
                         "writes": writes, "offchip_bytes": offchip, "counts": counts,
                         "per_step_counts": per_step, "per_step_offchip_bytes": per_step_offchip,
                         "adapter": op.adapter})
        return rows

    def phase(self, rows: list[dict[str, Any]], scale: float = 1.0, kv_bytes: float = 0.0,
              decode: bool = False, kv_write_bytes: float = 0.0) -> Phase:
        """Totals over ops, scaled (``1/T`` for a decode step), with latency and throughput.

        ``kv_bytes``: the K/V cache a decode step reads; ``kv_write_bytes``: the K/V cache a
        prefill writes. Either goes to the buffer if it fits, else off-chip."""
        plan, ph = self.plan, Phase()
        g: Graph = plan.graph
        finish: dict[str, float] = {}
        digital_time = analog_max = dynamic_time = 0.0
        buf = self.costs.memory.buffer_bytes
        offchip_bytes = sum(b for b in (kv_bytes, kv_write_bytes) if b > buf)
        for row in rows:
            n, t = row["counts"], row["time_s"]
            if decode:  # per-token work scales by 1/T; weight streams and operand writes do not
                fixed = row.get("per_step_counts", {})
                n = {k: (v - fixed.get(k, 0.0)) * scale + fixed.get(k, 0.0) for k, v in n.items()}
                fixed_off = row.get("per_step_offchip_bytes", 0.0)
                offchip_bytes += (row["offchip_bytes"] - fixed_off) * scale + fixed_off
                if row["writes"]:  # dynamic operands are rewritten in full per step
                    t_op = t * scale + self.tile.program_time_s() * (1 - scale)
                else:
                    t_op = t * scale
            else:
                n = {k: v * scale for k, v in n.items()}
                offchip_bytes += row["offchip_bytes"] * scale
                t_op = t * scale
            e = self.costs.price(n)
            if row.get("adapter"):  # a LoRA adapter's digital work: its own line of the breakdown
                e = {"adapters": sum(e.values())}
            _add(ph.counts, n)
            _add(ph.energy, e)
            ph.macs += row["macs"] * scale
            start = max((finish[p] for p in g.predecessors(row["op"]) if p in finish), default=0.0)
            finish[row["op"]] = start + t_op
            if row["placement"] == "digital":
                digital_time += t_op
            elif row["writes"]:
                # analog dynamic matmuls share one pool of tiles (the largest operand's,
                # see place_on_chips): each period needs their tile-time on that pool
                dynamic_time += t_op * row["tiles"] / max(self._dynamic_pool, 1)
            else:
                analog_max = max(analog_max, t_op)
            ph.rows.append(row | {"time_s": t_op, "scale": scale, "counts": n, "energy": e})
        latency = max(finish.values(), default=0.0)
        extra: Counts = {}
        for b in (kv_bytes, kv_write_bytes):  # K/V cache traffic (buffer if it fits, else off-chip)
            if b:
                _add(extra, {"offchip_byte" if b > buf else "sram_byte": b})
        offchip_time = offchip_bytes / self.costs.memory.offchip_bandwidth_bps
        latency = max(latency, offchip_time)
        if plan.weight_reloads:
            latency += self.reload_time_s()
            _add(extra, self.reload_counts(), scale if not decode else 1.0)
            period = latency
        else:
            period = max(analog_max, dynamic_time, digital_time, offchip_time, 1e-30)
        ph.latency_s = latency
        ph.throughput_per_s = 1.0 / period if latency > 0 else 0.0
        held = period if latency > 0 else 0.0  # static power over the steady-state time
        _add(extra, {"tile_second": self.plan.physical_tiles * held, "chip_second": self.plan.chips * held})
        _add(ph.counts, extra)
        _add(ph.energy, self.costs.price(extra))
        return ph

    # -- weights, static, area -------------------------------------------------------
    def static_cells(self) -> int:
        return sum(m.cells_used for m in self.plan.analog if m.kind is OpKind.MVM)

    def weight_bytes(self) -> float:
        return sum(m.groups * m.experts * m.in_features * m.out_features for m in self.plan.analog
                   if m.kind is OpKind.MVM) * self.hw.tile.weight_bits / 8

    def reload_counts(self) -> Counts:
        """Every static weight written once per inference, streamed from off-chip memory."""
        n = dict(self.tile.actions_to_program(self.static_cells()))
        _add(n, {"offchip_byte": self.weight_bytes()})
        return n

    def reload_time_s(self) -> float:
        link = self.weight_bytes() / self.costs.memory.offchip_bandwidth_bps
        return self.plan.weight_reloads * self.tile.program_time_s() + link

    def program_once(self) -> tuple[float, float]:
        """(energy, time) to program all static weights once (not per inference)."""
        e = self.costs.price(self.tile.actions_to_program(self.static_cells()))
        return sum(e.values()), self.tile.program_time_s()

    def static_power_w(self) -> float:
        return (self.tile.static_power_w() * self.plan.physical_tiles
                + self.costs.unit_energy["chip_second"]["static"] * self.plan.chips)

    def area_m2(self) -> float:
        return self.plan.chips * self.hw.chip.tiles_per_chip * self.tile.tile_area_m2()
