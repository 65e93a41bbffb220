"""The protocol every tile family implements: one object, both views of the hardware.

A :class:`TileFamily` is built from one validated :class:`~hw_models.base.Hardware` and is
the only place that turns its numbers into behaviour:

* **cost view** (Accelergy-style counts x unit costs): the *actions* of one tile pass (one
  input vector through one tile with ``r`` rows and ``c`` columns in use), of programming
  weight positions and of holding weights for a second, each priced in ``unit_energy``
  (action -> {component: J}); the pass time, the tile area, the physical floor.
* **simulation view** (torch code that runs inside a deployed model's forward pass): the
  converter levels, the analog passes each input vector makes through a tile (and so the
  ADC conversions per column), how a weight is programmed (:meth:`program`), the noise on
  one tile output (:meth:`noise_std`) and how a dynamic operand is quantized.

Both views read the same attributes (``input_cycles``, the photon budget, the capacitance...),
so fewer ADC bits or fewer photons make a machine cheaper *and* noisier, never only one.
``analogc`` asks this object for costs and noise and never reads a hardware parameter by
its key. Families are registered in :mod:`hw_models.registry`.

Report components (the keys of an estimate's breakdown): see :data:`COMPONENTS`.

Example::

    >>> import hw_models
    >>> fam = hw_models.load("rram").tile_model
    >>> fam.input_cycles, fam.actions_per_pass(128, 128)["adc_conversion"]
    (8, 1024)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import torch

from hw_models.circuits import Technology, cdac_switching_energy_j, driver_energy_j, wire_load_f
from hw_models.converters import ADC, DAC
from hw_models.errors import HardwareConfigError

#: where the energy goes: ``dac`` (DACs, row drivers, optical modulators), ``adc`` (ADCs,
#: detector and TIA electronics), ``array`` (cell reads, capacitor switching), ``optical``
#: (light that reaches the detectors), ``laser`` (the rest of the source's wall-plug energy),
#: ``static`` (power held over time), ``memory``, ``digital``, ``programming``, ``adapters``
#: (the digital products and weight traffic of low-rank adapters beside analog weights, LoRA)
COMPONENTS = ("dac", "adc", "array", "optical", "laser", "static", "memory", "digital", "programming",
              "adapters")

#: keys that describe a preset and change nothing it computes
METADATA_KEYS = frozenset({("hardware", "name"), ("hardware", "description"), ("hardware", "kind"),
                           ("hardware", "source"), ("tile", "family"), ("tile", "device"),
                           ("tile", "source"), ("chip", "source"), ("technology", "source"),
                           # the kind of shifter, for the reader: its numbers are hold_power_pi, settle_time
                           ("mzi", "phase_shifter")})


def levels(bits: int) -> int:
    """Positive levels of a symmetric converter of ``bits``: 2^(bits-1) - 1 (1 bit: sign only)."""
    return max(1, 2 ** (bits - 1) - 1)


def twos_complement_planes(input_levels: int) -> int:
    """Bit planes that carry a code in [-L, L] in two's complement: bits(L) + 1. A b-bit
    symmetric DAC (L = 2^(b-1) - 1) needs b planes for b >= 2; a 1-bit one ({-1, 0, 1}) two."""
    return input_levels.bit_length() + 1


@dataclass
class Programmed:
    """A weight [K, N] as a tile holds it: ``weights`` [S, K, N] the normalised state of each of
    the S bit slices (in [-1, 1]; S = 1 when not sliced), ``significance`` [S] their weights in the
    digital shift-add, ``col_scale`` [N] the per-column scale kept digitally, and ``offset`` [N]
    (None: no offset) a per-column constant in the same normalised units, added digitally and
    exactly (the digital side adds ``offset * sum_k x_k`` to each column's output), so that
    ``W ~ (sum_s significance[s] * weights[s] + offset) * col_scale``.

    ``offset`` is the offset (biased) encoding of signed weights on single devices (ISAAC,
    Shafiee et al. ISCA 2016; Xiao et al. IEEE Circuits Syst. Mag. 22(4), 2022, Table 1: "offset
    subtraction"): the slices then hold unsigned states in [0, 1] and the offset is negative,
    see :func:`hw_models.noise.program_crossbar`."""

    weights: torch.Tensor
    significance: torch.Tensor
    col_scale: torch.Tensor
    offset: torch.Tensor | None = None

    def recombined(self) -> torch.Tensor:
        """sum_s significance[s] * weights[s] + offset: the normalised weight [K, N] the tile
        computes with (the offset, when there is one, broadcast over the K rows)."""
        if self.weights.shape[0] == 1:
            out = self.weights[0] * self.significance[0]
        else:
            out = torch.tensordot(self.significance.to(self.weights.dtype), self.weights, dims=1)
        if self.offset is not None:
            out = out + self.offset.to(out.dtype)
        return out


class TileFamily:
    """Base of every tile family. Subclasses set the class attributes and implement
    :meth:`actions_per_pass`, :meth:`pass_time_s`, :meth:`tile_area_m2` and :meth:`program`;
    they extend :meth:`unit_energies`, :meth:`noise_std` and :meth:`accuracy_params` as needed."""

    #: registry name (``[tile] family`` in a preset)
    name: ClassVar[str] = ""
    #: schema of the preset tables only this family reads: table -> key -> kind (see
    #: :mod:`hw_models.config` for the kinds)
    sections: ClassVar[dict[str, dict[str, Any]]] = {}
    #: flat override names for keys of those tables (``photons_per_mac`` -> freespace.photons_per_mac)
    aliases: ClassVar[dict[str, tuple[str, str]]] = {}
    #: the ``[noise] model`` values this family accepts, its default first
    noise_models: ClassVar[tuple[str, ...]] = ("ideal",)
    #: ``[tile] input_encoding`` when a preset does not say
    default_encoding: ClassVar[str] = "multi-level"
    #: values of common ``[tile]`` keys this family's physics fixes (key -> allowed values)
    tile_constraints: ClassVar[dict[str, tuple[Any, ...]]] = {}
    #: a weight is held in one cell of full precision (no bit slices): ``cell_bits = weight_bits``
    unsliced: ClassVar[bool] = False
    #: a tile can be made as large as one layer's weight (one free-space optical unit per
    #: layer, as Anderson et al. assume), so scaling studies may size it per model
    tile_per_layer: ClassVar[bool] = False

    def __init__(self, hw: Any) -> None:
        self.hw = hw
        self.p: dict[str, Any] = hw.params
        self.tile = hw.tile
        self.noise: dict[str, Any] = self._noise_table(hw)
        ref = self.p.get("_reference", {})
        #: the technology the chip is made in (node, supply, stock constants); None without a node
        self.tech = Technology.from_params(self.p)
        self.adc = ADC.from_params(self.p.get("adc", {}), hw.output_bits, ref.get("output_bits"), self.tech)
        self.dac = DAC.from_params(self.p.get("dac", {}), self.dac_bits, self.tech)

    @cached_property
    def unit_energy(self) -> dict[str, dict[str, float]]:
        """Action -> {component: J} (built on first use, so a simulation-only use of a preset
        does not need its cost constants)."""
        return {a: {c: float(e) for c, e in comps.items()} for a, comps in self.unit_energies().items()}

    # -- parameters ---------------------------------------------------------------------
    @classmethod
    def check_tile(cls, tile: dict[str, Any], where: str) -> None:
        """Refuse ``[tile]`` values this family cannot be (one line naming the key)."""
        for key, allowed in cls.tile_constraints.items():
            if key in tile and tile[key] not in allowed:
                raise HardwareConfigError(f"{where}: [tile] {key}: expected {' or '.join(map(repr, allowed))} "
                                          f"for a {cls.name} tile, got {tile[key]!r}")
        wb = tile.get("weight_bits", 8)
        if cls.unsliced and tile.get("cell_bits", wb) != wb:
            raise HardwareConfigError(f"{where}: [tile] cell_bits: expected weight_bits ({wb}) for a {cls.name} "
                                      f"tile (a weight is not sliced over cells), got {tile['cell_bits']!r}")

    @classmethod
    def _noise_table(cls, hw: Any) -> dict[str, Any]:
        """The validated ``[noise]`` of a loaded preset; for a Hardware built in code, its plain
        values checked here (sources "set in code")."""
        table = (hw.params or {}).get("noise") or {}
        if "_sources" in table:
            return table
        from hw_models.noise import validate_noise
        if not table and (hw.params or {}).get("hardware", {}).get("kind") == "ideal":
            table = {"model": "ideal"}
        plain = {k: v if k in ("model", "t_inference_s", "drift_compensation") or isinstance(v, dict)
                 else {"value": v, "source": "set in code"} for k, v in table.items()}
        return validate_noise(cls.noise_models, plain, f"hardware {hw.name!r}")

    def q(self, section: str, key: str, default: float | None = None) -> float:
        """SI value of ``[section] key``; ``default`` only for optional refinements."""
        v = self.p.get(section, {}).get(key)
        if v is None:
            if default is None:
                raise HardwareConfigError(f"{self.p.get('_file')}: [{section}] {key}: expected this constant "
                                          f"for a {self.name} tile, got nothing")
            return default
        return v.si

    @property
    def encoding(self) -> str:
        """How inputs are applied: ``[tile] input_encoding``, else the family's default."""
        return self.p.get("tile", {}).get("input_encoding", self.default_encoding)

    @property
    def dac_bits(self) -> int:
        """Resolution of one DAC conversion (bit-serial and PWM rows are driven by 1-bit pulses)."""
        return 1 if self.encoding in ("bit-serial", "pwm") else self.hw.input_bits

    def dac_energy_j(self) -> float:
        """One DAC conversion / row-driver activation. ``[dac] model = "driver"`` prices it from
        the line it drives (:func:`hw_models.circuits.driver_energy_j`): the row's
        ``cols x devices_per_cell`` cells at ``[dac] pitch`` (default: the square root of
        ``[array] cell_area``), each loading it with ``cell_load`` (default: one access
        transistor gate, :attr:`~hw_models.circuits.Technology.c_transistor_f`), charged to ``drive_voltage``
        (default :meth:`line_voltage`). Bit-serial rows are pulsed only for 1 bits (half of
        them, uniformly random bits); PWM rows take one pulse per input; multi-level inputs
        swing half the drive voltage on average and pay a capacitive DAC of ``input_bits``."""
        if self.dac.model != "driver":
            return self.dac.energy_j
        d, tech = self.p.get("dac", {}), self.need_tech("dac", "driver")
        pitch = self.line_pitch_m()
        if pitch is None:
            raise HardwareConfigError(f"{self.p.get('_file')}: [dac] pitch: expected the cell pitch along the "
                                      f"driven line (or [array] cell_area) for model = \"driver\", got nothing")
        load = d["cell_load"].si if "cell_load" in d else tech.c_transistor_f
        # the row's cells: with analog slice combining the slices' columns sit on the same line
        span = self.tile.slices if self.tile.analog_slices else 1
        c = wire_load_f(self.tile.cols * self.tile.devices_per_cell * span, pitch, load, tech)
        v = d["drive_voltage"].si if "drive_voltage" in d else self.line_voltage()
        if self.encoding == "multi-level":
            return (driver_energy_j(c, v / 2, tech)
                    + cdac_switching_energy_j(self.hw.input_bits, tech.stock("unit_capacitance"), tech.vdd))
        if self.encoding == "pwm" and d.get("pulse_mode") == "count":
            # the input as a number of equal pulses (Sinangil et al. JSSC 56(1), 2021: "the 4-bit
            # input is represented by the number of read word-line pulses"): one line charge per
            # pulse, mean |x| / x_max of the full count on average
            mean = self.q("array", "mean_input_fraction") * (2 ** (self.hw.input_bits - 1) - 1)
            return mean * driver_energy_j(c, v, tech)
        return (0.5 if self.encoding == "bit-serial" else 1.0) * driver_energy_j(c, v, tech)

    def line_pitch_m(self) -> float | None:
        """The cell pitch along a row line: ``[dac] pitch``, else ``sqrt([array] cell_area)``
        (None when the file gives neither)."""
        if "pitch" in self.p.get("dac", {}):
            return self.p["dac"]["pitch"].si
        if "cell_area" in self.p.get("array", {}):
            return math.sqrt(self.p["array"]["cell_area"].si)
        return None

    def line_voltage(self) -> float:
        """The voltage a row driver swings its line to when ``[dac] drive_voltage`` is not given:
        the supply (families with a read or drive voltage override this)."""
        return self.need_tech("dac", "driver").vdd

    def need_tech(self, section: str, what: str) -> Any:
        if self.tech is None:
            raise HardwareConfigError(f"{self.p.get('_file')}: [hardware] technology_node: expected the CMOS "
                                      f"node for [{section}] model = \"{what}\", got nothing")
        return self.tech

    @property
    def n_adc(self) -> int:
        """ADCs per tile: one per ``cols_per_adc`` columns."""
        return math.ceil(self.tile.cols / self.p.get("tile", {}).get("cols_per_adc", 1))

    # -- numbers both views read ----------------------------------------------------------
    @property
    def noise_model(self) -> str:
        """The device/noise model in use (``[noise] model``)."""
        return self.noise["model"]

    @property
    def exact(self) -> bool:
        """The ``ideal`` noise model: the simulation computes exactly (no converters, no noise)."""
        return self.noise["model"] == "ideal"

    @property
    def input_levels(self) -> int | None:
        """Levels per sign of the input DAC (None: an ideal DAC applies exact inputs)."""
        return None if self.dac.model == "ideal" else levels(self.hw.input_bits)

    @property
    def output_levels(self) -> int | None:
        """Levels per sign of the column ADC (None: an ideal ADC neither rounds nor clips)."""
        return None if self.adc.model == "ideal" else levels(self.hw.output_bits)

    @property
    def input_cycles(self) -> int:
        """Analog passes one input vector makes through a tile, each ending in one ADC
        conversion per column (bit-serial inputs: one per bit plane). The estimator counts the
        conversions and the simulator runs the passes from this one number."""
        if self.encoding != "bit-serial" or self.input_levels is None:
            return 1
        return twos_complement_planes(self.input_levels)

    @property
    def slices(self) -> int:
        return self.tile.slices

    @property
    def conversion_cycles(self) -> int:
        """ADC conversions per column per pass: one per input cycle, or one in all when the bit
        planes are accumulated in the analog domain before the conversion (``[tile]
        input_accumulation = "analog"``: an integrating neuron, Wan et al. Nature 608:504, 2022)."""
        if self.p.get("tile", {}).get("input_accumulation") == "analog":
            return 1
        return self.input_cycles

    @property
    def conversions_share(self) -> float | int:
        """Share of a column's conversions (and of a row's driver) one slice tile pays: 1, or
        ``1 / slices`` when the slices are combined in the analog domain (adjacent columns of one
        array on the same row lines, converted once per output)."""
        return 1.0 / self.tile.slices if self.tile.analog_slices else 1

    @property
    def multi_pass(self) -> bool:
        """True when a row tile's result is converted more than once per input vector (bit
        slices on their own tiles, or bit-serial inputs); the simulator then runs each pass."""
        return self.tile.converted_slices > 1 or self.conversion_cycles > 1

    @property
    def t_inference_s(self) -> float:
        """Default read time after programming (s), from the preset's ``[noise] t_inference_s``."""
        return float(self.noise.get("t_inference_s", 0.0))

    @property
    def adc_range(self) -> float:
        """ADC clipping range before calibration, in units of one full-scale row."""
        return float(self.noise.get("adc_range", 10.0))

    @property
    def operand_levels(self) -> int | None:
        """Levels per sign of a dynamic operand written onto a tile (attention matmuls)."""
        return None if self.exact else levels(self.tile.weight_bits)

    # -- cost view ----------------------------------------------------------------------
    def unit_energies(self) -> dict[str, dict[str, float]]:
        """Action -> {component: J}. Subclasses add their pass and programming actions."""
        return {"tile_second": {"static": self.static_power_w()},
                "chip_second": {"static": self.q("chip", "static_power", 0.0)}}

    def actions_per_pass(self, rows_used: int, cols_used: int) -> dict[str, float]:
        """Action counts of one input vector through one tile with this many rows/columns in use."""
        raise NotImplementedError

    def actions_to_program(self, cells: float) -> dict[str, float]:
        """Action counts to write ``cells`` weight positions (all their devices)."""
        return {"cell_write": cells * self.tile.devices_per_cell}

    def pass_time_s(self, rows_used: int, cols_used: int) -> float:
        raise NotImplementedError

    def pass_energy_j(self, rows_used: int, cols_used: int) -> dict[str, float]:
        """Energy of one tile pass by component (its actions x their unit energies)."""
        return self.price(self.actions_per_pass(rows_used, cols_used))

    def price(self, counts: dict[str, float]) -> dict[str, float]:
        """Energy by component of action counts this family prices (others are ignored)."""
        out: dict[str, float] = {}
        for action, n in counts.items():
            for comp, e in self.unit_energy.get(action, {}).items():
                out[comp] = out.get(comp, 0.0) + n * e
        return out

    def geometry_scale(self) -> float:
        """Devices of this tile over devices of the tile the preset file describes: a per-tile
        constant of the file (``[tile] area``, ``static_power``) is stated for that geometry
        and scales with it when ``rows``, ``cols`` or ``devices_per_cell`` are overridden."""
        ref = self.p.get("_reference", {})
        r0, c0, d0 = ref.get("rows"), ref.get("cols"), ref.get("devices_per_cell")
        if not (r0 and c0 and d0):
            return 1.0
        t = self.tile
        return (t.rows * t.cols * t.devices_per_cell) / (r0 * c0 * d0)

    def static_power_w(self) -> float:
        """Power one allocated tile draws while it holds its weights."""
        return self.q("tile", "static_power", 0.0) * self.geometry_scale()

    def program_time_s(self) -> float:
        """Time to reprogram one tile (tiles are programmed in parallel)."""
        n = self.tile.rows * self.tile.cols * self.tile.devices_per_cell
        par = self.p.get("programming", {}).get("parallel_writes", self.tile.cols)
        return math.ceil(n / par) * self.q("programming", "write_time", 0.0)

    def tile_area_m2(self) -> float:
        raise NotImplementedError

    def floor_energy_per_pass_j(self, rows_used: int, cols_used: int) -> float:
        """A physical lower bound for one pass (k*T*ln2 per output bit; optics: shot noise)."""
        from hw_models.units import landauer_j
        return cols_used * self.hw.output_bits * landauer_j()

    def describe(self) -> dict[str, Any]:
        """Unit costs in SI, for ``analogc hw show --costs`` and debugging."""
        t = self.tile
        return {"family": self.name, "adc_energy_j": self.adc.energy_j,
                "adc_conversion_time_s": self.adc.conversion_time_s,
                "input_cycles": self.input_cycles,
                "pass_time_s": self.pass_time_s(t.rows, t.cols),
                "pass_energy_j": self.pass_energy_j(t.rows, t.cols),
                "static_power_w": self.static_power_w(), "tile_area_m2": self.tile_area_m2()}

    # -- simulation view ----------------------------------------------------------------
    def program(self, w: torch.Tensor, gen: torch.Generator | None, *, t_inference_s: float = 0.0,
                per_slice: bool = False, blocks: list[tuple[int, int, int, int]] | None = None) -> Programmed:
        """Write a weight [K, N] onto tiles and read back what they hold (device noise of a
        chip instance drawn from ``gen``; ``t_inference_s`` after programming). ``per_slice``:
        keep the bit slices apart (one per pass); ``blocks``: the plan's tile blocks
        ``(row_start, row_stop, col_start, col_stop)`` for families whose physics depends on them."""
        raise NotImplementedError

    @property
    def out_noise(self) -> float:
        """Std of the signal-independent noise on each tile output (one full-scale row = 1)."""
        return 0.0 if self.exact else float(self.noise.get("out_noise", 0.0))

    @property
    def signal_dependent_noise(self) -> bool:
        """True when :meth:`noise_std` depends on the inputs (read noise, shot noise)."""
        return False

    #: :meth:`noise_std` reads the programmed weights (shot noise of sum |x||w|); when False the
    #: simulator passes ``wn=None`` and spares the copy of a weight tile per call
    noise_reads_weights: ClassVar[bool] = False

    @property
    def state_lattice(self) -> float | None:
        """Spacing of the normalised states a bit slice holds when the tile stores exact levels
        (SRAM bits, matched capacitors): a pass of integer inputs then lands on a lattice, whose
        rounding by the ADC is not uniform. None for analog states (device noise, optics)."""
        return None

    def noise_var_coeffs(self, rows_used: int) -> tuple[float, float, float]:
        """``(c0, c_sq, c_l1)``: the noise variance of one tile output (units of one full-scale
        row, squared) is ``c0 + c_sq * sum_k xn_k^2 + c_l1 * sum_k |xn_k| |wn_k|`` over the
        ``rows_used`` rows of the pass. This is the one definition of the tile noise: the
        per-pass simulation (:meth:`noise_std`) and the statistical converter model of the
        simulator (:mod:`analogc.sim.tile`) both read it."""
        return (self.out_noise ** 2, 0.0, 0.0)

    def noise_std(self, xn: torch.Tensor, wn: torch.Tensor | None) -> torch.Tensor | float:
        """Std of the noise on each output of one tile pass, in units of one full-scale row
        (|x| = 1 on a |w| = 1 cell), from :meth:`noise_var_coeffs`. ``xn`` [m, r]: the inputs of
        the pass normalised to the DAC full scale (a bit plane: 0/1); ``wn`` [r, n]: the
        normalised programmed weights of that tile (None unless :attr:`noise_reads_weights`).
        Returns a float, or a tensor broadcastable to [m, n]."""
        c0, c_sq, c_l1 = self.noise_var_coeffs(xn.shape[-1])
        if not c_sq and not c_l1:
            return math.sqrt(c0)
        var = c_sq * xn.pow(2).sum(-1, keepdim=True) if c_sq else 0.0
        if c_l1:
            var = var + c_l1 * (xn.abs() @ wn.abs())
        return torch.sqrt(var + c0)

    def accuracy_params(self) -> set[tuple[str, str]]:
        """(table, key) of the parameters that change what the deployed model computes on this
        configuration; every other key of the schema only changes the cost (or nothing, for
        :data:`METADATA_KEYS`). A test perturbs each key and holds this claim to it."""
        from hw_models.noise import TIME_DEPENDENT
        keys = {("noise", "model")}
        if self.exact:
            return keys
        keys |= {("tile", "static_weights"), ("tile", "rows"), ("tile", "weight_bits"), ("adc", "model"), ("dac", "model")}
        if self.input_levels is not None:
            keys.add(("hardware", "input_bits"))
        if self.output_levels is not None:
            keys |= {("hardware", "output_bits"), ("noise", "adc_range")}
        keys |= {("noise", k) for k in self.noise if not k.startswith("_")
                 and k not in ("model", "adc_range", "t_inference_s", "drift_compensation")}
        if self.noise_model in TIME_DEPENDENT:
            keys.add(("noise", "t_inference_s"))
            if self.t_inference_s > 0:
                keys.add(("noise", "drift_compensation"))
        return keys
