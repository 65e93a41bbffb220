"""ONNX deploy equals torch deploy: same ops, same seed -> same chip, same outputs."""
import importlib.util

import pytest
import torch
from torch import nn

import analogc
from analogc.sim import reseed

# onnx2torch is imported through analogc.sim.onnx_model (it needs a torchvision stand-in)
pytestmark = pytest.mark.skipif(importlib.util.find_spec("onnx2torch") is None,
                                reason="onnx2torch not installed (scripts/install.sh installs it)")


def _export(net, x, path):
    torch.onnx.export(net, (x,), str(path), dynamo=True)
    return str(path)


@pytest.mark.parametrize("hw", ["ideal", "pcm-hermes", "rram"])
def test_onnx_deploy_equals_torch_deploy_mlp(tmp_path, hw):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(300, 200), nn.ReLU(), nn.Linear(200, 10)).eval()
    x = torch.randn(32, 300)
    path = _export(net, x, tmp_path / "mlp.onnx")
    a = analogc.deploy(path, hw, seed=7, example_inputs=(x,), calibration=[x])
    b = analogc.deploy(net, hw, seed=7, example_inputs=(x,), calibration=[x])
    with torch.no_grad():
        ya, yb, yd = a(x), b(x), net(x)
    assert torch.equal(ya, yb)
    if hw == "ideal":
        torch.testing.assert_close(ya, yd, rtol=1e-5, atol=1e-5)
    else:  # the noise is there, and it is the same noise
        assert (ya - yd).abs().max() > 1e-4


def test_onnx_deploy_equals_torch_deploy_cnn(tmp_path):
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, groups=2),
                        nn.Flatten(), nn.Linear(4 * 6 * 6, 5)).eval()
    x = torch.randn(4, 3, 8, 8)
    path = _export(net, x, tmp_path / "cnn.onnx")
    a = analogc.deploy(path, "pcm-hermes", seed=3, example_inputs=(x,), calibration=[x])
    b = analogc.deploy(net, "pcm-hermes", seed=3, example_inputs=(x,), calibration=[x])
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_reseed_equals_fresh_deploy():
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8)).eval()
    x = torch.randn(16, 64)
    a = analogc.deploy(net, "pcm-hermes", seed=1, example_inputs=(x,), calibration=[x])
    b = analogc.deploy(net, "pcm-hermes", seed=5, example_inputs=(x,), calibration=[x])
    reseed(a, 5)
    analogc.calibrate(a, [x])
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_onnx_gpt2_deploy_equals_torch_deploy(tmp_path):
    """MatMul nodes with a weight initializer (GPT-2's Conv1D) run on tiles too. onnx2torch
    converts opset <= 17; the exporter is asked for that opset."""
    import transformers as tf

    cfg = tf.GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=50, n_positions=16,
                        bos_token_id=0, eos_token_id=0)
    m = tf.GPT2LMHeadModel(cfg).eval()
    m.config.use_cache = False
    ids = torch.randint(0, 50, (1, 8), generator=torch.Generator().manual_seed(0))
    path = tmp_path / "gpt2.onnx"
    torch.onnx.export(m, (), str(path), kwargs={"input_ids": ids}, dynamo=True, opset_version=17)
    ideal = analogc.deploy(str(path), "ideal", seed=0)
    a = analogc.deploy(str(path), "pcm-hermes", seed=4, calibration=[ids])
    b = analogc.deploy(m, "pcm-hermes", seed=4, calibration=[{"input_ids": ids}])
    first = lambda y: y[0] if isinstance(y, (tuple, list)) else y  # noqa: E731
    with torch.no_grad():
        yd = m(ids).logits
        torch.testing.assert_close(first(ideal(ids)), yd, rtol=1e-5, atol=1e-5)
        ya = first(a(ids))
        assert torch.equal(ya, b(ids).logits)
        assert (ya - yd).abs().max() > 1e-4
    n_analog = len(analogc.sim.analog_layers(a))
    assert n_analog == 5  # c_attn, attn c_proj, c_fc, mlp c_proj, lm_head
