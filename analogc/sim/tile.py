"""Analog tile execution: one programmed weight copy, DAC → row-tile MVMs → noise → ADC → digital
accumulation, as a few large batched ops.

Everything physical comes from the hardware's tile family object (``hw.tile_model``, see
:mod:`hw_models.family`): converter levels, the analog passes per input vector, how a weight
is programmed and the noise of a tile output. The tile blocks come from the plan
(:meth:`analogc.mapping.plan.TileMapping.tile_blocks`). This module only runs them fast.

Per analog ``mvm`` the layer keeps ONE programmed weight ``w_eff`` [G, K, N] (normalised to
[-1, 1] per output column, the column scale kept digitally). A forward:

1. DAC: ``x_code = round(clamp(x / input_range, -1, 1) * Lx)``, ``Lx`` = the family's input levels.
2. Row tiles: one GEMM per row block of the plan, ``x_code[:, rows of t] @ w_eff[rows of t]``, on
   strided views (no copies), the tile's noise added inside the GEMM (``addmm``).
3. ADC per tile: ``round(clamp(y / step, -La, La))``, ``step = adc_range * Lx / La`` (the
   programmed copy is pre-divided by ``step``, so this is a clamp and a round in place).
4. Partial sums of the row tiles added digitally; scaled back by input range, ADC step and
   column scale; bias added digitally.

Column tiles need no reshaping: every column has its own ADC, so a column tile boundary
changes nothing in this model (families whose physics depends on it, MZI meshes, read the
blocks when they program). Backward is a straight-through estimator (clipping respected):
gradients cost the same two matmuls as a plain ``nn.Linear``.

Converter passes (``deploy(..., converter_passes="per-pass")``, the default). When the family
converts a row tile more than once per input vector (``multi_pass``: bit slices on their own
tiles, or ``input_cycles`` > 1 bit-serial input planes), every (input bit plane b, bit slice s,
row tile t) runs as its own analog pass, as the cost model counts them:

* programmed state: the S slice arrays ``d_s`` [G, K, S*N] (``program(per_slice=True)``:
  normalised states in [-1, 1], significance ``sigma_s``, w_eff = sum_s sigma_s d_s);
* inputs, bit-serial: the DAC code ``x_code`` in [-Lx, Lx] is written in two's complement on
  ``B = input_cycles`` bits, planes ``p_b`` in {0, 1} applied by a 1-bit DAC, plane b weighing
  ``c_b = 2^b`` and the top plane ``c_{B-1} = -2^(B-1)``; so x_code = sum_b c_b p_b exactly.
  Other encodings (multi-level, PWM) apply the code in one pass (B = 1, c_0 = 1, p_0 = x_code);
* each pass ``P = p_b[tile t] @ d_s[tile t]`` gets its own noise and ADC, with ONE ADC range for
  every pass of the layer, in the pass's own full-scale units: ``adc_range`` is the clip in units
  of one row at full input (plane 1, or code Lx) on a full-scale cell (|d| = 1) — the same unit as
  the recombined model, where a row at |x/r| = 1 on |w| = 1 gives 1. The step is
  ``adc_range * Lp / La`` (Lp = 1 for a bit plane, Lx for a code); calibration records the
  largest noiseless pass output, so the range adapts to the passes it will convert;
* digital shift-add: ``y = unit * col_scale * step * sum_b c_b sum_s sigma_s sum_t ADC(P)``.

With no ADC and no noise this equals the recombined execution to float rounding.
``converter_passes="recombined"`` keeps the faster approximation (slices and input bits added
before one conversion per row tile). ``conversions`` counts the ADC conversions a layer has
run (per output column and input vector, the number the estimator prices).
"""
from __future__ import annotations

import math
import threading
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from analogc.errors import AnalogcError
from analogc.weights import canonical_weight

_STATE = threading.local()  # .in_mvm: an analog layer is running (matmul interception is off)


def in_analog_mvm() -> bool:
    return getattr(_STATE, "in_mvm", False)


