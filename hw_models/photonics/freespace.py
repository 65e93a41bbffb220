"""Free-space optical MVM (Anderson et al., "Optical Transformers", arXiv 2302.10360).

Weights sit on SLM pixels (``devices_per_cell`` pixels per weight: positive and negative
parts), inputs are written by a modulator array and fanned out optically to every output,
and each output is read by ``devices_per_cell`` detectors (a balanced pair) followed by an
ADC. A detector needs a fixed number of photons for its output precision —
``snr_margin * 4^output_bits`` photoelectrons at the shot-noise limit, over the quantum
efficiency, or the receiver's thermal floor ``detector_energy * 2^bits`` when the preset
states one and it is higher (as for the MZI mesh) — and that light is the sum over the ``d``
inputs of its dot product, so the optical energy per MAC is ``E_detector / d``: the 1/d
scaling. ``photons_per_mac`` instead fixes the photons per MAC at the detectors, as in the
experiments of Wang et al. Nat. Commun. 13:123 (2022), which removes the 1/d gain. Either way the deployed model draws
the shot noise of exactly the photons priced here (:mod:`hw_models.photonics.optics`).

The source supplies that light through ``optical_loss`` at ``wall_plug_efficiency``. Weight
reloads rewrite the SLM (``slm_update_time``, ``slm_power`` during it); with ``weights =
"modulators"`` (an integrated crossbar of weight modulators) each weight device is one DAC
conversion and one modulator charge. Area is pixels x pitch^2.

Example::

    >>> import hw_models
    >>> fs = hw_models.load("freespace").tile_model
    >>> e = lambda d: fs.pass_energy_j(d, 64)["optical"] / (d * 64)
    >>> round(e(256) / e(1024), 3)
    4.0
"""
from __future__ import annotations

from typing import Any

import torch

from hw_models import noise as nz
from hw_models.family import Programmed
from hw_models.photonics.optics import OPTICS_SECTION, OpticalFamily

Q = lambda dim: ("q", dim)  # noqa: E731


