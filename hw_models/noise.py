"""Device physics of the analog tile families, as torch code that runs inside a forward pass.

A preset's ``[noise]`` table picks a ``model`` among those its tile family accepts
(:attr:`hw_models.family.TileFamily.noise_models`) and gives its parameters, each physical
number as ``{value = ..., source = "paper, year, table"}`` (a ``unit`` may be added; the
values are dimensionless fractions unless the key name carries the unit: ``_us``
microsiemens, ``_s`` seconds, ``_rad`` radians, ``_db`` decibel). Keys a preset omits take the
defaults below, each with its source; a key the model does not read is an error.
:func:`validate_noise` checks a table; the family object of a Hardware holds the result.

Models:

* ``pcm`` (programming noise, drift, accumulated 1/f read noise: Nandakumar et al. ICECS
  2019, the statistical model of aihwkit's ``PCMLikeNoiseModel``), ``rram`` (conductance
  deviation polynomials of Wan et al. Nature 608:504, 2022, as fitted in aihwkit's
  ``ReRamWan2022NoiseModel``), ``sram`` (weights stored exactly as bits): crossbars;
* ``mzi``: Clements meshes with phase quantization, phase errors, thermal crosstalk,
  per-MZI insertion loss and its spread, beam-splitter imbalance;
* ``freespace``: detector read-out noise (the SLM holds ``tile.weight_bits`` levels; the shot
  noise comes from the photon budget the cost model prices, :mod:`hw_models.photonics.optics`);
* ``charge``: capacitor mismatch of a charge-domain crossbar (kT/C noise follows from its
  capacitance, :mod:`hw_models.charge`);
* ``ideal``: exact computation, for checks.

``out_noise`` is Gaussian noise on each tile output in units of one full-scale row (|x| = 1
on a |w| = 1 cell), before the ADC; ``read_noise`` per-MVM weight noise as a fraction of the
maximum conductance; ``adc_range`` the ADC clipping range in the same units, before
calibration. DAC and ADC bits are *not* here: they are ``Hardware.input_bits``/``output_bits``,
the same numbers the cost model prices.

Example::

    >>> import torch
    >>> from hw_models.noise import pcm_programming_noise, noise_defaults
    >>> p = noise_defaults("pcm")
    >>> g = pcm_programming_noise(torch.full((1000,), 10.0), p, torch.Generator().manual_seed(0))
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from hw_models.errors import HardwareConfigError

# ---------------------------------------------------------------------------------------
# defaults, each with its source
# ---------------------------------------------------------------------------------------
_NANDAKUMAR = "Nandakumar et al. ICECS 2019 (PCM statistical model), as coded in aihwkit PCMLikeNoiseModel"
_RASCH = ("Rasch et al. Nat. Commun. 14:5282 (2023), standard AIMC inference setting as coded in aihwkit "
          "StandardHWATrainingPreset (aihwkit/simulator/presets/inference.py: forward.out_noise=0.04, "
          "w_noise=0.0175 of type PCM_READ, out_bound=10)")
_WAN = ("Wan et al. Nature 608:504 (2022) (NeuRRAM): 4th-order polynomial fits (in uS, at g_max 40 uS) of the "
        "conductance deviation vs. target at 1 s / 1 day / 2 days that aihwkit estimated from the paper's "
        "figures (aihwkit/inference/noise/reram.py, ReRamWan2022NoiseModel, coeff_dic); a tool's fit, "
        "not coefficients printed in the paper")
_SHEN_NONE = ("no published figure found: Shen et al. Nat. Photonics 11:441 (2017) (arXiv:1610.02365) give no "
              "measured value; their vowel-task noise sweep (Fig. 3a of the arXiv text) only maps accuracy over "
              "sigma_phi and sigma_D in 0..0.2")

DEFAULTS: dict[str, dict[str, tuple[Any, str]]] = {
    "pcm": {
        "prog_coeffs_us": ([0.26348, 1.9650, -1.1731], _NANDAKUMAR + "; std = c0 + c1 g/gmax + c2 (g/gmax)^2"),
        "prog_coeffs_g_ref_us": (25.0, _NANDAKUMAR + " (g_max of the fit; the conductance unit of the model)"),
        "drift_t0_s": (20.0, _NANDAKUMAR + " (first read time of the drift fit)"),
        "drift_nu_mean": ([-0.0155, 0.0244, 0.049, 0.1], _NANDAKUMAR + "; nu_mean = a ln(g/gmax)+b clipped [lo, hi]"),
        "drift_nu_std": ([-0.0125, -0.0059, 0.008, 0.045], _NANDAKUMAR + "; nu_std = a ln(g/gmax)+b clipped [lo, hi]"),
        "read_1f": ([0.0088, 0.65, 0.2], _NANDAKUMAR + "; Q_s = min(c/(g/gmax)^e, max)"),
        "t_read_s": (250e-9, _NANDAKUMAR + " (t_read of the 1/f fit)"),
        "read_noise": (0.0175, _RASCH + "; applied here in the additive form sigma_r * ||x|| per tile "
                       "output, whereas PCM_READ scales it with sqrt(sum |w| x^2) <= ||x||: this is the "
                       "pessimistic (upper) bound of that model"),
        "out_noise": (0.04, _RASCH),
        "adc_range": (10.0, _RASCH),
        "drift_compensation": (True, "global drift compensation, Joshi et al. Nat. Commun. 11:2473 (2020)"),
    },
    "rram": {
        "prog_coeffs_us_by_time": ({"1": [0.348, 16.030, -43.853, 45.393, -16.815],
                                    "86400": [0.701, 22.086, -50.773, 47.095, -16.458],
                                    "172800": [0.782, 20.274, -43.507, 37.062, -11.934]}, _WAN),
        "prog_coeffs_g_ref_us": (40.0, _WAN + " (g_max the fits refer to; the conductance unit of the model)"),
        "read_noise": (0.01, "aihwkit ReRamWan2022NoiseModel docstring (aihwkit/inference/noise/reram.py): no "
                              "separate 1/f data in Wan et al. 2022; short-term read noise 'about 1%', "
                              "forward.w_noise ~0.01 (a tool's documented setting)"),
        "out_noise": (0.04, _RASCH),
        "adc_range": (10.0, _RASCH),
        "drift_compensation": (False, "Wan et al. 2022 report relaxation, not power-law drift"),
    },
    "sram": {
        "out_noise": (0.0, "no measured per-MVM figure found for Valavi et al. JSSC 54(6):1789 (2019); value 0 "
                           "chosen because charge-domain accumulation noise is far below one ADC LSB (e.g. "
                           "0.14 mV = 4.5% of an LSB output std in post-layout Monte Carlo, Chen et al. "
                           "MC2-RAM, ISLPED 2021, abstract; simulation, 65 nm), so only DAC/ADC quantization "
                           "applies; used only for the sram noise model"),
        "adc_range": (10.0, _RASCH),
    },
    "mzi": {
        "phase_bits": (8, "design choice: the 8-bit drive DAC the cost model prices for the mesh (published_figures "
                          "dac_8b_16nm, SimPhony / Lightening-Transformer device library); Shen et al. 2017 "
                          "drove their shifters with 16-bit voltage resolution (arXiv:1610.02365, Experiment)"),
        "phase_error_rad": (5e-3, _SHEN_NONE + "; 5e-3 rad chosen as a residual calibration error below "
                                  "the 8-bit phase quantization rms (2pi/256/sqrt(12) = 7.1e-3 rad); used only "
                                  "for the mzi noise model"),
        "crosstalk": (0.0, "thermal crosstalk is compensated by calibration (Milanizadeh et al. J. Lightwave "
                           "Technol. 37:1325, 2019); raise it to study uncompensated meshes"),
        "splitter_error_rad": (0.0, "ideal 50:50 couplers unless a preset gives a fabricated imbalance"),
        "loss_std_db": (0.0, "uniform per-MZI loss unless a preset gives its spread"),
        "out_noise": (1e-3, _SHEN_NONE + "; 1e-3 of full scale chosen (below one 8-bit ADC LSB, 3.9e-3) for "
                            "detector/TIA noise; used only for the mzi noise model"),
        "adc_range": (10.0, _RASCH),
    },
    "freespace": {
        "detector_noise_photons": (1.6, "Hamamatsu ORCA-Flash4.0 V3 (C13440-20CU) sCMOS specification: 1.6 e- rms "
                                        "readout noise, standard scan; in photoelectrons, the unit of the "
                                        "detected-photon count the shot-noise model uses; a camera read-out, "
                                        "a GHz detector array is noisier"),
        "out_noise": (0.0, "detector noise is modelled by detector_noise_photons"),
        "adc_range": (10.0, _RASCH),
    },
    "charge": {
        "cap_mismatch": (0.0, "no published sigma(dC/C) found for femtofarad bit-cell capacitors (Omran et al. "
                              "IEEE TCAS-I 63(6), 2016 could not be read); 0 unless a preset states one"),
        "out_noise": (0.0, "readout noise beyond the kT/C sampling noise (derived from the capacitance, "
                           "hw_models.charge) not modelled unless a preset states it"),
        "adc_range": (10.0, _RASCH),
    },
    "ideal": {},
}

#: keys every model accepts as plain values (no source): the model name and the read time
_STRUCT_KEYS = {"model", "t_inference_s"}
_BOOL_KEYS = {"drift_compensation"}
_INT_KEYS = {"phase_bits"}
#: models whose devices change with the time after programming
TIME_DEPENDENT = ("pcm", "rram")


def _fail(where: str, key: str, expected: str, got: Any) -> HardwareConfigError:
    return HardwareConfigError(f"{where}: [noise] {key}: expected {expected}, got {got!r}")


def noise_defaults(model: str) -> dict[str, Any]:
    """The default parameters of a noise model (values only), ``model`` included, with
    ``_sources`` (key -> source)."""
    out = {k: v for k, (v, _) in DEFAULTS[model].items()}
    out["model"] = model
    out["t_inference_s"] = 0.0
    out["_sources"] = {k: s for k, (_, s) in DEFAULTS[model].items()}
    return out


def validate_noise(models: tuple[str, ...], table: dict[str, Any], where: str,
                   overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check a preset's ``[noise]`` table against the models a tile family accepts
    (``models[0]`` is its default); return plain values with the defaults of the model
    filled in and ``_sources`` (key -> source).

    A number read from a file comes as ``{value = ..., source = "..."}``; ``model``,
    ``drift_compensation`` and ``t_inference_s`` may be plain values. ``overrides`` (plain
    values, from ``hw_models.load(..., **{"noise.key": v})``) are checked the same way and
    win over the table; their source is "user override"."""
    overrides = dict(overrides or {})
    file_model = table.get("model", models[0])
    model = overrides.pop("model", file_model)
    model = model["value"] if isinstance(model, dict) else model
    if model not in models:
        raise _fail(where, "model", f"one of {list(models)} for this tile family", model)
    out = noise_defaults(model)
    known = set(DEFAULTS[model]) | _STRUCT_KEYS
    # another model chosen by an override: the file's parameters were its own model's
    items = [(k, v, False) for k, v in table.items() if k != "model" and model == file_model]
    items += [(k, v, True) for k, v in overrides.items()]
    for key, raw, is_override in items:
        if key not in known:
            raise _fail(where, key, f"one of {sorted(known)} for noise model {model!r}", "unknown key")
        if is_override:
            v, src = (raw["value"] if isinstance(raw, dict) and "value" in raw else raw), "user override"
        elif key in _STRUCT_KEYS or key in _BOOL_KEYS:
            v = raw["value"] if isinstance(raw, dict) else raw
            src = raw.get("source", "preset") if isinstance(raw, dict) else "preset"
        else:
            if not isinstance(raw, dict) or "value" not in raw:
                raise _fail(where, key, '{value = ..., source = "paper, year, table"}', raw)
            if not raw.get("source"):
                raise _fail(where, key, "a source (paper, year, table) for this constant", raw)
            extra = set(raw) - {"value", "unit", "source", "note"}
            if extra:
                raise _fail(where, key, "only value, unit, source, note in the table", sorted(extra))
            v, src = raw["value"], raw["source"]
        out[key] = _check(where, key, v, out.get(key, 0.0))
        out["_sources"][key] = src
    return out


