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

**Components from device parameters** (the electronics around the optics). A preset states
either a fixed energy per action in its family's table (``modulator_energy``, ``tia_energy``:
as before) or the device parameters in ``[optics]``, from which these models price it:

* modulator, per input symbol (:func:`modulator_energy_j`): a lumped, capacitive modulator
  (microring, depletion or Pockels phase shifter, EAM) of capacitance ``modulator_capacitance``
  driven to ``modulator_voltage`` peak to peak. Charging ``C`` from 0 to ``V`` draws ``C V^2``
  from the driver's supply (half stored, half dissipated; discharging draws nothing), so the
  energy per symbol is ``C V^2`` times the mean upward swing per symbol: ``(L+1)/(6L)`` of the
  full swing for ``L`` equally likely, independent levels (``L = 2``, NRZ: ``C V^2/4``, as in
  Miller, Opt. Express 20(S2):A293, 2012, for dynamic dissipation of a capacitive modulator;
  ``L -> inf``: ``C V^2/6``). The final driver stage runs from ``max(V, V_dd)``; its fan-out-4
  buffer chain at V_dd is priced by :func:`hw_models.circuits.driver_energy_j` (``C V_dd^2/3``). Inputs take ``L =
  2^input_bits`` levels. A travelling-wave (terminated) modulator is not capacitive: give its
  measured ``modulator_energy`` instead.
* receiver, per detection (:func:`receiver_energy_j`): the TIA (with its photodetector
  interface) draws ``tia_power`` continuously, so one sample costs ``tia_power / symbol_rate``;
  the photodiode's bias source delivers ``q * V_bias`` per photoelectron, priced per photon at
  the detector as ``QE * q * detector_bias`` (``adc`` component, on the ``photon`` action).
* the ADC: the converter of ``[adc]`` (survey or circuit model, :mod:`hw_models.converters`);
  the DAC: ``[dac]`` (``model = "driver"`` on an optical tile prices the DAC's capacitive array,
  :func:`hw_models.circuits.cdac_switching_energy_j`, since the line it drives is the modulator
  priced above); the laser: ``wall_plug_efficiency``; phase-shifter hold power: ``[mzi]
  hold_power_pi``; modulators held at their operating point (a microring's thermal lock, a
  thermo-optic weight element): ``[optics] modulator_hold_power`` each, static, for the input
  modulators and, on a crossbar of weight modulators, for every weight device. Memory
  traffic around the optics (activations through the buffer, weights streamed from off chip
  when they are reloaded) is priced by the estimator
  (:mod:`analogc.estimate.rollup`).

Example::

    >>> from hw_models.circuits import Technology
    >>> t = Technology(node_m=16e-9)                    # V_dd 0.8 V
    >>> e = modulator_energy_j(10e-15, 2.0, t, levels=2)   # NRZ on 10 fF at 2 V
    >>> round(e / 1e-15, 3)                                # (C V^2 + C V_dd^2 / 3) / 4
    10.533
    >>> receiver_energy_j(3e-3, 5e9)                     # 3 mW TIA at 5 GS/s
    6e-13
"""
from __future__ import annotations

from typing import Any, ClassVar

from hw_models.circuits import Technology, cdac_switching_energy_j, driver_energy_j
from hw_models.errors import HardwareConfigError
from hw_models.family import TileFamily
from hw_models.units import ELEMENTARY_CHARGE_C, photon_energy_j

OPTICS_SECTION = {
    "wavelength": ("q", "length"), "wall_plug_efficiency": ("q", "ratio"),
    "detector_quantum_efficiency": ("q", "ratio"), "snr_margin": ("q", "ratio"),
    "detector_energy": ("q", "energy"),
    # device parameters of the component models (module doc); each replaces a fixed energy
    "modulator_capacitance": ("q", "capacitance"), "modulator_voltage": ("q", "voltage"),
    "tia_power": ("q", "power"), "detector_bias": ("q", "voltage"),
    "modulator_hold_power": ("q", "power"),
}


def level_activity(levels: int) -> float:
    """Mean upward swing per symbol, in units of the full swing, of a node driven to one of
    ``levels`` equally spaced values, each symbol independent and uniform: ``E[(b - a)+] =
    E|b - a| / 2 = (L + 1) / (6 L)`` (``L = 2``: 1/4, the NRZ factor of ``C V^2 / 4``)."""
    if levels < 2:
        raise ValueError(f"levels: expected at least 2, got {levels}")
    return (levels + 1) / (6 * levels)


def modulator_energy_j(c_f: float, v_pp: float, tech: Technology, levels: int = 2) -> float:
    """Energy per symbol of a capacitive modulator of ``c_f`` driven to ``v_pp`` (module doc):
    ``level_activity(levels)`` full charge cycles, each ``C V V_s`` from the final stage's supply
    ``V_s = max(V, V_dd)`` (``C V^2`` when the drive exceeds V_dd) plus the fan-out-4 buffer
    chain before it at V_dd (:func:`hw_models.circuits.driver_energy_j`: a third of the load in
    gate equivalents, ``C V_dd^2 / 3``)."""
    supply = max(v_pp, tech.vdd)
    chain = driver_energy_j(c_f, 0.0, tech)  # the buffer chain alone, at V_dd (no line swing)
    return level_activity(levels) * (c_f * v_pp * supply + chain)


def receiver_energy_j(tia_power_w: float, sample_rate_hz: float) -> float:
    """One detection's TIA energy: its power over one sample period."""
    return tia_power_w / sample_rate_hz


