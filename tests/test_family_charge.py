"""The charge-domain capacitive crossbar, added in hw_models/ only, works everywhere a family
must: report, deploy, evaluate, tradeoff — and one capacitance drives both its energy (C V^2)
and its kT/C noise."""
import json
import pathlib
import re

import torch

import analogc
import hw_models
from analogc.cli import main
from analogc.frontends import zoo
from analogc.sim import analog_layers, deploy


def test_analogc_knows_nothing_of_the_family():
    """No module under analogc/ names the family, its class or its preset: adding it touched
    hw_models/ alone (family file, registry line, schema section, noise defaults, preset)."""
    root = pathlib.Path(analogc.__file__).parent
    pattern = re.compile(r"['\"]charge['\"]|ChargeCrossbar|charge-jia2020|hw_models\.charge")
    hits = [str(p) for p in root.rglob("*.py") if pattern.search(p.read_text())]
    assert not hits


def test_report_prices_the_capacitor_array(capsys):
    assert main(["report", "mlp", "--hw", "charge-jia2020", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    est = doc["plans"][0]["estimate"]
    assert est["family"] == "charge" and est["breakdown_j"]["array"] > 0 and est["breakdown_j"]["adc"] > 0


def test_deploy_without_inputs_and_evaluate(capsys):
    torch.manual_seed(0)
    model = zoo.build("mlp", device="cpu").eval()
    x = torch.randn(64, 784)
    am = deploy(model, "charge-jia2020", seed=0, calibration=[x])
    layer = analog_layers(am)[0]
    # bit-serial, 1-bit cells: a pass per plane and slice (8 x 8 per row tile), simulated by the
    # statistical model by default; every one of those conversions is counted
    assert layer.statistical and layer.input_planes == 8 and layer._n_slices() == 8
    with torch.no_grad():
        y, y0 = am(x), model(x)
    err = float((y - y0).norm() / y0.norm())
    assert 0.01 < err < 0.5
    assert layer.conversions == 64 * 64 * 256  # vectors x (8 planes x 8 slices x 1 row tile) x columns
    assert main(["evaluate", "mlp", "--hw", "charge-jia2020", "--seeds", "2"]) == 0
    assert "output fidelity on charge-jia2020" in capsys.readouterr().out


def test_tradeoff_over_capacitance_moves_energy_and_noise_together(capsys):
    assert main(["tradeoff", "mlp", "--hw", "charge-jia2020", "--seeds", "2",
                 "--vary", "cell_capacitance=0.3 fF,4.8 fF"]) == 0
    rows = re.findall(r"fF\s+([0-9.]+) uJ\s+([0-9.]+) ±", capsys.readouterr().out)
    (e_small, f_small), (e_big, f_big) = [(float(a), float(b)) for a, b in rows]
    assert e_big > e_small and f_big > f_small  # bigger capacitors: more C V^2, less kT/C noise


def test_ktc_noise_and_cv2_follow_the_capacitance():
    """kT/C in units of one full-scale row, sqrt(rows k T / C) / V, and C V^2 per switched cell."""
    k_t = 1.380649e-23 * 300.0
    for c_ff in (0.5, 1.2, 3.0):
        fam = hw_models.load("charge-jia2020", cell_capacitance=f"{c_ff} fF").tile_model
        assert abs(fam.ktc_noise_rows() - (2304 * k_t / (c_ff * 1e-15)) ** 0.5 / 1.2) < 1e-12
        assert abs(fam.unit_energy["cap_switch"]["array"] - 0.5 * c_ff * 1e-15 * 1.2 ** 2) < 1e-24
