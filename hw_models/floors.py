"""Physical floors of one tile pass: energies no estimate may go below.

Three necessary energies of a pass with ``r`` rows and ``c`` columns in use, each a hand
formula of physics and of the tile's own geometry (never of the cost model being checked):

* **Landauer**: every output bit the pass produces is one irreversible bit decision, at least
  ``k T ln 2`` (300 K): ``c x output_bits x k T ln 2`` (R. Landauer, IBM J. Res. Dev. 5:183,
  1961). Every family.
* **Shot noise** (optical families): a detector resolves ``output_bits`` only when it counts
  ``4^bits`` photoelectrons (``sqrt(N) = 2^bits``), so ``c x 4^bits x h c0 / lambda`` at unit
  quantum efficiency (Hamerly et al. PRX 9:021032, 2019, the standard quantum limit).
* **Wire CV^2** (crossbar and charge-domain families): the inputs of a pass reach the cells
  over the word lines; each of the ``r`` lines in use runs across the ``c x devices_per_cell``
  cells of the columns in use at the cell pitch, and must swing at least once by the line
  voltage ``V`` (read voltage of a resistive array, drive voltage of a charge-domain one,
  else the supply): ``r x c x devices_per_cell x pitch x c_wire x V^2``. The pitch is the
  file's ``[dac] pitch`` or ``sqrt([array] cell_area)``, else the minimum metal pitch ``2 x
  node`` (one line and one space of the feature size), the smallest a cell can be; ``c_wire``
  the low end of the published range of :data:`hw_models.circuits.STOCK` ``wire_capacitance``
  (or the file's own value, if lower). A floor, so every choice errs low: no cell loads, no
  bit lines, one swing per pass even for bit-serial inputs.

``TileFamily.floor_energy_per_pass_j`` (family.py) holds the first two per family;
:func:`physical_floor_j` adds the third. tests/test_physical_floors.py checks every preset
and every chip file against them.

Example::

    >>> import hw_models
    >>> from hw_models.floors import landauer_floor_j, physical_floor_j
    >>> fam = hw_models.load("rram").tile_model
    >>> landauer_floor_j(fam, 128) == 128 * fam.hw.output_bits * 1.380649e-23 * 300 * 0.6931471805599453
    True
    >>> physical_floor_j(fam, 128, 128) > landauer_floor_j(fam, 128)
    True
"""
from __future__ import annotations

from typing import Any

from hw_models.circuits import STOCK
from hw_models.errors import HardwareConfigError
from hw_models.units import landauer_j, photon_energy_j

#: families whose inputs travel on word lines across the cells
WIRED_FAMILIES = ("crossbar", "charge")
OPTICAL_FAMILIES = ("mzi", "freespace")


def landauer_floor_j(fam: Any, cols_used: int) -> float:
    """``cols_used x output_bits x k T ln 2`` (300 K)."""
    return cols_used * fam.hw.output_bits * landauer_j(300.0)


def shot_noise_floor_j(fam: Any, cols_used: int) -> float:
    """Optical families: ``cols_used x 4^output_bits`` photons of ``h c / lambda``; else 0."""
    if fam.name not in OPTICAL_FAMILIES:
        return 0.0
    return cols_used * 4.0 ** fam.hw.output_bits * photon_energy_j(fam.q("optics", "wavelength"))


def wire_pitch_m(fam: Any) -> float | None:
    """The cell pitch along a word line: ``[dac] pitch``, ``sqrt([array] cell_area)``, else the
    minimum metal pitch ``2 x node`` (None without a node)."""
    pitch = fam.line_pitch_m()  # the pitch the driver model prices the line with
    if pitch is not None:
        return pitch
    node = fam.p.get("hardware", {}).get("technology_node")
    return 2 * node.si if node is not None else None


def line_voltage_v(fam: Any) -> float | None:
    """The voltage a word line must swing: read voltage (resistive), drive voltage (charge),
    else the chip's supply (None when none is known)."""
    try:  # the voltage the driver model charges the line to (one definition, in the family)
        return fam.line_voltage()
    except HardwareConfigError:  # no node (or no drive voltage): nothing to bound by
        return None


def wire_floor_j(fam: Any, rows_used: int, cols_used: int) -> float:
    """``rows_used x cols_used x devices_per_cell x pitch x c_wire x V^2`` for the wired
    families (0 for the others, or when neither pitch nor voltage can be known)."""
    if fam.name not in WIRED_FAMILIES:
        return 0.0
    pitch, v = wire_pitch_m(fam), line_voltage_v(fam)
    if pitch is None or v is None:
        return 0.0
    c_wire = STOCK["wire_capacitance"].low
    if fam.tech is not None:
        c_wire = min(c_wire, fam.tech.stock("wire_capacitance"))
    return rows_used * cols_used * fam.tile.devices_per_cell * pitch * c_wire * v * v


def physical_floor_j(fam: Any, rows_used: int, cols_used: int) -> float:
    """The sum of the three necessary energies of one pass (module doc)."""
    return (landauer_floor_j(fam, cols_used) + shot_noise_floor_j(fam, cols_used)
            + wire_floor_j(fam, rows_used, cols_used))
