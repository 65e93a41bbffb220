"""analogc in five steps: trace, compile, estimate, deploy, trade-off.

    .venv/bin/python examples/quickstart.py
"""
import torch
from torch import nn

import analogc
import hw_models

# 1. any PyTorch model (here a small MLP with random weights) and an example batch
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 10)).eval()
x = torch.randn(64, 256)

# 2. trace into the IR and map it onto the default PCM crossbar preset
graph = analogc.trace(model, (x,))
plan = analogc.compile(graph, hw="pcm-hermes")
print(graph.summary()["macs_mvm"], "MVM MACs on", plan.tiles, "tiles")
print(plan.to_dataframe()[["op", "kind", "placement", "tiles", "utilization"]])

# 3. what it costs, against an H100
report = analogc.estimate(plan)
print(f"{report.summary['energy_j'] * 1e6:.2f} uJ per batch, {report.summary['tops_per_w']:.1f} TOPS/W")
print({k: f"{v / report.summary['energy_j']:.0%}" for k, v in report.breakdown.items() if v})
print("energy ratio vs H100:", round(report.compare("h100")["energy_ratio"], 1))

# 4. the same plan as a noisy torch model: one call, one calibration batch
amodel = analogc.deploy(model, plan, seed=0, calibration=[x])
with torch.no_grad():
    err = (amodel(x) - model(x)).norm() / model(x).norm()
print(f"relative output error on PCM: {float(err):.3f}")

# 5. cheaper and noisier: fewer ADC bits, priced and simulated with the same number (on the
#    RRAM preset's SAR-like converters; the PCM preset's CCO converters draw the bit-line current
#    over the read window, so their energy hardly depends on the bits)
for bits in (4, 6, 8):
    hw = hw_models.load("rram", adc_bits=bits)
    p = analogc.compile(graph, hw=hw)
    a = analogc.deploy(model, p, seed=0, calibration=[x])
    with torch.no_grad():
        e = float((a(x) - model(x)).norm() / model(x).norm())
    print(f"adc_bits={bits}: {analogc.estimate(p).summary['energy_j'] * 1e6:.2f} uJ, error {e:.3f}")