def _check(where: str, key: str, v: Any, like: Any) -> Any:
    if key in _BOOL_KEYS:
        if not isinstance(v, bool):
            raise _fail(where, key, "true or false", v)
        return v
    if key in _INT_KEYS:
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 32:
            raise _fail(where, key, "an integer number of bits in 1..32", v)
        return v
    if isinstance(like, dict):
        if not isinstance(v, dict) or not v:
            raise _fail(where, key, "a table time_s -> coefficient list", v)
        try:
            return {str(float(k)): [float(c) for c in cs] for k, cs in v.items()}
        except (TypeError, ValueError):
            raise _fail(where, key, "a table time_s -> list of numbers", v) from None
    if isinstance(like, list):
        if not isinstance(v, (list, tuple)) or len(v) != len(like) and key != "prog_coeffs_us" \
                or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in v):
            raise _fail(where, key, f"a list of {len(like)} numbers", v)
        return [float(c) for c in v]
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
        raise _fail(where, key, "a non-negative number", v)
    return float(v)


# ---------------------------------------------------------------------------------------
# crossbars: conductances in microsiemens
# ---------------------------------------------------------------------------------------
def _poly(g_rel: torch.Tensor, coeffs: list[float]) -> torch.Tensor:
    out = torch.full_like(g_rel, coeffs[0])
    p = torch.ones_like(g_rel)
    for c in coeffs[1:]:
        p = p * g_rel
        out = out + c * p
    return out


