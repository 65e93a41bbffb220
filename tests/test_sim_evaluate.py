"""Monte Carlo evaluation and the energy/accuracy trade-off helpers."""
import pytest
import torch
from torch import nn

import analogc
from analogc.errors import AnalogcError
from analogc.sim.evaluate import monte_carlo, parse_vary, tradeoff
from hw_models.base import ChipSpec, Hardware, TileSpec


def small():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(24, 32), nn.ReLU(), nn.Linear(32, 6)).eval()


def test_parse_vary():
    assert parse_vary("adc_bits=4..6") == ("adc_bits", [4, 5, 6])
    assert parse_vary("photons_per_mac=1,10.5") == ("photons_per_mac", [1, 10.5])
    with pytest.raises(AnalogcError, match="--vary"):
        parse_vary("adc_bits")
    with pytest.raises(AnalogcError, match="--vary adc_bits"):
        parse_vary("adc_bits=a..b")


def test_monte_carlo_over_seeds_and_drift_is_deterministic():
    m, x = small(), torch.randn(32, 24)
    h = Hardware(name="pcm", tile=TileSpec("crossbar", 16, 16, devices_per_cell=2), chip=ChipSpec(64),
                 params={"noise": {"model": "pcm"}})
    plan = analogc.compile(analogc.trace(m, (x,)), hw=h)
    a = monte_carlo(m, plan, [x], seeds=range(3), drift_times=[1.0, 3.15e7])
    b = monte_carlo(m, plan, [x], seeds=range(3), drift_times=[1.0, 3.15e7])
    assert [r["values"] for r in a] == [r["values"] for r in b]
    assert a[0]["n"] == 3 and a[0]["std"] > 0
    assert a[0]["mean"] > a[1]["mean"]  # a year of drift costs fidelity
    with pytest.raises(AnalogcError, match="at least one batch"):
        monte_carlo(m, plan, [])


def test_tradeoff_adc_bits_energy_and_fidelity_rise_together():
    hw_models = pytest.importorskip("hw_models")
    if not hasattr(hw_models, "load"):
        pytest.skip("preset loader not available")
    m, x = small(), torch.randn(32, 24)
    rows = tradeoff(m, "sram-cim", "adc_bits=3..6", [x], seeds=range(2))
    e = [r["energy_j"] for r in rows]
    f = [r["mean"] for r in rows]
    assert e == sorted(e) and e[0] < e[-1]
    assert f[-1] > f[0]