class FreeSpaceOptics(OpticalFamily):
    name = "freespace"
    device_table = "freespace"
    noise_models = ("freespace", "ideal")
    sections = {
        "freespace": {
            "pixel_pitch": Q("length"), "slm_update_time": Q("time"), "slm_power": Q("power"),
            "slm_static_power": Q("power"), "optical_loss": Q("decibel"),
            "modulator_energy": Q("energy"), "tia_energy": Q("energy"), "symbol_rate": Q("frequency"),
            "photons_per_mac": Q("count"),
            # what holds the weights: SLM pixels (rewritten by frames) or one electro-optic
            # modulator per weight device, each held by its own DAC (an integrated crossbar)
            "weights": ("choice", ("slm", "modulators")),
        },
        "optics": OPTICS_SECTION,
    }
    aliases = {"photons_per_mac": ("freespace", "photons_per_mac")}
    tile_per_layer = True  # an SLM and detector array can be sized to the layer
    tile_constraints = {"input_encoding": ("multi-level",)}  # modulators write analog intensities
    unsliced = True  # a weight is one pixel's (pair's) gray level

    @property
    def transmission(self) -> float:
        return 10 ** (-self.q("freespace", "optical_loss", 0.0) / 10)

    @property
    def photons_per_mac(self) -> float | None:
        """The preset's fixed photons per MAC at the detectors, or None (SNR-sized budget)."""
        ppm = self.p.get("freespace", {}).get("photons_per_mac")
        return None if ppm is None else ppm.si

    @property
    def detectors_per_output(self) -> int:
        return self.tile.devices_per_cell

    def photons_per_output(self, rows_used: int) -> float:
        if self.photons_per_mac is not None:
            return self.photons_per_mac * rows_used
        return self.detectors_per_output * self.detector_photons()

    def detector_photons(self) -> float:
        """Photons one detector needs per output: the shot-noise floor, or the receiver's
        thermal floor ``[optics] detector_energy * 2^bits`` when a preset states it and it is
        higher (as for the MZI mesh)."""
        thermal = self.q("optics", "detector_energy", 0.0) * 2 ** self.hw.output_bits
        return max(self.shot_noise_photons(), thermal / self.photon_j)

    # -- cost view ----------------------------------------------------------------------
    @property
    def weight_modulators(self) -> bool:
        """Weights held by per-weight modulators (``[freespace] weights = "modulators"``)."""
        return self.p.get("freespace", {}).get("weights", "slm") == "modulators"

    def unit_energies(self) -> dict[str, dict[str, float]]:
        if self.weight_modulators:  # one DAC conversion and one modulator charge per weight device
            return {**super().unit_energies(),  # DAC, modulator, detector + TIA, ADC, light (optics.py)
                    "weight_write": {"programming": self.dac_energy_j() + self.modulation_energy_j()}}
        frame = self.q("freespace", "slm_power") * self.q("freespace", "slm_update_time")
        return {**super().unit_energies(),
                "slm_frame": {"programming": frame}}

    def actions_per_pass(self, rows_used: int, cols_used: int) -> dict[str, float]:
        return {"dac_conversion": rows_used, "modulation": rows_used,
                "detection": cols_used * self.detectors_per_output, "adc_conversion": cols_used,
                "photon": cols_used * self.photons_per_output(rows_used)}

    def actions_to_program(self, cells: float) -> dict[str, float]:
        """An SLM frame rewrites all pixels at once: charge the frame's share for ``cells``;
        per-weight modulators: one write per weight device."""
        if self.weight_modulators:
            return {"weight_write": cells * self.tile.devices_per_cell}
        return {"slm_frame": cells / (self.tile.rows * self.tile.cols)}

    def pass_time_s(self, rows_used: int, cols_used: int) -> float:
        symbol = 1.0 / self.symbol_rate_hz
        t_adc = self.adc.conversion_time_s * -(-cols_used // self.n_adc)
        return max(symbol, t_adc) if self.adc.overlaps_integration else symbol + t_adc

    def static_power_w(self) -> float:
        """SLM drive while holding, plus ``[optics] modulator_hold_power`` for each input
        modulator and, with ``weights = "modulators"``, each weight device."""
        held = self.tile.rows + (self.tile.rows * self.tile.cols * self.tile.devices_per_cell
                                 if self.weight_modulators else 0)
        return self.q("freespace", "slm_static_power", 0.0) + self.modulator_hold_w(held)

    def program_time_s(self) -> float:
        """An SLM frame; per-weight modulators: their DACs update in parallel within one symbol
        (modelling choice: electro-optic weight modulators, no thermal settling)."""
        if self.weight_modulators:
            return 1.0 / self.symbol_rate_hz
        return self.q("freespace", "slm_update_time")

    def tile_area_m2(self) -> float:
        pitch = self.q("freespace", "pixel_pitch")
        pixels = self.tile.rows * self.tile.cols * self.tile.devices_per_cell
        return pixels * pitch * pitch

    # -- simulation view ----------------------------------------------------------------
    def program(self, w: torch.Tensor, gen: torch.Generator | None, *, t_inference_s: float = 0.0,
                per_slice: bool = False, blocks: Any = None) -> Programmed:
        eff, scale = nz.program_slm(w, self.noise, self.tile.weight_bits)
        return Programmed(eff[None], torch.ones(1), scale)

    def photon_budget_params(self) -> set[tuple[str, str]]:
        keys = {("tile", "devices_per_cell")}  # detectors per output share the read-out noise
        if self.photons_per_mac is not None:
            return keys | {("freespace", "photons_per_mac"), ("optics", "detector_quantum_efficiency")}
        thermal = self.q("optics", "detector_energy", 0.0) * 2 ** self.hw.output_bits
        if thermal > self.shot_noise_photons() * self.photon_j:  # receiver-limited: more light
            return keys | {("optics", "detector_energy"), ("optics", "detector_quantum_efficiency"),
                           ("optics", "wavelength")}
        return keys | {("optics", "snr_margin")}