class NoisePool:
    """Gaussian draws for per-MVM noise, shared by the layers of one deployed model.

    ``torch.randn`` of every tile output costs as much as the MVM itself on a CPU, so the
    pool draws N(0, 1) once (size ≥ 2× the largest request) and each request takes a
    contiguous slice at a uniformly random offset: within one MVM all values are distinct
    i.i.d. draws; across MVMs only the offset changes. ``exact=True`` draws fresh every time."""

    MAX = 1 << 26  # 64 Mi floats (256 MiB); larger requests draw fresh

    def __init__(self, seed: int, exact: bool = False) -> None:
        self.gen = torch.Generator().manual_seed(seed)
        self.exact = exact
        self.pool = torch.empty(0)

    def take(self, n: int, gen: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """n draws in ``dtype`` (drawn in float32 whatever the dtype, so that a float64 or float16
        model gets the same draws as its float32 original)."""
        if self.exact or n > self.MAX // 2:
            z = torch.randn(n, generator=gen)
        else:
            if self.pool.numel() < 2 * n:
                self.pool = torch.randn(min(self.MAX, max(2 * n, 1 << 20)), generator=self.gen)
            off = int(torch.randint(0, self.pool.numel() - n + 1, (1,), generator=gen))
            z = self.pool[off:off + n]
        return z if dtype == torch.float32 else z.to(dtype)


def row_blocks(mapping: Any) -> list[tuple[int, int]]:
    """The row ranges (start, stop) of a plan mapping's tile blocks, in order."""
    return sorted({(r0, r1) for r0, r1, _, _ in mapping.tile_blocks()})


def _row_tile_gemms(y: torch.Tensor, x: torch.Tensor, w: torch.Tensor, blocks: list[tuple[int, int]],
                    z: torch.Tensor | None, beta: float) -> None:
    """y[t] = x[:, rows of block t] @ w[rows of block t] (+ beta * z[t]): one GEMM per row tile on
    strided views of x and w, so nothing is copied; the noise is added inside the GEMM."""
    for t, (r0, r1) in enumerate(blocks):
        xs, wt = x[:, r0:r1], w[r0:r1]
        if z is not None:
            torch.addmm(z[t], xs, wt, beta=beta, out=y[t])
        else:
            torch.mm(xs, wt, out=y[t])


def _chunks(groups: int, rows: int, chunk: int):
    """(group, first row, end row) of every chunk of ``chunk`` input rows, group by group."""
    for g in range(groups):
        for m0 in range(0, rows, chunk):
            yield g, m0, min(rows, m0 + chunk)


class _AnalogFn(torch.autograd.Function):
    """Forward through the tiles; backward straight-through (see module doc)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, in_range: torch.Tensor,  # type: ignore[override]
                layer: "AnalogMVM", amax: float) -> torch.Tensor:
        raw = float(in_range)
        r = abs(raw)  # the range is symmetric: a learned value that steps below 0 keeps working
        y = layer._run(x, r)
        ctx.layer = layer
        ctx.r = r
        ctx.r_sign = -1.0 if raw < 0 else 1.0
        ctx.amax = amax
        # r is kept as a float, not saved: a dynamic range is refreshed in place by the next
        # forward, which may run before this backward (two batches, a shared layer)
        ctx.r_shape, ctx.r_dtype = in_range.shape, in_range.dtype
        ctx.save_for_backward(x)
        return y

    @staticmethod
    def backward(ctx, gy: torch.Tensor):  # type: ignore[override]
        layer: AnalogMVM = ctx.layer
        x, = ctx.saved_tensors
        r = ctx.r
        w_dev, col_scale, factor = layer._programmed_dev()
        gx = gw = gr = None
        clip = layer.dac_levels is not None
        outside = None
        if clip and ctx.amax > r:
            outside = x.abs() > r
            if not bool(outside.any()):
                outside = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[2]:
            w_real = layer._weight_real(w_dev, col_scale, factor)  # [G, K, N]: cheaper than scaling gy when M > K
            g = torch.matmul(gy, w_real.transpose(1, 2))  # [G, M, K]
            if outside is not None:
                if ctx.needs_input_grad[2]:
                    gr = (ctx.r_sign * (g[outside] * torch.sign(x[outside])).sum()
                          ).reshape(ctx.r_shape).to(ctx.r_dtype)
                g.masked_fill_(outside, 0)
            elif ctx.needs_input_grad[2]:
                gr = torch.zeros(ctx.r_shape, dtype=ctx.r_dtype)
            gx = g if ctx.needs_input_grad[0] else None
        if ctx.needs_input_grad[1]:
            xh = x.clamp(-r, r) if outside is not None else x
            gw = layer._grad_to_param(xh, gy)
        return gx, gw, gr, None, None


class AnalogMVM(nn.Module):
    """An ``nn.Linear`` / HF ``Conv1D`` / ``nn.Conv1d`` / ``nn.Conv2d`` running on analog tiles.

    Built by :func:`analogc.deploy`; shares the original module's ``weight``/``bias``
    parameters (training updates them; the programmed copy is rebuilt when they change).
    ``options`` are the simulation options of deploy (``t_inference``, ``input_range``,
    ``input_range_mode``, ``converter_passes``); the hardware is ``hw`` alone.
    """

    def __init__(self, orig: nn.Module, kind: str, mapping: Any, hw: Any, seed: int, pool: NoisePool,
                 name: str, options: dict[str, Any]) -> None:
        super().__init__()
        self.kind = kind  # "linear" | "conv1d_hf" | "conv"
        self.name = name
        self.weight = orig.weight
        self.bias = orig.bias
        if kind == "conv":
            self.conv_dim = orig.weight.dim() - 2
            self.stride, self.padding = orig.stride, orig.padding
            self.dilation, self.groups = orig.dilation, orig.groups
            self.kernel_size = orig.kernel_size
            self.padding_mode = orig.padding_mode
            if isinstance(self.padding, str):
                raise AnalogcError(f"layer {name}: padding={self.padding!r} is not supported on analog tiles; "
                                   f"expected numeric padding")
        self.G = orig.groups if kind == "conv" else 1
        self.in_features = mapping.in_features
        self.out_features = mapping.out_features
        self.row_blocks = row_blocks(mapping)  # the plan's row tiles
        self.row_tiles = len(self.row_blocks)
        self.col_tiles = mapping.col_tiles
        self.tile_blocks = mapping.tile_blocks()
        self.tile = hw.tile
        self.family = hw.tile.family
        self.fam = hw.tile_model  # the tile family object: converters, programming, noise
        exact = self.fam.exact
        self.dac_levels = None if exact else self.fam.input_levels
        self.adc_levels = None if exact else self.fam.output_levels
        #: analog passes per input vector per row tile (bit-serial planes), as the estimator counts
        self.input_planes = 1 if exact else self.fam.input_cycles
        self.bit_serial = self.input_planes > 1 and self.dac_levels is not None
        #: one ADC conversion per (bit slice, input bit plane, row tile), shift-added digitally
        self.per_pass = (options.get("converter_passes", "per-pass") == "per-pass" and not exact
                         and self.fam.multi_pass)
        self.t_inference = float(options.get("t_inference", self.fam.t_inference_s))
        self.seed = seed
        self.pool = pool
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.range_mode = options.get("input_range_mode", "dynamic")
        ir = options.get("input_range")
        if ir is not None:
            self.range_mode = "static" if self.range_mode == "dynamic" else self.range_mode
        init = torch.tensor(float(ir) if ir is not None else 1.0)
        if self.range_mode == "learned":
            self.input_range = nn.Parameter(init)
        else:
            self.register_buffer("input_range", init)
        self.register_buffer("adc_range", torch.tensor(self.fam.adc_range))
        self.conversions = 0  # ADC conversions run so far (all columns, vectors, passes)
        self._cache_key: tuple | None = None
        self._w_eff: torch.Tensor | None = None
        self._w_factor = 1.0
        self._col_scale: torch.Tensor | None = None
        self._slice_sig: torch.Tensor | None = None  # per-pass: significance of each bit slice [S]
        self._calib: dict[str, float] | None = None  # set by calibrate(): noise and ADC off

    # -- state_dict ---------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, str]:
        """Saved in the state_dict next to ``input_range``: whether that range is refreshed per
        batch (``dynamic``) or fixed (``static``, e.g. calibrated), so that a loaded model uses it."""
        return {"input_range_mode": self.range_mode}

    def set_extra_state(self, state: Any) -> None:
        mode = state.get("input_range_mode") if isinstance(state, dict) else None
        if mode is not None and self.range_mode != "learned":  # a learned range stays a parameter
            self.range_mode = "dynamic" if mode == "dynamic" else "static"

    # -- programming --------------------------------------------------------------------
    def _grad_to_param(self, xh: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
        if self.kind == "linear":
            return gy[0].t() @ xh[0]
        if self.kind == "conv1d_hf":
            return xh[0].t() @ gy[0]
        g = torch.matmul(gy.transpose(1, 2), xh)  # [G, N, K]
        return g.reshape(self.weight.shape)

    def reprogram(self, t_inference: float | None = None) -> None:
        """Program the tiles again (new programming-noise draw from the layer's seed) or, with
        ``t_inference``, read the same devices at another time after programming."""
        if t_inference is not None:
            self.t_inference = float(t_inference)
        self._cache_key = None

    def _programmed_dev(self, step: float | None = None) -> tuple[torch.Tensor, torch.Tensor, float]:
        """(w_eff / step, col_scale, step): the one programmed copy, pre-divided by the ADC step
        so tile outputs come out in ADC LSBs (rescaled in place when the ADC range changes)."""
        self._programmed()
        if step is not None and step != self._w_factor:
            self._w_eff.mul_(self._w_factor / step)
            self._w_factor = step
        return self._w_eff, self._col_scale, self._w_factor

    def _weight_real(self, w_dev: torch.Tensor, col_scale: torch.Tensor, factor: float) -> torch.Tensor:
        """The recombined programmed weight [G, K, N] in real units (straight-through backward)."""
        if self._slice_sig is not None:  # per-pass: sum_s significance[s] * slice[s]
            G, K, SN = w_dev.shape
            S = self._slice_sig.numel()
            w_dev = torch.matmul(self._slice_sig.view(1, S), w_dev.view(G, K, S, SN // S)).view(G, K, SN // S)
        return w_dev * (col_scale * factor)[:, None, :]

    def _programmed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(w_eff [G, K, N] normalised, col_scale [G, N]); w_eff may be scaled, see _programmed_dev.
        Per-pass execution: w_eff is the bit slices [G, K, S*N] (slice-major columns, one copy)."""
        key = (self.weight._version, self.weight.data_ptr(), self.t_inference)
        if self._cache_key == key and self._w_eff is not None:
            return self._w_eff, self._col_scale
        gen = torch.Generator().manual_seed(self.seed)  # same seed -> same devices at every t
        wc = canonical_weight(self, self.kind).detach()
        states = [self.fam.program(wc[g], gen, t_inference_s=self.t_inference, per_slice=self.per_pass,
                                   blocks=self.tile_blocks) for g in range(self.G)]
        K, N = wc.shape[1:]
        S = states[0].weights.shape[0]
        if self.per_pass:
            slices = torch.empty(self.G, K, S, N, dtype=self.weight.dtype)
            for g, st in enumerate(states):
                slices[g].copy_(st.weights.permute(1, 0, 2))
            self._w_eff = slices.view(self.G, K, S * N)
            self._slice_sig = states[0].significance.to(self.weight.dtype)
        else:
            self._w_eff = torch.stack([st.recombined() for st in states]).to(self.weight.dtype).contiguous()
            self._slice_sig = None
        self._w_factor = 1.0
        self._col_scale = torch.stack([st.col_scale for st in states]).to(self.weight.dtype)
        self._cache_key = key
        return self._w_eff, self._col_scale

    # -- forward ------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_floating_point(x):
            raise AnalogcError(f"layer {self.name}: expected floating-point inputs, got {x.dtype}")
        if self.kind == "conv":
            return self._forward_conv(x)
        if x.shape[-1] != self.in_features:
            raise AnalogcError(f"layer {self.name}: expected inputs with last dimension {self.in_features}, "
                               f"got shape {tuple(x.shape)}")
        lead = x.shape[:-1]
        y = self._mvm(x.reshape(1, -1, self.in_features), self.bias)[0]
        return y.reshape(*lead, self.out_features)

    def _forward_conv(self, x: torch.Tensor) -> torch.Tensor:
        d = self.conv_dim
        if x.dim() != d + 2:
            raise AnalogcError(f"layer {self.name}: expected a {d + 2}-d input to a conv, got shape {tuple(x.shape)}")
        if self.padding_mode != "zeros" and any(self.padding):
            x = F.pad(x, [p for p in reversed(self.padding) for _ in range(2)], mode=self.padding_mode)
            padding = (0,) * d
        else:
            padding = self.padding
        x4 = x.unsqueeze(-2) if d == 1 else x
        ks = (1, *self.kernel_size) if d == 1 else self.kernel_size
        st = (1, *self.stride) if d == 1 else self.stride
        pd = (0, *padding) if d == 1 else padding
        dl = (1, *self.dilation) if d == 1 else self.dilation
        cols = F.unfold(x4, ks, dilation=dl, padding=pd, stride=st)  # [B, C*kh*kw, L]
        B, _, L = cols.shape
        xs = cols.view(B, self.G, self.in_features, L).permute(1, 0, 3, 2).reshape(self.G, B * L, self.in_features)
        y = self._mvm(xs)  # [G, B*L, N]
        y = y.view(self.G, B, L, self.out_features).permute(1, 0, 3, 2).reshape(B, self.G * self.out_features, L)
        hs = [(x4.shape[2 + i] + 2 * pd[i] - dl[i] * (ks[i] - 1) - 1) // st[i] + 1 for i in range(2)]
        y = y.view(B, -1, *hs)
        if d == 1:
            y = y.squeeze(-2)
        if self.bias is not None:
            y = y + self.bias.view(1, -1, *([1] * d))
        return y

    def _mvm(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """x [G, M, K] -> y [G, M, N] (+ bias [N] when given, G = 1)."""
        if x.numel():  # one pass (aminmax is ~15x faster than an inf-norm on CPU); NaN/inf propagate
            mn, mx = torch.aminmax(x.detach())
            amax = max(-float(mn), float(mx))
        else:
            amax = 0.0
        if not math.isfinite(amax):
            raise AnalogcError(f"layer {self.name}: input contains NaN or inf")
        if self._calib is not None:
            self._observe_input(x, amax)
        if self.range_mode == "dynamic" and self._calib is None:  # also without a DAC: the range
            self.input_range.fill_(max(amax, 1e-12))  # is the unit of output noise and ADC range
        _STATE.in_mvm = True
        try:
            if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad
                                            or self.input_range.requires_grad):
                y = _AnalogFn.apply(x, self.weight, self.input_range, self, amax)
                return y if bias is None else y + bias
            with torch.no_grad():  # the bias is added in the accumulation pass
                return self._run(x, abs(float(self.input_range)), bias)
        finally:
            _STATE.in_mvm = False

    #: elements of one chunk of tile outputs [row_tiles, rows of the batch, N]; large chunks keep
    #: the GEMMs efficient (measured faster than cache-sized chunks on the 768-3072 benchmark)
    CHUNK_ELEMENTS = 1 << 24

    def _noise_scale(self, xc: torch.Tensor, w: torch.Tensor, L: float, step: float) -> list[Any]:
        """Noise std of each row tile's outputs in ADC LSBs: the family's std (units of one
        full-scale row) for the tile's normalised inputs ``xc / L`` and weights ``w * step``
        (only built for a family whose noise reads them)."""
        out = []
        reads_w = self.fam.noise_reads_weights
        for r0, r1 in self.row_blocks:
            s = self.fam.noise_std(xc[:, r0:r1] / L, w[r0:r1] * step if reads_w else None)
            out.append(s * (L / step))
        return out

    @torch.no_grad()
    def _run(self, x: torch.Tensor, r: float, bias: torch.Tensor | None = None) -> torch.Tensor:
        if self.per_pass:
            return self._run_passes(x, r, bias)
        G, M, K = x.shape
        N, RT = self.out_features, self.row_tiles
        Lx, La = self.dac_levels, self.adc_levels
        calib = self._calib is not None
        adc = La is not None and not calib
        step = float(self.adc_range) * (Lx or 1) / La if adc else 1.0
        w_dev, col_scale, _ = self._programmed_dev(step)  # tile outputs come out in ADC LSBs
        fam = self.fam
        noisy = not calib and not fam.exact and (fam.signal_dependent_noise or fam.out_noise > 0)
        # 1. DAC: integer codes
        if Lx is not None:
            r = max(r, 1e-12)
            xq = torch.mul(x, Lx / r).clamp_(-Lx, Lx).round_()
            unit = r / Lx
        elif noisy or adc:  # no DAC: inputs still normalised by the input range (noise, ADC units)
            r = max(r, 1e-12)
            xq, unit, Lx = torch.mul(x, 1.0 / r), r, 1.0
        else:  # ideal: nothing depends on the unit
            xq, unit, Lx = x, 1.0, 1.0
        out_scale = col_scale * (unit * step)  # [G, N]
        beta = fam.out_noise * Lx / step  # signal-independent noise in LSB units
        out = torch.empty(G, M, N, dtype=x.dtype)
        ch = max(1, min(M, self.CHUNK_ELEMENTS // max(1, RT * N)))
        buf = torch.empty(RT, ch, N, dtype=x.dtype)
        for g, m0, m1 in _chunks(G, M, ch):
            s, mc, xc = out_scale[g], m1 - m0, xq[g, m0:m1]
            y = buf[:, :mc]
            z = self.pool.take(RT * mc * N, self.gen, x.dtype).view(RT, mc, N) if noisy else None
            b = beta
            if z is not None and fam.signal_dependent_noise:  # scaled into a new buffer: z may
                zs = torch.empty_like(z)  # be a view of the shared noise pool
                for t, std in enumerate(self._noise_scale(xc, w_dev[g], Lx, step)):
                    torch.mul(z[t], std, out=zs[t])
                z, b = zs, 1.0
            _row_tile_gemms(y, xc, w_dev[g], self.row_blocks, z, b)  # 2. tiles
            if calib:
                self._observe_tile_outputs(y, Lx)
            if adc:  # 3. ADC per tile (values already in LSBs): clip and round in place
                # (two in-place passes; fake_quantize_per_tensor_affine computes the same but
                # measured ~30x slower on CPU)
                y.clamp_(-La, La).round_()
                self.conversions += y.numel()
            o = out[g, m0:m1]  # 4. digital accumulation of the row tiles, scaled back
            if RT == 1:
                torch.mul(y[0], s, out=o)
            else:
                torch.sum(y, 0, out=o).mul_(s)
            if bias is not None:
                o.add_(bias)
        return out

    @torch.no_grad()
    def _run_passes(self, x: torch.Tensor, r: float, bias: torch.Tensor | None = None) -> torch.Tensor:
        """Bit-sliced / bit-serial tiles: every (input bit plane, bit slice, row tile) is its own
        analog pass with noise and an ADC conversion; then the digital shift-add
        ``sum_b c_b 2^b sum_s significance_s sum_t ADC(pass)`` (see the module doc)."""
        G, M, K = x.shape
        N, RT = self.out_features, self.row_tiles
        Lx, La = self.dac_levels, self.adc_levels
        calib = self._calib is not None
        adc = La is not None and not calib
        fam = self.fam
        r = max(r, 1e-12)
        if Lx is not None:  # 1. DAC codes
            xq = torch.mul(x, Lx / r).clamp_(-Lx, Lx).round_()
            unit = r / Lx
        else:  # no DAC: inputs normalised by the input range, unquantized
            xq, unit = torch.mul(x, 1.0 / r), r
        B = self.input_planes if self.bit_serial else 1
        if B > 1:  # two's complement: plane b weighs 2^b, the top plane -2^(B-1)
            cb = torch.tensor([2.0 ** b for b in range(B - 1)] + [-(2.0 ** (B - 1))], dtype=x.dtype)
            shifts = torch.arange(B, dtype=torch.int32).view(B, 1, 1)
            Lp = 1.0  # largest input of a pass (a 1-bit plane)
        else:
            Lp = float(Lx or 1)
        step = float(self.adc_range) * Lp / La if adc else 1.0  # one ADC range for all passes
        w_dev, col_scale, _ = self._programmed_dev(step)  # [G, K, S*N], pass outputs in ADC LSBs
        sig = self._slice_sig
        S = sig.numel()
        SN = S * N
        out_scale = col_scale * (unit * step)  # [G, N]
        beta = fam.out_noise * Lp / step  # signal-independent noise of each pass in LSB units
        noisy = not calib and (fam.signal_dependent_noise or fam.out_noise > 0)
        out = torch.empty(G, M, N, dtype=x.dtype)
        ch = max(1, min(M, self.CHUNK_ELEMENTS // max(1, RT * B * SN)))
        buf = torch.empty(RT, B * ch, SN, dtype=x.dtype)
        for g, m0, m1 in _chunks(G, M, ch):
            s, mc, xc = out_scale[g], m1 - m0, xq[g, m0:m1]
            if B > 1:  # bit planes [B*mc, K] of the two's-complement codes
                code = xc.to(torch.int32).bitwise_and_((1 << B) - 1)
                xp = (code.unsqueeze(0) >> shifts).bitwise_and_(1).to(x.dtype).view(B * mc, K)
            else:
                xp = xc
            rows = B * mc
            y = buf[:, :rows]
            z = self.pool.take(RT * rows * SN, self.gen, x.dtype).view(RT, rows, SN) if noisy else None
            b = beta
            if z is not None and fam.signal_dependent_noise:  # scaled into a new buffer: z may
                zs = torch.empty_like(z)  # be a view of the shared noise pool
                for t, std in enumerate(self._noise_scale(xp, w_dev[g], Lp, step)):
                    torch.mul(z[t], std, out=zs[t])
                z, b = zs, 1.0
            _row_tile_gemms(y, xp, w_dev[g], self.row_blocks, z, b)  # 2. all planes and slices at once
            if calib:
                self._observe_tile_outputs(y, Lp)
            if adc:  # 3. ADC per pass
                y.clamp_(-La, La).round_()
                self.conversions += y.numel()
            ys = y[0] if RT == 1 else torch.sum(y, 0)  # 4. digital: row tiles,
            if B > 1:  # input bit planes,
                ys = torch.matmul(cb.view(1, B), ys.view(B, mc * SN))
            ys = torch.matmul(sig.view(1, S), ys.view(mc, S, N))  # bit slices
            o = out[g, m0:m1]
            torch.mul(ys.view(mc, N), s, out=o)
            if bias is not None:
                o.add_(bias)
        return out

    # -- calibration hooks ---------------------------------------------------------------
    def _observe_input(self, x: torch.Tensor, amax: float) -> None:
        c = self._calib
        pct = c.get("percentile")
        v = amax
        if pct is not None and x.numel():
            flat = x.detach().abs().flatten()
            if flat.numel() > 1_000_000:
                flat = flat[torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(0))[:1_000_000]]
            v = float(torch.quantile(flat.float(), pct / 100.0))
        c["input_max"] = max(c.get("input_max", 0.0), v)
        self.input_range.data.fill_(max(c["input_max"], 1e-12))

    def _observe_tile_outputs(self, y: torch.Tensor, Lx: float) -> None:
        c = self._calib
        c["adc_max"] = max(c.get("adc_max", 0.0), float(y.abs().amax()) / Lx)

    def extra_repr(self) -> str:
        return (f"{self.kind}, K={self.in_features}, N={self.out_features}, groups={self.G}, "
                f"tiles={self.row_tiles}x{self.col_tiles} of {self.tile.rows}x{self.tile.cols}, "
                f"family={self.family}, noise={self.fam.noise_model}, dac={self.dac_levels}, "
                f"adc={self.adc_levels}"
                + (f", passes={self._n_slices()}x{self.input_planes}x{self.row_tiles} (slices x bits x row tiles)"
                   if self.per_pass else ""))

    def _n_slices(self) -> int:
        return self._slice_sig.numel() if self._slice_sig is not None else self.tile.slices
