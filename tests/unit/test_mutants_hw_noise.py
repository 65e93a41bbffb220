"""MZI-mesh physics in hw_models.noise pinned to what the docstrings state: the 2x2 transfer
matrix, the Clements decomposition reconstructing its unitary, each error source's effect,
the receiver gain. Small meshes (n <= 6), milliseconds per test. Written from
scripts/mutation.sh's surviving mutants.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hw_models import noise as nz


def approx(expected, rel=1e-9, abs=0.0):
    """pytest.approx without its 1e-12 absolute tolerance (energies here are ~1e-12 J and below)."""
    return pytest.approx(expected, rel=rel, abs=abs)


def bs(delta):
    a = math.pi / 4 + delta
    return torch.tensor([[math.cos(a), 1j * math.sin(a)], [1j * math.sin(a), math.cos(a)]], dtype=torch.complex128)


def ph(x):
    return torch.tensor([[complex(math.cos(x), math.sin(x)), 0], [0, 1]], dtype=torch.complex128)


@pytest.mark.parametrize("theta,phi,d1,d2", [(0.3, 1.1, 0.0, 0.0), (2.0, -0.7, 0.05, -0.02), (0.0, 0.0, 0.1, 0.2)])
def test_mzi_matrix_is_the_product_of_its_parts(theta, phi, d1, d2):
    # pins: BS(d2) P(theta) BS(d1) P(phi), P = diag(e^ix, 1), BS(d) = [[cos a, i sin a], [i sin a, cos a]]
    want = bs(d2) @ ph(theta) @ bs(d1) @ ph(phi)
    got = nz.mzi_matrix(torch.tensor(theta, dtype=torch.float64), torch.tensor(phi, dtype=torch.float64),
                        torch.tensor(d1, dtype=torch.float64), torch.tensor(d2, dtype=torch.float64))
    assert got.dtype == torch.complex128
    assert torch.allclose(got, want, rtol=0, atol=1e-12)
    assert np.allclose(nz._mzi_np(np.array(theta), np.array(phi), d1, d2), want.numpy(), atol=1e-12)
    f32 = nz.mzi_matrix(torch.tensor([theta], dtype=torch.float32), torch.tensor([phi]), d1, d2)
    assert f32.dtype == torch.complex64 and f32.shape == (1, 2, 2)
    assert torch.allclose(f32[0].to(torch.complex128), want, atol=1e-5)


def _unitary(n, seed=0, batch=2):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(batch, n, n, generator=g, dtype=torch.float64) + 1j * torch.randn(batch, n, n, generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(a)
    return q


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_clements_round_trip(n):
    u = _unitary(n)
    dec = nz.clements_decompose(u)
    # pins: n(n-1)/2 MZIs split into right and left sets; the mesh rebuilds u exactly
    assert dec["n"] == n and len(dec["right"]) + len(dec["left"]) == n * (n - 1) // 2
    assert all(0 <= m < n - 1 for m, *_ in dec["right"] + dec["left"])
    rebuilt = nz.mesh_unitary(nz.mesh_phases_with_errors(dec, {}, None))
    assert torch.allclose(rebuilt, u, rtol=0, atol=1e-10)


def test_layers_columns():
    # pins: as-soon-as-possible columns of MZIs on modes (m, m+1)
    seq = [(0,), (2,), (1,), (0,), (2,), (1,)]
    assert nz._layers(seq) == [0, 0, 1, 2, 2, 3]
    assert nz._layers([(3,), (3,), (4,), (2,)]) == [0, 1, 2, 2]


def test_phase_quantization_and_errors():
    u = _unitary(4, seed=1)
    dec = nz.clements_decompose(u)
    mesh = nz.mesh_phases_with_errors(dec, {"phase_bits": 3}, None)
    step = 2 * math.pi / 8
    # pins: phases rounded to multiples of 2 pi / 2^bits within [0, 2 pi]
    for side in ("right", "left"):
        for (m, t, f, d1, d2, amp), (m0, *_) in zip(mesh[side], dec[side]):
            assert m == m0 and d1 == 0.0 and d2 == 0.0 and amp is None
            for x in (t, f):
                k = x / step
                assert torch.allclose(k, torch.round(k), atol=1e-9)
                assert float(x.min()) >= 0 and float(x.max()) <= 2 * math.pi + 1e-9
    t_ref = dec["right"][0][1]
    want = torch.round(torch.remainder(t_ref, 2 * math.pi) / step) * step
    assert torch.allclose(mesh["right"][0][1], want)
    assert torch.allclose(mesh["diag"], torch.round(torch.remainder(dec["diag"], 2 * math.pi) / step) * step)
    # pins: Gaussian phase errors of std phase_error_rad on every phase, nothing else moved
    g = torch.Generator().manual_seed(0)
    big = nz.clements_decompose(_unitary(6, seed=2, batch=200))
    noisy = nz.mesh_phases_with_errors(big, {"phase_error_rad": 0.1}, g)
    d = torch.cat([a[1] - b[1] for a, b in zip(noisy["right"], big["right"])])
    assert 0.09 < float(d.std()) < 0.11 and abs(float(d.mean())) < 0.01
    dd = noisy["diag"] - big["diag"]
    assert 0.09 < float(dd.std()) < 0.11


def test_splitter_error_and_loss():
    big = nz.clements_decompose(_unitary(4, seed=3, batch=500))
    g = torch.Generator().manual_seed(1)
    mesh = nz.mesh_phases_with_errors(big, {"splitter_error_rad": 0.05}, g)
    d1 = torch.cat([x[3] for x in mesh["right"]])
    d2 = torch.cat([x[4] for x in mesh["right"]])
    # pins: two independent couplers per MZI, each N(0, splitter_error_rad^2); phases untouched
    assert 0.045 < float(d1.std()) < 0.055 and 0.045 < float(d2.std()) < 0.055
    assert abs(float(torch.corrcoef(torch.stack([d1, d2]))[0, 1])) < 0.1
    assert torch.equal(mesh["right"][0][1], big["right"][0][1])
    # pins: uniform loss: amplitude 10^(-dB/20) on every MZI; spread: N(mean, std) in dB
    lossy = nz.mesh_phases_with_errors(big, {}, None, mzi_loss_db=0.5)
    amp = lossy["left"][0][5]
    assert amp.shape == (500,) and torch.allclose(amp, torch.full((500,), 10 ** (-0.5 / 20), dtype=torch.float64))
    spread = nz.mesh_phases_with_errors(big, {"loss_std_db": 0.2}, torch.Generator().manual_seed(2), mzi_loss_db=0.5)
    db = -20 * torch.log10(torch.cat([x[5] for x in spread["right"]]))
    assert abs(float(db.mean()) - 0.5) < 0.02 and 0.18 < float(db.std()) < 0.22
    # pins: a lossy mesh is the lossless one times the amplitudes along the paths
    lossless = nz.mesh_unitary(nz.mesh_phases_with_errors(big, {}, None))
    assert float(torch.linalg.matrix_norm(nz.mesh_unitary(lossy)).max()) < float(torch.linalg.matrix_norm(lossless).min())


def test_crosstalk_adds_neighbouring_phases():
    u = _unitary(6, seed=4, batch=1)
    dec = nz.clements_decompose(u)
    kappa = 0.1
    mesh = nz.mesh_phases_with_errors(dec, {"crosstalk": kappa}, None)
    # pins: each shifter picks up kappa x the phases of the MZIs two modes away in its column
    with_neighbours = 0
    for side in ("right", "left"):
        seq = dec[side]
        cols = nz._layers(seq)
        slot = {(c, m): i for i, ((m, *_), c) in enumerate(zip(seq, cols))}
        for i, ((m, t, f), c) in enumerate(zip(seq, cols)):
            nb = [slot[k] for k in ((c, m - 2), (c, m + 2)) if k in slot]
            with_neighbours += bool(nb)
            want_t = t + kappa * sum(seq[j][1] for j in nb)
            want_f = f + kappa * sum(seq[j][2] for j in nb)
            assert torch.allclose(mesh[side][i][1], want_t) and torch.allclose(mesh[side][i][2], want_f)
    assert with_neighbours >= 4  # the check above is not vacuous


def tile(rows, cols, bits=8):
    return SimpleNamespace(rows=rows, cols=cols, weight_bits=bits)


def test_program_mzi_exact_and_blocks():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(5, 7, generator=g)
    p = {"model": "mzi"}
    eff, scale = nz.program_mzi(w, tile(3, 4, bits=0), p, None)
    # pins: without errors and without quantization the meshes realise the weight exactly, cut
    # into rows x cols blocks, normalised per column
    wn = w / w.abs().amax(0)
    assert eff.shape == (5, 7) and eff.dtype == torch.float32
    assert torch.allclose(eff, wn, atol=1e-5)
    assert torch.allclose(scale, w.abs().amax(0))
    blocks = [(3, 5, 4, 7), (0, 3, 4, 7), (3, 5, 0, 4), (0, 3, 0, 4)]  # the plan's, any order
    custom = nz.program_mzi(w, tile(3, 4, bits=0), p, None, blocks=blocks)[0]
    assert torch.allclose(custom, wn, atol=1e-5)
    ideal, s2 = nz.program_mzi(w.double(), tile(3, 4), {"model": "ideal"}, None)
    assert ideal.dtype == torch.float32 and torch.allclose(ideal, wn) and s2.dtype == torch.float32


def test_program_mzi_quantizes_singular_values():
    w = torch.tensor([[1.0, 0.5], [0.5, 1.0]])  # singular values 1.5 and 0.5 (ratio 1/3)
    ones = torch.ones(2, 2)
    diff = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    # pins: sigma / sigma_max as attenuators with weight_bits levels per sign: 2 bits (0, 1):
    # 1/3 -> 0; 3 bits (0, 1/3, 2/3, 1): exact; 4 bits (k/7): 2/7
    for bits, q in [(2, 0.0), (3, 1 / 3), (4, 2 / 7)]:
        eff, _ = nz.program_mzi(w, tile(2, 2, bits=bits), {"model": "mzi"}, None)
        assert torch.allclose(eff, 0.75 * ones + 1.5 * q * 0.5 * diff, atol=1e-6), bits


def test_program_mzi_receiver_gain_restores_the_norm():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(6, 6, generator=g)
    lossy, _ = nz.program_mzi(w, tile(6, 6, bits=0), {"model": "mzi"}, None, mzi_loss_db=1.0)
    wn = w / w.abs().amax(0)
    # pins: a uniform loss distorts (paths cross different numbers of MZIs) but the receiver
    # gain restores the Frobenius norm of each block
    assert float(lossy.double().norm()) == approx(float(wn.norm()), rel=1e-5)
    assert not torch.allclose(lossy, wn, atol=1e-3)


def test_program_slm_and_quantize():
    # pins: 2^(b-1)-1 levels per sign, 1 bit = sign only
    x = torch.tensor([-1.2, -0.4, 0.1, 0.26, 0.9])
    assert nz.quantize_symmetric(x, 3).tolist() == approx([-1.0, -1 / 3, 0.0, 1 / 3, 1.0], rel=1e-6)
    assert nz.quantize_symmetric(x, 1).tolist() == approx([-1.0, 0.0, 0.0, 0.0, 1.0])
    w = torch.tensor([[0.2, -2.0], [0.12, 1.0]], dtype=torch.float64)
    q, s = nz.program_slm(w, {"model": "freespace"}, 2)
    assert q.dtype == torch.float32 and s.tolist() == approx([0.2, 2.0], rel=1e-6)
    assert q.tolist() == [[1.0, -1.0], [1.0, 0.0]]
    i, _ = nz.program_slm(w, {"model": "ideal"}, 2)
    assert torch.allclose(i, torch.tensor([[1.0, -1.0], [0.6, 0.5]]))


# -- [noise] table validation -------------------------------------------------------------------
PCM = ("pcm", "ideal")


def _err(models, table, overrides=None):
    from hw_models.errors import HardwareConfigError
    with pytest.raises(HardwareConfigError) as e:
        nz.validate_noise(models, table, "f", overrides)
    return str(e.value)


def sv(v):
    return {"value": v, "source": "s"}


@pytest.mark.parametrize("models,table,msg", [
    (PCM, {"model": "rram"}, "model: expected one of ['pcm', 'ideal'] for this tile family, got 'rram'"),
    (PCM, {"out_noise": 1}, 'out_noise: expected {value = ..., source = "paper, year, table"}, got 1'),
    (PCM, {"out_noise": {"source": "s"}}, "out_noise: expected {value = ..., source = \"paper, year, table\"}, "
                                          "got {'source': 's'}"),
    (PCM, {"out_noise": {"value": 1}}, "out_noise: expected a source (paper, year, table) for this constant, "
                                       "got {'value': 1}"),
    (PCM, {"out_noise": {"value": 1, "source": ""}}, "out_noise: expected a source (paper, year, table) for this "
                                                     "constant, got {'value': 1, 'source': ''}"),
    (PCM, {"out_noise": {"value": 1, "source": "s", "y": 1, "x": 2}},
     "out_noise: expected only value, unit, source, note in the table, got ['x', 'y']"),
    (PCM, {"out_noise": sv(-1)}, "out_noise: expected a non-negative number, got -1"),
    (PCM, {"out_noise": sv(True)}, "out_noise: expected a non-negative number, got True"),
    (PCM, {"out_noise": sv(float("inf"))}, "out_noise: expected a non-negative number, got inf"),
    (PCM, {"out_noise": sv("1")}, "out_noise: expected a non-negative number, got '1'"),
    (PCM, {"drift_compensation": 1}, "drift_compensation: expected true or false, got 1"),
    (PCM, {"drift_compensation": {"value": 1}}, "drift_compensation: expected true or false, got 1"),
    (("mzi",), {"phase_bits": sv(0)}, "phase_bits: expected an integer number of bits in 1..32, got 0"),
    (("mzi",), {"phase_bits": sv(33)}, "phase_bits: expected an integer number of bits in 1..32, got 33"),
    (("mzi",), {"phase_bits": sv(True)}, "phase_bits: expected an integer number of bits in 1..32, got True"),
    (("mzi",), {"phase_bits": sv(8.0)}, "phase_bits: expected an integer number of bits in 1..32, got 8.0"),
    (PCM, {"read_1f": sv([1, 2])}, "read_1f: expected a list of 3 numbers, got [1, 2]"),
    (PCM, {"read_1f": sv(3)}, "read_1f: expected a list of 3 numbers, got 3"),
    (PCM, {"read_1f": sv([1, 2, True])}, "read_1f: expected a list of 3 numbers, got [1, 2, True]"),
    (PCM, {"read_1f": sv([1, 2, "x"])}, "read_1f: expected a list of 3 numbers, got [1, 2, 'x']"),
    (("rram",), {"prog_coeffs_us_by_time": sv({})}, "prog_coeffs_us_by_time: expected a table time_s -> "
                                                    "coefficient list, got {}"),
    (("rram",), {"prog_coeffs_us_by_time": sv([1])}, "prog_coeffs_us_by_time: expected a table time_s -> "
                                                     "coefficient list, got [1]"),
    (("rram",), {"prog_coeffs_us_by_time": sv({"1": ["a"]})},
     "prog_coeffs_us_by_time: expected a table time_s -> list of numbers, got {'1': ['a']}"),
    (("rram",), {"prog_coeffs_us_by_time": sv({"x": [1]})},
     "prog_coeffs_us_by_time: expected a table time_s -> list of numbers, got {'x': [1]}"),
])
def test_noise_refusals(models, table, msg):
    # pins: the one-line message of each refusal of a [noise] table
    assert _err(models, table) == "f: [noise] " + msg


def test_unknown_noise_key_lists_the_models_keys():
    known = sorted(set(nz.DEFAULTS["pcm"]) | {"model", "t_inference_s"})
    assert _err(PCM, {"zz": 1}) == f"f: [noise] zz: expected one of {known} for noise model 'pcm', got 'unknown key'"
    assert "for noise model 'ideal'" in _err(PCM, {"out_noise": sv(0.1)}, {"model": "ideal", "zz": 1})


def test_noise_values_defaults_sources_and_overrides():
    out = nz.validate_noise(PCM, {"out_noise": sv(0.1), "drift_compensation": {"value": False, "source": "d"},
                                  "t_inference_s": 5, "prog_coeffs_us": sv([1, 2, 3, 4])}, "f")
    # pins: values as floats, defaults filled in with their sources, struct keys plain
    assert out["out_noise"] == 0.1 and type(out["out_noise"]) is float
    assert out["_sources"]["out_noise"] == "s" and out["_sources"]["drift_compensation"] == "d"
    assert out["drift_compensation"] is False and out["t_inference_s"] == 5.0
    assert out["_sources"]["t_inference_s"] == "preset"
    assert out["prog_coeffs_us"] == [1.0, 2.0, 3.0, 4.0]  # a polynomial of any order
    assert out["read_noise"] == nz.DEFAULTS["pcm"]["read_noise"][0]
    assert out["_sources"]["read_noise"] == nz.DEFAULTS["pcm"]["read_noise"][1]
    assert out["model"] == "pcm"  # models[0] is the family's default
    # pins: overrides win, are plain values (or {value: ...}) and say "user override"
    o = nz.validate_noise(PCM, {"out_noise": sv(0.1)}, "f", {"out_noise": 0.3, "read_noise": {"value": 0.2}})
    assert (o["out_noise"], o["read_noise"]) == (0.3, 0.2)
    assert o["_sources"]["out_noise"] == o["_sources"]["read_noise"] == "user override"
    # pins: another model chosen by an override drops the file's parameters of its model
    i = nz.validate_noise(PCM, {"model": "pcm", "out_noise": sv(0.1)}, "f", {"model": "ideal"})
    assert i["model"] == "ideal" and "out_noise" not in i
    assert nz.validate_noise(PCM, {"model": {"value": "ideal"}}, "f")["model"] == "ideal"
    t = nz.validate_noise(("rram",), {"prog_coeffs_us_by_time": sv({1: [1, 2], "86400": [3]})}, "f")
    assert t["prog_coeffs_us_by_time"] == {"1.0": [1.0, 2.0], "86400.0": [3.0]}


def test_noise_defaults():
    d = nz.noise_defaults("mzi")
    # pins: the model's defaults, its name, t_inference_s = 0 and the sources
    assert d["model"] == "mzi" and d["t_inference_s"] == 0.0
    assert d["phase_bits"] == 8 and d["_sources"]["phase_bits"] == nz.DEFAULTS["mzi"]["phase_bits"][1]
    assert set(d) == set(nz.DEFAULTS["mzi"]) | {"model", "t_inference_s", "_sources"}


# -- second round: exactness, layout, composition -----------------------------------------------
def test_mzi_matrix_defaults_and_python_float_arguments():
    t, f = 0.7, -1.3
    # pins: couplers are 50:50 unless given; python-float splits and phi are taken at the
    # precision of theta (float64 here: exact to 1e-15)
    want = bs(0.0) @ ph(t) @ bs(0.0) @ ph(f)
    got = nz.mzi_matrix(torch.tensor(t, dtype=torch.float64), f)
    assert torch.allclose(got, want, rtol=0, atol=1e-14)
    want = bs(0.013) @ ph(t) @ bs(0.021) @ ph(f)
    got = nz.mzi_matrix(torch.tensor(t, dtype=torch.float64), f, 0.021, 0.013)
    assert torch.allclose(got, want, rtol=0, atol=1e-14)


def test_clements_layout_of_a_4_mode_mesh():
    dec = nz.clements_decompose(_unitary(4, seed=5))
    # pins: Clements' nulling order: even diagonals null from the right (modes 0 | 2 1 0),
    # odd ones from the left (modes 1 2)
    assert [m for m, *_ in dec["right"]] == [0, 2, 1, 0]
    assert [m for m, *_ in dec["left"]] == [1, 2]
    assert dec["diag"].shape == (2, 4) and dec["right"][0][1].dtype == torch.float64


def test_mesh_unitary_applies_couplers_and_amplitudes():
    t, f = torch.tensor([0.4], dtype=torch.float64), torch.tensor([1.2], dtype=torch.float64)
    d1, d2 = torch.tensor([0.03], dtype=torch.float64), torch.tensor([-0.05], dtype=torch.float64)
    amp = torch.tensor([0.5], dtype=torch.float64)
    m = nz.mzi_matrix(t, f, d1, d2)
    zero = torch.zeros(1, 2, dtype=torch.float64)
    right = nz.mesh_unitary({"diag": zero, "right": [(0, t, f, d1, d2, amp)], "left": []})
    left = nz.mesh_unitary({"diag": zero, "right": [], "left": [(0, t, f, d1, d2, None)]})
    # pins: a right MZI multiplies from the right with its couplers' imbalance, scaled by its
    # amplitude; a left one is the mirrored device (conjugate transpose) from the left
    assert torch.allclose(right, 0.5 * m, rtol=0, atol=1e-14)
    assert torch.allclose(left, m.conj().transpose(-1, -2), rtol=0, atol=1e-14)
    diag = nz.mesh_unitary({"diag": torch.tensor([[0.3, -0.2]], dtype=torch.float64), "right": [], "left": []})
    assert torch.allclose(diag[0], torch.diag(torch.exp(1j * torch.tensor([0.3, -0.2], dtype=torch.float64))),
                          rtol=0, atol=1e-15)


def _program_by_hand(w, rows, cols, bits, loss, blocks):
    """program_mzi as its docstring states it, composed from the module's public steps."""
    wn = (w / w.abs().amax(0)).double()
    n = max(rows, cols)
    a = torch.zeros(len(blocks), n, n, dtype=torch.float64)
    for i, (r0, r1, c0, c1) in enumerate(blocks):
        a[i, :c1 - c0, :r1 - r0] = wn[r0:r1, c0:c1].t()
    uu, s, vh = torch.linalg.svd(a)
    smax = s[:, :1]
    sq = nz.quantize_symmetric(s / smax, bits) if bits else s / smax
    um = nz.mesh_unitary(nz.mesh_phases_with_errors(nz.clements_decompose(uu.to(torch.complex128)), {}, None, loss))
    vm = nz.mesh_unitary(nz.mesh_phases_with_errors(nz.clements_decompose(vh.to(torch.complex128)), {}, None, loss))
    ae = ((um * sq.to(torch.complex128)[:, None, :]) @ vm).real * smax[:, :, None]
    if loss:
        ae = ae * (a.flatten(1).norm(dim=1) / ae.flatten(1).norm(dim=1))[:, None, None]
    out = torch.zeros_like(wn)
    for i, (r0, r1, c0, c1) in enumerate(blocks):
        out[r0:r1, c0:c1] = ae[i, :c1 - c0, :r1 - r0].t()
    return out