def detector_bias_energy_per_photon_j(quantum_efficiency: float, bias_v: float) -> float:
    """Energy the photodiode's bias source delivers per photon arriving: ``QE * q * V_bias``."""
    return quantum_efficiency * ELEMENTARY_CHARGE_C * bias_v


class OpticalFamily(TileFamily):
    """Base of the MZI-mesh and free-space families."""

    noise_reads_weights = True  # the light on a detector is sum |x||w|
    #: the family's own table, where a preset states fixed per-action energies and the symbol rate
    device_table: ClassVar[str] = ""

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
        photon = {"optical": e, "laser": e * (1.0 / (self.transmission * wall) - 1.0)}
        bias = self.q("optics", "detector_bias", 0.0)
        if bias:
            photon["adc"] = detector_bias_energy_per_photon_j(self.quantum_efficiency, bias)
        return {**super().unit_energies(), "photon": photon,
                "dac_conversion": {"dac": self.dac_energy_j()},
                "modulation": {"dac": self.modulation_energy_j()},
                "detection": {"adc": self.detection_energy_j()},
                "adc_conversion": {"adc": self.adc.energy_j}}

    # -- component models (module doc) ---------------------------------------------------
    def _fixed_or_model(self, fixed_key: str, model_keys: tuple[str, ...], model_table: str = "optics") -> Any:
        """The fixed energy the family table states (a Quantity), or None when ``[model_table]``
        states every key of the model instead; one line when both or neither are given."""
        fixed = self.p.get(self.device_table, {}).get(fixed_key)
        table = self.p.get(model_table, {})
        given = [k for k in model_keys if k in table]
        where = f"{self.p.get('_file')}: [{self.device_table}] {fixed_key}"
        if fixed is not None and given:
            raise HardwareConfigError(f"{where}: expected either this fixed energy or the device parameters "
                                      f"[{model_table}] {', '.join(model_keys)}, got both ({', '.join(given)})")
        if fixed is not None:
            return fixed
        if len(given) != len(model_keys):
            missing = [k for k in model_keys if k not in table]
            raise HardwareConfigError(f"{where}: expected this fixed energy or the device parameters "
                                      f"[{model_table}] {', '.join(model_keys)}, got nothing for {', '.join(missing)}")
        return None

    def _tech(self, what: str) -> Technology:
        if self.tech is None:
            raise HardwareConfigError(f"{self.p.get('_file')}: [hardware] technology_node: expected the CMOS node "
                                      f"of the electronics that drive the {what}, got nothing")
        return self.tech

    @property
    def symbol_rate_hz(self) -> float:
        return self.q(self.device_table, "symbol_rate")

    def modulator_hold_w(self, modulators: int) -> float:
        """Static power of ``modulators`` modulators held at their operating point while the
        tile is allocated: ``[optics] modulator_hold_power`` each (a microring's heater locking
        it to its resonance, a thermo-optic weight element); 0 when a preset does not state it."""
        return modulators * self.q("optics", "modulator_hold_power", 0.0)

    def modulation_energy_j(self) -> float:
        """One input symbol on one modulator: the fixed ``modulator_energy`` of the family
        table, else :func:`modulator_energy_j` of ``[optics] modulator_capacitance`` and
        ``modulator_voltage`` at ``2^input_bits`` levels."""
        fixed = self._fixed_or_model("modulator_energy", ("modulator_capacitance", "modulator_voltage"))
        if fixed is not None:
            return fixed.si
        return modulator_energy_j(self.q("optics", "modulator_capacitance"), self.q("optics", "modulator_voltage"),
                                  self._tech("modulators"), levels=2 ** self.hw.input_bits)

    def detection_energy_j(self) -> float:
        """One detection (photodetector + TIA): the fixed ``tia_energy`` of the family table,
        else ``[optics] tia_power / symbol_rate`` (the bias energy rides on the photons)."""
        fixed = self._fixed_or_model("tia_energy", ("tia_power",))
        if fixed is not None:
            return fixed.si
        return receiver_energy_j(self.q("optics", "tia_power"), self.symbol_rate_hz)

    def dac_energy_j(self) -> float:
        """One DAC conversion per input symbol. ``[dac] model = "driver"``: the DAC's binary
        capacitive array at ``input_bits`` (unit capacitor ``[technology] unit_capacitance``,
        switched from V_dd); the line it drives is the modulator (:meth:`modulation_energy_j`).
        Otherwise the ``[dac]`` table's energy, as for every family."""
        if self.dac.model != "driver":
            return self.dac.energy_j
        tech = self._tech("modulators (DAC model = \"driver\")")
        return cdac_switching_energy_j(self.hw.input_bits, tech.stock("unit_capacitance"), tech.vdd)

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
