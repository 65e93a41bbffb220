"""Capacitive charge-domain crossbars (SRAM bit cells with a local capacitor).

Each bit cell stores one weight bit and carries a capacitor of ``cell_capacitance``; in one
cycle the product of an input bit and the stored bit drives the capacitor's bottom plate to
``drive_voltage`` or to ground, and the column's capacitors then share their charge, so the
column voltage is ``V * sum_i C_i p_i / sum_i C_i`` — a dot product set by capacitor ratios,
not by device conductances (Valavi et al. IEEE JSSC 54(6):1789, 2019; Jia et al. IEEE JSSC
55(9):2609, 2020). Multi-bit weights are bit-sliced over columns (``cell_bits = 1``), inputs
applied bit-serially, each cycle's column voltage converted by the column ADC.

One capacitance and one voltage drive both views:

* cost: a cycle switches ``switching_activity`` of the used cells' capacitors through the
  drive voltage, ``C V^2`` each (``cap_switch`` action, the ``array`` component); 1-bit row
  drivers (``[dac]``), one ADC conversion per column per cycle, the digital shift-add of the
  bit-serial partial results; a cycle takes ``cycle_time``;
* accuracy: sampling the column leaves kT/C noise, ``sqrt(k T / C_column)`` volts on a
  full-scale swing of ``V``, with ``C_column = rows * cell_capacitance``: in units of one
  full-scale row, ``sqrt(rows * k T / C) / V`` (temperature 300 K); capacitor mismatch
  (``[noise] cap_mismatch``, relative std of each cell's capacitance) perturbs every stored bit
  of a chip instance once; weights are otherwise exact bits.

So a smaller capacitor or a lower drive voltage costs less energy *and* adds kT/C noise.

Example::

    >>> import hw_models
    >>> fam = hw_models.load("charge-jia2020").tile_model
    >>> round(fam.ktc_noise_rows(), 3)            # sqrt(2304 kT / 1.2 fF) / 1.2 V
    0.074
    >>> fam.input_cycles
    8
"""
from __future__ import annotations

import math
from typing import Any

import torch

from hw_models import noise as nz
from hw_models.family import Programmed, TileFamily
from hw_models.units import BOLTZMANN_J_K

Q = lambda dim: ("q", dim)  # noqa: E731

#: temperature of the kT/C noise: room temperature, as the other physical floors here
TEMPERATURE_K = 300.0


class ChargeCrossbar(TileFamily):
    name = "charge"
    noise_models = ("charge", "ideal")
    sections = {"charge": {
        "cell_capacitance": Q("capacitance"), "drive_voltage": Q("voltage"),
        "switching_activity": Q("ratio"), "cycle_time": Q("time"),
    }}
    aliases = {"cell_capacitance": ("charge", "cell_capacitance"), "drive_voltage": ("charge", "drive_voltage")}
    # one capacitor per bit cell; inputs bit-serial or as multi-level drive voltages
    tile_constraints = {"devices_per_cell": (1,), "input_encoding": ("bit-serial", "multi-level")}
    default_encoding = "bit-serial"

    @property
    def capacitance_f(self) -> float:
        return self.q("charge", "cell_capacitance")

    @property
    def voltage_v(self) -> float:
        return self.q("charge", "drive_voltage")

    def line_voltage(self) -> float:
        return self.voltage_v

    # -- cost view ----------------------------------------------------------------------
    def unit_energies(self) -> dict[str, dict[str, float]]:
        cv2 = self.capacitance_f * self.voltage_v ** 2 * self.q("charge", "switching_activity")
        return {**super().unit_energies(),
                "dac_conversion": {"dac": self.dac_energy_j()},
                "cap_switch": {"array": cv2},
                "adc_conversion": {"adc": self.adc.energy_j},
                "cell_write": {"programming": self.q("programming", "write_energy", 0.0)}}

    def actions_per_pass(self, rows_used: int, cols_used: int) -> dict[str, float]:
        k = self.input_cycles
        return {"dac_conversion": rows_used * k * self.conversions_share, "cap_switch": rows_used * cols_used * k,
                "adc_conversion": cols_used * self.conversion_cycles * self.conversions_share,
                "shift_add": cols_used * (self.conversion_cycles - 1) * self.conversions_share}

    def pass_time_s(self, rows_used: int, cols_used: int) -> float:
        per_adc = math.ceil(cols_used / self.n_adc)
        t_adc = per_adc * self.adc.conversion_time_s
        cycle = self.q("charge", "cycle_time")
        if self.conversion_cycles == self.input_cycles:
            return self.input_cycles * (max(cycle, t_adc) if self.adc.overlaps_integration else cycle + t_adc)
        over = max(0.0, t_adc - cycle) if self.adc.overlaps_integration else t_adc
        return self.input_cycles * cycle + self.conversion_cycles * over

    def tile_area_m2(self) -> float:
        return self.q("tile", "area") * self.geometry_scale()

    # -- simulation view ----------------------------------------------------------------
    def ktc_noise_rows(self) -> float:
        """kT/C noise of one column sample in units of one full-scale row."""
        rows = self.tile.rows
        return math.sqrt(rows * BOLTZMANN_J_K * TEMPERATURE_K / self.capacitance_f) / self.voltage_v

    @property
    def out_noise(self) -> float:
        if self.exact:
            return 0.0
        return math.sqrt(float(self.noise.get("out_noise", 0.0)) ** 2 + self.ktc_noise_rows() ** 2)

    @property
    def state_lattice(self) -> float | None:
        """Matched capacitors hold exact bits (states on multiples of 1 / the slice's largest
        digit); capacitor mismatch makes them analog."""
        if self.exact or float(self.noise.get("cap_mismatch", 0.0)):
            return None
        return 1.0 / nz.slice_levels(self.tile)

    def program(self, w: torch.Tensor, gen: torch.Generator | None, *, t_inference_s: float = 0.0,
                per_slice: bool = False, blocks: Any = None) -> Programmed:
        if self.exact:
            eff, scale = nz.program_crossbar(w, self.tile, self.noise, gen)
            return Programmed(eff[None], torch.ones(1), scale)
        bits, sig, scale, _ = nz.program_crossbar(w, self.tile, {"model": "sram"}, gen, per_slice=True)
        sigma = float(self.noise.get("cap_mismatch", 0.0))
        if sigma:  # each cell's capacitor of this chip instance, drawn slice by slice
            for s in range(bits.shape[0]):
                bits[s].mul_(1 + sigma * torch.randn(bits[s].shape, generator=gen, dtype=bits.dtype))
        state = Programmed(bits, sig, scale)
        return state if per_slice and not self.tile.analog_slices else Programmed(state.recombined()[None], torch.ones(1), scale)

    def accuracy_params(self) -> set[tuple[str, str]]:
        keys = super().accuracy_params()
        if self.exact:
            return keys
        return keys | {("tile", "cell_bits"), ("tile", "input_encoding"),
                       ("charge", "cell_capacitance"), ("charge", "drive_voltage")}
