"""The protocol every hardware model implements: geometry and capability of a tile.

Capability (what a tile *can* do) lives here; the user's mapping choice (which ops go where,
the dynamic-matmul policy) is a field of :class:`Hardware` that ``analogc.compile`` reads.
``hw_models`` imports nothing from ``analogc``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hw_models.registry import FAMILIES

MATMUL_POLICIES = ("digital", "analog")


@dataclass(frozen=True)
class TileSpec:
    """Geometry and capability of one analog tile.

    ``rows`` is the input vector length a tile accepts (word lines, MZI mesh size, SLM
    columns), ``cols`` the outputs it produces. A weight of ``weight_bits`` is stored in
    ``slices = ceil(weight_bits / cell_bits)`` bit slices, each on its own tile, whose outputs
    are shift-added digitally — or, with ``analog_slices``, combined in the analog domain
    (binary-weighted charge sharing, a C-2C ladder) before one conversion per output; each
    weight position of a slice uses ``devices_per_cell`` devices (2 for a differential pair).
    """

    family: str
    rows: int
    cols: int
    weight_bits: int = 8
    cell_bits: int = 8
    devices_per_cell: int = 1
    static_weights: bool = True  # holds a programmed weight between uses
    dynamic_operands: bool = False  # can take an activation as "weight" (with a write cost)
    analog_slices: bool = False  # slices combined before the ADC ([tile] slice_combining = "analog")

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"tile.family: expected one of {sorted(FAMILIES)}, got {self.family!r}")
        for k in ("rows", "cols", "weight_bits", "cell_bits", "devices_per_cell"):
            v = getattr(self, k)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"tile.{k}: expected a positive integer, got {v!r}")

    @property
    def slices(self) -> int:
        return math.ceil(self.weight_bits / self.cell_bits)

    @property
    def converted_slices(self) -> int:
        """Slices converted (and shift-added) one by one: 1 when they are combined in analog."""
        return 1 if self.analog_slices else self.slices

    @property
    def cells_per_weight(self) -> int:
        return self.slices * self.devices_per_cell


@dataclass
class ChipSpec:
    """How tiles are grouped: ``tiles_per_chip``; ``chips`` fixed, or None (as many as needed)."""

    tiles_per_chip: int
    chips: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.tiles_per_chip, int) or self.tiles_per_chip < 1:
            raise ValueError(f"chip.tiles_per_chip: expected a positive integer, got {self.tiles_per_chip!r}")
        if self.chips is not None and (not isinstance(self.chips, int) or self.chips < 1):
            raise ValueError(f"chip.chips: expected a positive integer or none, got {self.chips!r}")


@dataclass
class Hardware:
    """A complete analog system: tile, chip, mapping policy and its tile family object
    (:attr:`tile_model`), which prices it and simulates it. ``analogc.compile(graph, hw=...)``
    takes one of these."""

    name: str
    tile: TileSpec
    chip: ChipSpec
    dynamic_matmul: str = "digital"
    input_bits: int = 8
    output_bits: int = 8
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)  # the full, validated preset

    def __post_init__(self) -> None:
        if self.dynamic_matmul not in MATMUL_POLICIES:
            raise ValueError(f"dynamic_matmul: expected one of {MATMUL_POLICIES}, got {self.dynamic_matmul!r}")
        if self.dynamic_matmul == "analog" and not self.tile.dynamic_operands:
            raise ValueError(f"dynamic_matmul: 'analog' needs a tile with dynamic_operands; "
                             f"{self.tile.family} tile of {self.name!r} has none")

    _tile_model: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def family(self) -> str:
        return self.tile.family

    @property
    def source_file(self) -> str | None:
        """The preset file this hardware was loaded from (None: built in code)."""
        return (self.params or {}).get("_file")

    @property
    def tile_model(self) -> Any:
        """The :class:`~hw_models.family.TileFamily` object of this hardware: both its cost
        view and its simulation view (built once)."""
        if self._tile_model is None:
            from hw_models.registry import family_class
            self._tile_model = family_class(self.family)(self)
        return self._tile_model
