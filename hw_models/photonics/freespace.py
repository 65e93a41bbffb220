"""Free-space optical MVM (Anderson et al., "Optical Transformers", arXiv 2302.10360).

Weights sit on SLM pixels (``devices_per_cell`` pixels per weight: positive and negative
parts), inputs are written by a modulator array and fanned out optically to every output,
and each output is a detector (balanced pair) followed by an ADC. A detector needs a fixed
number of photons for its output precision — ``snr_margin * 4^output_bits`` at the shot-noise
limit, divided by the quantum efficiency — and that light is the sum over the ``d`` inputs of
its dot product, so the optical energy per MAC is ``E_detector / d``: the 1/d scaling.
``photons_per_mac`` (an override) instead fixes the photons per MAC, as in the experiments of
Wang et al. Nat. Commun. 13:123 (2022), which removes the 1/d gain.

The source supplies that light through ``optical_loss`` at ``wall_plug_efficiency``. Weight
reloads rewrite the SLM (``slm_update_time``, ``slm_power`` during it). Area is pixels x pitch^2.

Example::

    >>> import hw_models
    >>> from hw_models.photonics.freespace import FreeSpaceOptics
    >>> fs = FreeSpaceOptics(hw_models.load("freespace"))
    >>> e = lambda d: fs.pass_energy_j(d, 64)["optical"] / (d * 64)
    >>> round(e(256) / e(1024), 3)
    4.0
"""
from __future__ import annotations

from hw_models.base import Hardware
from hw_models.tile import TileModel, make_dac
from hw_models.units import photon_energy_j


class FreeSpaceOptics(TileModel):
    family = "freespace"

    def __init__(self, hw: Hardware) -> None:
        super().__init__(hw)
        self.dac = make_dac(hw, hw.input_bits)
        self.photon_j = photon_energy_j(self.q("optics", "wavelength"))
        self.transmission = 10 ** (-self.q("freespace", "optical_loss", 0.0) / 10)
        self.wall_plug = self.q("optics", "wall_plug_efficiency")
        ppm = self.p.get("freespace", {}).get("photons_per_mac")
        self.photons_per_mac = None if ppm is None else ppm.si
        self.unit_energy = {
            "dac_conversion": {"dac": self.dac.energy_j},
            "modulation": {"dac": self.q("freespace", "modulator_energy")},
            "detection": {"adc": self.q("freespace", "tia_energy")},
            "adc_conversion": {"adc": self.adc.energy_j},
        }

    def detector_photons(self, d: int) -> float:
        """Photons one detector must receive per output (d = dot-product length)."""
        if self.photons_per_mac is not None:
            return self.photons_per_mac * d / self.tile.devices_per_cell
        return self.q("optics", "snr_margin", 1.0) * 4 ** self.hw.output_bits / self.q(
            "optics", "detector_quantum_efficiency")

    def actions_per_pass(self, rows_used: int, cols_used: int) -> dict[str, float]:
        return {"dac_conversion": rows_used, "modulation": rows_used, "detection": cols_used,
                "adc_conversion": cols_used,
                "detector_light": cols_used * self.tile.devices_per_cell}

    def pass_energy_j(self, rows_used: int, cols_used: int) -> dict[str, float]:
        # the light per detection depends on d when photons_per_mac is fixed, so price here
        out = super().pass_energy_j(rows_used, cols_used)
        e_det = self.detector_photons(rows_used) * self.photon_j
        n = cols_used * self.tile.devices_per_cell
        out["optical"] = out.get("optical", 0.0) + n * e_det
        out["laser"] = out.get("laser", 0.0) + n * e_det * (1 / (self.transmission * self.wall_plug) - 1)
        return out

    def pass_time_s(self, rows_used: int, cols_used: int) -> float:
        symbol = 1.0 / self.q("freespace", "symbol_rate")
        t_adc = self.adc.conversion_time_s * -(-cols_used // self.n_adc)
        return max(symbol, t_adc) if self.adc.overlaps_integration else symbol + t_adc

    def static_power_w(self) -> float:
        return self.q("freespace", "slm_static_power", 0.0)

    def program_energy_j(self, cells: float) -> float:
        """An SLM frame rewrites all pixels at once: charge the frame's share for ``cells``."""
        frame = self.q("freespace", "slm_power") * self.q("freespace", "slm_update_time")
        return frame * cells / (self.tile.rows * self.tile.cols)

    def program_time_s(self) -> float:
        return self.q("freespace", "slm_update_time")

    def tile_area_m2(self) -> float:
        pitch = self.q("freespace", "pixel_pitch")
        pixels = self.tile.rows * self.tile.cols * self.tile.devices_per_cell
        return pixels * pitch * pitch

    def floor_energy_per_pass_j(self, rows_used: int, cols_used: int) -> float:
        """Shot-noise floor: 4^bits photons per output at unit quantum efficiency."""
        return cols_used * 4 ** self.hw.output_bits * self.photon_j
