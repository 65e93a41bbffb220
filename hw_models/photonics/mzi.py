"""Coherent MZI meshes: an N x N weight as its SVD, W = U S V^T.

U and V^T are Clements meshes of N(N-1)/2 MZIs each (Clements et al. Optica 3:1460, 2016), S a
column of N attenuators (one MZI each), as in Shen et al. Nat. Photonics 11:441 (2017). Light
crosses 2N + 1 MZI columns, so the insertion loss is ``modulator_loss + (2N+1) * mzi_loss +
coupling_loss``.

Cost view, per vector (one pass): ``r`` DAC conversions and modulator symbols, ``c``
detections (PD + TIA) and ADC conversions, and the light: each detector needs, for
``output_bits`` of precision, the larger of the shot-noise floor (``snr_margin * 4^bits``
photons / quantum efficiency) and the receiver's thermal floor (``detector_energy * 2^bits``,
sensitivity scaled as in Lightening-Transformer), supplied through the mesh's loss
(:mod:`hw_models.photonics.optics`).

Phase shifters hold their phase for as long as a weight is resident: thermo-optic ones draw
``hold_power_pi * phase/pi``; with phases uniform, the internal shifter of an MZI averages
pi/2 and the external one pi, so an MZI holds 1.5 * P_pi and an attenuator 0.5 * P_pi.
Reprogramming takes ``settle_time`` and one DAC conversion per shifter.

Simulation view: each tile block of the plan is one mesh; its SVD is decomposed into Clements
phases, quantized to ``phase_bits``, perturbed (phase errors, crosstalk, splitter imbalance),
and every MZI attenuates by ``mzi_loss`` (with spread ``loss_std_db``). A uniform loss of
all paths would be undone by the receiver gain, but the paths of a rectangular mesh cross
different numbers of MZIs (edge waveguides skip every other column), so ``mzi_loss`` also
distorts the matrix; the receiver gain is set per mesh to the average transmission. The
shot noise of the photons the cost view pays for and the detector noise ``out_noise`` are
added to each output.

Example::

    >>> import hw_models
    >>> m = hw_models.load("mzi").tile_model
    >>> m.static_power_w() > 1.0          # thermo-optic: watts per 32x32 tile
    True
    >>> hw_models.load("mzi-mems").tile_model.static_power_w()
    0.0
"""
from __future__ import annotations

from typing import Any

import torch

from hw_models import noise as nz
from hw_models.family import Programmed
from hw_models.photonics.optics import OPTICS_SECTION, OpticalFamily, modulator_energy_j

Q = lambda dim: ("q", dim)  # noqa: E731