def test_program_mzi_composition_with_loss_per_block():
    g = torch.Generator().manual_seed(7)
    w = torch.randn(4, 3, generator=g, dtype=torch.float64)
    w[2:, 1] *= 0.05  # a block with a small norm (< 1) and a small largest singular value
    blocks = [(0, 2, 0, 2), (2, 4, 0, 2), (0, 2, 2, 3), (2, 4, 2, 3)]
    eff, _ = nz.program_mzi(w, tile(2, 2, bits=4), {"model": "mzi"}, None, mzi_loss_db=0.7)
    # pins: per block: SVD, quantized singular values, lossy meshes, the block's own receiver gain
    want = _program_by_hand(w, 2, 2, 4, 0.7, blocks)
    assert torch.allclose(eff.double(), want, rtol=0, atol=1e-6)


def test_program_mzi_small_blocks_keep_their_scale():
    w = torch.tensor([[1.0], [0.1]])
    eff, _ = nz.program_mzi(w, tile(1, 1, bits=3), {"model": "mzi"}, None)
    # pins: each block is quantized relative to its own largest singular value
    assert torch.allclose(eff, w, rtol=0, atol=1e-6)
    lossy, _ = nz.program_mzi(w, tile(1, 1, bits=3), {"model": "mzi"}, None, mzi_loss_db=3.0)
    assert torch.allclose(lossy, w, rtol=0, atol=1e-6)  # the gain restores each block


