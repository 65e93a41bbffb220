"""analogc.finetune.evaluate: metrics against hand computations, evaluation over chips."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import analogc
from analogc.errors import AnalogcError
from analogc.finetune.evaluate import default_metric, evaluate_deployed, metric_value


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _setup():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4)).eval()
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(10, 6, generator=g), torch.randint(0, 4, (10,), generator=g)) for _ in range(3)]
    return m, data


def test_accuracy_perplexity_loss_by_hand():
    m, data = _setup()
    with torch.no_grad():
        logits = torch.cat([m(x) for x, _ in data])
    y = torch.cat([t for _, t in data])
    assert metric_value(m, data, "accuracy") == pytest.approx(float((logits.argmax(-1) == y).float().mean()))
    ce = float(F.cross_entropy(logits, y))
    assert metric_value(m, data, "loss") == pytest.approx(ce, rel=1e-6)
    assert metric_value(m, data, "perplexity") == pytest.approx(math.exp(ce), rel=1e-6)
    assert metric_value(m, data, "fidelity", reference=m) == pytest.approx(1.0)
    assert default_metric(data[0]) == "accuracy" and default_metric(data[0][0]) == "fidelity"
    with pytest.raises(AnalogcError, match="evaluation batch 0 has no labels"):
        metric_value(m, [x for x, _ in data], "accuracy")


def test_ideal_chips_equal_the_digital_model_and_noisy_ones_spread():
    m, data = _setup()
    from analogc.frontends.modules import weight_layers_graph
    ideal = analogc.compile(weight_layers_graph(m), hw="ideal")
    r = evaluate_deployed(m, ideal, data, seeds=range(3), metric="loss")
    assert r["values"] == pytest.approx([metric_value(m, data, "loss")] * 3, rel=1e-5)
    assert r["std"] == pytest.approx(0.0, abs=1e-6) and r["n"] == 3
    pcm = analogc.compile(weight_layers_graph(m), hw="pcm-hermes")
    r = evaluate_deployed(m, pcm, data, seeds=range(3), metric="loss", drift_times=[1.0, 3.15e7])
    assert r["std"] > 0 and len(set(r["values"])) == 3  # three different chips
    assert [row["t_inference_s"] for row in r["drift"]] == [1.0, 3.15e7]
    assert r["mean"] == pytest.approx(r["drift"][0]["mean"])
