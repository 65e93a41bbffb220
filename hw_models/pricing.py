"""One place for unit costs: the tile family's actions plus digital ops and memory traffic.

``HardwareCosts(hw).unit_energy[action]`` is ``{component: J}`` for one action; the estimator
multiplies its counts by these (:meth:`HardwareCosts.price`). The tile family
(``hw.tile_model``) prices its own actions — conversions, cell reads, photons, capacitor
switching, writes, seconds of a tile or chip held (``tile_second``, ``chip_second``) — and
this adds: ``shift_add`` and ``partial_sum_add`` (digital adds at ``partial_sum_precision``),
``digital_op`` (one arithmetic op at ``precision``), ``digital_mac`` (a multiply-accumulate),
``sram_byte`` and ``offchip_byte`` (memory traffic).

Example::

    >>> import hw_models
    >>> from hw_models.pricing import HardwareCosts
    >>> c = HardwareCosts(hw_models.load("pcm-hermes"))
    >>> sorted(c.unit_energy["adc_conversion"])
    ['adc']
    >>> c.price({"adc_conversion": 2})["adc"] == 2 * c.unit_energy["adc_conversion"]["adc"]
    True
"""
from __future__ import annotations

from typing import Any

from hw_models.base import Hardware
from hw_models.digital import HOROWITZ_SOURCE, DigitalLogic
from hw_models.errors import HardwareConfigError
from hw_models.family import COMPONENTS, TileFamily
from hw_models.memory import MemoryHierarchy

__all__ = ["COMPONENTS", "HardwareCosts", "tile_model"]


def tile_model(hw: Hardware) -> TileFamily:
    """The tile family object of ``hw`` (both its cost and its simulation view)."""
    return hw.tile_model


class HardwareCosts:
    """Tile family + digital logic + memory hierarchy of one :class:`Hardware`."""

    def __init__(self, hw: Hardware) -> None:
        self.hw = hw
        p: dict[str, Any] = hw.params
        node = p["hardware"].get("technology_node")
        if node is None:
            raise HardwareConfigError(f"{p.get('_file')}: [hardware] technology_node: expected the CMOS node "
                                      f"of the digital periphery (e.g. {{value = 14, unit = \"nm\", source = ...}})")
        self.node_m = node.si
        self.tile = hw.tile_model
        tech = self.tile.tech  # the supply voltage scales the digital periphery as C V^2
        self.logic = DigitalLogic(self.node_m, tech.supply_v if tech is not None else None)
        self.memory = MemoryHierarchy.from_params(p, self.node_m)
        d = p.get("digital", {})
        self.precision = d.get("precision", "fp16")
        self.partial_sum_precision = d.get("partial_sum_precision", "int32")
        if "ops_per_s" not in d:
            raise HardwareConfigError(f"{p.get('_file')}: [digital] ops_per_s: expected the throughput of the "
                                      f"digital units (e.g. {{value = 2, unit = \"TOPS\", source = ...}})")
        self.digital_ops_per_s = d["ops_per_s"].si
        add = self.logic.op_energy_j(self.partial_sum_precision, "add")
        self.unit_energy: dict[str, dict[str, float]] = {
            **self.tile.unit_energy,
            "shift_add": {"digital": add},
            "partial_sum_add": {"digital": add},
            "digital_op": {"digital": self.logic.flop_energy_j(self.precision)},
            "digital_mac": {"digital": self.logic.mac_energy_j(self.precision)},
            "sram_byte": {"memory": self.memory.sram_j_per_byte},
            "offchip_byte": {"memory": self.memory.offchip_j_per_byte},
        }
        self.sources = {"digital": HOROWITZ_SOURCE}

    def price(self, counts: dict[str, float]) -> dict[str, float]:
        """Energy by component of a dict of action counts (unknown actions are an error)."""
        out: dict[str, float] = {}
        for action, n in counts.items():
            if not n:
                continue
            try:
                unit = self.unit_energy[action]
            except KeyError:
                raise KeyError(f"no unit cost for action {action!r} on {self.hw.name}") from None
            for comp, e in unit.items():
                out[comp] = out.get(comp, 0.0) + n * e
        return out
