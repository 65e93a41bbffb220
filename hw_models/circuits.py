"""Circuit-level component models: energy from capacitance, voltage and technology.

The fixed per-action energies of a preset (``[adc] energy``, ``[dac] energy``) recall a figure;
these models *predict* one from what a chip is made of, so that a chip file written from a
paper's design parameters (node, supply, array size, converter type and bits, unit capacitor)
gives its energy without any constant backed out of the efficiency it is checked against.

Every energy here is a charge drawn from a supply: a node of capacitance ``C`` swung by ``V_s``
from a supply ``V_dd`` costs ``C * V_s * V_dd`` (``C V^2`` when it swings rail to rail). The
capacitances come from three technology constants, the **stock constants** of
:data:`STOCK` (defaults of the optional ``[technology]`` table of a preset, each with a
published range that ``analogc validate --sensitivity`` sweeps):

* ``wire_capacitance`` per length of an on-chip wire (word and bit lines: cells x pitch);
* ``gate_toggles_per_add8``: the energy of one *gate equivalent* (a NAND2 with its wiring)
  toggling is taken from a measured logic energy, the 8-bit add of Horowitz (ISSCC 2014: 0.03 pJ
  at 45 nm, 0.9 V) over the gate toggles of one add, scaled to the node and supply as ``C V^2``
  (:func:`hw_models.digital.node_energy_scale`): ``E_gate = 0.03 pJ / 36 * (L / 45 nm) *
  (V_dd / 0.9 V)^2``, so converters, drivers and the digital periphery share one logic energy;
  the switched capacitance of a gate equivalent is ``E_gate / V_dd^2``, half of it its input,
  and a minimum transistor gate on a line (an access transistor) a quarter;
* ``supply_voltage`` (default: the node's nominal core supply, :data:`VDD_BY_NODE_NM`), which
  scales every digital and periphery energy as ``V^2`` — so one chip file evaluated at two
  supplies follows a paper's two operating points.

Converters (:func:`adc_energy_j`), per conversion at ``bits``:

* ``sar``: capacitive DAC switching (conventional switching, average over codes, Saberi et al.
  IEEE TCAS-I 58(8):1736, 2011, eq. 14: ``sum_i 2^(N+1-2i) (2^i - 1) C_u V_ref^2``) + ``N``
  comparator decisions + ``N`` cycles of SAR logic;
* ``flash``: ``2^N - 1`` comparators + a thermometer-to-binary encoder (``2^N`` gates);
* ``ramp`` (single slope): a clocked comparator for ``2^N`` counts (half of them on average)
  + latching ``N`` bits; the ramp and the counter are shared by the columns;
* ``cco`` (current-controlled oscillator, time domain): the ring oscillates on average
  ``2^(N-1)`` times over the conversion window, each cycle toggling its stages, and a ripple
  counter (~2 flip-flop toggles per count); and, being a *current-input* converter, it draws
  the bit-line current (times ``mirror_ratio``) from ``V_dd`` for the whole window: the tile
  family prices that with each cell read, ``mirror_ratio * V_dd / V_read`` times the read's own
  energy (:data:`CURRENT_INPUT_ADCS`);
* ``sense-amp`` / ``charge-sharing``: one comparator decision per bit (1-bit readout, or the
  column charge-shared onto a capacitor and resolved by successive comparisons).

A comparator decision costs ``max(comparator_gates * E_gate, noise floor)``, the noise floor
being the kT/C of a latch whose input noise stays at a quarter LSB of a ``V_ref`` full scale:
``C >= 16 kT 4^N / V_ref^2``, energy ``C V_dd^2``.

Drivers (:func:`driver_energy_j`): a row driver charges the word line (``cells x (pitch x
wire_capacitance + cell input capacitance)``) to the drive voltage from ``V_dd``, plus its own
buffer chain (fan-out 4 taper: ``(C_load / C_inv) / 3`` gate equivalents).

Example::

    >>> t = Technology(node_m=65e-9)
    >>> round(t.vdd, 2)
    1.0
    >>> 0.1e-12 < adc_energy_j("sar", 8, t, unit_capacitance_f=1e-15) < 3e-12
    True
    >>> adc_energy_j("flash", 6, t) > adc_energy_j("sar", 6, t)
    True
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hw_models.units import BOLTZMANN_J_K

#: nominal core supply (V) by node (nm): first-order values of foundry nodes (IRDS 2017 More
#: Moore table; 180-65 nm from the foundries' nominal core voltages)
VDD_BY_NODE_NM = {180: 1.8, 130: 1.2, 90: 1.0, 65: 1.0, 45: 0.9, 32: 0.9, 28: 0.9, 22: 0.8,
                  16: 0.8, 14: 0.8, 10: 0.75, 7: 0.7, 5: 0.7, 3: 0.65}

TEMPERATURE_K = 300.0


@dataclass(frozen=True)
class Stock:
    """A stock constant: its default (SI), the published range it is varied over, the unit the
    ``[technology]`` table takes it in, and where the value and the range come from."""

    value: float
    low: float
    high: float
    unit: str
    dim: str
    source: str


#: the stock constants: defaults of ``[technology]`` keys (a chip file may state its own value,
#: with its source); ``analogc validate --sensitivity`` varies each over ``low..high``
STOCK: dict[str, Stock] = {
    "wire_capacitance": Stock(
        0.2e-9, 0.15e-9, 0.3e-9, "fF/um", "capacitance_per_length",
        "~0.2 fF/um for minimum-pitch on-chip wires, nearly independent of the node (Ho, Mai & "
        "Horowitz, 'The future of wires', Proc. IEEE 89(4):490, 2001); range 0.15-0.3 fF/um over "
        "metal layers and pitches (same source)"),
    "gate_toggles_per_add8": Stock(
        36.0, 24.0, 60.0, "count", "count",
        "gate-equivalent toggles of one 8-bit ripple-carry add: 8 full adders of 9 NAND2 equivalents "
        "(the NAND-only full adder, Weste & Harris, CMOS VLSI Design, 4th ed., 2011, ch. 11), half "
        "of them toggling for random operands (modelling choice); range: 6-10 gate equivalents per "
        "full adder over adder styles and activity 0.4-0.75"),
    "comparator_gates": Stock(
        20.0, 10.0, 40.0, "count", "count",
        "modelling choice: a StrongARM latch comparator with its SR output latch and clock buffer "
        "switches ~20 minimum-inverter loads per decision (12-14 transistors plus their wiring); the "
        "range 10-40 brackets a bare latch and one with preamplifier"),
    "sar_logic_gates": Stock(
        40.0, 20.0, 80.0, "count", "count",
        "modelling choice: per bit cycle a SAR's register and control (one DFF per bit plus a "
        "shift register, ~8 gate equivalents each, half of them toggling at the 8-10 bits of CiM "
        "column ADCs) switch ~40 gate equivalents; range 20-80"),
    "unit_capacitance": Stock(
        1.0e-15, 0.5e-15, 2.0e-15, "fF", "capacitance",
        "SAR CDAC unit capacitor of ~1 fF: the 1.2 fF MOM capacitor of the Valavi/Jia charge-domain "
        "bit cell is the same device class (Valavi et al. IEEE JSSC 54(6), 2019); CiM column SARs "
        "use 0.5-2 fF unit capacitors (range, modelling choice)"),
    "mirror_ratio": Stock(
        1.0, 0.5, 2.0, "ratio", "ratio",
        "modelling choice: a current-input converter (CCO) mirrors the bit-line current 1:1 into "
        "its oscillator from the supply for the integration window; 0.5-2 brackets scaled mirrors"),
    "cco_stages": Stock(
        5.0, 3.0, 9.0, "count", "count",
        "modelling choice: a current-controlled ring oscillator of 5 stages (odd, 3-9 in the range "
        "of ring-oscillator ADCs)"),
}


def nominal_vdd(node_m: float) -> float:
    """Nominal core supply of the node nearest to ``node_m`` (log distance)."""
    nm = node_m * 1e9
    near = min(VDD_BY_NODE_NM, key=lambda k: abs(math.log(k / nm)))
    return VDD_BY_NODE_NM[near]


@dataclass(frozen=True)
class Technology:
    """The technology one chip is made in: node, supply and the stock constants (SI)."""

    node_m: float
    supply_v: float | None = None
    values: dict[str, float] = field(default_factory=dict)  # stock-constant overrides (SI)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "Technology | None":
        """From a validated preset: ``[hardware] technology_node`` and the ``[technology]``
        table (None when the preset has no node)."""
        node = params.get("hardware", {}).get("technology_node")
        if node is None:
            return None
        t = params.get("technology", {})
        vals = {k: t[k].si for k in STOCK if k in t}
        sv = t.get("supply_voltage")
        return cls(node.si, sv.si if sv is not None else None, vals)

    def stock(self, name: str) -> float:
        return self.values.get(name, STOCK[name].value)

    @property
    def vdd(self) -> float:
        return self.supply_v if self.supply_v is not None else nominal_vdd(self.node_m)

    @property
    def gate_energy_j(self) -> float:
        """One gate equivalent toggling, from Horowitz's measured 8-bit add (45 nm, 0.9 V)
        scaled to this node and supply as C V^2."""
        from hw_models.digital import HOROWITZ_45NM_J, node_energy_scale
        return (HOROWITZ_45NM_J[("int8", "add")] / self.stock("gate_toggles_per_add8")
                * node_energy_scale(self.node_m, self.vdd))

    @property
    def c_inv_f(self) -> float:
        """Input capacitance of a gate equivalent: half its switched capacitance E_gate / V^2
        (the other half its output and local wire)."""
        return self.gate_energy_j / self.vdd ** 2 / 2

    @property
    def c_transistor_f(self) -> float:
        """Gate capacitance of one minimum transistor on a line (an access transistor): half a
        gate equivalent's input capacitance (a NAND2 input drives one nMOS and one pMOS gate)."""
        return self.c_inv_f / 2

    def voltage_scale(self, reference_v: float) -> float:
        """(V_dd / reference)^2: how a periphery energy stated at ``reference_v`` scales."""
        return (self.vdd / reference_v) ** 2


