"""The pricing protocol every tile family implements (Accelergy-style: counts x unit costs).

The estimator counts *actions* per tile pass (one input vector through one tile); a tile model
prices each action, split by report component. Components (the keys of
``Report.breakdown``): ``dac`` (DACs, row drivers, optical modulators), ``adc`` (ADCs, detector
and TIA electronics), ``array`` (cell reads of a crossbar), ``optical`` (light that reaches the
detectors), ``laser`` (the rest of the source's wall-plug energy: losses and efficiency),
``static`` (power held over time), ``memory``, ``digital``, ``programming``.

Example::

    >>> import hw_models
    >>> tm = hw_models.tile_model(hw_models.load("pcm-hermes"))
    >>> acts = tm.actions_per_pass(256, 256)
    >>> energy = sum(n * sum(tm.unit_energy.get(a, {}).values()) for a, n in acts.items())
    >>> 5e-9 < energy < 30e-9
    True
"""
from __future__ import annotations

import math
from typing import Any

from hw_models.base import Hardware
from hw_models.converters import ADC, DAC

COMPONENTS = ("dac", "adc", "array", "optical", "laser", "static", "memory", "digital", "programming")


class TileModel:
    """Base of :class:`~hw_models.crossbar.Crossbar`, :class:`~hw_models.photonics.mzi.MZIMesh`
    and :class:`~hw_models.photonics.freespace.FreeSpaceOptics`.

    Subclasses set ``unit_energy`` (action -> {component: J}) and implement
    :meth:`actions_per_pass`, :meth:`pass_time_s`; they may override the static, programming
    and area methods.
    """

    family = ""

    def __init__(self, hw: Hardware) -> None:
        self.hw = hw
        self.p: dict[str, Any] = hw.params
        self.tile = hw.tile
        ref = self.p.get("_reference", {})
        self.adc = ADC.from_params(self.p.get("adc", {}), hw.output_bits, ref.get("output_bits"))
        self.unit_energy: dict[str, dict[str, float]] = {}

    # -- helpers ----------------------------------------------------------------------
    def q(self, section: str, key: str, default: float | None = None) -> float:
        """SI value of ``[section] key``; ``default`` only for optional refinements."""
        v = self.p.get(section, {}).get(key)
        if v is None:
            if default is None:
                from hw_models.config import HardwareConfigError
                raise HardwareConfigError(f"{self.p.get('_file')}: [{section}] {key}: expected this constant "
                                 f"for a {self.family} tile, got nothing")
            return default
        return v.si

    @property
    def n_adc(self) -> int:
        """ADCs per tile: one per ``cols_per_adc`` columns."""
        return math.ceil(self.tile.cols / self.p["tile"].get("cols_per_adc", 1))

    # -- protocol ---------------------------------------------------------------------
    def actions_per_pass(self, rows_used: int, cols_used: int) -> dict[str, float]:
        raise NotImplementedError

    def pass_time_s(self, rows_used: int, cols_used: int) -> float:
        raise NotImplementedError

    def pass_energy_j(self, rows_used: int, cols_used: int) -> dict[str, float]:
        """Energy of one tile pass by component (counts x unit costs)."""
        out: dict[str, float] = {}
        for action, n in self.actions_per_pass(rows_used, cols_used).items():
            for comp, e in self.unit_energy.get(action, {}).items():
                out[comp] = out.get(comp, 0.0) + n * e
        return out

    def geometry_scale(self) -> float:
        """Devices of this tile over devices of the tile the preset file describes: a per-tile
        constant of the file (``[tile] area``, ``static_power``) is stated for that geometry
        and scales with it when ``rows``, ``cols`` or ``devices_per_cell`` are overridden."""
        ref = self.p.get("_reference", {})
        r0, c0, d0 = ref.get("rows"), ref.get("cols"), ref.get("devices_per_cell")
        if not (r0 and c0 and d0):
            return 1.0
        t = self.tile
        return (t.rows * t.cols * t.devices_per_cell) / (r0 * c0 * d0)

    def static_power_w(self) -> float:
        """Power one allocated tile draws while it holds its weights."""
        return self.q("tile", "static_power", 0.0) * self.geometry_scale()

    def program_energy_j(self, cells: float) -> float:
        """Energy to write ``cells`` weight positions (all their devices)."""
        return cells * self.tile.devices_per_cell * self.q("programming", "write_energy", 0.0)

    def program_time_s(self) -> float:
        """Time to reprogram one tile (tiles are programmed in parallel)."""
        n = self.tile.rows * self.tile.cols * self.tile.devices_per_cell
        par = self.p.get("programming", {}).get("parallel_writes", self.tile.cols)
        return math.ceil(n / par) * self.q("programming", "write_time", 0.0)

    def tile_area_m2(self) -> float:
        raise NotImplementedError

    def chip_static_power_w(self) -> float:
        return self.q("chip", "static_power", 0.0)

    def floor_energy_per_pass_j(self, rows_used: int, cols_used: int) -> float:
        """A physical lower bound for one pass (shot-noise photons, k*T*ln2 per output bit)."""
        from hw_models.units import landauer_j
        return cols_used * self.hw.output_bits * landauer_j()

    def describe(self) -> dict[str, Any]:
        """Unit costs in SI, for ``analogc hw show`` and debugging."""
        return {"family": self.family, "adc_energy_j": self.adc.energy_j,
                "adc_conversion_time_s": self.adc.conversion_time_s,
                "pass_time_s": self.pass_time_s(self.tile.rows, self.tile.cols),
                "pass_energy_j": self.pass_energy_j(self.tile.rows, self.tile.cols),
                "static_power_w": self.static_power_w(), "tile_area_m2": self.tile_area_m2()}


def make_dac(hw: Hardware, bits: int) -> DAC:
    return DAC.from_params(hw.params.get("dac", {}), bits)