class MZIMesh(OpticalFamily):
    name = "mzi"
    device_table = "mzi"
    noise_models = ("mzi", "ideal")
    sections = {
        "mzi": {
            "phase_shifter": ("choice", ("thermo-optic", "mems", "electro-optic")),
            "hold_power_pi": Q("power"), "settle_time": Q("time"), "shifter_program_energy": Q("energy"),
            "mzi_loss": Q("decibel"), "coupling_loss": Q("decibel"), "modulator_loss": Q("decibel"),
            "mzi_area": Q("area"), "modulator_energy": Q("energy"), "tia_energy": Q("energy"),
            "symbol_rate": Q("frequency"),
            # a capacitive (electro-optic) shifter priced from its device parameters instead of
            # shifter_program_energy (optics.py: the modulator model over the shifter's range)
            "shifter_capacitance": Q("capacitance"), "shifter_v_pi": Q("voltage"),
        },
        "optics": OPTICS_SECTION,
    }
    aliases = {"phase_shifter": ("mzi", "phase_shifter"), "mzi_loss": ("mzi", "mzi_loss")}
    # a mesh takes analog input amplitudes and holds each weight in its phases, once
    tile_constraints = {"input_encoding": ("multi-level",), "devices_per_cell": (1,)}
    unsliced = True

    @property
    def n(self) -> int:
        return max(self.tile.rows, self.tile.cols)

    @property
    def mzis(self) -> int:
        """MZIs of the SVD: two Clements meshes plus N attenuators."""
        return self.n * (self.n - 1) + self.n

    @property
    def insertion_loss_db(self) -> float:
        return (self.q("mzi", "modulator_loss", 0.0) + (2 * self.n + 1) * self.q("mzi", "mzi_loss")
                + self.q("mzi", "coupling_loss", 0.0))

    @property
    def transmission(self) -> float:
        return 10 ** (-self.insertion_loss_db / 10)

    def detector_energy_j(self) -> float:
        """Optical energy one detector needs per output: shot-noise or thermal floor."""
        thermal = self.q("optics", "detector_energy", 0.0) * 2 ** self.hw.output_bits
        return max(self.shot_noise_photons() * self.photon_j, thermal)

    def photons_per_output(self, rows_used: int) -> float:
        return self.detector_energy_j() / self.photon_j

    # -- cost view ----------------------------------------------------------------------
    def unit_energies(self) -> dict[str, dict[str, float]]:
        return {**super().unit_energies(),  # DAC, modulator, detector + TIA, ADC, light (optics.py)
                "shifter_write": {"programming": self.shifter_write_energy_j()}}

    def shifter_write_energy_j(self) -> float:
        """Setting one phase shifter: ``[mzi] shifter_program_energy`` as stated, else one DAC
        conversion plus the shifter's capacitance driven to its new voltage
        (:func:`~hw_models.photonics.optics.modulator_energy_j` at the DAC's 2^input_bits
        levels). An MZI's internal shifter spans theta in [0, pi] (``V_pi``), its external one
        phi in [0, 2 pi) (``2 V_pi``), in equal numbers in the mesh: a write costs the mean of
        the two (modelling choice; the N attenuators' internal shifters are not weighted apart)."""
        fixed = self._fixed_or_model("shifter_program_energy", ("shifter_capacitance", "shifter_v_pi"), "mzi")
        if fixed is not None:
            return fixed.si
        c, v_pi = self.q("mzi", "shifter_capacitance"), self.q("mzi", "shifter_v_pi")
        tech, levels = self._tech("phase shifters"), 2 ** self.hw.input_bits
        charge = (modulator_energy_j(c, v_pi, tech, levels) + modulator_energy_j(c, 2 * v_pi, tech, levels)) / 2
        return self.dac_energy_j() + charge

    def actions_per_pass(self, rows_used: int, cols_used: int) -> dict[str, float]:
        return {"dac_conversion": rows_used, "modulation": rows_used, "detection": cols_used,
                "adc_conversion": cols_used, "photon": cols_used * self.photons_per_output(rows_used)}

    def actions_to_program(self, cells: float) -> dict[str, float]:
        """Each weight position sets ~2 phase shifters (N^2 weights <-> N(N-1)+N MZIs x 2)."""
        return {"shifter_write": cells * 2 * self.mzis / (self.n * self.n)}

    def pass_time_s(self, rows_used: int, cols_used: int) -> float:
        symbol = 1.0 / self.symbol_rate_hz
        t_adc = self.adc.conversion_time_s * -(-cols_used // self.n_adc)
        return max(symbol, t_adc) if self.adc.overlaps_integration else symbol + t_adc

    def static_power_w(self) -> float:
        p_pi = self.q("mzi", "hold_power_pi")
        mesh_mzis = self.n * (self.n - 1)
        return mesh_mzis * 1.5 * p_pi + self.n * 0.5 * p_pi + self.modulator_hold_w(self.n)  # + input modulators

    def program_time_s(self) -> float:
        return self.q("mzi", "settle_time")

    def tile_area_m2(self) -> float:
        return (self.mzis * self.q("mzi", "mzi_area") + self.n_adc * self.adc.area_m2
                + self.n * self.dac.area_m2)

    def floor_energy_per_pass_j(self, rows_used: int, cols_used: int) -> float:
        return cols_used * self.shot_noise_photons() * self.photon_j

    # -- simulation view ----------------------------------------------------------------
    @property
    def phase_bits(self) -> int | None:
        return None if self.exact else int(self.noise["phase_bits"])

    def program(self, w: torch.Tensor, gen: torch.Generator | None, *, t_inference_s: float = 0.0,
                per_slice: bool = False, blocks: Any = None) -> Programmed:
        eff, scale = nz.program_mzi(w, self.tile, self.noise, gen, mzi_loss_db=self.q("mzi", "mzi_loss"),
                                    blocks=blocks)
        return Programmed(eff[None], torch.ones(1), scale)

    def photon_budget_params(self) -> set[tuple[str, str]]:
        thermal = self.q("optics", "detector_energy", 0.0) * 2 ** self.hw.output_bits
        if thermal > self.shot_noise_photons() * self.photon_j:  # receiver-limited: more light
            return {("optics", "detector_energy"), ("optics", "detector_quantum_efficiency"),
                    ("optics", "wavelength")}
        return {("optics", "snr_margin")}  # shot-noise limited: QE and wavelength cancel

    def accuracy_params(self) -> set[tuple[str, str]]:
        keys = super().accuracy_params()
        return keys if self.exact else keys | {("mzi", "mzi_loss"), ("tile", "cols")}