def comparator_energy_j(bits: int, tech: Technology, v_ref: float | None = None) -> float:
    """One comparator decision: its gate equivalents, never below a quarter-LSB kT/C latch."""
    v_ref = v_ref or tech.vdd
    c_noise = 16 * BOLTZMANN_J_K * TEMPERATURE_K * 4.0 ** bits / v_ref ** 2
    return max(tech.stock("comparator_gates") * tech.gate_energy_j, c_noise * tech.vdd ** 2)


def cdac_switching_energy_j(bits: int, c_unit_f: float, v_ref: float) -> float:
    """Average switching energy of an N-bit binary-weighted capacitive DAC with conventional
    switching over uniformly distributed codes (Saberi et al. IEEE TCAS-I 58(8):1736, 2011)."""
    n = bits
    return sum(2.0 ** (n + 1 - 2 * i) * (2 ** i - 1) for i in range(1, n + 1)) * c_unit_f * v_ref ** 2


ADC_TYPES = ("sar", "flash", "ramp", "cco", "sense-amp", "charge-sharing")
#: converters whose input is the column current itself, mirrored from the supply
CURRENT_INPUT_ADCS = ("cco",)


def adc_energy_breakdown_j(kind: str, bits: int, tech: Technology, *, unit_capacitance_f: float | None = None,
                           v_ref: float | None = None) -> dict[str, float]:
    """Energy of one conversion by part (``cdac``, ``comparator``, ``logic``, ``oscillator``)."""
    if kind not in ADC_TYPES:
        raise ValueError(f"ADC type {kind!r}: expected one of {', '.join(ADC_TYPES)}")
    v_ref = v_ref or tech.vdd
    cmp_e = comparator_energy_j(bits, tech, v_ref)
    gate = tech.gate_energy_j
    if kind == "sar":
        cu = unit_capacitance_f if unit_capacitance_f is not None else tech.stock("unit_capacitance")
        return {"cdac": cdac_switching_energy_j(bits, cu, v_ref), "comparator": bits * cmp_e,
                "logic": bits * tech.stock("sar_logic_gates") * gate}
    if kind == "flash":
        return {"comparator": (2 ** bits - 1) * cmp_e, "logic": 2 ** bits * gate}
    if kind == "ramp":  # clocked comparator over half the counts on average; N-bit latch
        return {"comparator": 2 ** (bits - 1) * cmp_e, "logic": bits * 8 * gate}
    if kind == "cco":  # 2^(N-1) oscillations on average, each toggling every stage twice
        osc = 2 ** (bits - 1) * 2 * tech.stock("cco_stages") * gate
        return {"oscillator": osc, "logic": 2 ** (bits - 1) * 2 * 8 * gate / 2}
    # sense-amp / charge-sharing: one decision per bit
    return {"comparator": bits * cmp_e, "logic": bits * 8 * gate}


def adc_energy_j(kind: str, bits: int, tech: Technology, **kw: Any) -> float:
    """Energy of one conversion of a column converter of this ``kind`` (see the module doc)."""
    return sum(adc_energy_breakdown_j(kind, bits, tech, **kw).values())


def wire_load_f(cells: int, pitch_m: float, cell_load_f: float, tech: Technology) -> float:
    """Capacitance of a line across ``cells`` cells at ``pitch_m``, each adding ``cell_load_f``."""
    return cells * (pitch_m * tech.stock("wire_capacitance") + cell_load_f)


def driver_energy_j(c_load_f: float, v_swing: float, tech: Technology) -> float:
    """One line driven to ``v_swing`` (and back) from ``V_dd``: ``C V_s V_dd`` for the line plus a
    fan-out-4 buffer chain whose gates add a third of the load in gate equivalents."""
    chain = (c_load_f / max(tech.c_inv_f, 1e-30)) / 3 * tech.gate_energy_j / 2
    return c_load_f * v_swing * tech.vdd + chain
