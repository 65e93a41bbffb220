"""What the optical families share: the photon budget, priced and drawn from one number.

An optical tile delivers ``photons_per_output(r)`` photons to the detector(s) of one output
when that output is at full scale (``r`` rows in use, every |x| = |w| = 1). The cost view
prices exactly those photons (``photon`` action: their energy is the ``optical`` component,
the source's losses and wall-plug efficiency on top of it the ``laser`` component); the
simulation view draws the shot noise of exactly those photons, times the detector's quantum
efficiency: a detector reading a normalised dot product ``s = sum |x||w|`` counts
``Poisson(ppm * s)`` photoelectrons with ``ppm = QE * photons_per_output(r) / r``, so

    var(y) = s / ppm + detectors * (detector_noise / ppm)^2 + out_noise^2

in units of one full-scale row (the form of Wang et al. Nat. Commun. 13:123, 2022, for
photon-counting optical dot products).
"""
from __future__ import annotations

import torch

from hw_models.family import TileFamily
from hw_models.units import photon_energy_j

OPTICS_SECTION = {
    "wavelength": ("q", "length"), "wall_plug_efficiency": ("q", "ratio"),
    "detector_quantum_efficiency": ("q", "ratio"), "snr_margin": ("q", "ratio"),
    "detector_energy": ("q", "energy"),
}


class OpticalFamily(TileFamily):
    """Base of the MZI-mesh and free-space families."""

    noise_reads_weights = True  # the light on a detector is sum |x||w|

    @property
    def photon_j(self) -> float:
        return photon_energy_j(self.q("optics", "wavelength"))

    @property
    def transmission(self) -> float:
        """Power transmission from the source to the detectors (the laser makes up for it)."""
        raise NotImplementedError

    @property
    def quantum_efficiency(self) -> float:
        return self.q("optics", "detector_quantum_efficiency")

    @property
    def detectors_per_output(self) -> int:
        return 1

    def shot_noise_photons(self) -> float:
        """Photons one detector needs at the shot-noise limit for ``output_bits`` of precision:
        ``snr_margin * 4^bits`` photoelectrons (sqrt(N) = 2^bits), over the quantum efficiency."""
        return self.q("optics", "snr_margin", 1.0) * 4 ** self.hw.output_bits / self.quantum_efficiency

    def photons_per_output(self, rows_used: int) -> float:
        """Photons at the detector(s) of one output at full scale (the priced budget)."""
        raise NotImplementedError

    def detected_photons_per_mac(self, rows_used: int) -> float:
        """Photoelectrons per unit of |x||w| (full scale = 1) that the shot noise is drawn from."""
        return self.quantum_efficiency * self.photons_per_output(rows_used) / rows_used

    def detector_noise_photons(self) -> float:
        """Gaussian read-out noise of one detector, in photoelectrons rms (0: shot-noise limited)."""
        return float(self.noise.get("detector_noise_photons", 0.0))

    def unit_energies(self) -> dict[str, dict[str, float]]:
        e = self.photon_j
        wall = self.q("optics", "wall_plug_efficiency")
        return {**super().unit_energies(),
                "photon": {"optical": e, "laser": e * (1.0 / (self.transmission * wall) - 1.0)}}

    def floor_energy_per_pass_j(self, rows_used: int, cols_used: int) -> float:
        """Shot-noise floor: 4^bits photons per output at unit quantum efficiency."""
        return cols_used * 4 ** self.hw.output_bits * self.photon_j

    # -- simulation view ----------------------------------------------------------------
    @property
    def signal_dependent_noise(self) -> bool:
        return not self.exact

    def noise_var_coeffs(self, rows_used: int) -> tuple[float, float, float]:
        """Shot noise of ``s = sum |x||w|`` detected photons per MAC (``s / ppm``), detector
        read-out and output noise (the module doc's formula)."""
        if self.exact:
            return (0.0, 0.0, 0.0)
        ppm = self.detected_photons_per_mac(rows_used)
        det = self.detectors_per_output * (self.detector_noise_photons() / ppm) ** 2
        return (det + self.out_noise ** 2, 0.0, 1.0 / ppm)

    def photon_budget_params(self) -> set[tuple[str, str]]:
        """The keys that set the detected photon count (and so the shot noise) here."""
        raise NotImplementedError

    def accuracy_params(self) -> set[tuple[str, str]]:
        keys = super().accuracy_params()
        return keys if self.exact else keys | self.photon_budget_params()
