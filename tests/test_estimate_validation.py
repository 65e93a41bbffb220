"""Validation against published figures (tolerances and sources stated per test)."""
from __future__ import annotations

import pytest

import analogc
from analogc.estimate import estimate
from analogc.ir import Graph, Op


def test_hermes_chip_tops_per_w_and_tops():
    """Le Gallo et al. Nat. Electron. 6:680 (2023): 64 x 256x256 PCM cores, 8-bit in/out,
    14 nm, one-phase read: 9.76 TOPS/W and 63.1 TOPS for the chip. Tolerance +-30%.
    Workload: 64 independent 256x256 MVMs (all cores busy), 1000 vectors each.
    No energy of the preset is backed out of a measured efficiency: converters and drivers are
    priced by the circuit models of hw_models/circuits.py (12.1 TOPS/W, +24%). The preset's
    g_max is a generic PCM noise model's (25 uS); the chip file with HERMES's own devices
    (hw_models/validation/hermes-core.toml) misses, see docs/validation.md."""
    g = Graph("hermes-64-mvm")
    for i in range(64):
        g.add(Op(name=f"mvm{i}", kind="mvm", target="linear", in_features=256,
                 out_features=256, vectors=1000))
    rep = estimate(analogc.compile(g, hw="pcm-hermes"))
    s = rep.summary
    assert s["chips"] == 1 and s["tiles"] == 64
    assert s["tops_per_w"] == pytest.approx(9.76, rel=0.30)
    assert s["tops"] == pytest.approx(63.1, rel=0.30)


def _ffn(d: int) -> Graph:
    g = Graph(f"ffn-{d}")
    g.add(Op(name="up", kind="mvm", target="linear", in_features=d, out_features=4 * d, vectors=512))
    return g


def test_freespace_energy_per_mac_and_advantage():
    """Anderson et al., Optical Transformers, arXiv 2302.10360 (TMLR 2024): optical energy per
    MAC falls as 1/d in the optics-limited regime, and the system's advantage over a
    300 fJ/MAC digital baseline is ~100x for today's largest models (d ~ 1e4).
    Check: optical energy/MAC ratio between d = 1024 and 4096 is 4 (+-1%); at d = 12288
    (GPT-3 width, one optical unit holding the whole d x 4d weight) the advantage over
    300 fJ/MAC is within a factor 3 of 100x."""
    per_mac = {}
    for d in (1024, 4096, 12288):
        rep = estimate(analogc.compile(_ffn(d), hw="freespace", rows=d, cols=4 * d))
        per_mac[d] = (rep.breakdown["optical"] / rep.summary["macs"], rep.summary["energy_per_mac_j"])
    assert per_mac[1024][0] / per_mac[4096][0] == pytest.approx(4.0, rel=0.01)
    assert per_mac[1024][1] > per_mac[4096][1] > per_mac[12288][1]  # the system gains too
    advantage = 300e-15 / per_mac[12288][1]
    assert 100 / 3 < advantage < 100 * 3, advantage


def test_analog_beats_gpu_on_a_resident_mvm_workload():
    """Sanity, not a published figure: with weights resident, a HERMES-like chip uses less
    energy per inference than an H100 at TDP for the same MVMs (9.76 vs <=1.4 TOPS/W)."""
    rep = estimate(analogc.compile(_ffn(1024), hw="pcm-hermes"))
    assert rep.compare("h100")["energy_ratio"] > 1