def pcm_programming_noise(g_target: torch.Tensor, p: dict, gen: torch.Generator | None) -> torch.Tensor:
    """Programmed conductance: g_target + N(0, std(g)^2), std(g) = poly(g/g_max) in µS
    (Nandakumar 2019), clipped at 0."""
    gmax = p["prog_coeffs_g_ref_us"]
    std = _poly(g_target / gmax, p["prog_coeffs_us"])
    return (g_target + std * torch.randn(g_target.shape, generator=gen, dtype=g_target.dtype)).clamp_(min=0.0)


def pcm_drift_nu(g_target: torch.Tensor, p: dict, gen: torch.Generator | None) -> torch.Tensor:
    """Drift exponents ν ~ |N(mu(g), sigma(g)^2)| per device (Nandakumar 2019)."""
    lg = torch.log((g_target / p["prog_coeffs_g_ref_us"]).abs().clamp(min=1e-7))
    a, b, lo, hi = p["drift_nu_mean"]
    mu = (a * lg + b).clamp(lo, hi)
    a, b, lo, hi = p["drift_nu_std"]
    sd = (a * lg + b).clamp(lo, hi)
    return (mu + sd * torch.randn(g_target.shape, generator=gen, dtype=g_target.dtype)).abs()


def pcm_drift_factor(nu: torch.Tensor, t_inference_s: float, p: dict) -> torch.Tensor:
    """g(t)/g(t0) = ((t_inference + t0)/t0)^-ν; ``t_inference`` counts from t0 after programming."""
    t0 = p["drift_t0_s"]
    return ((t_inference_s + t0) / t0) ** (-nu)


