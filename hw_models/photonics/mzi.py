"""Coherent MZI meshes: an N x N weight as its SVD, W = U S V^T.

U and V^T are Clements meshes of N(N-1)/2 MZIs each (Clements et al. Optica 3:1460, 2016), S a
column of N attenuators (one MZI each), as in Shen et al. Nat. Photonics 11:441 (2017). Light
crosses 2N + 1 MZI columns, so the insertion loss is ``modulator_loss + (2N+1) * mzi_loss +
coupling_loss``.

Per vector (one pass): ``r`` DAC conversions and modulator symbols, ``c`` detections (PD + TIA)
and ADC conversions. Each detector needs, for ``output_bits`` of precision, the larger of the
shot-noise floor (``snr_margin * 4^bits`` photons / quantum efficiency) and the receiver's
thermal floor (``detector_energy * 2^bits``, sensitivity scaled as in Lightening-Transformer).
The laser supplies that through the mesh: optical energy at the detectors is the ``optical``
component; ``/ (transmission * wall_plug_efficiency)`` minus it is the ``laser`` component.

Phase shifters hold their phase for as long as a weight is resident: thermo-optic ones draw
``hold_power_pi * phase/pi``; with phases uniform, the internal shifter of an MZI averages
pi/2 and the external one pi, so an MZI holds 1.5 * P_pi and an attenuator 0.5 * P_pi.
Reprogramming takes ``settle_time`` and one DAC conversion per shifter.

Example::

    >>> import hw_models
    >>> from hw_models.photonics.mzi import MZIMesh
    >>> m = MZIMesh(hw_models.load("mzi"))
    >>> m.static_power_w() > 1.0          # thermo-optic: watts per 32x32 tile
    True
    >>> MZIMesh(hw_models.load("mzi-mems")).static_power_w()
    0.0
"""
from __future__ import annotations

from hw_models.base import Hardware
from hw_models.tile import TileModel, make_dac
from hw_models.units import photon_energy_j


class MZIMesh(TileModel):
    family = "mzi"

    def __init__(self, hw: Hardware) -> None:
        super().__init__(hw)
        self.n = max(self.tile.rows, self.tile.cols)
        self.dac = make_dac(hw, hw.input_bits)
        e_det = self.detector_energy_j()
        e_src = e_det / (self.transmission * self.q("optics", "wall_plug_efficiency"))
        self.unit_energy = {
            "dac_conversion": {"dac": self.dac.energy_j},
            "modulation": {"dac": self.q("mzi", "modulator_energy")},
            "detection": {"adc": self.q("mzi", "tia_energy")},
            "adc_conversion": {"adc": self.adc.energy_j},
            "detector_light": {"optical": e_det, "laser": e_src - e_det},
        }

    # -- optics ---------------------------------------------------------------------
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

    def shot_noise_energy_j(self) -> float:
        """Optical energy a detector needs at the shot-noise limit for ``output_bits``."""
        photons = self.q("optics", "snr_margin", 1.0) * 4 ** self.hw.output_bits
        return photons * photon_energy_j(self.q("optics", "wavelength")) / self.q(
            "optics", "detector_quantum_efficiency")

    def detector_energy_j(self) -> float:
        thermal = self.q("optics", "detector_energy", 0.0) * 2 ** self.hw.output_bits
        return max(self.shot_noise_energy_j(), thermal)

    # -- protocol -------------------------------------------------------------------
    def actions_per_pass(self, rows_used: int, cols_used: int) -> dict[str, float]:
        return {"dac_conversion": rows_used, "modulation": rows_used, "detection": cols_used,
                "adc_conversion": cols_used, "detector_light": cols_used}

    def pass_time_s(self, rows_used: int, cols_used: int) -> float:
        symbol = 1.0 / self.q("mzi", "symbol_rate")
        t_adc = self.adc.conversion_time_s * -(-cols_used // self.n_adc)
        return max(symbol, t_adc) if self.adc.overlaps_integration else symbol + t_adc

    def static_power_w(self) -> float:
        p_pi = self.q("mzi", "hold_power_pi")
        mesh_mzis = self.n * (self.n - 1)
        return mesh_mzis * 1.5 * p_pi + self.n * 0.5 * p_pi

    def program_energy_j(self, cells: float) -> float:
        """Each weight position sets ~2 phase shifters (N^2 weights <-> N(N-1)+N MZIs x 2)."""
        shifters_per_weight = 2 * self.mzis / (self.n * self.n)
        return cells * shifters_per_weight * self.q("mzi", "shifter_program_energy")

    def program_time_s(self) -> float:
        return self.q("mzi", "settle_time")

    def tile_area_m2(self) -> float:
        return (self.mzis * self.q("mzi", "mzi_area") + self.n * self.n_adc / self.n * self.adc.area_m2
                + self.n * self.dac.area_m2)

    def floor_energy_per_pass_j(self, rows_used: int, cols_used: int) -> float:
        return cols_used * self.shot_noise_energy_j()
