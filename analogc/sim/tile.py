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

Statistical converter model (``converter_passes="statistical"``, the default): the recombined
programmed weight in ONE GEMM, plus per output a Gaussian whose variance is that of the errors
the exact passes below would add -- each pass's noise (the family's ``noise_var_coeffs``) and
ADC rounding of values spread like that pass's (:class:`_RoundingError`), sign-extension bit
planes sharing their rounding, shot noise ``sum |x||w|`` by a separable approximation -- laid
out as ``row factor x column factor`` so that it costs one ``addmm`` and two scalings:
``((x / R) @ W + Z) * R * col_scale``. Held to the exact mode in tests/test_sim_converters.py
(docs/deploy.md lists what it does not model).

Exact converter passes (``deploy(..., converter_passes="per-pass")``). When the family
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


def _clipped(x: torch.Tensor, r: float) -> torch.Tensor:
    """Flat indices of the elements of ``x`` with ``|x| > r``: the rows that hold any (from their
    extremes, two fast reductions) are scanned, not the whole tensor (clipped inputs are few)."""
    K = x.shape[-1]
    x2 = x.reshape(-1, K)
    rows = ((x2.amax(1) > r) | (x2.amin(1) < -r)).nonzero().squeeze(1)
    if rows.numel() * 4 > x2.shape[0]:  # many rows: one scan of everything
        return torch.gt(x2.abs(), r).view(-1).nonzero().squeeze(1)
    loc = torch.gt(x2.index_select(0, rows).abs(), r).nonzero()  # [n, 2]
    return rows[loc[:, 0]] * K + loc[:, 1]


def _extremes(t: torch.Tensor) -> tuple[float, float]:
    """(min, max) of all elements in one pass; torch.aminmax copies a non-contiguous tensor
    first (measured ~25x slower on a transposed weight), amin + amax do not."""
    if t.is_contiguous():
        lo, hi = torch.aminmax(t)
    else:
        lo, hi = t.amin(), t.amax()
    return float(lo), float(hi)


_BYTE_LANES = 0x0101010101010101  # bit 0 of each of the 8 bytes of an int64


