"""Plan: which op runs where. Built by :func:`analogc.mapping.compile`, read by the
estimator (``analogc.estimate(plan)``) and by deploy."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from analogc.ir import Graph, Op, OpKind


@dataclass
class TileMapping:
    """How one ``mvm`` (static weight) or ``matmul`` (dynamic operand) op is laid on tiles.

    The logical weight of each group is K x N (``in_features`` x ``out_features``); it is cut
    into ``row_tiles = ceil(K/rows)`` x ``col_tiles = ceil(N/cols)`` blocks, and each block is
    stored in ``slices`` bit slices, each slice on its own tile. Tile (r, c) holds rows
    ``[r*rows, min(K,(r+1)*rows))`` and columns ``[c*cols, min(N,(c+1)*cols))``. The outputs of
    the row tiles of one column are partial sums accumulated digitally; slices are shift-added.
    """

    op: str
    kind: OpKind
    placement: str  # "analog" or "digital"
    in_features: int
    out_features: int
    vectors: int
    groups: int
    rows: int  # tile geometry used
    cols: int
    slices: int
    devices_per_cell: int
    row_tiles: int
    col_tiles: int
    tiles: int  # groups * experts * row_tiles * col_tiles * slices (0 when digital)
    cells_used: int  # weight positions occupied on tiles, all slices (devices: x devices_per_cell)
    utilization: float  # cells_used / (tiles * rows * cols)
    macs: int
    partial_sum_adds: int  # digital adds to accumulate row tiles and slices, per inference
    #: groups packed block-diagonally on one tile (depthwise/small-group convs): a group whose
    #: K x N block fits a tile shares it with others, tiles = ceil(groups / groups_per_tile) * slices
    groups_per_tile: int = 1
    write_elements: int = 0  # dynamic matmul on analog tiles: operand elements written per inference
    module_path: str | None = None
    param: str | None = None
    experts: int = 1  # mixture of experts: weights held per group, each vector uses one

    def tile_blocks(self) -> list[tuple[int, int, int, int]]:
        """(row_start, row_stop, col_start, col_stop) of each logical block (one group, one
        slice) in the order deploy accumulates them."""
        out = []
        for c in range(self.col_tiles):
            for r in range(self.row_tiles):
                out.append((r * self.rows, min(self.in_features, (r + 1) * self.rows),
                            c * self.cols, min(self.out_features, (c + 1) * self.cols)))
        return out

    def group_placement(self, group: int) -> tuple[int, int, int]:
        """(tile, row offset, column offset) of group ``group``'s blocks: packed groups sit on
        the diagonal of a shared tile, rows ``[off_r, off_r + K)`` and columns
        ``[off_c, off_c + N)``, so no two groups share a row or a column (their inputs and
        outputs stay apart); :meth:`tile_blocks` are relative to that corner."""
        p = self.groups_per_tile
        tile, slot = divmod(group, p)
        return tile, slot * self.in_features, slot * self.out_features

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = self.kind.value
        return d


@dataclass
class Plan:
    """The compiled model: a tile mapping for every ``mvm``/``matmul`` op, everything else
    digital, and how the tiles fill chips.

    Example::

        plan = analogc.compile(analogc.trace("gpt2"), hw="pcm-hermes")
        plan.tiles, plan.chips_needed
        plan.to_dataframe().head()
    """

    graph: Graph
    hw: Any  # hw_models.Hardware
    mappings: dict[str, TileMapping] = field(default_factory=dict)
    tiles: int = 0
    chips_needed: int = 0
    chips: int = 0  # chips the plan runs on (fixed by the hardware, or = chips_needed)
    weight_reloads: int = 0  # full reprogrammings of the chips per inference when tiles do not fit
    resident_fraction: float = 1.0  # share of static-weight tiles that stay programmed
    notes: list[str] = field(default_factory=list)
    #: BatchNorm op -> the mvm op whose weight and bias it is folded into (analogc.mapping.fold)
    folded: dict[str, str] = field(default_factory=dict)

    @property
    def physical_tiles(self) -> int:
        """Tiles that exist: all the plan needs, or only what the fixed chips hold when the
        weights are reloaded every inference."""
        if self.weight_reloads:
            return min(self.tiles, self.chips * self.hw.chip.tiles_per_chip)
        return self.tiles

    @property
    def analog(self) -> list[TileMapping]:
        return [m for m in self.mappings.values() if m.placement == "analog"]

    def digital_ops(self) -> list[Op]:
        """Ops that run digitally, including matmuls the policy keeps digital."""
        return [o for o in self.graph.ops()
                if o.name not in self.mappings or self.mappings[o.name].placement == "digital"]

    def summary(self) -> dict[str, Any]:
        an = self.analog
        cap = sum(m.tiles for m in an) * self.hw.tile.rows * self.hw.tile.cols
        return {
            "model": self.graph.name,
            "hw": self.hw.name,
            "family": self.hw.family,
            "analog_ops": len(an),
            "digital_ops": len(self.digital_ops()),
            "tiles": self.tiles,
            "chips_needed": self.chips_needed,
            "chips": self.chips,
            "weight_reloads": self.weight_reloads,
            "utilization": (sum(m.cells_used for m in an) / cap) if cap else 0.0,
            "macs_analog": sum(m.macs for m in an),
            "macs_digital_matmul": sum(m.macs for m in self.mappings.values() if m.placement == "digital"),
        }

    def to_dataframe(self) -> pd.DataFrame:
        """One row per op: kind, placement, shapes, MACs, tiles, utilization, module path."""
        rows = []
        for o in self.graph.ops():
            m = self.mappings.get(o.name)
            rows.append({
                "op": o.name, "kind": o.kind.value, "target": o.target,
                "module": o.module_path, "module_type": o.module_type,
                "placement": m.placement if m else ("folded" if o.name in self.folded else "digital"),
                "vectors": o.vectors, "in_features": o.in_features, "out_features": o.out_features,
                "groups": o.groups, "macs": o.macs, "elements": o.elements,
                "row_tiles": m.row_tiles if m else 0, "col_tiles": m.col_tiles if m else 0,
                "slices": m.slices if m else 0, "tiles": m.tiles if m else 0,
                "utilization": m.utilization if m else float("nan"),
            })
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return (f"Plan({self.graph.name!r} on {self.hw.name!r}: {len(self.analog)} analog ops, "
                f"{self.tiles} tiles, {self.chips} chip(s))")
