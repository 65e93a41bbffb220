"""Crossbar compute-in-memory tiles with their device models: PCM, RRAM, SRAM.

Cost view, per tile pass with ``r`` rows and ``c`` columns in use and ``k = input_cycles``
input cycles (``input_bits`` planes for bit-serial inputs, 1 for PWM or multi-level inputs):

* DAC / row drivers: ``r * k`` conversions (a PWM pulse, a 1-bit or a multi-level DAC);
* cells: ``r * c * devices_per_cell * k`` device reads, each ``V^2 * G_mean * t_mean`` (or a
  preset's ``cell_read_energy``);
* ADC: ``c * k`` conversions at ``output_bits``; bit-serial partial results are shift-added
  digitally: ``c * (k-1)`` adds;
* time: per cycle the read (PWM: 2^(b-1) LSB periods; else one read pulse) and the ADCs, each
  converting ``ceil(c / n_adc)`` columns in turn (ADC sharing); overlapped when the ADC
  integrates during the read (CCO) or is pipelined (ISAAC), else added.

Simulation view: the weight is normalised per column, quantized to ``weight_bits``, split
into ``slices`` bit slices of ``cell_bits`` (one tile each, shift-added digitally), each held
by a differential pair or, with one device per cell, in the offset encoding of ISAAC (unsigned
digits, the offset subtracted digitally: :attr:`~hw_models.family.Programmed.offset`); the
``[noise] model`` draws the devices (:func:`hw_models.noise.program_crossbar`). Each tile
output gets output noise and, when the model has it, read noise proportional to the norm of
the pass's inputs.

Example::

    >>> import hw_models
    >>> xb = hw_models.load("pcm-hermes").tile_model
    >>> round(xb.pass_time_s(256, 256) * 1e9)
    128
"""
from __future__ import annotations

import math
from typing import Any

import torch

from hw_models import noise as nz
from hw_models.circuits import CURRENT_INPUT_ADCS, wire_load_f
from hw_models.family import Programmed, TileFamily

Q = lambda dim: ("q", dim)  # noqa: E731


