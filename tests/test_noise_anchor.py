"""analogc's PCM and RRAM device noise anchored to aihwkit's published noise models (issue 8).

The aihwkit figures were recorded once with aihwkit's pure-torch inference tile
(benchmarks/validate_noise_aihwkit.py --write-reference; aihwkit version, settings, seeds and
date in tests/data/aihwkit_noise_reference.json); aihwkit is not needed here. This test
regenerates the same layers from their seed, recomputes analogc's per-layer relative output
error ||y - y_digital|| / ||y_digital|| with ``analogc.deploy`` at 1 s, 1 h, 1 day and 1 year
after programming, and holds it within ±25% (the tolerance of issue 8) of aihwkit's:

* PCM (Nandakumar et al. ICECS 2019; aihwkit ``PCMLikeNoiseModel``), with and without global
  drift compensation, one device per polarity (``devices_per_cell=2``) as aihwkit's
  ``SinglePairConductanceConverter``;
* RRAM (Wan et al. Nature 608:504, 2022; aihwkit ``ReRamWan2022NoiseModel`` at the fits'
  g_max of 40 uS), one 8-bit slice on a differential pair.

Converters ideal, output and per-MVM read noise off on both sides (device noise alone); the
exact settings are ``AIHWKIT_CASES`` / ``ANALOGC_CASES`` of the validation script, and
docs/validation-noise.md explains the rows and the presets' on-purpose differences.

The test can fail. Checked by hand, monkeypatching ``hw_models.noise`` in a separate process
(no code left mutated): doubled PCM 1/f read noise (``read_1f`` 0.0088 -> 0.0176) fails the
PCM rows (ratio 1.42 at 1 s, 1.27 at 1 year with drift compensation); no drift
(``drift_nu_mean`` = ``drift_nu_std`` = 0) fails them (0.68 at 1 year with compensation, 0.26
without); doubled RRAM deviation fails the RRAM row (ratio 1.9) and no relaxation (the 1 s fit
at every time) too (0.58 at 1 day). Seeds 0-2 here (the recording used 0-4; the seed-to-seed
std is below 1%).
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 0.25  # issue 8: within ±25% of aihwkit's published noise models
SEEDS = (0, 1, 2)


def _script():
    spec = importlib.util.spec_from_file_location("validate_noise_aihwkit",
                                                  ROOT / "benchmarks" / "validate_noise_aihwkit.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


V = _script()
REF = json.loads(V.REFERENCE.read_text())


@pytest.fixture(scope="module")
def layers():
    lay = V.make_layers()
    assert V.layers_digest(lay) == REF["layers_sha256"], \
        "regenerated layers differ from those aihwkit ran on (numpy generator changed?): re-record the reference"
    return lay


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # elementwise device draws on 512x512: fastest on one thread
    yield
    torch.set_num_threads(n)


def test_reference_settings_are_the_scripts():
    """The recorded aihwkit figures belong to the settings the script states now."""
    assert REF["tolerance"] == TOLERANCE
    assert REF["times_s"] == V.TIMES
    for _, k_case in V.ANCHORED:
        assert REF["aihwkit_cases"][k_case] == json.loads(json.dumps(V.AIHWKIT_CASES[k_case])), k_case


@pytest.mark.parametrize("a_case,k_case", V.ANCHORED, ids=[a for a, _ in V.ANCHORED])
def test_device_noise_within_25_percent_of_aihwkit(layers, a_case, k_case):
    ana = V.analogc_errors(a_case, layers, seeds=SEEDS)
    bad, rows = [], []
    for ln in layers:
        ref = REF["aihwkit"][k_case][ln]["mean"]
        mean, _ = V.summary(ana[ln])
        for tname, a, k in zip(V.TIMES, mean, ref):
            rows.append(f"{ln} {tname}: analogc {a:.4f} aihwkit {k:.4f} ratio {a / k:.3f}")
            if abs(a / k - 1) > TOLERANCE:
                bad.append(rows[-1])
    assert not bad, f"{a_case}: outside ±25% of aihwkit {REF['aihwkit_version']}:\n" + "\n".join(bad)