def _plane_counts(xc: torch.Tensor, B: int, RT: int, rows: int, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Active rows of every input bit plane per row tile, ``[B, M, RT]`` (int64), for integer
    codes ``xc`` [M, K] in two's complement (``B <= 8`` bits, ``rows % 8 == 0``), and the largest
    magnitude code per row tile ``max(hi, -lo - 1)`` [M, RT] (what the sign planes need).

    The codes are stored one per byte and read as 64-bit words (8 codes each): plane ``b`` of a
    word is ``(word >> b) & 0x0101...01``, one 0/1 per byte, and the words of one row tile are
    summed in runs of at most 255 words with each byte as its own counter (so no carry crosses
    a byte); the byte counters are then added. Per plane that is a shift, a mask and a sum over
    1/8 of the codes' elements: measured ~20x faster than unpacking the planes."""
    M = xc.shape[0]
    code = xc.to(torch.int8)  # low B bits: the B-bit two's complement (the rest repeats the sign)
    if pad:
        code = F.pad(code, (0, pad))
    tiles = code.view(M, RT, rows)  # extremes on the bytes: ~10x faster than on floats
    qmax = torch.maximum(tiles.amax(-1).to(xc.dtype), -1.0 - tiles.amin(-1).to(xc.dtype))
    nw = rows // 8
    run = max(d for d in range(1, min(nw, 255) + 1) if nw % d == 0)  # words summed per counter
    words = code.contiguous().view(torch.int64).view(M, RT, nw // run, run)
    tmp = torch.empty_like(words)
    lanes = torch.empty(B, M, RT, nw // run, dtype=torch.int64)
    for b in range(B):
        torch.bitwise_right_shift(words, b, out=tmp)
        torch.sum(tmp.bitwise_and_(_BYTE_LANES), -1, out=lanes[b])
    return lanes.view(torch.uint8).view(B, M, RT, -1).sum(-1, dtype=torch.int64), qmax


def _tile_reduce(xc: torch.Tensor, RT: int, rows: int, fn) -> Any:
    """``fn`` over the rows of each row tile of ``xc`` [M, K] (tiles of ``rows`` rows, the last
    one possibly shorter), as views: no padded copy of the inputs. ``fn(t)`` reduces the last dim
    of ``t`` [M, tiles, rows] and returns a tensor or a tuple of tensors [M, tiles]."""
    M, K = xc.shape
    full = min(RT, K // rows)
    head = fn(xc[:, :full * rows].view(M, full, rows)) if full else None
    if full == RT:
        return head
    tail = fn(xc[:, full * rows:].view(M, 1, K - full * rows))
    if head is None:
        return tail
    if isinstance(tail, tuple):
        return tuple(torch.cat([h, t], 1) for h, t in zip(head, tail))
    return torch.cat([head, tail], 1)


def _chunks(groups: int, rows: int, chunk: int):
    """(group, first row, end row) of every chunk of ``chunk`` input rows, group by group."""
    for g in range(groups):
        for m0 in range(0, rows, chunk):
            yield g, m0, min(rows, m0 + chunk)


class _RoundingError:
    """Mean squared error an ADC adds to one pass, in squared ADC steps: ``F(sv, beta) =
    E (round(V + n) - V)^2`` for pass values V spread with std ``sv`` around 0 and Gaussian noise n
    of std ``beta`` (both in steps). It is ``1/12 + beta^2`` (uniform rounding plus the noise) once
    continuous values or the noise span a step, ``sv^2`` for values well inside half a step (they
    all read 0), and for an empty pass (sv = 0) the rounded noise alone.

    Continuous values (``delta`` None): with X = V + n ~ N(0, s^2), s^2 = sv^2 + beta^2, and n =
    (beta^2/s^2) X + an independent part, ``F = R2(s) + 2 (beta^2/s^2) RX(s) + beta^2`` where
    R2(s) = E (round X - X)^2 and RX(s) = E (round X - X) X: two tabulated functions of s.

    Values on a lattice of spacing ``delta`` steps (exact SRAM digits times integer inputs): the
    error of one value depends on its offset a = frac(c delta) from the step grid,
    ``h(a, beta) = E_n (round(a + n) - a)^2`` (tabulated once); F averages it over the lattice
    points a Gaussian of spread sv covers, so a step commensurate with the lattice rounds it with
    less error (exactly none for integer delta without noise); beyond the widest tabulated spread
    the error is that of the widest (the beat averaged over many periods)."""

    BETA_STEP = 0.1
    BETA_TOP = 4.0
    S_STEP = 0.02
    S_TOP = 8.0
    _cache: dict[Any, Any] = {}

    def __init__(self, delta: float | None) -> None:
        key = None if delta is None or delta < 0.05 else round(float(delta), 9)
        self.key = key
        if key not in self._cache:
            self._cache[key] = self._continuous() if key is None else self._lattice(key)
        self.tables = self._cache[key]

    @classmethod
    def _continuous(cls) -> tuple[torch.Tensor, torch.Tensor]:
        s = torch.arange(0.0, cls.S_TOP + cls.S_STEP / 2, cls.S_STEP, dtype=torch.float64)
        z = torch.linspace(-7, 7, 14001, dtype=torch.float64)  # x steps <= 0.008 at s = 8
        w = torch.exp(-0.5 * z ** 2)
        w = w / w.sum()
        x = s.view(-1, 1) * z.view(1, -1)
        r = torch.round(x) - x
        return (r * r * w).sum(1), (r * x * w).sum(1)  # R2(s), RX(s)

    @classmethod
    def _offsets(cls) -> torch.Tensor:
        """h(a, beta) on a grid of offsets a in [-0.5, 0.5] (401) and beta (BETA_STEP): [beta, a]."""
        if "h" not in cls._cache:
            a = torch.linspace(-0.5, 0.5, 401, dtype=torch.float64)
            betas = torch.arange(0.0, cls.BETA_TOP + cls.BETA_STEP / 2, cls.BETA_STEP, dtype=torch.float64)
            k = torch.arange(-26, 27, dtype=torch.float64)  # codes within 6.5 noise stds (beta <= 4)
            d = k.view(1, 1, -1) - a.view(1, -1, 1)
            b = betas.clamp(min=1e-9).view(-1, 1, 1)
            p = torch.special.ndtr((d + 0.5) / b) - torch.special.ndtr((d - 0.5) / b)
            h = (p * d * d).sum(-1)
            h[0] = a * a
            cls._cache["h"] = h
        return cls._cache["h"]

    @classmethod
    def _lattice(cls, delta: float) -> tuple[torch.Tensor, torch.Tensor]:
        h = cls._offsets()
        c = torch.arange(-2560, 2561, dtype=torch.float64)
        v = c * delta
        a = v - torch.round(v)  # offset of each lattice point from the step grid
        t = (a + 0.5) * 400
        i = t.floor().long().clamp(0, 399)
        f = t - i
        e = h[:, i] * (1 - f) + h[:, i + 1] * f  # [beta, C]
        sig_c = torch.cat([torch.zeros(1, dtype=torch.float64),
                           torch.logspace(-2, math.log10(512.0), 100, dtype=torch.float64)])
        wts = torch.exp(-0.5 * (c.view(1, -1) / sig_c.clamp(min=1e-12).view(-1, 1)) ** 2)
        wts[0] = (c == 0).double()
        wts = wts / wts.sum(1, keepdim=True)
        return sig_c * delta, wts @ e.t()  # spreads (steps), F [spread, beta]

    def __call__(self, sv: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """F for tensors of spreads and noise stds (broadcast), in squared steps."""
        sv, beta = torch.broadcast_tensors(sv.double(), beta.double())
        if self.key is None:
            R2, RX = self.tables
            s2 = sv * sv + beta * beta
            s = s2.sqrt()
            t = (s / self.S_STEP).clamp(max=R2.numel() - 1 - 1e-6)
            i = t.floor().long()
            f = t - i
            r2 = torch.take(R2, i) * (1 - f) + torch.take(R2, i + 1) * f
            rx = torch.take(RX, i) * (1 - f) + torch.take(RX, i + 1) * f
            v = r2 + 2 * beta * beta / s2.clamp(min=1e-300) * rx + beta * beta
            return torch.where(s > self.S_TOP, beta * beta + 1.0 / 12.0, v)
        svs, tab = self.tables
        n = svs.numel() - 1
        sv = sv.clamp(max=float(svs[-1]))
        i = (torch.searchsorted(svs, sv.contiguous()) - 1).clamp(0, n - 1)
        fs = ((sv - svs[i]) / (svs[i + 1] - svs[i])).clamp(0, 1)
        tb = (beta / self.BETA_STEP).clamp(max=tab.shape[1] - 1 - 1e-6)
        k = tb.floor().long()
        fb = tb - k
        nc = tab.shape[1]
        j = i * nc + k  # flat indices: torch.take is far faster than 2-d advanced indexing
        v = ((torch.take(tab, j) * (1 - fb) + torch.take(tab, j + 1) * fb) * (1 - fs)
             + (torch.take(tab, j + nc) * (1 - fb) + torch.take(tab, j + nc + 1) * fb) * fs)
        return torch.where(beta > self.BETA_TOP, beta * beta + 1.0 / 12.0, v)


def _input_range(vals: torch.Tensor, method: str, percentile: float, levels: int | None) -> float:
    """The DAC input range from a sample of |x|: its maximum, a percentile, or the range that
    minimises the mean squared error of clipping plus rounding to ``levels`` per sign (searched
    over 200 candidates up to the maximum; without a DAC, only clipping counts: the maximum)."""
    if not vals.numel():
        return 1.0
    vmax = float(vals.max())
    if method == "max" or (method == "mse" and levels is None):
        return vmax
    if vals.numel() > 1_000_000:
        vals = vals[torch.randperm(vals.numel(), generator=torch.Generator().manual_seed(0))[:1_000_000]]
    if method == "percentile":
        return float(torch.quantile(vals.double(), percentile / 100.0))
    cands = torch.linspace(vmax / 200, vmax, 200, dtype=torch.float32)
    best, best_err = vmax, float("inf")
    v = vals.float()
    for c in cands.split(20):
        sc = c.view(-1, 1)
        q = torch.round((v.view(1, -1) / sc * levels).clamp_(max=levels)) * (sc / levels)
        err = (q - v.view(1, -1)).pow_(2).mean(1)
        i = int(err.argmin())
        if float(err[i]) < best_err:
            best, best_err = float(c[i]), float(err[i])
    return best


class _AnalogFn(torch.autograd.Function):
    """Forward through the tiles; backward straight-through (see module doc)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, in_range: torch.Tensor,  # type: ignore[override]
                layer: "AnalogMVM", amax: float, bias: torch.Tensor | None) -> torch.Tensor:
        raw = float(in_range)
        r = abs(raw)  # the range is symmetric: a learned value that steps below 0 keeps working
        y = layer._run(x, r, bias)  # the bias added in the accumulation pass (no extra pass)
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
        gx = gw = gr = gb = None
        if ctx.needs_input_grad[5]:
            gb = gy.sum((0, 1))
        clip = layer.dac_levels is not None
        outside = None
        if clip and ctx.amax > r:  # flat indices of the clipped inputs (usually few)
            outside = _clipped(x, r)
            if not outside.numel():
                outside = None
        need_x, need_r = ctx.needs_input_grad[0], ctx.needs_input_grad[2]
        if need_r and not need_x and (outside is None or outside.numel() * 8 < x.numel()):
            # the range alone (a first layer): dL/dr = sum over the clipped inputs of
            # sign(x) * (gy @ W^T)[m, k], as one sparse product over those inputs, not a GEMM
            gr = torch.zeros(ctx.r_shape, dtype=ctx.r_dtype)
            if outside is not None:
                G, M, K = x.shape
                gi, rem = outside // (M * K), outside % (M * K)
                s = torch.sign(x.reshape(-1)[outside]).to(gy.dtype)
                S = torch.sparse_coo_tensor(torch.stack([gi * K + rem % K, gi * M + rem // K]), s, (G * K, G * M),
                                            check_invariants=False)
                V = torch.sparse.mm(S, gy.reshape(G * M, -1)).view(G, K, -1)  # [G, K, N]
                if layer._slice_sig is None:  # the column scale on the [G, N] sums
                    tot = ((V * w_dev).sum(1) * (col_scale * factor)).sum()
                else:
                    tot = (V * layer._weight_real(w_dev, col_scale, factor)).sum()
                gr = (ctx.r_sign * tot).reshape(ctx.r_shape).to(ctx.r_dtype)
        elif need_x or need_r:
            G, M, K = x.shape
            if G == 1 and M < K and layer._slice_sig is None:  # scale the smaller gy, not W
                g = torch.mm(gy[0] * (col_scale[0] * factor), w_dev[0].t()).unsqueeze(0)
            elif G == 1:  # one GEMM (a batched one of one measured ~1.5x slower on CPU)
                g = torch.mm(gy[0], layer._weight_real(w_dev, col_scale, factor)[0].t()).unsqueeze(0)
            else:
                w_real = layer._weight_real(w_dev, col_scale, factor)  # [G, K, N]
                g = torch.matmul(gy, w_real.transpose(1, 2))  # [G, M, K]
            if outside is not None:
                gf = g.view(-1)
                if ctx.needs_input_grad[2]:
                    gr = (ctx.r_sign * (gf[outside] * torch.sign(x.reshape(-1)[outside])).sum()
                          ).reshape(ctx.r_shape).to(ctx.r_dtype)
                gf.index_fill_(0, outside, 0)
            elif ctx.needs_input_grad[2]:
                gr = torch.zeros(ctx.r_shape, dtype=ctx.r_dtype)
            gx = g if ctx.needs_input_grad[0] else None
        if ctx.needs_input_grad[1]:
            xh = x.clamp(-r, r) if outside is not None else x
            gw = layer._grad_to_param(xh, gy)
        return gx, gw, gr, None, None, gb


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
        self.input_planes = 1 if exact else self.fam.conversion_cycles  # planes converted one by one
        self.bit_serial = self.input_planes > 1 and self.dac_levels is not None
        #: how converter passes are simulated: "statistical" (default), "per-pass", "recombined"
        self.conv_mode = options.get("converter_passes", "statistical")
        #: one ADC conversion per (bit slice, input bit plane, row tile), shift-added digitally
        self._per_pass_mode = self.conv_mode == "per-pass" and not exact and self.fam.multi_pass
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
        self._offset: torch.Tensor | None = None  # per-pass: the digital offset of an offset encoding [G, N]
        self._dev_error: torch.Tensor | None = None  # training: programmed - normalised weight
        #: training: "fixed" (the device error of the last full programming carried over the
        #: updates) or "fresh" (a new device draw per update, from per-level statistics)
        self.train_device_noise = options.get("train_device_noise", "fixed")
        self._fresh: tuple[torch.Tensor, torch.Tensor, int] | None = None  # (level means, stds, L)
        #: the per-update device draws ("fresh") come from their own stream, so that the ranks of a
        #: distributed run, whose per-MVM noise streams differ, program the same chip
        self.dev_gen = torch.Generator().manual_seed(seed + 2)
        self._amax = float("inf")  # largest |x| of the current call (set by _mvm)
        self._updates = 0
        #: input channels whose products run digitally (found by calibrate, LLM.int8-style
        #: decomposition, Dettmers et al. NeurIPS 2022); None: all on tiles
        self.outlier_channels: torch.Tensor | None = None
        self._outlier_version = 0
        clip = options.get("weight_clip_sigma")
        self.weight_clip_sigma = None if clip is None else float(clip)
        self._sig_stat: torch.Tensor | None = None  # significance of the bit slices [S] (statistical)
        self._stat: dict[str, Any] | None = None  # per-programming constants of the statistical model
        tid = torch.empty(self.in_features, dtype=torch.long)
        for t, (r0, r1) in enumerate(self.row_blocks):
            tid[r0:r1] = t
        self._tile_index = tid  # row tile of each input row
        self._tile_onehot = F.one_hot(tid, self.row_tiles).to(torch.float32)  # [K, RT]
        self._tile_rows = max(r1 - r0 for r0, r1 in self.row_blocks)
        sizes = [r1 - r0 for r0, r1 in self.row_blocks]
        # bit-plane counts per tile by a reshape: pad the last tile up to the others' size
        self._tile_pad = self._tile_rows * self.row_tiles - self.in_features \
            if all(sz == self._tile_rows for sz in sizes[:-1]) else None
        self._tile_base = torch.arange(self.row_tiles, dtype=torch.int64) * (self._tile_rows + 1)
        self._tables: dict[Any, Any] = {}

    @property
    def per_pass(self) -> bool:
        """Every (bit slice, input bit plane, row tile) runs as its own pass: the exact mode, and
        calibration in the statistical mode (it records the largest noiseless pass output)."""
        return self._per_pass_mode or (self._calib_phase() == "adc" and self.conv_mode == "statistical"
                                       and not self.fam.exact and self.fam.multi_pass)

    @property
    def statistical(self) -> bool:
        """Converters and noise reproduced by their error distribution on one GEMM (module doc)."""
        fam = self.fam
        return (self.conv_mode == "statistical" and self._calib is None and not fam.exact
                and (self.adc_levels is not None or fam.signal_dependent_noise or fam.out_noise > 0))

    # -- state_dict ---------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, str]:
        """Saved in the state_dict next to ``input_range``: whether that range is refreshed per
        batch (``dynamic``) or fixed (``static``, e.g. calibrated), so that a loaded model uses it."""
        out: dict[str, Any] = {"input_range_mode": self.range_mode}
        if self.outlier_channels is not None:
            out["outlier_channels"] = self.outlier_channels.tolist()
        return out

    def set_extra_state(self, state: Any) -> None:
        if isinstance(state, dict) and "outlier_channels" in state:
            self.outlier_channels = torch.tensor(state["outlier_channels"], dtype=torch.long)
            self._outlier_version += 1
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
            if self._offset is not None:
                w_dev = w_dev + self._offset[:, None, :] / factor
        return w_dev * (col_scale * factor)[:, None, :]

    def _programmed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(w_eff [G, K, N] normalised, col_scale [G, N]); w_eff may be scaled, see _programmed_dev.
        Per-pass execution: w_eff is the bit slices [G, K, S*N] (slice-major columns, one copy)."""
        per_pass = self.per_pass
        key = (self.weight._version, self.weight.data_ptr(), self.t_inference, per_pass, self._outlier_version)
        if self._cache_key == key and self._w_eff is not None:
            return self._w_eff, self._col_scale
        wc = canonical_weight(self, self.kind).detach()
        if self.outlier_channels is not None:  # their rows are computed digitally: not programmed
            wc = wc.index_fill(1, self.outlier_channels, 0.0)
        if self.weight_clip_sigma is not None:  # clip each column at k std before normalising it
            lim = wc.std(dim=1, keepdim=True) * self.weight_clip_sigma
            wc = torch.maximum(torch.minimum(wc, lim), -lim)
        if self._update_in_training(wc, key):
            return self._w_eff, self._col_scale
        gen = torch.Generator().manual_seed(self.seed)  # same seed -> same devices at every t
        # the statistical mode keeps the slices' significance for the variance of their passes
        # (per_slice=True draws the same devices as per_slice=False)
        per_slice = per_pass or (self.conv_mode == "statistical" and not self.fam.exact and self.fam.multi_pass)
        states = [self.fam.program(wc[g], gen, t_inference_s=self.t_inference, per_slice=per_slice,
                                   blocks=self.tile_blocks) for g in range(self.G)]
        K, N = wc.shape[1:]
        S = states[0].weights.shape[0]
        self._sig_stat = states[0].significance.to(self.weight.dtype)
        self._stat = None
        self._tables = {}  # the count tables read the slice statistics of this programming
        d2 = torch.zeros(self.G, S, self.row_tiles, dtype=torch.float64)  # mean d^2 per slice and row tile
        cnt = torch.zeros(self.row_tiles, dtype=torch.float64).index_add_(
            0, self._tile_index, torch.ones(K, dtype=torch.float64)) * N
        for g, stt in enumerate(states):
            d2[g] = torch.zeros(S, self.row_tiles, dtype=torch.float64).index_add_(
                1, self._tile_index, stt.weights.double().pow(2).sum(2)) / cnt
        self._slice_d2 = d2
        if per_pass:
            slices = torch.empty(self.G, K, S, N, dtype=self.weight.dtype)
            for g, st in enumerate(states):
                slices[g].copy_(st.weights.permute(1, 0, 2))
            self._w_eff = slices.view(self.G, K, S * N)
            self._slice_sig = states[0].significance.to(self.weight.dtype)
            offs = [getattr(st, "offset", None) for st in states]  # offset encoding: added digitally
            self._offset = (None if offs[0] is None
                            else torch.stack([o.to(self.weight.dtype) for o in offs]))  # [G, N]
        else:
            # laid out like the weight it programs (a linear layer's [K, N] is the transpose of
            # its [N, K] storage), so the in-place updates of training read both in memory order
            self._w_eff = torch.empty_like(wc, dtype=self.weight.dtype)
            self._w_eff.copy_(torch.stack([st.recombined() for st in states]))
            self._slice_sig = None
        self._w_factor = 1.0
        self._col_scale = torch.stack([st.col_scale for st in states]).to(self.weight.dtype)
        self._cache_key = key
        self._dev_error = None
        self._fresh = None
        if self.training and not per_pass:  # the chip's error, kept for the updates of training
            self._dev_error = self._w_eff - wc.to(self._w_eff.dtype) / self._col_scale[:, None, :]
            self._updates = 0
            if self.train_device_noise == "fresh" and not self.fam.exact:
                self._fresh = self._level_statistics(wc.to(self._w_eff.dtype) / self._col_scale[:, None, :])
        return self._w_eff, self._col_scale

    #: samples a weight level's device-error statistics are estimated from at least (levels with
    #: fewer pool their neighbours' within the smallest window that holds this many)
    FRESH_MIN_SAMPLES = 64

    def _level_statistics(self, wn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """For ``train_device_noise="fresh"``: per weight level ``q`` (the normalised weight
        rounded to ``weight_bits``, q in [-L, L]) the mean and std of what this programming put
        on the tiles, ``w_eff - q/L``, i.e. the device error of a weight at that level (for
        crossbars and charge tiles a function of the level alone: its digits set the target
        conductances or capacitors). Returns (``q/L + mean`` per level, std per level, L);
        levels with fewer than :attr:`FRESH_MIN_SAMPLES` weights take the statistics of the
        smallest window of neighbouring levels that holds that many."""
        L = max(1, 2 ** (self.tile.weight_bits - 1) - 1)
        nb = 2 * L + 1
        q = torch.round(wn.clamp(-1, 1) * L)
        d = (self._w_eff - q / L).double().flatten()
        b = (q + L).long().flatten()
        zero = torch.zeros(1, dtype=torch.float64)
        cn = torch.cat([zero, torch.bincount(b, minlength=nb).double().cumsum(0)])
        c1 = torch.cat([zero, torch.bincount(b, weights=d, minlength=nb).cumsum(0)])
        c2 = torch.cat([zero, torch.bincount(b, weights=d * d, minlength=nb).cumsum(0)])
        idx = torch.arange(nb)
        need = min(float(self.FRESH_MIN_SAMPLES), float(cn[-1]))
        h_lo, h_hi = torch.zeros(nb, dtype=torch.long), torch.full((nb,), nb - 1)  # bisect the
        while bool((h_lo < h_hi).any()):  # smallest half-width whose window holds `need` samples
            h = (h_lo + h_hi) // 2
            ok = cn[(idx + h + 1).clamp(max=nb)] - cn[(idx - h).clamp(min=0)] >= need
            h_hi = torch.where(ok, h, h_hi)
            h_lo = torch.where(ok, h_lo, h + 1)
        lo, hi = (idx - h_hi).clamp(min=0), (idx + h_hi + 1).clamp(max=nb)
        n = (cn[hi] - cn[lo]).clamp(min=1)
        mean = (c1[hi] - c1[lo]) / n
        std = ((c2[hi] - c2[lo]) / n - mean * mean).clamp(min=0).sqrt()
        dt = self._w_eff.dtype
        return ((idx - L).double() / L + mean).to(dt), std.to(dt), L

    #: full reprogramming (fresh device draws) every this many weight updates in training
    REPROGRAM_EVERY = 100

    def _update_in_training(self, wc: torch.Tensor, key: tuple) -> bool:
        """Training: after an optimizer step the tiles are not programmed again from scratch
        (device draws, drift, an MZI decomposition cost far more than the step itself); the
        programmed copy becomes the new weight plus the device error of the last full
        programming, in the same column scale. A full programming (fresh draws) follows every
        :attr:`REPROGRAM_EVERY` updates, when a weight leaves its column's range by 5%, or when
        anything but the weight changed."""
        err = self._dev_error
        old = self._cache_key
        if (err is None or not self.training or old is None or old[2:] != key[2:]
                or self._updates >= self.REPROGRAM_EVERY):
            return False
        w = self._w_eff  # overwritten in place (no temporaries); a full programming replaces it
        torch.div(wc, self._col_scale[:, None, :], out=w)
        lo, hi = _extremes(w)
        if max(-lo, hi) > 1.05:
            self._cache_key = None  # w no longer holds a programming
            return False
        if self._fresh is not None:  # a new device draw: level mean + level std x N(0, 1)
            means, stds, L = self._fresh
            lv = torch.mul(w, L).round_()
            if max(-lo, hi) > 1.0:
                lv.clamp_(-L, L)
            lv = lv.add_(L).long()
            torch.take(means, lv, out=w)
            w.addcmul_(torch.take(stds, lv), self.pool.take(w.numel(), self.dev_gen, w.dtype).view_as(w))
        else:
            w.add_(err)
        if self._w_factor != 1.0:  # the copy is kept pre-divided by the ADC step (_programmed_dev)
            w.div_(self._w_factor)
        self._updates += 1
        self._cache_key = key
        return True

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
        idx = self.outlier_channels
        if idx is not None and self._calib_phase() != "inputs":
            # outlier channels: exact digital products (differentiable), the rest on tiles
            wd = canonical_weight(self, self.kind).index_select(1, idx)  # [G, n, N]
            yd = torch.matmul(x.index_select(2, idx), wd)
            return self._mvm_analog(x.index_fill(2, idx, 0.0), bias) + yd
        return self._mvm_analog(x, bias)

    def _calib_phase(self) -> str | None:
        return None if self._calib is None else self._calib.get("phase")

    def _mvm_analog(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        if x.numel():  # one pass (aminmax is ~15x faster than an inf-norm on CPU); NaN/inf propagate
            mn, mx = _extremes(x.detach())
            amax = max(-mn, mx)
        else:
            amax = 0.0
        if not math.isfinite(amax):
            raise AnalogcError(f"layer {self.name}: input contains NaN or inf")
        self._amax = amax
        if self._calib is not None:
            self._observe_input(x, amax)
        if self.range_mode == "dynamic" and self._calib is None:  # also without a DAC: the range
            self.input_range.fill_(max(amax, 1e-12))  # is the unit of output noise and ADC range
        _STATE.in_mvm = True
        try:
            if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad
                                            or self.input_range.requires_grad
                                            or (bias is not None and bias.requires_grad)):
                return _AnalogFn.apply(x, self.weight, self.input_range, self, amax, bias)
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
        if self.statistical:
            return self._run_stat(x, r, bias)
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
        if not (calib or adc or noisy):  # nothing happens per tile: one GEMM over all rows,
            for g in range(G):  # the column scale on the smaller of weights and outputs
                if K < M:
                    wg = w_dev[g] * out_scale[g]
                    if bias is not None:
                        torch.addmm(bias, xq[g], wg, out=out[g])
                    else:
                        torch.mm(xq[g], wg, out=out[g])
                else:
                    torch.mm(xq[g], w_dev[g], out=out[g])
                    if bias is not None:
                        torch.addcmul(bias, out[g], out_scale[g], out=out[g])
                    else:
                        out[g].mul_(out_scale[g])
            return out
        ch = max(1, min(M, self.CHUNK_ELEMENTS // max(1, RT * N)))
        buf = torch.empty(RT, ch, N, dtype=x.dtype)
        for g, m0, m1 in _chunks(G, M, ch):
            s, mc, xc = out_scale[g], m1 - m0, xq[g, m0:m1]
            y = buf[:, :mc]
            z = self.pool.take(RT * mc * N, self.gen, x.dtype).view(RT, mc, N) if noisy else None
            b = beta
            if z is not None and fam.signal_dependent_noise:  # scaled straight into the output
                for t, std in enumerate(self._noise_scale(xc, w_dev[g], Lx, step)):  # buffer (z may be a view of
                    torch.mul(z[t], std, out=y[t])  # the shared pool); the GEMMs add onto it in place
                z, b = y, 1.0
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

    def _stat_constants(self, w_dev: torch.Tensor) -> dict[str, Any]:
        """Per programming: the noise coefficients of each row tile and, for a noise that reads
        the weights (sum |x||w|), the row means ``a_k = mean_n |w_kn|`` and the column factors
        ``b_n = sum_k |w_kn| / sum_k a_k`` of the separable approximation (module doc)."""
        if self._stat is not None:
            return self._stat
        fam = self.fam
        co = torch.tensor([fam.noise_var_coeffs(r1 - r0) for r0, r1 in self.row_blocks], dtype=torch.float64)
        st: dict[str, Any] = {"c0": co[:, 0].to(w_dev.dtype), "c_sq": co[:, 1].to(w_dev.dtype),
                              "c_l1": co[:, 2].to(w_dev.dtype), "l1": bool((co[:, 2] > 0).any()),
                              "sq": bool((co[:, 1] > 0).any())}
        if st["l1"]:
            wa = w_dev.abs()
            a = wa.mean(2)  # [G, K]
            st["a"] = a
            st["b"] = wa.sum(1) / a.sum(1, keepdim=True).clamp(min=1e-30)  # [G, N], mean 1
        self._stat = st
        return st

    @torch.no_grad()
    def _run_stat(self, x: torch.Tensor, r: float, bias: torch.Tensor | None = None) -> torch.Tensor:
        """The statistical converter model (default): the recombined product in one GEMM, plus
        one Gaussian per output whose variance is that of the exact passes' errors (module doc)."""
        G, M, K = x.shape
        N = self.out_features
        Lx, La = self.dac_levels, self.adc_levels
        adc = La is not None
        r = max(r, 1e-12)
        if Lx is not None:  # 1. DAC codes (no clamp pass when nothing exceeds the range)
            xq = torch.mul(x, Lx / r)
            if self._amax > r:
                xq.clamp_(-Lx, Lx)
            xq.round_()
            unit, Lc = r / Lx, float(Lx)
        else:
            xq, unit, Lc = torch.mul(x, 1.0 / r), r, 1.0
        B = self.input_planes if self.bit_serial else 1
        Lp = 1.0 if B > 1 else Lc  # largest input of one pass
        step = float(self.adc_range) * Lp / La if adc else 0.0  # ADC step in pass units
        w_dev, col_scale, _ = self._programmed_dev(1.0)  # recombined, normalised [G, K, N]
        st = self._stat_constants(w_dev)
        S = self._sig_stat.numel()
        out = torch.empty(G, M, N, dtype=x.dtype)
        for g in range(G):
            xc = xq[g]
            tot = self._error_var(xc, g, B, Lp, step, st)  # [M] or ([M], lambda) with sum |x||w|
            colfac = col_scale[g] * unit
            if isinstance(tot, tuple):  # separable approximation of sum |x||w| (module doc)
                tot, lam = tot
                phi = torch.sqrt(lam * st["b"][g].to(x.dtype) + (1.0 - lam))  # [N]
                w = w_dev[g] / phi.clamp(min=1e-12)
                colfac = colfac * phi
            else:
                w = w_dev[g]
            R = tot.sqrt().clamp_(min=1e-20)  # [M]: row factor of the error std
            self._stat_gemm(out[g], xc, w, R, colfac, bias)
            if adc:
                self.conversions += self.row_tiles * B * S * M * N
        return out

    def _stat_gemm(self, out: torch.Tensor, xs: torch.Tensor, w: torch.Tensor, R: torch.Tensor,
                   colfac: torch.Tensor, bias: torch.Tensor | None) -> None:
        """out = (x @ w + Z * R[:, None]) * colfac (+ bias): the product and its error in one
        GEMM (Z standard normal from the noise pool). The row factor R scales the noise (one
        pass over the outputs) or, when the inputs are the smaller side, the inputs and then
        the outputs back."""
        M, K = xs.shape
        N = w.shape[1]
        dtype = out.dtype
        scale_inputs = K < N
        if scale_inputs:
            xs = xs / R[:, None]
        ch = max(1, min(M, self.CHUNK_ELEMENTS // max(1, N)))
        for m0 in range(0, M, ch):
            m1 = min(M, m0 + ch)
            o = out[m0:m1]
            z = self.pool.take((m1 - m0) * N, self.gen, dtype).view(m1 - m0, N)
            if scale_inputs:
                torch.addmm(z, xs[m0:m1], w, out=o)
                o.mul_(R[m0:m1, None])
            else:
                torch.addmm(torch.mul(z, R[m0:m1, None]), xs[m0:m1], w, out=o)
            if bias is not None:
                torch.addcmul(bias, o, colfac, out=o)
            else:
                o.mul_(colfac)

    def _count_tables(self, g: int, B: int, step: float, st: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """For bit-plane passes, whose spread and noise depend only on the count ``c`` of active
        rows: ``H[t, c] = sum_s sig_s^2 F(sqrt(c d2[s, t]) / step, beta(c))`` and its part shared
        by equal-valued planes ``Hs`` (the noiseless rounding, dithered by the noise as
        exp(-4 pi^2 beta^2), the first harmonic of the rounding error), per row tile; cached per
        ADC step."""
        key = (g, step)
        hit = self._tables.get(key)
        if hit is not None:
            return hit
        rows = self._tile_rows
        cnt = torch.arange(rows + 1, dtype=torch.float64)
        var = st["c0"].double().view(-1, 1) + st["c_sq"].double().view(-1, 1) * cnt  # [RT, rows+1], Lp = 1
        beta = var.sqrt() / step
        sv = (self._slice_d2[g].view(-1, self.row_tiles, 1) * cnt).sqrt() / step  # [S, RT, rows+1]
        u = self.fam.state_lattice
        rounding = _RoundingError(None if u is None else u / step)
        v = rounding(sv, beta.unsqueeze(0))
        shared = torch.minimum(rounding(sv, torch.zeros_like(beta).unsqueeze(0))
                               * torch.exp(-4 * math.pi ** 2 * beta * beta).unsqueeze(0), v)
        sig2 = self._sig_stat.double().pow(2).view(-1, 1, 1)
        dt = self.weight.dtype
        hit = ((v * sig2).sum(0).to(dt).contiguous(), (shared * sig2).sum(0).to(dt).contiguous())
        if any(k[1] != step for k in self._tables):  # one ADC step at a time, every group
            self._tables = {}
        self._tables[key] = hit
        return hit

    def _error_var(self, xc: torch.Tensor, g: int, B: int, Lp: float, step: float, st: dict[str, Any]):
        """Variance of the error of each output row (in squared code units of the recombined sum)
        that the exact passes would add: every pass (bit plane b, slice s, row tile t) gets its
        noise and, with an ADC, the rounding error of values spread like that pass's
        (:class:`_RoundingError`); planes that only repeat the sign (two's complement) share
        their rounding. With a noise that reads the weights, returns (variance, lambda) for the
        separable approximation of sum |x||w|."""
        M, K = xc.shape
        dt = xc.dtype
        c0, c_sq = st["c0"].to(dt), st["c_sq"].to(dt)
        sig2s = self._sig_stat.to(dt).pow(2)  # [S]
        RT = self.row_tiles
        xn = qmax = None
        pad = self._tile_pad
        if B > 1 and B <= 8 and pad is not None and self._tile_rows % 8 == 0 \
                and not st["l1"]:  # counted 8 codes to a word
            sq, qmax = _plane_counts(xc, B, RT, self._tile_rows, pad)
        elif B > 1:  # bit planes (0/1) of the two's-complement codes, counted per row tile in bytes
            code = xc.to(torch.int32).bitwise_and_((1 << B) - 1).to(torch.uint8 if B <= 8 else torch.int32)
            if pad:
                code = F.pad(code, (0, pad))
            shifts = torch.arange(B, dtype=code.dtype).view(B, 1, 1)
            xn = (code.unsqueeze(0) >> shifts).bitwise_and_(1)  # [B, M, K + pad]
            if pad is None:  # uneven tiles: count through the one-hot tile matrix
                sq = torch.matmul(xn.to(dt), self._tile_onehot.to(dt)).round_().to(torch.int64)
            else:
                sq = xn.view(B, M, RT, -1).sum(-1, dtype=torch.int64)  # [B, M, RT]: active rows per pass
        else:
            if pad is None:
                sq = torch.matmul(xc * xc, self._tile_onehot.to(dt)).unsqueeze(0) / (Lp * Lp)  # [1, M, RT]
            else:  # sum of squares per row tile: one read of the codes
                sq = _tile_reduce(xc, RT, self._tile_rows, lambda t: torch.linalg.vector_norm(t, dim=-1))
                sq = sq.square_().unsqueeze(0).mul_(1.0 / (Lp * Lp))
        if step > 0 and B > 1:  # each pass is a function of its integer count: tabulated per layer
            H, Hs = self._count_tables(g, B, step, st)  # [RT, rows + 1]
            idx = sq + self._tile_base  # flat indices into the [RT, rows + 1] tables
            v = torch.take(H, idx)  # [B, M, RT]: sum_s sig_s^2 F(spread, noise) of each pass
            # planes at and above nb (the bits the tile's largest magnitude needs) only repeat
            # the sign: equal values, equal rounding (noise aside), summed weight -2^nb
            if qmax is None and pad is not None:  # (the packed counter gives it) in one pass
                lo, hi = _tile_reduce(xc, RT, self._tile_rows, lambda t: torch.aminmax(t, dim=-1))
                qmax = torch.maximum(hi, -lo - 1)
            elif qmax is None:
                mag = torch.where(xc >= 0, xc, -xc - 1)
                qmax = torch.zeros(M, RT, dtype=dt).scatter_reduce_(1, self._tile_index.expand(M, K), mag, "amax")
            nb = (torch.log2(qmax.clamp(min=0.5)).floor() + 1).clamp(max=B - 1)  # [M, RT]
            bidx = torch.arange(B - 1, dtype=dt).view(-1, 1, 1)
            low = (torch.where(nb.unsqueeze(0) > bidx, torch.pow(4.0, bidx), torch.zeros((), dtype=dt))
                   * v[:-1]).sum(0)
            shared = torch.take(Hs, idx[-1])
            p_nb = torch.pow(4.0, nb)
            s2 = 4.0 ** (B - 1) + (4.0 ** (B - 1) - p_nb) / 3.0
            V0 = (low + s2 * (v[-1] - shared) + p_nb * shared).sum(1) * (step * step)
        elif step > 0:
            var = (c0 + c_sq * sq) * (Lp * Lp)  # noise of each pass, pass units^2
            beta = var.sqrt() / step  # [1, M, RT]
            d2 = self._slice_d2[g].to(dt)  # [S, RT]
            sv = (sq.unsqueeze(1) * d2.unsqueeze(1) * (Lp * Lp)).sqrt() / step  # [1, S, M, RT]
            beta = beta.unsqueeze(1).expand_as(sv)
            # passes spread over a step or more round uniformly: 1/12 + beta^2 (within 0.5%);
            # the table only for the others (empty or narrow passes)
            v = beta * beta + 1.0 / 12.0
            narrow = sv < 1.0
            if bool(narrow.any()):
                u = self.fam.state_lattice
                v[narrow] = _RoundingError(None if u is None else u / step)(sv[narrow], beta[narrow]).to(dt)
            V0 = (v * sig2s.view(1, -1, 1, 1)).sum((0, 1, 3)) * (step * step)
        else:
            var = (c0 + c_sq * sq.to(dt)) * (Lp * Lp)
            cb2 = torch.pow(4.0, torch.arange(B, dtype=dt)).view(-1, 1, 1) if B > 1 else torch.ones(1, 1, 1, dtype=dt)
            V0 = (var * cb2).sum((0, 2)) * float(sig2s.sum())
        if not st["l1"]:
            return V0
        # sum_t c_l1(t) sum_{k in t} |xn_k| a_k: one matrix-vector product per plane
        ak = (st["a"][g] * st["c_l1"].to(dt)[self._tile_index]).to(dt)  # [K]
        cb2 = torch.pow(4.0, torch.arange(B, dtype=dt)) if B > 1 else torch.ones(1, dtype=dt)
        if xn is None:  # one pass over |x|, the 1/Lp on the [M] result
            A = torch.mv(xc.abs(), ak).mul_(Lp * float(sig2s.sum()))  # [M]
        else:
            xa = xn[..., :K].to(dt)
            A = (torch.matmul(xa, ak) * cb2.view(-1, 1)).sum(0) * (Lp * Lp) * float(sig2s.sum())  # [M]
        tot = V0 + A
        lam = float(A.sum() / tot.sum().clamp(min=1e-30))
        return tot, lam

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
            if z is not None and fam.signal_dependent_noise:  # scaled straight into the output
                for t, std in enumerate(self._noise_scale(xp, w_dev[g], Lp, step)):  # buffer (z may be a view of
                    torch.mul(z[t], std, out=y[t])  # the shared pool); the GEMMs add onto it in place
                z, b = y, 1.0
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
            if self._offset is not None:  # offset encoding: offset * sum of the inputs, digital
                o.add_(torch.outer(xc.sum(1), self._offset[g] * col_scale[g] * unit))
            if bias is not None:
                o.add_(bias)
        return out

    # -- calibration hooks ---------------------------------------------------------------
    def set_adc_range(self, rng: float) -> float:
        """Set the ADC clipping range (units of one full-scale row). On a tile of exact digits
        (:attr:`~hw_models.family.TileFamily.state_lattice`: SRAM bits, matched capacitors) the
        range is widened to the nearest one whose step is a whole fraction or a whole multiple of
        one cell unit, as a designer sets the reference of such an ADC: otherwise the step beats
        with the unit and every conversion carries a gain error (values c units read as
        round(c * unit/step) steps). Returns the range set."""
        u, La = self.fam.state_lattice, self.adc_levels
        if u is not None and La is not None and rng > 0:
            Lp = 1.0 if self.bit_serial else float(self.dac_levels or 1)
            step = rng * Lp / La
            step = u / math.floor(u / step) if step <= u else u * math.ceil(step / u - 1e-9)
            rng = step * La / Lp
        self.adc_range.fill_(rng)
        return rng


    #: rows of each layer's inputs kept for the range search (a random subset of every batch)
    SAMPLE_ROWS = 512

    def _observe_input(self, x: torch.Tensor, amax: float) -> None:
        """Calibration, first phase: per-channel |x| maxima and a sample of input rows."""
        c = self._calib
        if c.get("phase") != "inputs" or not x.numel():
            return
        xd = x.detach()
        cm = xd.abs().amax(dim=1)  # [G, K]
        c["chan_max"] = cm if c.get("chan_max") is None else torch.maximum(c["chan_max"], cm)
        M = xd.shape[1]
        gen = torch.Generator().manual_seed(len(c.setdefault("rows", [])))
        take = torch.randperm(M, generator=gen)[:self.SAMPLE_ROWS]
        c["rows"].append(xd[:, take].float())
        c["input_max"] = max(c.get("input_max", 0.0), amax)
        self.input_range.data.fill_(max(c["input_max"], 1e-12))  # the running range while observing

    def finish_input_calibration(self, method: str, percentile: float, outlier_threshold: float | None) -> None:
        """Set the outlier channels and the input range from what the first phase saw."""
        c = self._calib or {}
        if c.get("chan_max") is None:
            return
        cm = c["chan_max"]
        out = None
        if outlier_threshold is not None and self.G == 1 and self.in_features >= 8:
            ref = cm[0].median().clamp(min=1e-12)
            cand = torch.nonzero(cm[0] > outlier_threshold * ref).flatten()
            cap = max(1, math.ceil(0.02 * self.in_features))  # at most 2% of the channels
            if cand.numel() > cap:
                cand = cand[cm[0, cand].argsort(descending=True)[:cap]]
            if cand.numel():
                out = cand.sort().values
        self.outlier_channels = out
        self._outlier_version += 1
        rows = torch.cat(c["rows"], dim=1)  # [G, n, K]
        if out is not None:
            rows = rows.index_fill(2, out, 0.0)
        vals = rows.abs().flatten()
        vals = vals[vals > 0] if bool((vals > 0).any()) else vals
        self.input_range.data.fill_(max(_input_range(vals, method, percentile, self.dac_levels), 1e-12))
        c["input_max"] = float(self.input_range)

    def _observe_tile_outputs(self, y: torch.Tensor, Lx: float) -> None:
        c = self._calib
        if c.get("phase") == "inputs":
            return
        c["adc_max"] = max(c.get("adc_max", 0.0), float(y.abs().amax()) / Lx)

    def extra_repr(self) -> str:
        return (f"{self.kind}, K={self.in_features}, N={self.out_features}, groups={self.G}, "
                f"tiles={self.row_tiles}x{self.col_tiles} of {self.tile.rows}x{self.tile.cols}, "
                f"family={self.family}, noise={self.fam.noise_model}, dac={self.dac_levels}, "
                f"adc={self.adc_levels}"
                + (f", digital outlier channels={self.outlier_channels.numel()}"
                   if self.outlier_channels is not None else "")
                + (f", passes={self._n_slices()}x{self.input_planes}x{self.row_tiles} (slices x bits x row tiles)"
                   if self.per_pass else ""))

    def _n_slices(self) -> int:
        return self._slice_sig.numel() if self._slice_sig is not None else self.tile.slices