class Crossbar(TileFamily):
    name = "crossbar"
    noise_models = ("pcm", "rram", "sram", "ideal")
    sections = {"array": {  # crossbar cells
        "read_voltage": Q("voltage"), "g_max": Q("conductance"),
        "mean_conductance_fraction": Q("ratio"), "mean_input_fraction": Q("ratio"),
        "read_pulse_time": Q("time"), "pwm_lsb_time": Q("time"),
        "cell_read_energy": Q("energy"), "cell_area": Q("area"), "bitline_swing": Q("voltage"),
    }}

    # -- cost view ----------------------------------------------------------------------
    def unit_energies(self) -> dict[str, dict[str, float]]:
        return {**super().unit_energies(),
                "dac_conversion": {"dac": self.dac_energy_j()},
                "cell_read": self.cell_read_components(),
                **({"bitline_charge": {"array": self.bitline_energy_j()}} if self.has_bitline else {}),
                "adc_conversion": {"adc": self.adc.energy_j},
                "cell_write": {"programming": self.q("programming", "write_energy", 0.0)}}

    def read_time_s(self) -> float:
        """Duration of one read cycle (the input pulse)."""
        if self.encoding == "pwm":
            return 2 ** (self.hw.input_bits - 1) * self.q("array", "pwm_lsb_time")
        return max(self.q("array", "read_pulse_time"), self.dac.conversion_time_s)

    def cell_read_components(self) -> dict[str, float]:
        """A device read: its own energy (``array``) and, under a current-input converter
        (``[adc] model = "circuit"``, ``type = "cco"``), the mirrored current the converter draws
        from the supply over the same window, ``mirror_ratio * V_dd / V_read`` times it (``adc``)."""
        e = self.cell_read_energy_j()
        adc = self.p.get("adc", {})
        if adc.get("model") == "circuit" and adc.get("type") in CURRENT_INPUT_ADCS:
            tech = self.need_tech("adc", "circuit")
            return {"array": e, "adc": e * tech.stock("mirror_ratio") * tech.vdd / self.line_voltage()}
        return {"array": e}

    def cell_read_energy_j(self) -> float:
        """Energy of one device read: preset value, or V^2 * (f_g g_max) * (f_x t_read)."""
        a = self.p.get("array", {})
        if "cell_read_energy" in a:
            return a["cell_read_energy"].si
        v, g = self.q("array", "read_voltage"), self.q("array", "g_max")
        fg, fx = self.q("array", "mean_conductance_fraction"), self.q("array", "mean_input_fraction")
        return v * v * fg * g * fx * self.read_time_s()

    def line_voltage(self) -> float:
        """Resistive rows are driven to the read voltage; SRAM word lines to the supply."""
        if self.noise_model in ("pcm", "rram") and "read_voltage" in self.p.get("array", {}):
            return self.q("array", "read_voltage")
        return super().line_voltage()

    @property
    def has_bitline(self) -> bool:
        """The file gives a bit-line swing (a precharged, discharging column)."""
        return "bitline_swing" in self.p.get("array", {})

    def bitline_energy_j(self) -> float:
        """One bit line swung by ``[array] bitline_swing`` from the supply in one cycle (a
        current-domain SRAM column discharging its precharged bit line): ``C_BL V_swing V_dd``
        with ``C_BL`` = rows x (pitch x wire capacitance + one access transistor's drain, taken
        equal to a minimum transistor gate: modelling choice). 0 when the file gives no swing (resistive
        columns held at a virtual ground by their integrator)."""
        a = self.p.get("array", {})
        if "bitline_swing" not in a:
            return 0.0
        tech = self.need_tech("array", "bitline_swing")
        pitch = math.sqrt(self.q("array", "cell_area"))
        c = wire_load_f(self.tile.rows, pitch, tech.c_transistor_f, tech)
        return c * a["bitline_swing"].si * tech.vdd

    def actions_per_pass(self, rows_used: int, cols_used: int) -> dict[str, float]:
        k = self.input_cycles
        return {
            "dac_conversion": rows_used * k * self.conversions_share,  # analog slices share a row line
            "cell_read": rows_used * cols_used * self.tile.devices_per_cell * k,
            "adc_conversion": cols_used * self.conversion_cycles * self.conversions_share,
            **({"bitline_charge": cols_used * self.tile.devices_per_cell * k} if self.has_bitline else {}),
            "shift_add": cols_used * (self.conversion_cycles - 1) * self.conversions_share,
        }

    def pass_time_s(self, rows_used: int, cols_used: int) -> float:
        per_adc = math.ceil(cols_used / self.n_adc)  # columns one ADC converts in turn
        t_read, t_adc = self.read_time_s(), per_adc * self.adc.conversion_time_s
        cycle = max(t_read, t_adc) if self.adc.overlaps_integration else t_read + t_adc
        if self.conversion_cycles == self.input_cycles:
            return self.input_cycles * cycle
        # planes accumulated in analog: every read, then one conversion
        over = max(0.0, t_adc - t_read) if self.adc.overlaps_integration else t_adc
        return self.input_cycles * t_read + self.conversion_cycles * over

    def tile_area_m2(self) -> float:
        return sum(self.tile_area_breakdown_m2().values())

    def tile_area_breakdown_m2(self) -> dict[str, float]:
        """Area of one tile by component. Bottom-up: cells x ``cell_area``, one ADC per
        ``cols_per_adc`` columns (the ADCs actually instantiated) x the ADC's area, one row
        driver per row. A measured ``[tile] area`` (stated for the file's geometry and ADC
        count) keeps its non-ADC part, scaled with the devices, and counts the ADCs apart, so
        that sharing ADCs (``cols_per_adc``) changes the area as it changes the latency."""
        t = self.p["tile"]
        adc = self.n_adc * self.adc.area_m2
        if "area" in t:
            ref = self.p.get("_reference", {})
            n_ref = math.ceil((ref.get("cols") or self.tile.cols) / (ref.get("cols_per_adc") or 1))
            rest = t["area"].si - n_ref * self._reference_adc_area_m2()
            if rest < 0:
                raise ValueError(f"[tile] area {t['area'].si:.3g} m2 is smaller than its "
                                 f"{n_ref} ADCs ({self._reference_adc_area_m2():.3g} m2 each)")
            return {"tile (measured, less ADCs)": rest * self.geometry_scale(), "adc": adc}
        cells = self.tile.rows * self.tile.cols * self.tile.devices_per_cell
        return {"array": cells * self.q("array", "cell_area"), "adc": adc,
                "dac": self.tile.rows * self.dac.area_m2}

    def _reference_adc_area_m2(self) -> float:
        """Area of one ADC at the file's own resolution (what a measured tile area contains)."""
        ref = self.p.get("_reference", {})
        bits = ref.get("output_bits") or self.hw.output_bits
        return self.adc.area_m2 * 2.0 ** (bits - self.adc.bits) if self.adc.area_m2 else 0.0

    # -- simulation view ----------------------------------------------------------------
    def program(self, w: torch.Tensor, gen: torch.Generator | None, *, t_inference_s: float = 0.0,
                per_slice: bool = False, blocks: Any = None) -> Programmed:
        if per_slice and not self.tile.analog_slices:  # analog combining: one recombined state
            sl, sig, scale, offset = nz.program_crossbar(w, self.tile, self.noise, gen, t_inference_s,
                                                         per_slice=True)
            return Programmed(sl, sig, scale, offset)
        eff, scale = nz.program_crossbar(w, self.tile, self.noise, gen, t_inference_s)
        return Programmed(eff[None], torch.ones(1), scale)

    @property
    def read_noise(self) -> float:
        return 0.0 if self.exact else float(self.noise.get("read_noise", 0.0))

    @property
    def signal_dependent_noise(self) -> bool:
        return self.read_noise > 0

    @property
    def state_lattice(self) -> float | None:
        """SRAM cells hold exact digits: states on multiples of 1 / (the slice's largest digit)."""
        return 1.0 / nz.slice_levels(self.tile) if self.noise_model == "sram" else None

    def noise_var_coeffs(self, rows_used: int) -> tuple[float, float, float]:
        """Output noise, and read noise ``read_noise * ||x||`` (the additive bound of aihwkit's
        PCM read-noise model, see the ``read_noise`` source in :mod:`hw_models.noise`)."""
        return (self.out_noise ** 2, self.read_noise ** 2, 0.0)

    def accuracy_params(self) -> set[tuple[str, str]]:
        keys = super().accuracy_params()
        if self.exact:
            return keys
        keys |= {("tile", "cell_bits"), ("tile", "input_encoding")}  # slices and passes
        if self.noise_model in ("pcm", "rram"):  # devices, not exact bits
            keys.add(("tile", "devices_per_cell"))
        if self.noise_model == "pcm" and self.t_inference_s == 0:  # no drift yet at t = 0
            keys -= {("noise", "drift_nu_mean"), ("noise", "drift_nu_std")}
        return keys