def test_program_mzi_draws_from_the_given_generator():
    w = torch.randn(3, 3, generator=torch.Generator().manual_seed(8))
    p = {"model": "mzi", "phase_error_rad": 0.05}
    torch.manual_seed(1)
    a, _ = nz.program_mzi(w, tile(3, 3), p, torch.Generator().manual_seed(9))
    torch.manual_seed(2)
    b, _ = nz.program_mzi(w, tile(3, 3), p, torch.Generator().manual_seed(9))
    # pins: one chip instance per generator state, whatever the global RNG
    assert torch.equal(a, b)
    c, _ = nz.program_mzi(w, tile(3, 3), p, torch.Generator().manual_seed(10))
    assert not torch.equal(a, c)


def test_mesh_error_draws_are_reproducible_and_in_a_fixed_order():
    dec = nz.clements_decompose(_unitary(3, seed=11, batch=2))
    p = {"phase_error_rad": 0.02, "splitter_error_rad": 0.01, "loss_std_db": 0.1}
    torch.manual_seed(0)
    mesh = nz.mesh_phases_with_errors(dec, p, torch.Generator().manual_seed(4), mzi_loss_db=0.5)
    # pins: the draws of one chip instance, by hand in the documented order: per MZI the two
    # couplers, the loss, then the phase errors of theta and phi; the output phases last
    g = torch.Generator().manual_seed(4)
    assert mesh["n"] == 3
    for side in ("right", "left"):
        for (m, t, f), got in zip(dec[side], mesh[side]):
            d1 = 0.01 * torch.randn(t.shape, generator=g, dtype=torch.float64)
            d2 = 0.01 * torch.randn(t.shape, generator=g, dtype=torch.float64)
            loss = 0.5 + 0.1 * torch.randn(t.shape, generator=g, dtype=torch.float64)
            tt = t + 0.02 * torch.randn(t.shape, generator=g, dtype=torch.float64)
            ff = f + 0.02 * torch.randn(t.shape, generator=g, dtype=torch.float64)
            assert got[0] == m
            assert torch.equal(got[1], tt) and torch.equal(got[2], ff)
            assert torch.equal(got[3], d1) and torch.equal(got[4], d2)
            assert torch.allclose(got[5], 10 ** (-loss / 20), rtol=1e-15, atol=0)
    diag = dec["diag"] + 0.02 * torch.randn(dec["diag"].shape, generator=g, dtype=torch.float64)
    assert torch.equal(mesh["diag"], diag)
    # pins: without a loss spread no loss is drawn (the later draws do not shift)
    p2 = {"phase_error_rad": 0.02}
    a = nz.mesh_phases_with_errors(dec, p2, torch.Generator().manual_seed(4), mzi_loss_db=0.5)
    g = torch.Generator().manual_seed(4)
    t0 = dec["right"][0][1]
    assert torch.equal(a["right"][0][1], t0 + 0.02 * torch.randn(t0.shape, generator=g, dtype=torch.float64))


