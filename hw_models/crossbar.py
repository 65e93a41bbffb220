"""Crossbar compute-in-memory tiles: PCM, RRAM and SRAM-CIM.

Per tile pass with ``r`` rows and ``c`` columns in use, and ``k`` input cycles (``input_bits``
for bit-serial inputs, 1 for PWM or multi-level inputs):

* DAC / row drivers: ``r * k`` conversions (a PWM pulse, a 1-bit or a multi-level DAC);
* cells: ``r * c * devices_per_cell * k`` device reads, each ``V^2 * G_mean * t_mean`` (or a
  preset's ``cell_read_energy``);
* ADC: ``c * k`` conversions at ``output_bits`` (bit-serial partial results are shift-added
  digitally: ``c * (k-1)`` adds);
* time: per cycle the read (PWM: 2^(b-1) LSB periods; else one read pulse) and the ADCs, each
  converting ``ceil(c / n_adc)`` columns in turn (ADC sharing); overlapped when the ADC
  integrates during the read (CCO) or is pipelined (ISAAC), else added.

Example::

    >>> import hw_models
    >>> from hw_models.crossbar import Crossbar
    >>> xb = Crossbar(hw_models.load("pcm-hermes"))
    >>> round(xb.pass_time_s(256, 256) * 1e9)
    128
"""
from __future__ import annotations

import math

from hw_models.base import Hardware
from hw_models.tile import TileModel, make_dac


class Crossbar(TileModel):
    family = "crossbar"

    def __init__(self, hw: Hardware) -> None:
        super().__init__(hw)
        t = self.p["tile"]
        self.encoding = t.get("input_encoding", "multi-level")
        self.cycles = hw.input_bits if self.encoding == "bit-serial" else 1
        dac_bits = 1 if self.encoding in ("bit-serial", "pwm") else hw.input_bits
        self.dac = make_dac(hw, dac_bits)
        self.unit_energy = {
            "dac_conversion": {"dac": self.dac.energy_j},
            "cell_read": {"array": self.cell_read_energy_j()},
            "adc_conversion": {"adc": self.adc.energy_j},
        }

    def read_time_s(self) -> float:
        """Duration of one read cycle (the input pulse)."""
        if self.encoding == "pwm":
            return 2 ** (self.hw.input_bits - 1) * self.q("array", "pwm_lsb_time")
        return max(self.q("array", "read_pulse_time"), self.dac.conversion_time_s)

    def cell_read_energy_j(self) -> float:
        """Energy of one device read: preset value, or V^2 * (f_g g_max) * (f_x t_read)."""
        a = self.p.get("array", {})
        if "cell_read_energy" in a:
            return a["cell_read_energy"].si
        v, g = self.q("array", "read_voltage"), self.q("array", "g_max")
        fg, fx = self.q("array", "mean_conductance_fraction"), self.q("array", "mean_input_fraction")
        return v * v * fg * g * fx * self.read_time_s()

    def actions_per_pass(self, rows_used: int, cols_used: int) -> dict[str, float]:
        k = self.cycles
        return {
            "dac_conversion": rows_used * k,
            "cell_read": rows_used * cols_used * self.tile.devices_per_cell * k,
            "adc_conversion": cols_used * k,
            "shift_add": cols_used * (k - 1),
        }

    def pass_time_s(self, rows_used: int, cols_used: int) -> float:
        per_adc = math.ceil(cols_used / self.n_adc)  # columns one ADC converts in turn
        t_read, t_adc = self.read_time_s(), per_adc * self.adc.conversion_time_s
        cycle = max(t_read, t_adc) if self.adc.overlaps_integration else t_read + t_adc
        return self.cycles * cycle

    def tile_area_m2(self) -> float:
        t = self.p["tile"]
        if "area" in t:  # measured for the preset's geometry: scale with the devices
            return t["area"].si * self.geometry_scale()
        cells = self.tile.rows * self.tile.cols * self.tile.devices_per_cell
        return (cells * self.q("array", "cell_area") + self.n_adc * self.adc.area_m2
                + self.tile.rows * self.dac.area_m2)