def pcm_read_noise_std(g_prog: torch.Tensor, t_inference_s: float, p: dict) -> torch.Tensor:
    """Relative std of the 1/f read noise accumulated until ``t_inference`` (Nandakumar 2019):
    Q_s(g) sqrt(ln((t + t_read)/(2 t_read)))."""
    c, e, qmax = p["read_1f"]
    t = t_inference_s + p["drift_t0_s"]
    qs = (c / ((g_prog.abs() / p["prog_coeffs_g_ref_us"]) ** e).clamp(min=1e-3)).clamp(max=qmax)
    return qs * math.sqrt(math.log((t + p["t_read_s"]) / (2 * p["t_read_s"])))


def pcm_conductance_at(g_target: torch.Tensor, t_inference_s: float, p: dict,
                       gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(g right after programming, g at ``t_inference``): programming noise, drift, 1/f noise.
    Draws happen in a fixed order so the same generator state gives the same devices at every t."""
    g_prog = pcm_programming_noise(g_target, p, gen)
    nu = pcm_drift_nu(g_target, p, gen)
    z = torch.randn(g_target.shape, generator=gen, dtype=g_target.dtype)
    g_t = g_prog * pcm_drift_factor(nu, t_inference_s, p)
    g_t = g_t + g_t.abs() * pcm_read_noise_std(g_prog, t_inference_s, p) * z
    return g_prog, g_t.clamp_(min=0.0)


def rram_conductance_at(g_target: torch.Tensor, t_inference_s: float, p: dict,
                        gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(g after programming, g at ``t_inference``) from Wan 2022's deviation fits: the fit of
    the latest measured time <= t (1 s, 1 day, 2 days) gives the std at t."""
    table = {float(k): v for k, v in p["prog_coeffs_us_by_time"].items()}
    times = sorted(table)
    gmax = p["prog_coeffs_g_ref_us"]
    z = torch.randn(g_target.shape, generator=gen, dtype=g_target.dtype)
    def at(t: float) -> torch.Tensor:
        key = max([x for x in times if x <= max(t, times[0])])
        std = _poly(g_target / gmax, table[key]).clamp(min=0.0)
        return (g_target + std * z).clamp(min=0.0)
    return at(times[0]), at(t_inference_s)


def quantize_symmetric(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Round values in [-1, 1] to 2^(bits-1)-1 levels per sign (1 bit: sign only)."""
    levels = max(1, 2 ** (bits - 1) - 1)
    return torch.round(w.clamp(-1, 1) * levels) / levels


def slice_levels(tile: Any) -> int:
    """Largest digit one bit slice of a crossbar weight holds: 2^cell_bits - 1 when the weight is
    sliced, else the weight's own levels 2^(weight_bits-1) - 1 (the sign is the polarity)."""
    return 2 ** tile.cell_bits - 1 if tile.slices > 1 else max(1, 2 ** (tile.weight_bits - 1) - 1)


def program_crossbar(w: torch.Tensor, tile: Any, p: dict, gen: torch.Generator | None,
                     t_inference_s: float = 0.0, per_slice: bool = False) -> tuple[torch.Tensor, ...]:
    """Write a weight [K, N] onto crossbar conductances and read back what the tile holds.

    Each column is normalised by its largest |w| (kept digitally as ``col_scale``); the
    normalised weight is quantized to ``tile.weight_bits``: an integer q in [-L, L],
    L = 2^(weight_bits-1) - 1, split into ``tile.slices`` bit slices of ``cell_bits`` each
    (shift-added back digitally). How a slice holds its digit:

    * ``devices_per_cell >= 2``, differential: the digit of |q| on G+ (q > 0) or G- (q < 0),
      each polarity ``devices_per_cell // 2`` devices programmed alike, their independent
      errors averaging (HERMES: 2 + 2, Le Gallo et al. Nat. Electron. 6:680, 2023);
    * ``devices_per_cell == 1``, offset encoding (ISAAC, Shafiee et al. ISCA 2016: weights
      stored with a bias that is subtracted digitally; Xiao et al. IEEE Circuits Syst. Mag.
      22(4), 2022, Table 1, "offset subtraction"): the unsigned code u = q + 2^(weight_bits-1)
      (in [1, 2^weight_bits - 1]) is split into unsigned digits of ``cell_bits`` (0..M,
      M = 2^cell_bits - 1: exactly 2^cell_bits levels per cell), each on ONE device
      g = digit / M * g_max. The slice state is d_s = g / g_max in [0, 1], its significance
      M 2^(cell_bits s) / L, and the per-column ``offset`` -2^(weight_bits-1) / L is added
      digitally and exactly (offset times the sum of the inputs), so that
      sum_s significance_s d_s + offset = q / L. A zero weight is u = 2^(weight_bits-1): all
      slices but the top one at 0 S (8-bit weights on 2-bit cells: digits 0, 0, 0, 2). A
      weight in one slice (cell_bits >= weight_bits) spans the cell's range with its own codes
      (M = 2^(weight_bits-1) + L, the largest u). These are ``ceil(weight_bits / cell_bits)``
      digits, ``tile.slices`` as the estimator counts them, except for ternary 1-bit weights
      (u in 0..2) on 1-bit cells, which would need two: refused.

    Device noise/drift per ``p["model"]`` (``pcm``, ``rram``); ``sram`` holds the signed digits
    exactly. Global drift compensation (Joshi et al. Nat. Commun. 11:2473, 2020) rescales by the
    ratio of a reference read-out (an all-ones input through the programmed devices, slices
    shift-added) at t0 and at t. The digital offset does not drift and is not part of that
    read-out: the ratio rescales the analog part only, so a uniform drift is undone exactly.
    Returns (w_eff in [-1,1]-ish, col_scale), the offset included in w_eff.

    ``per_slice=True`` returns (slices [S, K, N], significance [S], col_scale, offset) instead:
    each slice's normalised state (differential: the conductance difference in [-1, 1]; offset
    encoding: g / g_max in [0, 1]; drift compensation applied), its weight in the shift-add and
    the digital offset [N] (None unless offset-encoded), so that
    ``w_eff = sum_s significance[s] * slices[s] + offset`` (same random draws, in the same order,
    as ``per_slice=False``). ``ideal``: one slice, the unquantized weight; ``sram``: the exact
    signed slice digits.
    """
    model = p["model"]
    w = w.detach().to(torch.float32)
    col_scale = w.abs().amax(dim=0).clamp(min=1e-12)
    wn = w / col_scale
    if model == "ideal":
        return (wn[None], torch.ones(1), col_scale, None) if per_slice else (wn, col_scale)
    wq = quantize_symmetric(wn, tile.weight_bits)
    if model == "sram" and not per_slice:
        return wq, col_scale
    levels = max(1, 2 ** (tile.weight_bits - 1) - 1)
    mag = torch.round(wq.abs() * levels)  # integer magnitude
    base = 2 ** tile.cell_bits
    per_slice_max = slice_levels(tile)
    sign = torch.sign(wq)
    def digit_of(s: int) -> torch.Tensor:
        return torch.remainder(torch.floor(mag / base ** s), base) if tile.slices > 1 else mag
    out = torch.empty(tile.slices, *wn.shape) if per_slice else None  # the programmed state
    sig = torch.tensor([per_slice_max * base ** s / levels for s in range(tile.slices)])
    if model == "sram":  # bits stored exactly: the signed slice digits
        for s in range(tile.slices):
            torch.mul(sign, digit_of(s) / per_slice_max, out=out[s])
        return out, sig, col_scale, None
    gmax = p["prog_coeffs_g_ref_us"]  # conductances in the unit of the device model's fit
    per_polarity = max(1, tile.devices_per_cell // 2)
    conductance_at = pcm_conductance_at if model == "pcm" else rram_conductance_at
    offset = None
    if tile.devices_per_cell == 1:  # offset encoding: unsigned code u = q + bias on one device
        bias = 2 ** (tile.weight_bits - 1)
        top_code = bias + levels  # largest u: 2^weight_bits - 1 (1-bit ternary weights: 2)
        if top_code > base ** tile.slices - 1:
            raise HardwareConfigError(
                f"[tile] weight_bits {tile.weight_bits}, cell_bits {tile.cell_bits}: the offset encoding of one "
                f"device per cell needs codes 0..{top_code}, more than {tile.slices} slice(s) of {tile.cell_bits} "
                f"bit(s) hold; use devices_per_cell = 2 or more cell_bits")
        code = sign * mag + bias
        per_slice_max = base - 1 if tile.slices > 1 else top_code  # M: the largest digit of a slice
        sig = torch.tensor([per_slice_max * base ** s / levels for s in range(tile.slices)])
        offset = torch.full((wn.shape[1],), -bias / levels)
        def unsigned_digit_of(s: int) -> torch.Tensor:  # digit s of the code, 0..per_slice_max
            return torch.remainder(torch.floor(code / base ** s), base) if tile.slices > 1 else code
    eff0 = torch.zeros_like(wn)
    eff = torch.zeros_like(wn)
    for s in range(tile.slices):
        digit = digit_of(s) if offset is None else unsigned_digit_of(s)
        frac = digit / per_slice_max  # 0..1 of the slice's full scale
        weight_of_slice = per_slice_max * base ** s / levels
        if tile.devices_per_cell >= 2:  # differential: G+ holds positives, G- negatives, each as
            # the sum of devices_per_cell // 2 devices programmed alike (HERMES: 2 + 2, Le Gallo 2023)
            gp_t = torch.where(sign > 0, frac, torch.zeros_like(frac)) * gmax
            gn_t = torch.where(sign < 0, frac, torch.zeros_like(frac)) * gmax
            d0 = torch.zeros_like(wn)
            d = torch.zeros_like(wn)
            for g_t, pol in ((gp_t, 1.0), (gn_t, -1.0)):
                for _ in range(per_polarity):
                    g0, g = conductance_at(g_t, t_inference_s, p, gen)
                    d0.add_(g0, alpha=pol / (per_polarity * gmax))
                    d.add_(g, alpha=pol / (per_polarity * gmax))
        else:  # offset encoding: the unsigned digit on one device, state g / g_max in [0, 1]
            g0, g = conductance_at(frac * gmax, t_inference_s, p, gen)
            d0, d = g0 / gmax, g / gmax
        eff0 += d0 * weight_of_slice
        eff += d * weight_of_slice
        if out is not None:
            out[s] = d
    if p.get("drift_compensation") and t_inference_s > 0:
        # reference read-out of the analog part (the digital offset does not drift)
        ref0, ref_t = eff0.sum(0).abs().sum(), eff.sum(0).abs().sum()
        if float(ref_t) > 0:
            eff = eff * (ref0 / ref_t)
            if out is not None:
                out.mul_(ref0 / ref_t)
    if per_slice:
        return out, sig, col_scale, offset
    return (eff if offset is None else eff + offset), col_scale


# ---------------------------------------------------------------------------------------
# MZI meshes (Clements et al. Optica 3:1460, 2016)
# ---------------------------------------------------------------------------------------
def _np(v: Any) -> Any:
    """A tensor as a float64 numpy array (other values unchanged)."""
    return v.detach().to(torch.float64).numpy() if isinstance(v, torch.Tensor) else v


def mzi_matrix(theta: torch.Tensor, phi: torch.Tensor | float, split1: torch.Tensor | float = 0.0,
               split2: torch.Tensor | float = 0.0) -> torch.Tensor:
    """2x2 transfer matrix of one MZI [..., 2, 2]: BS(δ2) · P(θ) · BS(δ1) · P(φ), with
    P(x) = diag(e^{ix}, 1) on the upper arm and BS(δ) = [[cos a, i sin a], [i sin a, cos a]],
    a = π/4 + δ (δ = 0: 50:50); complex64 for a float32 θ, else complex128. Computed by
    :func:`_mzi_np`, the form the meshes use."""
    theta = torch.as_tensor(theta)
    m = torch.from_numpy(_mzi_np(_np(theta), _np(phi), _np(split1), _np(split2)))
    return m.to(torch.complex64) if theta.dtype == torch.float32 else m


def _mzi_np(theta: np.ndarray, phi: np.ndarray, d1: Any = 0.0, d2: Any = 0.0) -> np.ndarray:
    """The MZI transfer matrix in numpy (the meshes' inner loops: a few small ops per MZI),
    multiplied out (c_k, s_k = cos, sin of a_k; E = e^{iθ}):

        [[(c1 c2 E - s1 s2) e^{iφ},     i (c2 s1 E + s2 c1)],
         [i (s2 c1 E + c2 s1) e^{iφ},   c1 c2 - s1 s2 E    ]]
    """
    a1, a2 = np.pi / 4 + np.asarray(d1, dtype=np.float64), np.pi / 4 + np.asarray(d2, dtype=np.float64)
    c1, s1, c2, s2 = np.cos(a1), np.sin(a1), np.cos(a2), np.sin(a2)
    e, f = np.exp(1j * theta), np.exp(1j * phi)
    cc, ss = c1 * c2, s1 * s2
    out = np.empty(np.broadcast(theta, phi).shape + (2, 2), dtype=np.complex128)
    out[..., 0, 0] = (cc * e - ss) * f
    out[..., 0, 1] = 1j * (c2 * s1 * e + s2 * c1)
    out[..., 1, 0] = 1j * (s2 * c1 * e + c2 * s1) * f
    out[..., 1, 1] = cc - ss * e
    return out


def clements_decompose(u: torch.Tensor) -> dict[str, Any]:
    """Decompose unitaries u [B, n, n] (complex) into MZI phases by Clements' nulling order.

    Returns ``right``/``left`` lists of (mode m, θ [B], φ [B]) and ``diag`` phases [B, n] with
    u = L_1^† … L_k^† · D · R_m … R_1 (each L, R an MZI on modes m, m+1). The left MZIs are
    realised as the mirrored device (M^†); the commutation of D to the output side of a
    rectangular layout is not done — same MZI count (n(n-1)/2), same depth."""
    x = u.detach().to(torch.complex128).numpy().copy()
    n = x.shape[-1]
    right, left = [], []
    for i in range(n - 1):
        if i % 2 == 0:
            for j in range(i + 1):
                r, c = n - 1 - j, i - j
                a, b = x[:, r, c], x[:, r, c + 1]
                h = np.arctan2(np.abs(b), np.abs(a))
                phi = np.angle(a) - np.angle(b) + math.pi
                m = _mzi_np(2 * h, phi)
                x[:, :, c:c + 2] = x[:, :, c:c + 2] @ np.conj(np.swapaxes(m, -1, -2))
                right.append((c, torch.from_numpy(2 * h), torch.from_numpy(phi)))
        else:
            for j in range(i + 1):
                r, c = n - 1 - i + j, j
                a, b = x[:, r - 1, c], x[:, r, c]
                h = np.arctan2(np.abs(a), np.abs(b))
                phi = np.angle(b) - np.angle(a)
                m = _mzi_np(2 * h, phi)
                x[:, r - 1:r + 1, :] = m @ x[:, r - 1:r + 1, :]
                left.append((r - 1, torch.from_numpy(2 * h), torch.from_numpy(phi)))
    return {"n": n, "right": right, "left": left,
            "diag": torch.from_numpy(np.angle(np.diagonal(x, axis1=-2, axis2=-1)).copy())}


def _layers(seq: list[tuple]) -> list[int]:
    """Column of each MZI in a mesh built as-soon-as-possible (for crosstalk neighbours)."""
    busy: dict[int, int] = {}
    out = []
    for m, *_ in seq:
        col = max(busy.get(m, 0), busy.get(m + 1, 0))
        out.append(col)
        busy[m] = busy[m + 1] = col + 1
    return out


def mesh_phases_with_errors(dec: dict[str, Any], p: dict, gen: torch.Generator | None,
                            mzi_loss_db: float = 0.0) -> dict[str, Any]:
    """Apply phase quantization (``phase_bits`` over [0, 2π)), thermal crosstalk (each shifter
    picks up ``crosstalk`` × the phases of the neighbouring MZIs in the same mesh column),
    Gaussian phase errors (``phase_error_rad``), beam-splitter imbalance (``splitter_error_rad``
    per coupler) and the insertion loss of every MZI (``mzi_loss_db`` mean, ``loss_std_db``
    spread) to a decomposition."""
    bits = p.get("phase_bits")
    step = 2 * math.pi / 2 ** bits if bits else 0.0
    sig = p.get("phase_error_rad", 0.0)
    kappa = p.get("crosstalk", 0.0)
    sbs = p.get("splitter_error_rad", 0.0)
    sloss = p.get("loss_std_db", 0.0)

    def q(x):
        if not step:
            return x
        return torch.round(torch.remainder(x, 2 * math.pi) / step) * step

    def noisy(x):
        if not sig:
            return x
        return x + sig * torch.randn(x.shape, generator=gen, dtype=x.dtype)

    out: dict[str, Any] = {"n": dec["n"]}
    for side in ("right", "left"):
        seq = dec[side]
        thetas = [q(t) for _, t, _ in seq]
        phis = [q(f) for _, _, f in seq]
        if kappa and seq:
            cols = _layers(seq)
            slot = {(c, m): i for i, ((m, *_), c) in enumerate(zip(seq, cols))}
            th2, ph2 = [], []
            for i, ((m, *_), c) in enumerate(zip(seq, cols)):
                nb = [slot[k] for k in ((c, m - 2), (c, m + 2)) if k in slot]
                th2.append(thetas[i] + kappa * sum(thetas[j] for j in nb) if nb else thetas[i])
                ph2.append(phis[i] + kappa * sum(phis[j] for j in nb) if nb else phis[i])
            thetas, phis = th2, ph2
        mz = []
        for (m, _, _), t, f in zip(seq, thetas, phis):
            shape, dt = t.shape, t.dtype
            d1 = sbs * torch.randn(shape, generator=gen, dtype=dt) if sbs else 0.0
            d2 = sbs * torch.randn(shape, generator=gen, dtype=dt) if sbs else 0.0
            loss = mzi_loss_db + (sloss * torch.randn(shape, generator=gen, dtype=dt) if sloss else 0.0)
            amp = 10 ** (-torch.as_tensor(loss, dtype=dt).expand(shape) / 20) if (sloss or mzi_loss_db) else None
            mz.append((m, noisy(t), noisy(f), d1, d2, amp))
        out[side] = mz
    out["diag"] = noisy(q(dec["diag"]))
    return out


def mesh_unitary(mesh: dict[str, Any]) -> torch.Tensor:
    """The matrix [B, n, n] (complex128) the (possibly erroneous) mesh implements."""
    x = np.stack([np.diag(np.exp(1j * d)) for d in _np(mesh["diag"])])
    for m, t, f, d1, d2, amp in reversed(mesh["right"]):
        mm = _mzi_np(_np(t), _np(f), _np(d1), _np(d2))
        if amp is not None:
            mm = mm * _np(amp)[:, None, None]
        x[:, :, m:m + 2] = x[:, :, m:m + 2] @ mm
    for m, t, f, d1, d2, amp in reversed(mesh["left"]):
        mm = np.conj(np.swapaxes(_mzi_np(_np(t), _np(f), _np(d1), _np(d2)), -1, -2))
        if amp is not None:
            mm = mm * _np(amp)[:, None, None]
        x[:, m:m + 2, :] = mm @ x[:, m:m + 2, :]
    return torch.from_numpy(x)


def program_mzi(w: torch.Tensor, tile: Any, p: dict, gen: torch.Generator | None,
                mzi_loss_db: float = 0.0, blocks: list[tuple[int, int, int, int]] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Realise a weight [K, N] on MZI meshes, one per tile block ``(row_start, row_stop,
    col_start, col_stop)`` (the plan's; by default ``tile.rows`` x ``tile.cols`` blocks), each
    zero-padded to n = max(rows, cols): A = W_block^T = U Σ V^† by SVD; U and V^† as Clements
    meshes with errors and per-MZI loss ``mzi_loss_db``; Σ/σ_max as amplitude modulators
    quantized to ``tile.weight_bits``. Paths through a rectangular mesh cross different numbers
    of MZIs, so a uniform loss distorts as well as attenuates; the receiver gain of each mesh
    restores its average transmission (the Frobenius norm of the block). Returns
    (w_eff [K, N] normalised by col_scale, col_scale)."""
    w = w.detach().to(torch.float64)
    K, N = w.shape
    col_scale = w.abs().amax(dim=0).clamp(min=1e-12)
    wn = w / col_scale
    if p["model"] == "ideal":
        return wn.float(), col_scale.float()
    rows, cols = tile.rows, tile.cols
    n = max(rows, cols)
    if blocks is None:
        blocks = [(r0, min(K, r0 + rows), c0, min(N, c0 + cols))
                  for c0 in range(0, N, cols) for r0 in range(0, K, rows)]
    a = torch.zeros(len(blocks), n, n, dtype=torch.float64)
    for i, (r0, r1, c0, c1) in enumerate(blocks):
        a[i, :c1 - c0, :r1 - r0] = wn[r0:r1, c0:c1].t()  # A = W^T: outputs x inputs
    uu, s, vh = torch.linalg.svd(a)
    smax = s[:, :1].clamp(min=1e-30)
    sq = quantize_symmetric(s / smax, tile.weight_bits) if tile.weight_bits else s / smax
    cdt = torch.complex128
    u_mesh = mesh_unitary(mesh_phases_with_errors(clements_decompose(uu.to(cdt)), p, gen, mzi_loss_db))
    v_mesh = mesh_unitary(mesh_phases_with_errors(clements_decompose(vh.to(cdt)), p, gen, mzi_loss_db))
    a_eff = ((u_mesh * sq.to(cdt)[:, None, :]) @ v_mesh).real * smax[:, :, None]
    if mzi_loss_db:  # receiver gain: each mesh's average transmission restored
        gain = a.flatten(1).norm(dim=1) / a_eff.flatten(1).norm(dim=1).clamp(min=1e-30)
        a_eff = a_eff * gain[:, None, None]
    eff = torch.zeros(K, N, dtype=torch.float64)
    for i, (r0, r1, c0, c1) in enumerate(blocks):
        eff[r0:r1, c0:c1] = a_eff[i, :c1 - c0, :r1 - r0].t()
    return eff.float().contiguous(), col_scale.float()


# ---------------------------------------------------------------------------------------
# free-space optics
# ---------------------------------------------------------------------------------------
def program_slm(w: torch.Tensor, p: dict, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight [K, N] on SLM pixels: per-column normalisation, ``bits`` gray levels per sign
    (signed weights as two intensity channels subtracted at the detectors)."""
    w = w.detach().to(torch.float32)
    col_scale = w.abs().amax(dim=0).clamp(min=1e-12)
    wn = w / col_scale
    if p["model"] == "ideal":
        return wn, col_scale
    return quantize_symmetric(wn, bits), col_scale