def test_rram_conductance_by_hand():
    p = nz.noise_defaults("rram")
    g = torch.tensor([0.0, 5.0, 20.0, 40.0])
    gen = torch.Generator().manual_seed(3)
    g0, gt = nz.rram_conductance_at(g, 100000.0, p, gen)
    # pins: one draw z per device; the std at t is the fit of the latest time <= t (1 day here),
    # at t0 the 1 s fit; polynomials in g / 40 uS, clipped at 0
    z = torch.randn(g.shape, generator=torch.Generator().manual_seed(3))

    def poly(c, x):
        return sum(ci * x ** i for i, ci in enumerate(c))
    c1, cday = p["prog_coeffs_us_by_time"]["1"], p["prog_coeffs_us_by_time"]["86400"]
    s1 = poly(c1, g / 40).clamp(min=0)
    sd = poly(cday, g / 40).clamp(min=0)
    assert torch.allclose(g0, (g + s1 * z).clamp(min=0), rtol=1e-6, atol=1e-6)
    assert torch.allclose(gt, (g + sd * z).clamp(min=0), rtol=1e-6, atol=1e-6)
    assert float(s1.min()) < 1.0  # small stds occur (a clamp at 1 would show)


# -- crossbar devices ---------------------------------------------------------------------------
def _poly_hand(c, x):
    return sum(ci * x ** i for i, ci in enumerate(c))


def test_pcm_steps_by_hand():
    p = nz.noise_defaults("pcm")
    g = torch.tensor([0.0, 2.0, 12.5, 25.0])
    gm = p["prog_coeffs_g_ref_us"]
    # pins: programming noise std = poly(g / g_max) (Nandakumar), one draw per device, >= 0
    got = nz.pcm_programming_noise(g, p, torch.Generator().manual_seed(1))
    z = torch.randn(g.shape, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(got, (g + _poly_hand(p["prog_coeffs_us"], g / gm) * z).clamp(min=0), rtol=1e-6, atol=1e-7)
    # pins: nu = |clip(a ln(g/gmax) + b) + clip(a' ln + b') z|
    nu = nz.pcm_drift_nu(g, p, torch.Generator().manual_seed(2))
    lg = torch.log((g / gm).abs().clamp(min=1e-7))
    a, b, lo, hi = p["drift_nu_mean"]
    mu = (a * lg + b).clamp(lo, hi)
    a, b, lo, hi = p["drift_nu_std"]
    sd = (a * lg + b).clamp(lo, hi)
    z = torch.randn(g.shape, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(nu, (mu + sd * z).abs(), rtol=1e-6, atol=1e-7)
    # pins: drift factor ((t + t0) / t0)^-nu
    t0 = p["drift_t0_s"]
    assert torch.allclose(nz.pcm_drift_factor(nu, 100.0, p), ((100.0 + t0) / t0) ** (-nu))
    # pins: 1/f read noise Q_s(g) sqrt(ln((t + t_read) / (2 t_read))), t counted from t0
    c, e, qmax = p["read_1f"]
    t = 100.0 + t0
    qs = (c / ((g.abs() / gm) ** e).clamp(min=1e-3)).clamp(max=qmax)
    want = qs * math.sqrt(math.log((t + p["t_read_s"]) / (2 * p["t_read_s"])))
    assert torch.allclose(nz.pcm_read_noise_std(g, 100.0, p), want, rtol=1e-6, atol=0)


def test_pcm_conductance_composition_by_hand():
    p = nz.noise_defaults("pcm")
    g = torch.tensor([1.0, 5.0, 20.0])
    g0, gt = nz.pcm_conductance_at(g, 50.0, p, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    # pins: programming, drift exponents, then one read-noise draw, in that order
    gp = nz.pcm_programming_noise(g, p, gen)
    nu = nz.pcm_drift_nu(g, p, gen)
    z = torch.randn(g.shape, generator=gen)
    g_t = gp * nz.pcm_drift_factor(nu, 50.0, p)
    g_t = (g_t + g_t.abs() * nz.pcm_read_noise_std(gp, 50.0, p) * z).clamp(min=0)
    assert torch.equal(g0, gp) and torch.allclose(gt, g_t, rtol=1e-6, atol=0)


def _exact_pcm(nu=0.0):
    """PCM parameters without noise: exact programming, a uniform drift exponent ``nu``."""
    p = nz.noise_defaults("pcm")
    p.update(prog_coeffs_us=[0.0, 0.0, 0.0], drift_nu_mean=[0.0, nu, nu, nu], drift_nu_std=[0.0, 0.0, 0.0, 0.0],
             read_1f=[0.0, 0.65, 0.0])
    return p


def xtile(wb=8, cb=8, dpc=1):
    return SimpleNamespace(weight_bits=wb, cell_bits=cb, slices=-(-wb // cb), devices_per_cell=dpc)


@pytest.mark.parametrize("dpc,cb", [(1, 8), (2, 8), (4, 8), (1, 2), (4, 4)])
def test_exact_devices_hold_the_quantized_weight(dpc, cb):
    w = torch.tensor([[0.5, -1.0, 0.0], [1.0, 0.25, -0.3]])
    wq = nz.quantize_symmetric(w / w.abs().amax(0), 8)
    eff, scale = nz.program_crossbar(w, xtile(8, cb, dpc), _exact_pcm(), None)
    # pins: with exact devices the conductance difference (differential pairs) or the unsigned
    # offset-encoded digits (one device: u = q + 128, offset -128/127 added digitally) and the
    # shift-add of the slices give back the weight
    assert torch.allclose(eff, wq, rtol=0, atol=1e-6)
    assert torch.allclose(scale, w.abs().amax(0))
    sl, sig, _, offset = nz.program_crossbar(w, xtile(8, cb, dpc), _exact_pcm(), None, per_slice=True)
    if dpc == 1:
        assert offset.tolist() == approx([-128 / 127] * 3, rel=1e-6) and float(sl.min()) >= 0
        assert torch.allclose(torch.tensordot(sig, sl, dims=1) + offset, wq, rtol=0, atol=1e-6)
    else:
        assert offset is None
        assert torch.allclose(torch.tensordot(sig, sl, dims=1), wq, rtol=0, atol=1e-6)


@pytest.mark.parametrize("t", [0.5, 3600.0])
def test_drift_compensation_undoes_a_uniform_drift(t):
    w = torch.tensor([[1.0, 0.5], [-0.5, 1.0], [0.25, -0.75]])
    wq = nz.quantize_symmetric(w / w.abs().amax(0), 8)
    p = _exact_pcm(nu=0.05)
    p["drift_compensation"] = False
    drifted, _ = nz.program_crossbar(w, xtile(8, 8, 2), p, None, t_inference_s=t)
    factor = ((t + p["drift_t0_s"]) / p["drift_t0_s"]) ** -0.05
    # pins: a uniform drift scales every weight by ((t + t0)/t0)^-nu ...
    assert torch.allclose(drifted, wq * factor, rtol=1e-5, atol=0)
    p["drift_compensation"] = True
    comp, _ = nz.program_crossbar(w, xtile(8, 8, 2), p, None, t_inference_s=t)
    # ... which the global compensation (reference read-out at t0 vs t) removes, at any t > 0
    assert torch.allclose(comp, wq, rtol=1e-5, atol=1e-7)
    sl, sig, _, offset = nz.program_crossbar(w, xtile(8, 8, 2), p, None, t_inference_s=t, per_slice=True)
    assert torch.allclose(torch.tensordot(sig, sl, dims=1), wq, rtol=1e-5, atol=1e-7) and offset is None
    small = torch.tensor([[1.0], [-0.5]])  # reference read-out 0.5 (< 1) is still compensated
    assert torch.allclose(nz.program_crossbar(small, xtile(8, 8, 2), p, None, t_inference_s=t)[0],
                          nz.quantize_symmetric(small, 8), rtol=1e-5, atol=1e-7)
    zero = torch.tensor([[1.0], [-1.0]])  # reference read-out 0: nothing to compensate with
    assert torch.isfinite(nz.program_crossbar(zero, xtile(8, 8, 2), p, None, t_inference_s=t)[0]).all()


def test_program_crossbar_ideal_sram_and_edge_cases():
    w = torch.tensor([[0.5, -1.0], [1.0, 0.25]], dtype=torch.float64)
    wn = (w / w.abs().amax(0)).float()
    # pins: ideal: one slice of significance 1 holding the unquantized weight, as float32
    sl, sig, sc, offset = nz.program_crossbar(w, xtile(), {"model": "ideal"}, None, per_slice=True)
    assert sl.shape == (1, 2, 2) and sig.tolist() == [1.0] and torch.allclose(sl[0], wn) and offset is None
    eff, sc = nz.program_crossbar(w, xtile(), {"model": "ideal"}, None)
    assert eff.dtype == torch.float32 and torch.allclose(eff, wn)
    # pins: sram with one 8-bit slice holds the quantized weight itself (significance 1)
    sl, sig, _, offset = nz.program_crossbar(w, xtile(8, 8), {"model": "sram"}, None, per_slice=True)
    assert torch.allclose(sl[0], nz.quantize_symmetric(wn, 8)) and sig.tolist() == approx([1.0], rel=1e-6)
    assert offset is None  # sram: signed digits, no offset (even with one device per cell)
    # pins: 1-bit weights: sign only
    sl, sig, _, _ = nz.program_crossbar(w, xtile(1, 1), {"model": "sram"}, None, per_slice=True)
    assert sl[0].tolist() == [[0.0, -1.0], [1.0, 0.0]] and sig.tolist() == [1.0]  # 0.5 rounds to even
    # pins: a column of tiny weights keeps its own scale down to 1e-12
    tiny = torch.tensor([[1e-9, 1.0]])
    assert nz.program_crossbar(tiny, xtile(), {"model": "ideal"}, None)[1].tolist() == [approx(1e-9, rel=1e-6), 1.0]


def test_noise_table_details():
    # pins: a plain-valued flag or a table without a source is from the preset; notes allowed
    out = nz.validate_noise(PCM, {"drift_compensation": {"value": False}}, "f")
    assert out["_sources"]["drift_compensation"] == "preset"
    out = nz.validate_noise(PCM, {"out_noise": {"value": 0.2, "source": "s", "note": "n", "unit": "1"}}, "f")
    assert out["out_noise"] == 0.2
    # pins: phase bits 1..32 inclusive
    assert nz.validate_noise(("mzi",), {"phase_bits": sv(1)}, "f")["phase_bits"] == 1
    assert nz.validate_noise(("mzi",), {"phase_bits": sv(32)}, "f")["phase_bits"] == 32
